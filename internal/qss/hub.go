// Package qss is the signaling server of the seeds (QSS): the WebSocket
// protocol that apps speak for sessions, rooms, invitations, transfers and
// conference state.
//
// A Hub runs on each node. It holds the node's sessions (WebSocket
// connections), the rooms and the invitations the node owns, and reaches
// everything else through the bus: deliveries to a user go to the subject
// wac.u.<user> (every node with a session of that user subscribes), requests
// about a room or an invitation go to the node that owns it (wac.n.<node>),
// and notices for all nodes go to wac.all. The shared key-value state says
// which node holds which session (sessions.<user>), owns which room
// (room.<id>), rings which invitation (invites.<user>) and has the user in a
// call (calls.<user>), and which nodes are alive (node.<id>).
package qss

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/qss/cluster"
	"github.com/openwac/wac/internal/qss/tasks"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// Media is the media side of rooms: the dispatcher that places a room on a
// media node. Nil means rooms have no media server.
type Media interface {
	CreateRoom(ctx context.Context, id string, opts MediaOptions) (MediaRoom, error)
	DestroyRoom(ctx context.Context, id string) error
	// ExpelUser ends a user's media in a room and refuses the user's room
	// grants there until AdmitUser.
	ExpelUser(ctx context.Context, room, user string) error
	AdmitUser(ctx context.Context, room, user string) error
	// ICEServers are the STUN/TURN servers (with credentials) for a user.
	ICEServers(userID string) []ICEServer
}

// MediaOptions are what a media room is created with.
type MediaOptions struct {
	Bitrate int // kbps per video
	Record  bool
}

// MediaRoom is where a room's media lives.
type MediaRoom struct {
	Number     string // the numeric media room id
	ServerUUID string
	HTTPS      string // Janus HTTP endpoint
	WSS        string // Janus WebSocket endpoint
}

// ICEServer is one entry of the room object's ice list: the wire type,
// which turn.ICEServers gives too.
type ICEServer = wire.ICEServer

// Pusher notifies a user's devices by push when they have no live session
// (invites.basic.resolvePush). The notifications service implements it.
type Pusher interface {
	PushInvitation(ctx context.Context, userID string, invite map[string]any) error
}

// Hub is the signaling server of one node.
type Hub struct {
	cfg  *config.Config
	log  *slog.Logger
	st   store.Store
	auth *auth.Service
	bus  bus.Bus
	// cluster is this node among the others: the shared state, the
	// heartbeat, calls to the owners of rooms and invitations.
	cluster *cluster.Node
	state   *cluster.State
	node    string
	secret  []byte
	media   Media
	pusher  Pusher
	// readBufs lends read buffers to the connections with bytes waiting.
	readBufs *bufferPool

	handlers map[string]requestHandler
	quickURI *regexp.Regexp
	single   bool // the only node: deliveries skip the bus

	mu       sync.RWMutex
	sessions map[string]*Session
	users    map[string]*localUser

	rooms   *roomTable
	invites *inviteTable
	calls   *callWriter

	// tasks runs every goroutine of the hub, with its root context;
	// Close waits for them.
	tasks   *tasks.Group
	closing atomic.Bool
	all     bus.Subscription
}

type localUser struct {
	sessions map[string]*Session
	sub      bus.Subscription
}

// requestHandler serves one request of a session. It returns the answer's
// payload (nil for none), a *wire.Cancel to refuse, or deferred when the answer
// comes later.
type requestHandler func(ctx context.Context, s *Session, f *wire.Frame) (any, error)

// deferred tells handle that the handler answers later.
var deferred = &struct{ deferred bool }{true}

// Options are the parts a Hub works with.
type Options struct {
	Config *config.Config
	Log    *slog.Logger
	Store  store.Store
	Auth   *auth.Service
	// Bus connects the node; the Hub gives it its inbox.
	Bus    func(inbox bus.Inbox) (bus.Bus, error)
	Secret []byte
	Media  Media
	Pusher Pusher
	// SingleNode says no other node shares the bus (bus.driver local): the
	// hub then delivers to its sessions without going through the bus.
	SingleNode bool
	// Registry receives the signaling metrics; nil = none.
	Registry prometheus.Registerer
}

// New starts a node's signaling: it connects the bus, serves the node's
// requests and starts its periodic work (pings, heartbeats, watchdog).
func New(opts Options) (*Hub, error) {
	h := &Hub{
		cfg: opts.Config, log: opts.Log, st: opts.Store, auth: opts.Auth, secret: opts.Secret,
		media: opts.Media, pusher: opts.Pusher, single: opts.SingleNode,
		sessions: map[string]*Session{}, users: map[string]*localUser{},
		readBufs: newBufferPool(),
		tasks:    tasks.New(context.Background()),
	}
	var err error
	if h.quickURI, err = regexp.Compile(h.cfg.QuickConference.URIRegex); err != nil {
		return nil, fmt.Errorf("config key quickConference.uriRegex: %w", err)
	}
	b, err := opts.Bus(h.inbox)
	if err != nil {
		return nil, err
	}
	h.bus, h.node = b, b.NodeID()
	if h.state, err = cluster.NewState(b.KV(), h.log, opts.Registry); err != nil {
		b.Close()
		return nil, err
	}
	h.rooms = newRoomTable(h)
	h.invites = newInviteTable(h)
	h.calls = newCallWriter(h)
	h.registerHandlers()
	if h.all, err = b.Subscribe(cluster.SubjectAll); err != nil {
		b.Close()
		return nil, err
	}
	if h.cluster, err = cluster.New(h.ctx(), b, h.state); err != nil {
		b.Close()
		return nil, fmt.Errorf("qss: %w", err)
	}
	h.cluster.Serve(serviceRooms, h.tracked(h.serveRoom))
	h.cluster.Serve(serviceInvites, h.tracked(h.serveInvite))
	opts.Auth.OnRevoke(h.onRevoke)
	opts.Auth.OnInvalidate(h.onInvalidate)
	h.tasks.Every(time.Duration(h.cfg.QSS.PingInterval)*time.Millisecond, h.pingAll)
	h.tasks.Every(cluster.HeartbeatEvery, func(ctx context.Context) { h.cluster.Heartbeat(ctx) })
	h.tasks.Every(time.Minute, func(context.Context) { h.rooms.sweepOwners() })
	h.tasks.Go(h.calls.run)
	if w := h.cfg.Watchdog.Invites; w.Enabled {
		h.tasks.Every(time.Duration(w.Period)*time.Millisecond, h.invites.watchdog)
	}
	h.tasks.Every(time.Minute, h.upkeep)
	// The calls an earlier run left unfinished, before this node has rooms
	// of its own (with a fixed bus.nodeId, the earlier run had this id).
	ctx, cancel := context.WithTimeout(h.ctx(), 30*time.Second)
	h.finishDeadCalls(ctx, true)
	cancel()
	h.log.Info("qss: signaling started", "node", h.node)
	return h, nil
}

// NodeID is this node's name on the bus.
func (h *Hub) NodeID() string { return h.node }

// Bus is the node's bus (tests use it).
func (h *Hub) Bus() bus.Bus { return h.bus }

// ctx is the hub's root context, cancelled when it closes: the context of
// the work the hub does on its own (notifications, timers, loops).
func (h *Hub) ctx() context.Context { return h.tasks.Context() }

// errClosed refuses the work other goroutines bring once the hub closed.
var errClosed = errors.New("qss: the signaling hub is closed")

// tracked runs a service of the node as a task of the hub: Close waits for
// it, and refuses it once the hub closed.
func (h *Hub) tracked(fn cluster.Service) cluster.Service {
	return func(ctx context.Context, req json.RawMessage) (out any, err error) {
		err = errClosed
		h.tasks.Do(func(context.Context) { out, err = fn(ctx, req) })
		return out, err
	}
}

// Close ends every session, destroys the node's rooms, waits for every
// goroutine of the hub, and leaves the bus.
func (h *Hub) Close() error {
	if !h.closing.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx()), 10*time.Second)
	defer cancel()
	h.mu.RLock()
	sessions := make([]*Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		sessions = append(sessions, s)
	}
	h.mu.RUnlock()
	for _, s := range sessions {
		s.mu.Lock()
		c := s.conn
		s.mu.Unlock()
		if c != nil {
			c.close(ws.StatusGoingAway, "server shutting down")
		}
		h.removeSession(ctx, s, "server shutting down")
	}
	h.rooms.closeAll(ctx)
	// The connections still open close with the root context.
	h.tasks.Close()
	h.calls.flush(ctx)
	h.cluster.Leave(ctx)
	h.all.Unsubscribe()
	return h.bus.Close()
}

// finishDeadCalls marks finished the call records of the nodes that are
// gone: a node that died (or an earlier run of this one, whose node id was
// another) took its rooms with it, and the call history would otherwise
// show those calls as still going on. The finish time is when this was
// noticed. A node that was only cut off writes its records again on its
// next change, unfinished. At start (starting), this node's own id counts
// as gone too: it holds no room yet.
func (h *Hub) finishDeadCalls(ctx context.Context, starting bool) {
	nodes, err := h.st.UnfinishedCallNodes(ctx)
	if err != nil {
		h.log.Warn("qss: list the nodes of unfinished calls", "err", err)
		return
	}
	for _, node := range nodes {
		if (node != h.node || !starting) && h.cluster.Alive(ctx, node) {
			continue
		}
		n, err := h.st.FinishNodeCalls(ctx, node, time.Now().UnixMilli())
		if err != nil {
			h.log.Warn("qss: finish the calls of a node that is gone", "node", node, "err", err)
			continue
		}
		if n > 0 {
			h.log.Info("qss: finished the calls of a node that is gone", "node", node, "calls", n)
		}
	}
}

func (h *Hub) pingAll(ctx context.Context) {
	h.mu.RLock()
	list := make([]*Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		list = append(list, s)
	}
	h.mu.RUnlock()
	timeout := time.Duration(h.cfg.QSS.PingTimeout) * time.Millisecond
	for _, s := range list {
		s.ping(timeout)
	}
	// Check the pongs when they are due, not a ping interval later, so
	// that a dead peer is noticed within pingInterval + pingTimeout.
	if timeout < time.Duration(h.cfg.QSS.PingInterval)*time.Millisecond {
		select {
		case <-ctx.Done():
		case <-time.After(timeout + 10*time.Millisecond):
			for _, s := range list {
				s.checkPong(timeout)
			}
		}
	}
}

// ServeHTTP is the /qss WebSocket endpoint. The access token comes as
// Authorization: Bearer or ?token=; a bad one is refused with 401 before
// the upgrade. ?session=<id> resumes a session within removeAfter.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := auth.BearerToken(r)
	if token == "" {
		http.Error(w, `{"code":401,"message":"an access token is required (Authorization: Bearer, or ?token=)"}`, http.StatusUnauthorized)
		return
	}
	p, err := h.auth.Authenticate(r.Context(), token)
	if errors.Is(err, auth.ErrInvalidToken) {
		http.Error(w, `{"code":401,"message":"the access token is invalid or expired"}`, http.StatusUnauthorized)
		return
	}
	if err != nil {
		h.log.Error("qss: authenticate", "err", err)
		http.Error(w, `{"code":500,"message":"internal error"}`, http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	d := Device{
		UserAgent: wire.Truncate(r.UserAgent(), 256), Language: wire.Truncate(cmp.Or(q.Get("language"), r.Header.Get("Accept-Language")), 64),
		Location: wire.Truncate(q.Get("location"), 128), Platform: wire.Truncate(q.Get("platform"), 64),
		DeviceID: wire.Truncate(q.Get("deviceId"), 128), PushToken: wire.Truncate(q.Get("pushToken"), 512),
	}
	// Browsers send Origin; the token, not cookies, authenticates, so any
	// origin that holds a valid token may connect.
	c, err := upgrade(w, r, h.readBufs)
	if err != nil {
		return
	}
	// The HTTP handler returns; the session's reader is a goroutine of its
	// own, so the request and its handler's stack are not kept for the
	// connection's life.
	run := func(ctx context.Context) { h.run(ctx, c, q.Get("session"), p, d, r.RemoteAddr) }
	if !h.tasks.Go(run) {
		c.close(ws.StatusGoingAway, "server shutting down")
	}
}

// run serves one connection until it ends, or until the hub closes.
func (h *Hub) run(ctx context.Context, c *wsConn, resume string, p *auth.Principal, d Device, addr string) {
	stop := context.AfterFunc(ctx, func() { c.close(ws.StatusGoingAway, "server shutting down") })
	defer stop()
	s, resumed := h.attachSession(ctx, resume, p, d, c)
	defer func() {
		c.closeNow()
		if s.detach(c) {
			h.disconnected(ctx, s)
		}
	}()
	h.log.Info("qss: client connected", "session", s.ID, "user", p.Username, "resumed", resumed, "ip", addr)
	// The session event comes first; a resumed session then gets what was
	// held for it (the invitations that rang it while it was away), and
	// every session is rung by the invitations ringing its user that it is
	// not a candidate of yet.
	s.greet(c, wire.EventFrame("session", map[string]any{
		"session": s.ID, "user": p.UserID, "username": p.Username, "domain": p.DomainName, "role": p.Role,
		"resumed": resumed, "node": h.node,
		"removeAfter": max(h.cfg.Rooms.RemoveAfter, h.cfg.Invites.Basic.RemoveAfter),
	}))
	h.invites.ringNewSession(ctx, s)
	s.serve(ctx, c)
}

// attachSession resumes the session named resume if it is this user's and
// still waiting, or else starts a new one.
func (h *Hub) attachSession(ctx context.Context, resume string, p *auth.Principal, d Device, c *wsConn) (*Session, bool) {
	if resume != "" {
		h.mu.RLock()
		s := h.sessions[resume]
		h.mu.RUnlock()
		// A session resumes with a token of the grant it was opened with (a
		// refreshed token keeps the grant); another login starts anew.
		if s != nil && s.User.UserID == p.UserID && s.User.GrantID == p.GrantID {
			s.mu.Lock()
			ok, old := !s.closed, s.conn
			s.mu.Unlock()
			if ok {
				// The session moves to the new connection. An old one still
				// attached is one the client gave up on (a network change
				// leaves it half open until pings time out): it is closed
				// without the session leaving anything.
				s.attach(c)
				if old != nil {
					h.log.Debug("qss: session resumed over a live connection; closing the old one", "session", s.ID)
					old.closeNow()
				}
				h.saveSession(ctx, s)
				return s, true
			}
		}
	}
	s := newSession(h, store.NewID(), p, d)
	s.attach(c)
	h.mu.Lock()
	h.sessions[s.ID] = s
	u := h.users[p.UserID]
	if u == nil {
		u = &localUser{sessions: map[string]*Session{}}
		h.users[p.UserID] = u
		sub, err := h.bus.Subscribe(cluster.UserSubject(p.UserID))
		if err != nil {
			h.log.Error("qss: subscribe user", "user", p.UserID, "err", err)
		}
		u.sub = sub
	}
	u.sessions[s.ID] = s
	h.mu.Unlock()
	if p.IsAnonymous() && p.Expires > 0 {
		// An anonymous user lives anonymousExpiration and its token with
		// it (there is no refresh): its sessions end when it does.
		t := h.tasks.AfterFunc(time.Until(time.UnixMilli(p.Expires)), func(ctx context.Context) {
			h.log.Info("qss: ending session", "session", s.ID, "user", p.Username, "reason", "anonymous user expired")
			s.end("your anonymous session expired")
			h.removeSession(ctx, s, "expired")
		})
		s.mu.Lock()
		s.expiry = t
		s.mu.Unlock()
	}
	h.saveSession(ctx, s)
	return s, false
}

// SessionInfo is a session as the directory (and SAPI) shows it.
type SessionInfo struct {
	ID        string `json:"id"`
	User      string `json:"user"`
	Username  string `json:"username"`
	Domain    string `json:"domain"`
	DomainID  string `json:"domainId"`
	Role      string `json:"role"`
	Node      string `json:"node"`
	Connected bool   `json:"connected"`
	Created   int64  `json:"created"`
	// Disconnected is when the connection of a session waiting to be
	// resumed dropped (unix ms); absent while connected.
	Disconnected int64 `json:"disconnected,omitempty"`
	Device
}

func (h *Hub) sessionInfo(s *Session) SessionInfo {
	s.mu.Lock()
	d, connected, abandoned := s.device, s.conn != nil && !s.closed, s.abandoned
	s.mu.Unlock()
	si := SessionInfo{ID: s.ID, User: s.User.UserID, Username: s.User.Username, Domain: s.User.DomainName,
		DomainID: s.User.DomainID, Role: s.User.Role, Node: h.node, Connected: connected,
		Created: s.start.UnixMilli(), Device: d}
	if !connected && !abandoned.IsZero() {
		si.Disconnected = abandoned.UnixMilli()
	}
	return si
}

// ringable reports whether an invitation may ring the session: it is
// connected, or it dropped less than invites.basic.removeAfter ago and gets
// the invitation when it resumes.
func (h *Hub) ringable(si SessionInfo, now time.Time) bool {
	if si.Connected {
		return true
	}
	window := time.Duration(h.cfg.Invites.Basic.RemoveAfter) * time.Millisecond
	return si.Disconnected > 0 && now.Sub(time.UnixMilli(si.Disconnected)) < window
}

func (h *Hub) saveSession(ctx context.Context, s *Session) {
	if h.single {
		return // Sessions reads this node's own map
	}
	h.state.SetPut(ctx, sessionsKey(s.User.UserID), s.ID, h.sessionInfo(s))
}

// sessionsKey is the shared set of a user's sessions: session id →
// SessionInfo.
func sessionsKey(user string) string { return "sessions." + user }

// reasonConnectionLost is why a session whose connection dropped leaves its
// rooms (participantRemoved, code 480), whenever it does.
const reasonConnectionLost = "connection lost"

// disconnected starts the clock on a dropped session: after
// rooms.removeAfter it leaves its rooms, after invites.basic.removeAfter it
// stops ringing, and after both it is gone, unless a reconnect resumed it.
func (h *Hub) disconnected(ctx context.Context, s *Session) {
	h.log.Info("qss: client disconnected", "session", s.ID, "user", s.User.Username)
	s.mu.Lock()
	ended := s.ended != "" || s.closed
	s.mu.Unlock()
	roomsAfter := time.Duration(h.cfg.Rooms.RemoveAfter) * time.Millisecond
	invitesAfter := time.Duration(h.cfg.Invites.Basic.RemoveAfter) * time.Millisecond
	if ended || roomsAfter == 0 && invitesAfter == 0 {
		h.removeSession(ctx, s, reasonConnectionLost)
		return
	}
	h.saveSession(ctx, s)
	gen := func() int { s.mu.Lock(); defer s.mu.Unlock(); return s.gen }()
	stillGone := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.conn == nil && s.gen == gen && !s.closed
	}
	t1 := h.tasks.AfterFunc(roomsAfter, func(ctx context.Context) {
		if stillGone() {
			h.leaveAllRooms(ctx, s, 480, reasonConnectionLost)
		}
	})
	t2 := h.tasks.AfterFunc(invitesAfter, func(ctx context.Context) {
		h.invites.dropRequests(ctx, s, s.stopRinging(gen))
	})
	t3 := h.tasks.AfterFunc(max(roomsAfter, invitesAfter), func(ctx context.Context) {
		if stillGone() {
			h.removeSession(ctx, s, reasonConnectionLost)
		}
	})
	s.mu.Lock()
	s.timers = append(s.timers, t1, t2, t3)
	s.mu.Unlock()
}

// removeSession forgets a session for good: it leaves its rooms, stops
// ringing, and leaves the directory.
func (h *Hub) removeSession(ctx context.Context, s *Session, reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for _, t := range s.timers {
		t.Stop()
	}
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.mu.Unlock()
	h.leaveAllRooms(ctx, s, 480, reason)
	h.invites.dropRequests(ctx, s, s.stopRinging(-1))
	h.invites.callerGone(ctx, s)
	h.mu.Lock()
	delete(h.sessions, s.ID)
	if u := h.users[s.User.UserID]; u != nil {
		delete(u.sessions, s.ID)
		if len(u.sessions) == 0 {
			if u.sub != nil {
				u.sub.Unsubscribe()
			}
			delete(h.users, s.User.UserID)
		}
	}
	h.mu.Unlock()
	if !h.single {
		h.state.SetDelete(ctx, sessionsKey(s.User.UserID), s.ID)
	}
}

func (h *Hub) leaveAllRooms(ctx context.Context, s *Session, code int, reason string) {
	for _, room := range s.rooms() {
		if err := h.rooms.do(ctx, room, actor{User: userRefOf(s.User)}, &leaveOp{Session: s.ID, Code: code, Reason: reason}); err != nil {
			h.log.Debug("qss: leave on disconnect", "room", room, "session", s.ID, "err", err)
		}
		s.setJoined(room, false)
	}
}

// Sessions lists the sessions of some users (nil = everyone) from the shared
// directory, skipping (and removing) those of dead nodes.
func (h *Hub) Sessions(ctx context.Context, userIDs []string) ([]SessionInfo, error) {
	if h.single {
		return h.localSessions(userIDs), nil
	}
	var keys []string
	if userIDs == nil {
		k, err := h.state.Keys(ctx, "sessions.")
		if err != nil {
			return nil, err
		}
		keys = k
	} else {
		for _, u := range userIDs {
			keys = append(keys, sessionsKey(u))
		}
	}
	alive := map[string]bool{}
	var out []SessionInfo
	for _, k := range keys {
		m, err := h.state.SetGet(ctx, k)
		if err != nil {
			return nil, err
		}
		var dead []string
		for id, raw := range m {
			var si SessionInfo
			if json.Unmarshal(raw, &si) != nil {
				continue
			}
			live, known := alive[si.Node]
			if !known {
				live = h.cluster.Alive(ctx, si.Node)
				alive[si.Node] = live
			}
			if !live {
				dead = append(dead, id)
				continue
			}
			out = append(out, si)
		}
		if len(dead) > 0 { // a dead node's leftovers
			h.state.SetChange(ctx, k, func(m map[string]json.RawMessage) {
				for _, id := range dead {
					delete(m, id)
				}
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Created < out[j].Created || out[i].Created == out[j].Created && out[i].ID < out[j].ID
	})
	return out, nil
}

// localSessions lists this node's sessions of some users (nil = everyone).
func (h *Hub) localSessions(userIDs []string) []SessionInfo {
	var list []*Session
	h.mu.RLock()
	if userIDs == nil {
		for _, s := range h.sessions {
			list = append(list, s)
		}
	} else {
		for _, id := range userIDs {
			if u := h.users[id]; u != nil {
				for _, s := range u.sessions {
					list = append(list, s)
				}
			}
		}
	}
	h.mu.RUnlock()
	out := make([]SessionInfo, 0, len(list))
	for _, s := range list {
		s.mu.Lock()
		gone := s.closed
		s.mu.Unlock()
		if !gone {
			out = append(out, h.sessionInfo(s))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Created < out[j].Created || out[i].Created == out[j].Created && out[i].ID < out[j].ID
	})
	return out
}

// EndSession closes a session wherever it runs (SAPI's DELETE).
func (h *Hub) EndSession(ctx context.Context, userID, sessionID, reason string) error {
	return h.deliver(ctx, userID, []string{sessionID}, nil, &envelope{Kind: "end", Reason: reason})
}

// envelope is what travels on user subjects and wac.all.
type envelope struct {
	Kind     string          `json:"k"`                // frame, end, revoke
	Sessions []string        `json:"s,omitempty"`      // target sessions; empty = all of the user
	Frame    json.RawMessage `json:"f,omitempty"`      // the frame to send
	Pending  *pendingNote    `json:"p,omitempty"`      // a server request the client will answer
	User     string          `json:"u,omitempty"`      // revoke: whose
	Grants   []string        `json:"g,omitempty"`      // revoke: which grants (empty = all)
	Hashes   []string        `json:"h,omitempty"`      // revoke: token hashes to forget
	Reason   string          `json:"r,omitempty"`      //
	Except   string          `json:"x,omitempty"`      // a session not to send to
	Room     string          `json:"room,omitempty"`   // joined/left bookkeeping
	Joined   *bool           `json:"joined,omitempty"` //
}

type pendingNote struct {
	ReqID  string `json:"x"`
	Kind   string `json:"kind"`
	Owner  string `json:"o"`
	Invite string `json:"i"`
}

// deliver sends an envelope to sessions of a user (all when sessions is
// empty), wherever they are connected.
func (h *Hub) deliver(ctx context.Context, userID string, sessions []string, frame []byte, env *envelope) error {
	if env == nil {
		env = &envelope{Kind: "frame"}
	}
	env.Sessions = sessions
	if frame != nil {
		env.Frame = frame
	}
	if h.single {
		// Alone on its bus: every session is here, nothing to encode.
		h.toSessions(userID, env)
		return nil
	}
	return h.bus.Publish(ctx, cluster.UserSubject(userID), env.marshal())
}

// marshal writes an envelope as its JSON header, a newline, and the frame
// as it is: frames cross the bus without being parsed again.
func (e *envelope) marshal() []byte {
	head := wire.Encode(e)
	out := make([]byte, 0, len(head)+1+len(e.Frame))
	out = append(append(head, '\n'), e.Frame...)
	return out
}

func (e *envelope) unmarshal(data []byte) error {
	head, frame, _ := bytes.Cut(data, []byte{'\n'})
	if err := json.Unmarshal(head, e); err != nil {
		return err
	}
	if len(frame) > 0 {
		e.Frame = frame
	}
	return nil
}

// sendUser sends a frame to every session of a user.
func (h *Hub) sendUser(ctx context.Context, userID string, frame []byte) {
	if err := h.deliver(ctx, userID, nil, frame, nil); err != nil {
		h.log.Warn("qss: deliver", "user", userID, "err", err)
	}
}

// sendSession sends a frame to one session of a user.
func (h *Hub) sendSession(ctx context.Context, userID, sessionID string, frame []byte) {
	if err := h.deliver(ctx, userID, []string{sessionID}, frame, nil); err != nil {
		h.log.Warn("qss: deliver", "user", userID, "session", sessionID, "err", err)
	}
}

// inbox handles what the bus delivers to this node, one message at a time,
// as a task of the hub (dropped once the hub closed).
func (h *Hub) inbox(subject string, data []byte) {
	h.tasks.Do(func(context.Context) { h.receive(subject, data) })
}

func (h *Hub) receive(subject string, data []byte) {
	var env envelope
	if err := env.unmarshal(data); err != nil {
		h.log.Warn("qss: bad bus message", "subject", subject, "err", err)
		return
	}
	if subject == cluster.SubjectAll {
		h.onBroadcast(&env)
		return
	}
	if user, ok := cluster.UserOfSubject(subject); ok {
		h.toSessions(user, &env)
	}
}

// toSessions hands an envelope to the targeted sessions of a user that are
// connected to this node.
func (h *Hub) toSessions(user string, env *envelope) {
	h.mu.RLock()
	var targets []*Session
	if u := h.users[user]; u != nil {
		if len(env.Sessions) == 0 {
			for _, s := range u.sessions {
				targets = append(targets, s)
			}
		} else {
			for _, id := range env.Sessions {
				if s := u.sessions[id]; s != nil {
					targets = append(targets, s)
				}
			}
		}
	}
	h.mu.RUnlock()
	for _, s := range targets {
		if s.ID == env.Except {
			continue
		}
		switch env.Kind {
		case "frame":
			if env.Joined != nil {
				s.setJoined(env.Room, *env.Joined)
			}
			switch {
			case env.Pending != nil:
				p := pendingRequest{kind: env.Pending.Kind, owner: env.Pending.Owner, invite: env.Pending.Invite}
				if !s.sendRequest(env.Pending.ReqID, p, env.Frame) {
					// Away too long (or too much held): not a candidate.
					h.tasks.Go(func(ctx context.Context) { h.invites.dropRequests(ctx, s, []pendingRequest{p}) })
				}
			case len(env.Frame) > 0:
				s.send(env.Frame)
			}
		case "cancelPending":
			var frame []byte
			if len(env.Frame) > 0 {
				frame = env.Frame
			}
			s.cancelRequest(env.Pending.ReqID, frame)
		case "end":
			h.tasks.Go(func(ctx context.Context) {
				s.end(env.Reason)
				h.removeSession(ctx, s, env.Reason)
			})
		}
	}
}

// onRevoke tells every node that grants ended, so sessions opened with them
// close (exclusive login, logout, deletion) and caches forget the tokens.
func (h *Hub) onRevoke(r auth.Revocation) {
	env := &envelope{Kind: "revoke", User: r.UserID, Grants: r.GrantIDs, Hashes: r.Hashes, Reason: r.Reason}
	h.broadcast(env, "revocation")
}

// onInvalidate tells the other nodes that cached records changed.
func (h *Hub) onInvalidate(inv auth.Invalidation) {
	env := &envelope{Kind: "invalidate", Reason: inv.Kind, User: inv.ID, Except: h.node}
	h.broadcast(env, "invalidation")
}

// broadcast publishes a notice of what to every node.
func (h *Hub) broadcast(env *envelope, what string) {
	h.tasks.Do(func(ctx context.Context) {
		if err := h.bus.Publish(ctx, cluster.SubjectAll, env.marshal()); err != nil {
			h.log.Warn("qss: broadcast "+what, "err", err)
		}
	})
}

func (h *Hub) onBroadcast(env *envelope) {
	switch env.Kind {
	case "revoke":
		h.auth.Forget(env.Hashes)
		if env.User == "" {
			return
		}
		grants := map[string]bool{}
		for _, g := range env.Grants {
			grants[g] = true
		}
		h.mu.RLock()
		var victims []*Session
		if u := h.users[env.User]; u != nil {
			for _, s := range u.sessions {
				if len(grants) == 0 || grants[s.User.GrantID] {
					victims = append(victims, s)
				}
			}
		}
		h.mu.RUnlock()
		for _, s := range victims {
			h.tasks.Go(func(ctx context.Context) {
				h.log.Info("qss: ending session", "session", s.ID, "user", s.User.Username, "reason", env.Reason)
				s.end(env.Reason)
				h.removeSession(ctx, s, env.Reason)
			})
		}
	case "invalidate":
		if env.Except != h.node {
			h.auth.Apply(auth.Invalidation{Kind: env.Reason, ID: env.User})
		}
	case "roomGone":
		h.tasks.Go(func(ctx context.Context) { h.invites.cancelRoom(ctx, env.Room) })
	}
}

// handle serves one request, answer or cancel of a session.
func (h *Hub) handle(ctx context.Context, s *Session, f *wire.Frame) {
	switch f.Kind() {
	case "request":
		fn, ok := h.handlers[f.Request]
		if !ok {
			s.send(wire.CancelFrame(f.Request, f.RequestID, 405, fmt.Sprintf("unknown request %q", wire.Truncate(f.Request, 64))))
			return
		}
		result, err := fn(ctx, s, f)
		var c *wire.Cancel
		var pe *wire.ProtocolError
		var oe *outcomeError
		switch {
		case errors.As(err, &oe):
			s.send(wire.Encode(oe.frame))
		case errors.As(err, &c):
			s.send(wire.CancelFrame(f.Request, f.RequestID, c.Code, c.Message))
		case errors.As(err, &pe):
			s.send(wire.CancelFrame(f.Request, f.RequestID, pe.Code, pe.Message))
		case err != nil:
			h.log.Error("qss: request failed", "request", f.Request, "session", s.ID, "err", err)
			s.send(wire.CancelFrame(f.Request, f.RequestID, 500, "internal error"))
		case result == deferred:
		default:
			s.send(wire.AnswerFrame(f.Request, f.RequestID, result))
		}
	case "answer", "cancel":
		h.onClientReply(ctx, s, f)
	}
}

// onClientReply routes the client's answer or cancel: to a server request it
// is answering (an invitation ringing), or, for the caller's own pending
// request, a cancellation of it.
func (h *Hub) onClientReply(ctx context.Context, s *Session, f *wire.Frame) {
	if f.Kind() == "cancel" && h.invites.cancelOwn(ctx, s, f) {
		return
	}
	p, ok := s.takePending(f.RequestID)
	if !ok {
		s.send(wire.CancelFrame(f.Name(), f.RequestID, 481, "no request "+wire.Truncate(f.RequestID, 64)+" is waiting for an answer"))
		return
	}
	if p.kind != f.Name() {
		s.addPending(f.RequestID, p)
		s.send(wire.CancelFrame(f.Name(), f.RequestID, 400, fmt.Sprintf("requestID %s belongs to %q, not %q", wire.Truncate(f.RequestID, 64), p.kind, f.Name())))
		return
	}
	h.invites.candidateReply(ctx, s, f, p)
}

// userRef is a user as rooms and invitations carry it between nodes.
type userRef struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Domain   string `json:"domain"`
	DomainID string `json:"domainId"`
	Role     string `json:"role"`
	Alias    string `json:"alias,omitempty"`
}

func userRefOf(p *auth.Principal) userRef {
	return userRef{ID: p.UserID, Username: p.Username, Domain: p.DomainName, DomainID: p.DomainID, Role: p.Role}
}

// Upkeep destroys idle rooms, finishes the calls of nodes that are gone and
// applies call-history retention; the hub runs it every minute.
func (h *Hub) Upkeep() { h.tasks.Do(h.upkeep) }

func (h *Hub) upkeep(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if h.cfg.Rooms.IdleTimeout > 0 {
		h.rooms.destroyIdle(ctx, time.Duration(h.cfg.Rooms.IdleTimeout)*time.Millisecond)
	}
	h.finishDeadCalls(ctx, false)
	if d := h.cfg.CallHistoryDays; d > 0 {
		before := time.Now().Add(-time.Duration(d) * 24 * time.Hour).UnixMilli()
		if n, err := h.st.DeleteCallsFinishedBefore(ctx, before); err != nil {
			h.log.Warn("qss: call history retention", "err", err)
		} else if n > 0 {
			h.log.Info("qss: removed old calls from the history", "count", n, "callHistoryDays", d)
		}
	}
}
