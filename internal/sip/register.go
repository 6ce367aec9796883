package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/openwac/wac/internal/store"
)

// Registration towards a PBX (the seeds' KamasSessionHooks, §6.3.4): with
// trunk.register, a user who has a SIP mapping with a password is
// registered with the trunk's registrar while the user has a session on
// this node. The first session registers the mapping's username with
// Contact sip:<username>@<our SIP address>; the registration is refreshed
// at 85% of the expiry the registrar grants; the last session going, and
// the role closing, unregister it (Expires: 0). A call of the PBX to that
// contact is an INVITE whose request URI names the mapping's username,
// which onInvite rings on every device of the user.
//
// One goroutine per user present (its binding) does the work: presence
// calls only wake it, and it reads whether the user is still present
// itself, so presence calls may come in any order.

// Timings of registrations.
const (
	// registerRefresh is the part of the granted expiry after which a
	// registration is refreshed.
	registerRefresh = 0.85
	// registerTimeout bounds one REGISTER transaction (with its digest
	// retry).
	registerTimeout = 10 * time.Second
	// unregisterTimeout bounds the unregistering of a user when the role
	// closes, so that shutting down never waits for a silent registrar.
	unregisterTimeout = 3 * time.Second
	// registerBackoffMin and registerBackoffMax bound the wait before a
	// failed REGISTER is tried again (doubling from the first).
	registerBackoffMin = time.Second
	registerBackoffMax = time.Minute
	// claimRecheck is how often a node where a user is online, but whose
	// registration another node of the cluster holds, looks again.
	claimRecheck = 5 * time.Second
)

// registrar keeps the registrations of the users present on this node.
type registrar struct {
	s *Server
	// online says whether a user has a session on this node.
	online func(userID string) bool
	// claimFn and releaseFn: Options.Claim and Release (nil outside a
	// cluster).
	claimFn   func(ctx context.Context, userID string) (bool, error)
	releaseFn func(ctx context.Context, userID string) error

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	bindings map[string]*binding // by user id
}

// binding is a user whose presence a goroutine follows.
type binding struct {
	userID string
	// wake tells the goroutine the user's presence may have changed.
	wake chan struct{}
}

func newRegistrar(s *Server, online func(string) bool, claim func(context.Context, string) (bool, error), release func(context.Context, string) error) *registrar {
	ctx, cancel := context.WithCancel(context.Background())
	return &registrar{s: s, online: online, claimFn: claim, releaseFn: release, ctx: ctx, cancel: cancel, bindings: map[string]*binding{}}
}

// changed wakes the goroutine of userID, or starts one. It never blocks.
func (r *registrar) changed(userID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	b := r.bindings[userID]
	if b == nil {
		b = &binding{userID: userID, wake: make(chan struct{}, 1)}
		r.bindings[userID] = b
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.follow(b)
		}()
	}
	select {
	case b.wake <- struct{}{}:
	default: // already woken
	}
}

// retire forgets b unless it was woken meanwhile (then the goroutine goes
// on and looks again).
func (r *registrar) retire(b *binding) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-b.wake:
		if !r.closed {
			return false
		}
	default:
	}
	delete(r.bindings, b.userID)
	return true
}

// close unregisters every user (each within unregisterTimeout, at once)
// and waits for the goroutines.
func (r *registrar) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// follow registers b's user while present, refreshes the registration,
// and unregisters it when the user goes or the registrar closes. In a
// cluster one node registers the user (its claim, asked before every
// REGISTER): the others look again every claimRecheck, and take over when
// the user leaves the registering node or that node stops.
func (r *registrar) follow(b *binding) {
	log := r.s.log.With("user", b.userID)
	var reg *registration
	held := false // this node holds the user's claim
	// due fires when the registration is to be refreshed, or a failure
	// tried again; nil = the registration is to be sent now.
	var due <-chan time.Time
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	after := func(d time.Duration) {
		timer.Reset(d)
		due = timer.C
	}
	backoff := registerBackoffMin
	failed := func() {
		after(backoff)
		backoff = min(2*backoff, registerBackoffMax)
	}
	unregister := func() {
		if reg == nil || !reg.registered {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), unregisterTimeout)
		defer cancel()
		if _, err := reg.send(ctx, 0); err != nil {
			log.Warn("sip: unregister failed", "username", reg.username, "err", err)
		} else {
			log.Info("sip: unregistered", "username", reg.username)
		}
	}
	release := func() {
		if !held {
			return
		}
		held = false
		ctx, cancel := context.WithTimeout(context.Background(), unregisterTimeout)
		defer cancel()
		if err := r.release(ctx, b.userID); err != nil {
			log.Warn("sip: give the user's registration back to the cluster", "err", err)
		}
	}
	for {
		if r.ctx.Err() != nil || !r.online(b.userID) {
			unregister()
			release()
			reg, due = nil, nil
			timer.Stop()
			if r.retire(b) {
				return
			}
			continue // woken meanwhile: look again
		}
		if due == nil && reg == nil {
			var err error
			if reg, err = r.registrationOf(b.userID); err != nil {
				if r.ctx.Err() != nil {
					continue // closing
				}
				log.Warn("sip: read the user's SIP mapping to register it", "err", err)
				failed()
			} else if reg == nil {
				// No mapping with a password: nothing to register.
				release()
				if r.retire(b) {
					return
				}
				continue
			}
		}
		if due == nil {
			mine, err := r.claim(b.userID)
			switch {
			case r.ctx.Err() != nil:
				continue // closing: unregister what was registered
			case err != nil:
				log.Warn("sip: ask the cluster which node registers the user; trying again", "in", backoff, "err", err)
				failed()
			case !mine:
				if held || reg.registered {
					log.Info("sip: another node registers the user now", "username", reg.username)
					unregister()
					reg.registered = false
				}
				held = false
				after(claimRecheck)
			default:
				held = true
				ctx, cancel := context.WithTimeout(r.ctx, registerTimeout)
				granted, err := reg.send(ctx, r.s.cfg.Trunk.RegisterExpires)
				cancel()
				switch {
				case r.ctx.Err() != nil:
					continue // closing: unregister what was registered
				case err != nil:
					log.Warn("sip: REGISTER failed; trying again", "username", reg.username, "in", backoff, "err", err)
					failed()
				default:
					backoff = registerBackoffMin
					log.Info("sip: registered", "username", reg.username, "expires", granted)
					after(time.Duration(float64(granted) * registerRefresh))
				}
			}
		}
		select {
		case <-r.ctx.Done():
		case <-b.wake: // the presence may have changed; a refresh stays due
		case <-due:
			due = nil
		}
	}
}

// claim says whether this node registers userID (always, outside a
// cluster).
func (r *registrar) claim(userID string) (bool, error) {
	if r.claimFn == nil {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, registerTimeout)
	defer cancel()
	return r.claimFn(ctx, userID)
}

// release gives back the claim of userID.
func (r *registrar) release(ctx context.Context, userID string) error {
	if r.releaseFn == nil {
		return nil
	}
	return r.releaseFn(ctx, userID)
}

// registrationOf is the registration of a user's SIP mapping, or nil when
// the user has none with a password.
func (r *registrar) registrationOf(userID string) (*registration, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	m, err := r.s.store.SipMappingByOwner(ctx, store.SipOwnerUser, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if m.Password == "" {
		return nil, nil
	}
	pw, err := r.s.sealer.Open(m.Password, "sip-mapping:"+m.ID)
	if err != nil {
		return nil, fmt.Errorf("open the password of SIP mapping %s: %w", m.ID, err)
	}
	return &registration{s: r.s, username: m.Username, password: string(pw),
		callID: sip.GenerateTagN(32), cseq: 1}, nil
}

// registration is one SIP username registered with the trunk.
type registration struct {
	s                  *Server
	username, password string
	// callID and cseq are kept across the refreshes (RFC 3261 §10.2).
	callID string
	cseq   uint32
	// registered says the registrar may hold our binding: a REGISTER was
	// sent since the last unregister (its answer may be on its way when
	// the user goes or the role closes), so going unregisters.
	registered bool
}

// contact is where the PBX reaches the username: this node's SIP address.
func (g *registration) contact() sip.Uri {
	s := g.s
	u := sip.Uri{Scheme: "sip", User: g.username, Host: s.cfg.SIPAddress(), Port: s.Addr().Port, UriParams: sip.NewParams()}
	if strings.EqualFold(s.cfg.Trunk.Transport, "tcp") {
		u.UriParams.Add("transport", "tcp")
	}
	return u
}

// request builds a REGISTER of the username for expires.
func (g *registration) request(expires time.Duration) *sip.Request {
	s := g.s
	domain := s.cfg.TrunkHost()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: domain})
	req.SetDestination(net.JoinHostPort(s.cfg.Trunk.Address, strconv.Itoa(s.cfg.Trunk.Port)))
	if strings.EqualFold(s.cfg.Trunk.Transport, "tcp") {
		req.SetTransport("TCP")
	}
	aor := sip.Uri{Scheme: "sip", User: g.username, Host: domain}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	cid := sip.CallIDHeader(g.callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: g.cseq, MethodName: sip.REGISTER})
	req.AppendHeader(&sip.ContactHeader{Address: g.contact()})
	exp := sip.ExpiresHeader(uint32(expires / time.Second))
	req.AppendHeader(&exp)
	req.SetBody(nil)
	return req
}

// send registers the username for expires (0 unregisters), answering a
// digest challenge with the mapping's password, and returns the expiry the
// registrar granted.
func (g *registration) send(ctx context.Context, expires time.Duration) (time.Duration, error) {
	client := g.s.client
	if expires > 0 {
		g.registered = true
	}
	for range 2 { // a second time with the registrar's Min-Expires
		req := g.request(expires)
		res, err := client.Do(ctx, req)
		if err == nil && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired) {
			res, err = client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: g.username, Password: g.password})
		}
		if cseq := req.CSeq(); cseq != nil {
			g.cseq = cseq.SeqNo + 1
		}
		if err != nil {
			return 0, fmt.Errorf("REGISTER %s at %s: %w", g.username, req.Destination(), err)
		}
		switch {
		case res.StatusCode == 423 && expires > 0:
			if h := res.GetHeader("Min-Expires"); h != nil {
				if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n > 0 && time.Duration(n)*time.Second > expires {
					expires = time.Duration(n) * time.Second
					continue
				}
			}
		case res.IsSuccess():
			if expires == 0 {
				g.registered = false
				return 0, nil
			}
			granted := grantedExpiry(res, g.contact(), expires)
			if granted <= 0 {
				return 0, fmt.Errorf("REGISTER %s: the registrar granted no expiry", g.username)
			}
			return granted, nil
		}
		return 0, fmt.Errorf("REGISTER %s: the registrar answered %d %s", g.username, res.StatusCode, res.Reason)
	}
	return 0, fmt.Errorf("REGISTER %s: the registrar wants a longer expiry than it accepts", g.username)
}

// grantedExpiry is the expiry a 2xx to REGISTER grants our contact: the
// expires parameter of our binding among its Contacts, else its Expires
// header, else what was asked.
func grantedExpiry(res *sip.Response, ours sip.Uri, asked time.Duration) time.Duration {
	header := asked
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n >= 0 {
			header = time.Duration(n) * time.Second
		}
	}
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok || c.Address.User != ours.User || !strings.EqualFold(c.Address.Host, ours.Host) || c.Address.Port != ours.Port {
			continue
		}
		if c.Params != nil {
			if v, ok := c.Params.Get("expires"); ok {
				if n, err := strconv.Atoi(v); err == nil && n >= 0 {
					return time.Duration(n) * time.Second
				}
			}
		}
	}
	return header
}

// UserPresence is told that a user's first session connected to this
// node, or its last one went (qss.Presence): with trunk.register the
// user's SIP mapping is registered, or unregistered. It never blocks.
func (s *Server) UserPresence(userID string) {
	if s.reg != nil && s.client != nil {
		s.reg.changed(userID)
	}
}
