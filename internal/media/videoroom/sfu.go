package videoroom

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/forward"
	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/media/record"
	"github.com/openwac/wac/internal/media/udpport"
)

// Options are what an SFU needs besides its configuration.
type Options struct {
	// Secret is the cluster secret that signs room grants.
	Secret []byte
	Log    *slog.Logger
	// Registry receives the media metrics; nil = none.
	Registry prometheus.Registerer
	// NodeID names this media node; empty = cfg.NodeID or a random one.
	NodeID string
	// Recorder records rooms; nil = recording is off on this node.
	Recorder *record.Manager
	// ClientIP gives the client address of a Janus API request, which
	// media.maxPendingSessionsPerAddress counts by; nil = the host of
	// r.RemoteAddr. Behind the node's middleware it is the address the
	// server found (trusted proxies' forwarded-for header).
	ClientIP func(r *http.Request) string
}

// SFU is the selective forwarding unit of one media node: its rooms, the
// Janus sessions of its clients, and the Pion peer connections. Its
// Handler serves the Janus API.
type SFU struct {
	cfg    config.Media
	secret []byte
	log    *slog.Logger
	nodeID string
	uuid   string

	clientIP func(*http.Request) string
	recorder *record.Manager

	pubAPI, subAPI *webrtc.API
	// se is the setting engine of both; with direct (direct.go), each
	// publisher's connection gets an API of its own over it.
	se     webrtc.SettingEngine
	direct *directRTP
	socks  *sockets
	fwd    *forward.Forwarder

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// draining ends when the node begins to shut down (Drain): long polls
	// then answer at once instead of holding the HTTP drain.
	draining context.Context
	drain    context.CancelFunc

	mu       sync.Mutex
	rooms    map[string]*Room
	numbers  map[int64]*Room
	sessions map[uint64]*session
	closed   bool
	ended    []func(roomID, reason string)
	// locals are the in-process media of participants (local.go), by key.
	locals map[string]*Local

	// pending are the sessions that have shown no room grant yet, oldest
	// first, and pendingBy counts them by client address; granted counts
	// the others. Guarded by mu.
	pending   *list.List
	pendingBy map[string]int
	granted   int

	// websockets are the open Janus WebSockets, which Close ends; wsWG
	// counts their handlers.
	websockets map[*wsConn]struct{}
	wsWG       sync.WaitGroup

	stats   counters
	unregFn func()
}

// Batcher is the media UDP port's batching (Cork, Uncork), for those
// that write to the node's peers from elsewhere in process (the sip
// role); nil when the port does not batch.
func (s *SFU) Batcher() forward.Batcher { return s.socks.batcher() }

// counters are the SFU's counters (atomics, read by metrics); the
// forwarder counts packets.
type counters struct {
	publishers      atomic.Int64
	subscribers     atomic.Int64
	wsConns         atomic.Int64
	sessionsRefused atomic.Uint64
	pendingEnded    atomic.Uint64
}

// New opens the media sockets and starts an SFU. Close stops it.
func New(cfg config.Media, opts Options) (*SFU, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if len(opts.Secret) == 0 {
		return nil, errors.New("media: the cluster secret is empty")
	}
	id := opts.NodeID
	if id == "" {
		id = cfg.NodeID
	}
	if id == "" {
		id = "media-" + randomHex(4)
	}
	log := opts.Log.With("media_node", id)
	se, socks, err := settingEngine(cfg, log)
	if err != nil {
		return nil, err
	}
	pub, sub, err := apis(cfg, se)
	if err != nil {
		socks.close()
		return nil, fmt.Errorf("media: %w", err)
	}
	s := &SFU{cfg: cfg, secret: opts.Secret, log: log, nodeID: id, uuid: randomHex(32),
		pubAPI: pub, subAPI: sub, se: se, socks: socks,
		fwd: forward.New(forward.Options{KeyframeInterval: cfg.KeyframeInterval,
			LossPercent: cfg.LossPercent, LossTime: cfg.LossTime, RecoverTime: cfg.RecoverTime, Batch: socks.batcher()}),
		rooms: map[string]*Room{}, numbers: map[int64]*Room{}, sessions: map[uint64]*session{},
		pending: list.New(), pendingBy: map[string]int{}, websockets: map[*wsConn]struct{}{}, clientIP: opts.ClientIP,
		recorder: opts.Recorder}
	if s.clientIP == nil {
		s.clientIP = remoteHost
	}
	if dv, ok := socks.udp.(udpport.Diverter); ok && cfg.DirectReceive {
		s.direct = newDirectRTP()
		if err := dv.Divert(s.direct.take, directSteer); err != nil {
			// The direct receive still works, on one receiving socket.
			log.Warn("media: the UDP port receives on one socket", "err", err)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.draining, s.drain = context.WithCancel(s.ctx)
	if opts.Registry != nil {
		if err := s.registerMetrics(opts.Registry); err != nil {
			socks.close()
			return nil, err
		}
	}
	s.wg.Add(1)
	go s.chores()
	log.Info("media server ready", append([]any{"codec", cfg.Codec}, listening(cfg, socks)...)...)
	return s, nil
}

// listening says, as log attributes, where the media server takes media:
// its UDP port or ports, its ICE-TCP port, and the addresses its ICE
// candidates offer clients.
func listening(cfg config.Media, socks *sockets) []any {
	host := cfg.ListenIP
	if host == "" {
		host = "0.0.0.0"
	}
	var udp string
	switch {
	case socks.udpAddr() != "":
		udp = socks.udpAddr() + " (one port for every peer connection, media.udpPort)"
	case cfg.WebRTCStartPort != 0:
		udp = fmt.Sprintf("%s, one port per peer connection from %d-%d (media.webRtcStartPort-webRtcEndPort)",
			host, cfg.WebRTCStartPort, cfg.WebRTCEndPort)
	default:
		udp = host + ", one port per peer connection, any the system gives " +
			"(set media.udpPort for one port, or media.webRtcStartPort-webRtcEndPort for a range)"
	}
	tcp := "off (media.tcpPort 0)"
	if a := socks.tcpAddr(); a != "" {
		tcp = a
	}
	offered := cfg.WebRTCIP + " (media.webRtcIp)"
	if cfg.WebRTCIP == "" {
		offered = strings.Join(interfaceIPs(cfg.ListenIP), ", ")
		if offered == "" {
			offered = "none: no interface has an address to offer (set media.webRtcIp)"
		} else {
			offered += " (the interfaces' addresses; set media.webRtcIp behind NAT)"
		}
	}
	return []any{"udp", udp, "ice_tcp", tcp, "candidates", offered}
}

// interfaceIPs are the IPv4 addresses host candidates are gathered on: the
// listen address when one is set, else those of the interfaces that are
// up, loopback excepted.
func interfaceIPs(listen string) []string {
	if ip := net.ParseIP(listen); ip != nil && !ip.IsUnspecified() {
		return []string{ip.String()}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var ips []string
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
				ips = append(ips, n.IP.String())
			}
		}
	}
	return ips
}

// NodeID is the name of this media node.
func (s *SFU) NodeID() string { return s.nodeID }

// ServerUUID is the node's serverUuid of the room object.
func (s *SFU) ServerUUID() string { return s.uuid }

// UDPAddr is the bound media UDP port (udpPort), "" with a port range.
func (s *SFU) UDPAddr() string { return s.socks.udpAddr() }

// TCPAddr is the bound ICE-TCP port, "" when off.
func (s *SFU) TCPAddr() string { return s.socks.tcpAddr() }

// Handler serves the Janus API: POST /janus (REST), GET /janus/{session}
// (long poll), and WebSocket upgrades on /janus with the janus-protocol
// subprotocol.
func (s *SFU) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// OnRoomEnded registers fn to hear of rooms that end on this node (by a
// destroy request or when the node stops).
func (s *SFU) OnRoomEnded(fn func(roomID, reason string)) {
	s.mu.Lock()
	s.ended = append(s.ended, fn)
	s.mu.Unlock()
}

// Load returns the node's current load.
func (s *SFU) Load() placement.Load {
	s.mu.Lock()
	l := placement.Load{Rooms: len(s.rooms), Sessions: len(s.sessions), Capacity: s.cfg.Capacity}
	rooms := make([]*Room, 0, len(s.rooms))
	for id, r := range s.rooms {
		l.RoomIDs = append(l.RoomIDs, id)
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		if status, ok := r.recordingStatus(); ok {
			if l.Recording == nil {
				l.Recording = map[string]string{}
			}
			l.Recording[r.ID] = status
		}
	}
	l.Publishers = int(s.stats.publishers.Load())
	l.Subscribers = int(s.stats.subscribers.Load())
	l.Peers = l.Publishers + l.Subscribers
	l.Forwarded = s.fwd.Counters().ForwardedPackets.Load()
	return l
}

// CreateRoom creates a media room addressable by id (the QSS room's uuid)
// and by number (its Janus numeric id; 0 = pick one). It returns the room.
func (s *SFU) CreateRoom(id string, number int64, opts placement.RoomOptions) (*Room, error) {
	if id == "" && number <= 0 {
		return nil, errors.New("create room: needs an id or a number")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("create room: media node is stopping")
	}
	if number <= 0 {
		for {
			n, _ := rand.Int(rand.Reader, big.NewInt(90000000))
			number = n.Int64() + 10000000
			if s.numbers[number] == nil && s.rooms[strconv.FormatInt(number, 10)] == nil {
				break
			}
		}
	}
	if id == "" {
		id = strconv.FormatInt(number, 10)
	}
	if s.rooms[id] != nil || s.numbers[number] != nil {
		return nil, fmt.Errorf("create room %s (%d): %w", id, number, placement.ErrRoomExists)
	}
	r := newRoom(s, id, number, opts)
	s.rooms[id] = r
	s.numbers[number] = r
	s.log.Info("room created", "room", id, "number", number, "bitrate_kbps", r.bitrate/1000)
	return r, nil
}

// DestroyRoom ends a room: its participants get the destroyed event and
// their peer connections close.
func (s *SFU) DestroyRoom(id, reason string) error {
	s.mu.Lock()
	r := s.rooms[id]
	if r != nil {
		delete(s.rooms, id)
		delete(s.numbers, r.Number)
	}
	fns := append([]func(string, string){}, s.ended...)
	s.mu.Unlock()
	if r == nil {
		return fmt.Errorf("destroy room %s: %w", id, placement.ErrNoSuchRoom)
	}
	r.destroy()
	s.log.Info("room destroyed", "room", id, "reason", reason)
	for _, fn := range fns {
		fn(id, reason)
	}
	return nil
}

// Room returns the room with id, or nil.
func (s *SFU) Room(id string) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[id]
}

// lookup finds a room by a Janus room reference.
func (s *SFU) lookup(ref roomRef) *Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ref.num > 0 {
		return s.numbers[ref.num]
	}
	if r := s.rooms[ref.str]; r != nil {
		return r
	}
	if n, err := strconv.ParseInt(ref.str, 10, 64); err == nil && n > 0 {
		return s.numbers[n]
	}
	return nil
}

// Drain answers the long polls (GET /janus/<session>) waiting now and those
// to come at once, with a keepalive: the node is shutting down, and its HTTP
// server waits for the requests in flight. Sessions and rooms stay until
// Close.
func (s *SFU) Drain() { s.drain() }

// Close stops the SFU: sessions end, rooms are destroyed, sockets close.
func (s *SFU) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var sessions []*session
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	var ids []string
	for id := range s.rooms {
		ids = append(ids, id)
	}
	websockets := make([]*wsConn, 0, len(s.websockets))
	for c := range s.websockets {
		websockets = append(websockets, c)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		s.destroySession(sess, "")
	}
	s.closeWebSockets(websockets)
	for _, id := range ids {
		s.DestroyRoom(id, "media node stopped")
	}
	s.cancel()
	s.wg.Wait()
	s.socks.close()
	if s.unregFn != nil {
		s.unregFn()
	}
	s.log.Info("media server stopped")
	return nil
}

// addWS registers an open Janus WebSocket for Close to end; false when
// the SFU is closed.
func (s *SFU) addWS(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.websockets[c] = struct{}{}
	s.wsWG.Add(1)
	return true
}

// removeWS forgets a Janus WebSocket whose handler is done.
func (s *SFU) removeWS(c *wsConn) {
	s.mu.Lock()
	delete(s.websockets, c)
	s.mu.Unlock()
	s.wsWG.Done()
}

// closeWebSockets has each Janus WebSocket send its queued events and a
// close frame (1001 going away), and waits for their handlers, each
// bounded by goingAwayGrace.
func (s *SFU) closeWebSockets(conns []*wsConn) {
	for _, c := range conns {
		close(c.goingAway)
	}
	done := make(chan struct{})
	go func() {
		s.wsWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * goingAwayGrace):
		s.log.Warn("janus websockets still open after the close frames", "websockets", len(conns))
	}
}

// chores runs the session sweeper and the per-second room upkeep
// (bitrate control, REMB, media and talking state, layer fallback).
func (s *SFU) chores() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.sweep(now)
			s.mu.Lock()
			rooms := make([]*Room, 0, len(s.rooms))
			for _, r := range s.rooms {
				rooms = append(rooms, r)
			}
			s.mu.Unlock()
			for _, r := range rooms {
				r.tick(now)
			}
		}
	}
}

// remoteHost is the host of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *SFU) registerMetrics(reg prometheus.Registerer) error {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	fc := s.fwd.Counters()
	cs := []prometheus.Collector{
		gauge("wac_media_rooms", "Media rooms on this node.", func() float64 { return float64(s.Load().Rooms) }),
		gauge("wac_media_sessions", "Janus sessions on this node.", func() float64 {
			s.mu.Lock()
			defer s.mu.Unlock()
			return float64(len(s.sessions))
		}),
		gauge("wac_media_pending_sessions", "Janus sessions that have shown no room grant yet.", func() float64 {
			s.mu.Lock()
			defer s.mu.Unlock()
			return float64(s.pending.Len())
		}),
		counter("wac_media_sessions_refused_total", "Janus sessions refused or not granted: media.maxSessions or media.maxPendingSessionsPerAddress reached.", &s.stats.sessionsRefused),
		counter("wac_media_pending_sessions_ended_total", "Janus sessions ended without a room grant: media.grantTimeout passed or media.maxPendingSessions reached.", &s.stats.pendingEnded),
		gauge("wac_media_publishers", "Publications: publisher peer connections, and phones' in-process ones.", func() float64 { return float64(s.stats.publishers.Load()) }),
		gauge("wac_media_subscribers", "Subscriptions: subscriber peer connections, and phones' in-process ones.", func() float64 { return float64(s.stats.subscribers.Load()) }),
		gauge("wac_media_websockets", "Open Janus WebSocket connections.", func() float64 { return float64(s.stats.wsConns.Load()) }),
		counter("wac_media_forwarded_packets_total", "RTP packets forwarded to subscribers.", &fc.ForwardedPackets),
		counter("wac_media_forwarded_bytes_total", "RTP payload bytes forwarded to subscribers.", &fc.ForwardedBytes),
		counter("wac_media_received_packets_total", "RTP packets received from publishers.", &fc.ReceivedPackets),
		counter("wac_media_keyframe_requests_total", "PLIs sent to publishers (after rate limiting).", &fc.KeyframeRequests),
		counter("wac_media_nacks_received_total", "NACK feedback messages received from subscribers.", &fc.NACKsReceived),
		counter("wac_media_bitrate_cuts_total", "Video caps cut because of sustained packet loss.", &fc.BitrateCuts),
	}
	if s.direct != nil {
		cs = append(cs,
			counter("wac_media_direct_rtp_packets_total", "Publishers' RTP packets received directly by the media port's reader (media.directReceive).", &s.direct.taken),
			counter("wac_media_direct_rtp_dropped_total", "Packets the direct receive dropped: not authentic, replayed, or the stream's buffer full.", &s.direct.dropped),
			counter("wac_media_direct_rtp_sent_total", "Subscribers' RTP packets sent directly to the media port (media.directReceive).", &s.direct.sent))
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("register media metrics: %w", err)
		}
	}
	s.unregFn = func() {
		for _, c := range cs {
			reg.Unregister(c)
		}
	}
	return nil
}
