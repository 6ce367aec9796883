// Package sip is the sip role: the node's SIP user agent towards the
// trunk or PBX (on github.com/emiago/sipgo), the calls with it and their
// RTP. Invitations of apps to numbers matching trunk.match become INVITEs
// to the trunk with the caller's SIP mapping in From; INVITEs from the
// trunk to a mapped username ring the mapping's owner as an app's
// invitation would. A phone on a call is a participant of the call's room
// (a leg without a WebSocket); its audio reaches the room through the
// media bridge (Bridge), which publishes the trunk's RTP into the room and
// sends the room's audio back.
//
// What comes from the network and is parsed here (SDP bodies, numbers) is
// bounded and fuzzed; INVITEs are limited per source address (503), calls
// per node (trunk.maxCalls), and a call whose trunk sends no RTP for
// trunk.mediaTimeout seconds is hung up.
package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"golang.org/x/time/rate"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/store"
)

// Signaling is what the sip role does with signaling (qss.Hub).
type Signaling interface {
	RingPhoneCall(ctx context.Context, c qss.PhoneCall) (cancel func(), err error)
	JoinPhone(ctx context.Context, room string, u qss.User, leg string) (*qss.RoomObject, error)
	LeavePhone(ctx context.Context, room string, u qss.User, leg string, code int, reason string) error
	EndPhoneRoom(ctx context.Context, room string) error
	// DialIn joins a phone to the room of a number (its sipUri), and
	// DialInMeeting to the room of the meeting of a PIN; phone makes the
	// participant for the room's domain.
	DialIn(ctx context.Context, number string, phone func(domainID string) (qss.User, error), leg string) (string, *qss.RoomObject, qss.User, error)
	DialInMeeting(ctx context.Context, pin string, phone func(domainID string) (qss.User, error), leg string) (string, *qss.RoomObject, qss.User, error)
	// PhoneDTMF tells the room's apps of a digit the phone pressed.
	PhoneDTMF(ctx context.Context, room string, u qss.User, digit string) error
	// PhoneHold tells the room's apps that the phone held the call or
	// resumed it (hold.go).
	PhoneHold(ctx context.Context, room string, u qss.User, hold bool) error
}

// Bridge carries a call's audio between its RTP leg and its room: the
// media side of a phone participant. Nil = calls have signaling and RTP
// but reach no room media.
type Bridge interface {
	// Start joins the room's media as the phone (obj is the phone's room
	// object): what the trunk sends (in codec) is published, and the
	// room's audio is written with send. It returns a function that
	// forwards one RTP packet from the trunk, and one that stops it.
	// gone is told when the media side puts the phone out of the room
	// (expelled, or the room ended, wherever the room's node is); it must
	// not block.
	Start(ctx context.Context, obj *qss.RoomObject, display string, codec Codec, send func(pkt []byte) error, gone func(reason string)) (fromTrunk func(pkt []byte), stop func(), err error)
}

// Options are the parts a Server works with.
type Options struct {
	Config    *config.Config
	Log       *slog.Logger
	Store     store.Store
	Signaling Signaling
	Bridge    Bridge
	// Secret is the cluster secret: the mappings' passwords are opened
	// with a key derived from it (as sapi sealed them).
	Secret []byte
	// Online says whether a user has a session on this node; with
	// trunk.register, the users it says are online are registered with
	// the trunk (register.go). Nil = no registrations.
	Online func(userID string) bool
	// Claim says whether this node is the one node of the cluster that
	// registers userID (claiming it unless a live node has), Release
	// gives that back; every node where the user is online asks, and the
	// others wait. Nil = this node registers every user online here.
	Claim   func(ctx context.Context, userID string) (bool, error)
	Release func(ctx context.Context, userID string) error
	// Batch is the node's media port, corked around each round of the
	// trunk's packets (poller_linux.go) so that what they make the apps
	// get leaves together; nil = none.
	Batch Batcher
}

// Batcher holds back what is written to a port between Cork and Uncork
// and sends it in one system call (the media node's UDP port).
type Batcher interface {
	Cork()
	Uncork()
}

// Server is the sip role of a node.
type Server struct {
	cfg    *config.Config
	log    *slog.Logger
	store  store.Store
	sig    Signaling
	bridge Bridge
	sealer *auth.Sealer
	match  *regexp.Regexp
	codecs []Codec

	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	client  *sipgo.Client
	dialogs *sipgo.DialogUA
	ports   *portPool
	// pollers read the calls' RTP sockets, one per core, the calls
	// dealt out in turn (pollerNext); none = each call's own goroutine.
	pollers    []*rtpPoller
	pollerNext atomic.Uint32
	limiter    *sourceLimiter
	// dialInFailures bounds the failed dial-ins of this node (numbers of
	// no room, wrong PINs; trunk.dialInFailuresPerMinute); nil = no limit.
	dialInFailures *rate.Limiter
	// reg registers the present users' SIP mappings (nil: trunk.register
	// is off).
	reg *registrar

	// accept are the networks INVITEs are taken from (trunk.acceptFrom,
	// or trunk.address's addresses).
	accept []*net.IPNet

	udp net.PacketConn
	tcp net.Listener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	calls  map[string]*call   // by SIP Call-ID
	byRoom map[string][]*call // answered calls by room
	closed bool

	// Counters.
	Stats Stats
}

// Stats count the calls of the sip role.
type Stats struct {
	InvitesIn, InvitesOut, Answered, Limited, Failed atomic.Uint64
	// InfosSent counts the apps' digits answered 2xx by INFO.
	InfosSent atomic.Uint64
}

// InfosSent is how many digits went out by INFO and were taken.
func (s *Server) InfosSent() uint64 { return s.Stats.InfosSent.Load() }

// New makes the sip role; Start listens.
func New(opts Options) (*Server, error) {
	cfg := opts.Config
	match, err := regexp.Compile(cfg.Trunk.Match)
	if err != nil {
		return nil, fmt.Errorf("config key trunk.match: %w", err)
	}
	var codecs []Codec
	for _, name := range cfg.Trunk.Codecs {
		c, ok := codecsByName[strings.ToLower(name)]
		if !ok {
			return nil, fmt.Errorf("config key trunk.codecs: %q is not pcmu, pcma or opus", name)
		}
		codecs = append(codecs, c)
	}
	key, err := auth.DeriveKey(opts.Secret, "sip mapping passwords")
	if err != nil {
		return nil, fmt.Errorf("derive the SIP password key: %w", err)
	}
	sealer, err := auth.NewSealer(key)
	if err != nil {
		return nil, err
	}
	host := cfg.SIPAddress()
	slog := opts.Log.With("role", "sip")
	// sipgo's transaction and transport layers log to the role's logger,
	// not to the process's default one; a response that matches no
	// transaction (a retransmitted 200 after the ACK, a late answer) is
	// routine on a trunk and logged at debug.
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("OpenWAC"), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(slog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				slog.Debug("sip: a response of no transaction (a retransmission)", "response", r.Short())
			})),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(slog)))
	if err != nil {
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(slog))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("sip server: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: slog, store: opts.Store, sig: opts.Signaling, bridge: opts.Bridge, sealer: sealer,
		match: match, codecs: codecs, ua: ua, srv: srv,
		ports:   newPortPool(cfg.Trunk.Listen.Address, cfg.Trunk.RTPPortMin, cfg.Trunk.RTPPortMax),
		limiter: newSourceLimiter(cfg.Trunk.InvitesPerSecond, cfg.Trunk.InvitesBurst),
		ctx:     ctx, cancel: cancel, calls: map[string]*call{}, byRoom: map[string][]*call{}}
	if cfg.Trunk.Register && opts.Online != nil {
		s.reg = newRegistrar(s, opts.Online, opts.Claim, opts.Release)
	}
	for range runtime.GOMAXPROCS(0) {
		if p := newRTPPoller(slog, opts.Batch); p != nil {
			s.pollers = append(s.pollers, p)
		}
	}
	if n := cfg.Trunk.DialInFailuresPerMinute; n > 0 {
		s.dialInFailures = rate.NewLimiter(rate.Limit(float64(n)/60), n)
	}
	srv.OnInvite(s.onInvite)
	srv.OnAck(s.onAck)
	srv.OnInfo(s.onInfo)
	srv.OnBye(s.onBye)
	srv.OnRefer(s.onRefer)
	srv.OnNotify(s.onNotify)
	srv.OnCancel(func(req *sip.Request, tx sip.ServerTransaction) {
		// A CANCEL that matched a ringing INVITE was answered by the
		// transaction layer; this one matched nothing.
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
	})
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	return s, nil
}

// Start listens for SIP on trunk.listen (UDP and TCP) and starts the media
// watchdog.
func (s *Server) Start() error {
	accept, err := acceptNets(s.cfg.Trunk.AcceptFrom, s.cfg.Trunk.Address)
	if err != nil {
		return err
	}
	s.accept = accept
	addr := net.JoinHostPort(s.cfg.Trunk.Listen.Address, strconv.Itoa(s.cfg.Trunk.Listen.Port))
	udp, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("config key trunk.listen: listen UDP %s: %w", addr, err)
	}
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		udp.Close()
		return fmt.Errorf("config key trunk.listen: listen TCP %s: %w", addr, err)
	}
	s.udp, s.tcp = udp, tcp
	port := udp.LocalAddr().(*net.UDPAddr).Port
	// Requests to the trunk leave from the listener's address (UDP), so
	// that the trunk sees one address for both directions.
	copts := []sipgo.ClientOption{sipgo.WithClientHostname(s.cfg.SIPAddress()), sipgo.WithClientLogger(s.log)}
	if !strings.EqualFold(s.cfg.Trunk.Transport, "tcp") {
		copts = append(copts, sipgo.WithClientConnectionAddr(udp.LocalAddr().String()))
	}
	client, err := sipgo.NewClient(s.ua, copts...)
	if err != nil {
		udp.Close()
		tcp.Close()
		return fmt.Errorf("sip client: %w", err)
	}
	s.client = client
	s.dialogs = &sipgo.DialogUA{Client: client, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "wac", Host: s.cfg.SIPAddress(), Port: port}}}
	s.wg.Add(3)
	go func() { defer s.wg.Done(); _ = s.srv.ServeUDP(udp) }()
	go func() { defer s.wg.Done(); _ = s.srv.ServeTCP(tcp) }()
	go func() { defer s.wg.Done(); s.watchMedia() }()
	s.log.Info("Trunk service was initialized with this config: match ("+s.cfg.Trunk.Match+") parallelSipPrefix ("+s.cfg.Trunk.Prefix.ParallelSip+")",
		"listen", addr, "trunk", net.JoinHostPort(s.cfg.Trunk.Address, strconv.Itoa(s.cfg.Trunk.Port)), "transport", s.cfg.Trunk.Transport)
	return nil
}

// Addr is the SIP listener's UDP address (tests listen on port 0).
func (s *Server) Addr() *net.UDPAddr { return s.udp.LocalAddr().(*net.UDPAddr) }

// Close hangs up every call, stops listening and waits for the role's
// goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	list := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		list = append(list, c)
	}
	s.mu.Unlock()
	for _, c := range list {
		c.hangup(503, "the server is shutting down")
	}
	if s.reg != nil {
		// Before the listener closes: the registrar's answers come to it.
		s.reg.close()
	}
	s.cancel()
	if s.udp != nil {
		s.udp.Close()
		s.tcp.Close()
	}
	s.srv.Close()
	s.wg.Wait()
	for _, p := range s.pollers {
		p.close()
	}
	if s.client != nil {
		s.client.Close()
	}
	s.ua.Close()
}

// Calls counts the calls in progress (ringing or answered).
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// PortsInUse counts the RTP ports taken.
func (s *Server) PortsInUse() int { return s.ports.inUse() }

// RTPPorts are the local RTP ports of the calls, sorted.
func (s *Server) RTPPorts() []int { return s.ports.taken() }

// Match says whether an invitation to to goes to the trunk (trunk.match).
func (s *Server) Match(to string) bool { return s.match.MatchString(to) }

// add registers a call under its Call-ID; false when the node has
// trunk.maxCalls calls, or is closing.
func (s *Server) add(c *call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.calls) >= s.cfg.Trunk.MaxCalls {
		return false
	}
	if _, dup := s.calls[c.callID]; dup {
		return false
	}
	s.calls[c.callID] = c
	return true
}

func (s *Server) remove(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls[c.callID] == c {
		delete(s.calls, c.callID)
	}
	if c.room != "" {
		list := s.byRoom[c.room]
		for i, x := range list {
			if x == c {
				list = append(list[:i:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(s.byRoom, c.room)
		} else {
			s.byRoom[c.room] = list
		}
	}
}

func (s *Server) get(callID string) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[callID]
}

// readMedia starts reading a call's RTP: in the poller, or else on a
// goroutine of the call's.
func (s *Server) readMedia(l *rtpLeg) {
	l.started.Store(time.Now().UnixNano())
	if n := len(s.pollers); n > 0 && s.pollers[int(s.pollerNext.Add(1))%n].add(l) {
		return
	}
	s.goTask(l.run)
}

// go runs fn as a goroutine of the role, waited for on Close.
func (s *Server) goTask(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// RoomChanged is the rooms' watcher (qss.RoomWatcher): a phone whose room
// ended, or whose room has no one but phones left, is hung up.
func (s *Server) RoomChanged(_ context.Context, room string, remaining []string, ended bool) {
	s.mu.Lock()
	list := append([]*call(nil), s.byRoom[room]...)
	s.mu.Unlock()
	if len(list) == 0 {
		return
	}
	apps := 0
	for _, id := range remaining {
		if !strings.HasPrefix(id, "phone-") {
			apps++
		}
	}
	for _, c := range list {
		// A phone that dialled into a room stays while the room lasts,
		// with or without apps (a meeting's first caller waits there).
		if !ended && (apps > 0 || c.dialIn) {
			continue
		}
		s.goTask(func() { c.hangup(200, "the app hung up") })
	}
}

// SendDTMF queues digits (checked by the caller: 0-9, *, #, A-D) for
// every answered call in room (qss.Keypad): as RFC 4733 events on its
// RTP, or as SIP INFO requests (trunk.dtmfMode).
func (s *Server) SendDTMF(room, digits string, duration time.Duration) error {
	s.mu.Lock()
	list := append([]*call(nil), s.byRoom[room]...)
	s.mu.Unlock()
	sent := 0
	var last error
	for _, c := range list {
		c.mu.Lock()
		// Answered is enough: the digits wait for the media to start.
		live := c.answered.Load() && !c.ended
		c.mu.Unlock()
		if !live {
			continue
		}
		queue := c.media.queueDTMF
		if c.useInfo() {
			queue = c.queueInfo
		}
		if err := queue(digits, duration); err != nil {
			last = err
			continue
		}
		sent++
	}
	if sent == 0 {
		if last == nil {
			last = errors.New("no phone call of the room on this node")
		}
		return last
	}
	return nil
}

// watchMedia hangs up the answered calls whose trunk sent no RTP for
// trunk.mediaTimeout seconds.
func (s *Server) watchMedia() {
	limit := s.cfg.Trunk.MediaTimeout
	if limit <= 0 {
		<-s.ctx.Done()
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-tick.C:
			s.mu.Lock()
			var idle []*call
			for _, c := range s.calls {
				if c.answered.Load() && c.media.silentFor(now) > limit {
					idle = append(idle, c)
				}
			}
			s.mu.Unlock()
			for _, c := range idle {
				s.log.Info("sip: no RTP from the trunk, hanging up", "call", c.callID, "after", s.cfg.Trunk.MediaTimeout)
				s.goTask(func() { c.hangup(408, "no media from the phone network") })
			}
		}
	}
}

// trunkURI is the request URI of a number at the trunk.
func (s *Server) trunkURI(number string) sip.Uri {
	u := sip.Uri{Scheme: "sip", User: number, Host: s.cfg.Trunk.Address, Port: s.cfg.Trunk.Port, UriParams: sip.NewParams()}
	if strings.EqualFold(s.cfg.Trunk.Transport, "tcp") {
		u.UriParams.Add("transport", "tcp")
	}
	return u
}

// validNumber is what may be dialled on the trunk: digits, * and #, with
// an optional leading +.
var validNumber = regexp.MustCompile(`^\+?[0-9*#]{1,32}$`)

// numberOf is the number an invitation's to dials (tel:+34..., or the user
// part of a sip: URI), or an error naming it.
func numberOf(to string) (string, error) {
	n := to
	if _, rest, ok := strings.Cut(n, ":"); ok {
		n = rest
	}
	n, _, _ = strings.Cut(n, "@")
	n, _, _ = strings.Cut(n, ";")
	n = strings.NewReplacer("-", "", ".", "", " ", "", "(", "", ")", "").Replace(n)
	if !validNumber.MatchString(n) {
		return "", errors.New("not a phone number")
	}
	return n, nil
}

// acceptNets are the networks INVITEs are taken from: from, or the
// addresses the trunk's host resolves to.
func acceptNets(from []string, trunk string) ([]*net.IPNet, error) {
	if len(from) == 0 {
		ips, err := net.LookupIP(trunk)
		if err != nil {
			return nil, fmt.Errorf("config key trunk.address: resolve %q: %w", trunk, err)
		}
		for _, ip := range ips {
			from = append(from, ip.String())
		}
	}
	var out []*net.IPNet
	for _, a := range from {
		if _, n, err := net.ParseCIDR(a); err == nil {
			out = append(out, n)
			continue
		}
		ip := net.ParseIP(a)
		if ip == nil {
			return nil, fmt.Errorf("config key trunk.acceptFrom: %q is not an IP or a CIDR", a)
		}
		bits := 128
		if ip.To4() != nil {
			ip, bits = ip.To4(), 32
		}
		out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
	}
	return out, nil
}

// accepts says whether an INVITE from host is taken.
func (s *Server) accepts(host string) bool {
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, n := range s.accept {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
