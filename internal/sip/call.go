package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// call is one call with the trunk, inbound or outbound.
type call struct {
	s        *Server
	leg      string // the phone's session in the room
	callID   string
	inbound  bool
	phone    qss.User
	room     string
	media    *rtpLeg
	answered atomic.Bool
	// hangingUp: hangup ran (once per call).
	hangingUp atomic.Bool

	in  *sipgo.DialogServerSession // inbound
	out *sipgo.DialogClientSession // outbound

	// cancelInvite stops an outbound INVITE still waiting for an answer.
	cancelInvite context.CancelFunc

	// dialIn: the phone called a room or a meeting (dialin.go); the room
	// is not the call's own and outlives it.
	dialIn bool
	// caller and display are the calling number and name of an inbound
	// call (bounded).
	caller, display string
	mediaOnce       sync.Once

	// holdMu orders our re-INVITEs and wantHold is the hold the room's
	// apps want (hold.go); refer is the REFER we sent
	// and wait NOTIFYs for (refer.go); transferred marks a call that ends
	// because the phone transferred it: its room goes on.
	holdMu      sync.Mutex
	reinviteMu  sync.Mutex // orders the phone's re-INVITEs (hold.go)
	wantHold    atomic.Bool
	sdpVersion  atomic.Uint64 // our SDPs after the first (hold.go)
	refer       atomic.Pointer[referWait]
	transferred atomic.Bool

	mu         sync.Mutex
	infoQueue  []dtmfJob // the apps' digits going out by INFO (info.go)
	ended      bool
	joined     bool // the phone is in the room
	stopBridge func()
}

// respond answers a request outside a dialog (the refusals of INVITEs).
func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, headers ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	_ = tx.Respond(res)
}

// reasons are the reason phrases of the codes the role answers with.
var reasons = map[int]string{200: "OK", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 480: "Temporarily Unavailable",
	486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
	503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline", 606: "Not Acceptable"}

func reasonOf(code int) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	return "Error"
}

// onInvite takes an INVITE from the trunk: a new call to a mapped
// username, or a re-INVITE of a call (hold.go).
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	s.Stats.InvitesIn.Add(1)
	host, _, _ := net.SplitHostPort(req.Source())
	if !s.accepts(host) {
		respond(tx, req, 403, "Forbidden")
		return
	}
	if !s.limiter.allow(host) {
		s.Stats.Limited.Add(1)
		respond(tx, req, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return
	}
	cid := req.CallID()
	if cid == nil || req.To() == nil || req.From() == nil {
		respond(tx, req, 400, "Bad Request")
		return
	}
	if c := s.get(cid.Value()); c != nil {
		// A re-INVITE (hold, a session refresh): hold.go.
		if req.To().Params != nil && req.To().Params.Has("tag") {
			s.onReinvite(c, req, tx)
			return
		}
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	username := req.Recipient.User
	if username == "" {
		username = req.To().Address.User
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	m, err := s.mappingByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		if target, ok := s.dialTargetOf(username); ok {
			remote, err := parseSDP(req.Body(), s.codecs)
			if err != nil {
				s.log.Debug("sip: INVITE refused", "err", err)
				respond(tx, req, 488, "Not Acceptable Here")
				return
			}
			s.dialIn(req, tx, target, remote)
			return
		}
		s.log.Debug("sip: INVITE to an unknown number", "to", wire.Truncate(username, 64))
		respond(tx, req, 404, "Not Found")
		return
	}
	if err != nil {
		s.log.Warn("sip: find the SIP mapping", "err", err)
		respond(tx, req, 500, "Server Internal Error")
		return
	}
	remote, err := parseSDP(req.Body(), s.codecs)
	if err != nil {
		s.log.Debug("sip: INVITE refused", "err", err)
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	c, ds := s.newInbound(req, tx, remote, false)
	if c == nil {
		return
	}
	from, display := c.caller, c.display
	outcome := make(chan callOutcome, 1)
	cancelRing, err := s.sig.RingPhoneCall(ctx, qss.PhoneCall{From: from, Display: display, Mapping: m,
		Report: func(code int, room string) { outcome <- callOutcome{code, room} }})
	if err != nil {
		code := 500
		var rc *wire.Cancel
		if errors.As(err, &rc) {
			code = rc.Code
			if code == 429 {
				code = 486 // the callee has too many calls (rooms.maxPerUser)
			}
		} else {
			s.log.Warn("sip: ring the mapping's owner", "err", err)
		}
		c.finish()
		_ = ds.Respond(code, reasonOf(code), nil)
		return
	}
	_ = ds.Respond(180, "Ringing", nil)
	select {
	case o := <-outcome:
		if o.code != 200 {
			c.finish()
			_ = ds.Respond(o.code, reasonOf(o.code), nil)
			return
		}
		c.room = o.room
		d, err := s.domainOf(m.DomainID)
		if err != nil {
			c.finish()
			_ = ds.Respond(500, "Server Internal Error", nil)
			return
		}
		c.phone = qss.PhoneUser(from, display, d.Name, d.ID)
		if err := ds.RespondSDP(buildSDP(s.cfg.SIPAddress(), c.media.port(), []Codec{remote.Codec}, remote.eventTypes())); err != nil {
			s.log.Debug("sip: send 200 OK", "call", c.callID, "err", err)
			c.finish()
			return
		}
		c.answered.Store(true)
		if err := c.answer(); err != nil {
			s.log.Warn("sip: the phone cannot join the room", "call", c.callID, "err", err)
			c.hangup(500, "the phone could not join the room")
			return
		}
		s.Stats.Answered.Add(1)
	case <-ds.Context().Done():
		// CANCEL (the transaction layer answered 487), or the transaction
		// ended.
		cancelRing()
		c.finish()
	case <-s.ctx.Done():
		cancelRing()
		c.finish()
		_ = ds.Respond(503, "Service Unavailable", nil)
	}
}

// newInbound makes the call of an INVITE from the trunk whose media is
// remote: an RTP port, the call known by its Call-ID, its dialog. Nil =
// refused (answered here: 503 without a port or over trunk.maxCalls, 400
// for an INVITE the dialog layer cannot take).
func (s *Server) newInbound(req *sip.Request, tx sip.ServerTransaction, remote *remoteMedia, dialIn bool) (*call, *sipgo.DialogServerSession) {
	media, err := newRTPLeg(s.ports)
	if err != nil {
		respond(tx, req, 503, "Service Unavailable")
		return nil, nil
	}
	media.setRemote(remote)
	// What the apps see of the caller is bounded.
	c := &call{s: s, leg: "sip-" + store.NewID(), callID: req.CallID().Value(), inbound: true, dialIn: dialIn, media: media,
		caller: capText(req.From().Address.User, 64), display: capText(req.From().DisplayName, 64)}
	if !s.add(c) {
		media.close()
		respond(tx, req, 503, "Service Unavailable")
		return nil, nil
	}
	ds, err := s.dialogs.ReadInvite(req, tx)
	if err != nil {
		s.remove(c)
		media.close()
		respond(tx, req, 400, "Bad Request")
		return nil, nil
	}
	c.in = ds
	return c, ds
}

// callOutcome is how a call from the trunk ended its ringing.
type callOutcome struct {
	code int
	room string
}

// domainOf reads a domain (for the phone participant's domain).
func (s *Server) domainOf(id string) (*store.Domain, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	return s.store.GetDomain(ctx, id)
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	cid := req.CallID()
	if cid == nil {
		return
	}
	if c := s.get(cid.Value()); c != nil && c.in != nil {
		_ = c.in.ReadAck(req, tx)
	}
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	cid := req.CallID()
	var c *call
	if cid != nil {
		c = s.get(cid.Value())
	}
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	var err error
	if c.in != nil {
		err = c.in.ReadBye(req, tx)
	} else if c.out != nil {
		err = c.out.ReadBye(req, tx)
	}
	if err != nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.ended2(200, "the phone hung up")
}

// answer joins the phone to the room and starts its media; the dialog is
// established (answered is set). A hangup meanwhile wins: the phone leaves
// again.
func (c *call) answer() error {
	s := c.s
	ctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
	defer cancel()
	// The room's watcher hangs the call up from now on: the app may leave
	// while the phone joins.
	s.mu.Lock()
	s.byRoom[c.room] = append(s.byRoom[c.room], c)
	s.mu.Unlock()
	obj, err := s.sig.JoinPhone(ctx, c.room, c.phone, c.leg)
	if err != nil {
		return fmt.Errorf("join the room: %w", err)
	}
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		_ = s.sig.LeavePhone(ctx, c.room, c.phone, c.leg, 200, "the call ended")
		return nil
	}
	c.joined = true
	c.mu.Unlock()
	return c.startMedia(ctx, obj)
}

// startMedia bridges the call's RTP with the room's media (obj is the
// phone's room object; the phone is in the room) and relays its digits.
// A hangup meanwhile wins: the phone leaves again.
func (c *call) startMedia(ctx context.Context, obj *qss.RoomObject) error {
	s := c.s
	var fromTrunk func([]byte)
	var stop func()
	var err error
	if s.bridge != nil {
		gone := func(reason string) { s.goTask(func() { c.hangup(200, reason) }) }
		if fromTrunk, stop, err = s.bridge.Start(ctx, obj, c.phone.Username, *c.media.codec.Load(), c.media.write, gone); err != nil {
			return fmt.Errorf("bridge the media: %w", err)
		}
	}
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		if stop != nil {
			stop()
		}
		return nil
	}
	c.stopBridge = stop
	c.mu.Unlock()
	if fromTrunk != nil {
		c.media.setSink(fromTrunk)
	}
	c.relayDigits()
	c.runMedia()
	return nil
}

// runMedia starts reading the call's RTP and sending its events, once.
func (c *call) runMedia() {
	c.mediaOnce.Do(func() {
		c.s.readMedia(c.media)
		c.s.goTask(c.media.sendEvents)
	})
}

// maxPendingDigits bounds the phone's digits waiting to reach the room;
// more are dropped (a keypad cannot press that fast).
const maxPendingDigits = 64

// relayDigits sends the phone's DTMF digits to the room's apps as events,
// in order, until the call's media ends.
func (c *call) relayDigits() {
	s := c.s
	pending := make(chan rune, maxPendingDigits)
	c.media.setOnDigit(func(d rune) {
		select {
		case pending <- d:
		default:
			s.log.Debug("sip: DTMF digit dropped, too many pending", "call", c.callID)
		}
	})
	s.goTask(func() {
		for {
			select {
			case <-c.media.done:
				return
			case d := <-pending:
				ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
				if err := s.sig.PhoneDTMF(ctx, c.room, c.phone, string(d)); err != nil {
					s.log.Debug("sip: DTMF to the room", "call", c.callID, "err", err)
				}
				cancel()
			}
		}
	})
}

// hangup ends an answered call from our side (BYE), or cancels one still
// ringing; code and reason are the phone's leaving of the room.
func (c *call) hangup(code int, reason string) {
	c.mu.Lock()
	ended := c.ended
	c.mu.Unlock()
	if ended || !c.hangingUp.CompareAndSwap(false, true) {
		return // over already, or hung up (a room's end is heard twice: by signaling and by media)
	}
	if c.answered.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		if c.in != nil {
			err = c.in.Bye(ctx)
		} else if c.out != nil {
			err = c.out.Bye(ctx)
		}
		cancel()
		if err != nil {
			c.s.log.Debug("sip: send BYE", "call", c.callID, "err", err)
		}
	} else if c.cancelInvite != nil {
		c.cancelInvite()
	}
	c.ended2(code, reason)
}

// ended2 ends the call on our side: the phone leaves the room, the media
// stops, the RTP port goes back.
func (c *call) ended2(code int, reason string) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	stop, joined := c.stopBridge, c.joined
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if joined {
		if err := c.s.sig.LeavePhone(ctx, c.room, c.phone, c.leg, code, reason); err != nil {
			c.s.log.Debug("sip: the phone leaves the room", "room", c.room, "err", err)
		}
	}
	if c.inbound && !c.dialIn && c.answered.Load() && c.room != "" && !c.transferred.Load() {
		// The room was made for this answered call: it ends with it (an
		// unanswered one's room is ended by its invitation).
		if err := c.s.sig.EndPhoneRoom(ctx, c.room); err != nil {
			c.s.log.Debug("sip: end the call's room", "room", c.room, "err", err)
		}
	}
	c.finish()
}

// finish releases the call's port and forgets it.
func (c *call) finish() {
	c.media.close()
	c.s.remove(c)
	if c.in != nil {
		_ = c.in.Close()
	}
	if c.out != nil {
		_ = c.out.Close()
	}
}

// Dial places an app's invitation on the trunk (qss.Trunk).
func (s *Server) Dial(ctx context.Context, tc qss.TrunkCall) (qss.TrunkLeg, error) {
	s.Stats.InvitesOut.Add(1)
	number, err := numberOf(tc.To)
	if err != nil {
		return nil, wire.Refuse(404, "%q is not a phone number", wire.Truncate(tc.To, 64))
	}
	m, err := s.mappingOf(ctx, tc.Caller)
	if err != nil {
		return nil, err
	}
	media, err := newRTPLeg(s.ports)
	if err != nil {
		return nil, wire.Refuse(503, "no media port free for a phone call")
	}
	domain := s.cfg.TrunkHost()
	fromHost := domain
	if m.Dynamic && s.cfg.SipMappings.DynamicMappingDomain != "" {
		fromHost = s.cfg.SipMappings.DynamicMappingDomain
	}
	req := sip.NewRequest(sip.INVITE, s.trunkURI(number))
	req.SetBody(buildSDP(s.cfg.SIPAddress(), media.port(), s.codecs, eventTypes(s.codecs, DefaultEventPT)))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: m.Username, Host: fromHost}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: number, Host: domain}, Params: sip.NewParams()})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: m.Username, Host: s.cfg.SIPAddress(), Port: s.Addr().Port}})
	if strings.EqualFold(s.cfg.Trunk.Transport, "tcp") {
		req.SetTransport("TCP")
	}
	c := &call{s: s, leg: "sip-" + store.NewID(), media: media, phone: tc.Phone, room: tc.Room}
	callID := req.CallID()
	if callID == nil {
		cid := sip.CallIDHeader(sip.GenerateTagN(32))
		req.AppendHeader(&cid)
		callID = &cid
	}
	c.callID = callID.Value()
	if !s.add(c) {
		media.close()
		return nil, wire.Refuse(503, "too many phone calls on this node")
	}
	ictx, cancel := context.WithTimeout(s.ctx, s.cfg.Trunk.AnswerTimeout)
	c.cancelInvite = cancel
	dc, err := s.dialogs.WriteInvite(ictx, req)
	if err != nil {
		cancel()
		c.finish()
		return nil, wire.Refuse(503, "the phone network is unreachable")
	}
	c.out = dc
	password := ""
	if m.Password != "" {
		if pw, err := s.sealer.Open(m.Password, "sip-mapping:"+m.ID); err == nil {
			password = string(pw)
		}
	}
	s.goTask(func() { c.waitAnswer(ictx, cancel, m.Username, password, tc.Report) })
	return c, nil
}

// Cancel stops an outbound call that was not answered (qss.TrunkLeg).
func (c *call) Cancel() {
	if c.cancelInvite != nil && !c.answered.Load() {
		c.cancelInvite()
	}
}

// waitAnswer follows an outbound INVITE to its final response.
func (c *call) waitAnswer(ctx context.Context, cancel context.CancelFunc, user, password string, report func(int, string)) {
	defer cancel()
	s := c.s
	err := c.out.WaitAnswer(ctx, sipgo.AnswerOptions{Username: user, Password: password,
		OnResponse: func(res *sip.Response) error {
			if res.StatusCode == 180 || res.StatusCode == 183 {
				report(res.StatusCode, res.Reason)
			}
			return nil
		}})
	var rerr *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &rerr):
		s.Stats.Failed.Add(1)
		report(rerr.Res.StatusCode, rerr.Res.Reason)
		c.finish()
		return
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		report(408, "no answer")
		c.finish()
		return
	case err != nil:
		// Cancelled by us (the invitation ended), or the transaction died.
		if ctx.Err() == nil {
			report(503, "the phone network did not answer")
		}
		c.finish()
		return
	}
	remote, perr := parseSDP(c.out.InviteResponse.Body(), s.codecs)
	actx, acancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer acancel()
	if aerr := c.out.Ack(actx); aerr != nil {
		s.log.Debug("sip: send ACK", "call", c.callID, "err", aerr)
	}
	if perr != nil {
		_ = c.out.Bye(actx)
		report(488, "no common codec")
		c.finish()
		return
	}
	c.media.setRemote(remote)
	c.answered.Store(true)
	// The invitation is answered before the phone joins: the caller hears
	// 200 first, as for an app's answer.
	report(200, "OK")
	if err := c.answer(); err != nil {
		s.log.Warn("sip: the phone cannot join the room", "call", c.callID, "err", err)
		c.hangup(500, "the phone could not join the room")
		return
	}
	s.Stats.Answered.Add(1)
}

// capText cuts s to at most n bytes on a character boundary, for what the
// trunk sends that apps are shown.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
