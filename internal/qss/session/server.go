// Package session is the sessions and delivery layer of signaling: the
// node's WebSocket sessions (reading and writing frames, pings, resuming a
// dropped connection within removeAfter), the requests a session makes
// (dispatched to the handlers the layers above register), delivery of
// frames to a user's sessions wherever they are connected (over the bus,
// wac.u.<user>), the notices every node hears (wac.all), and the shared
// directory of sessions (sessions.<user>).
//
// It knows nothing of rooms and invitations: the layers above register
// their requests (Handle) and hear of a session's comings and goings
// through two small interfaces (Rooms, Invitations).
package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/qss/cluster"
	"github.com/openwac/wac/internal/qss/tasks"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// Rooms is what the rooms do when a session goes: it leaves the rooms it
// joined (rooms.removeAfter after its connection dropped, or when it is
// removed).
type Rooms interface {
	LeaveAll(ctx context.Context, s *Session, code int, reason string)
}

// Invitations is what the invitations do with sessions: ring the one that
// connects, stop ringing the one that goes, cancel what a caller that goes
// made, and take the client's answers to the server's requests.
type Invitations interface {
	// RingNewSession rings a session that connects (or resumes) while
	// invitations ring its user.
	RingNewSession(ctx context.Context, s *Session)
	// DropRequests tells the owners of the invitations in list that they
	// no longer ring s.
	DropRequests(ctx context.Context, s *Session, list []Pending)
	// CallerGone ends the invitations a session made when it goes.
	CallerGone(ctx context.Context, s *Session)
	// CancelOwn takes the client's cancel of its own request that still
	// rings, and reports whether f was one.
	CancelOwn(ctx context.Context, s *Session, f *wire.Frame) bool
	// Reply takes the client's answer or cancel of the server request p.
	Reply(ctx context.Context, s *Session, f *wire.Frame, p Pending)
}

// Handler serves one request of a session. It returns the answer's
// payload (nil for none), an error to refuse it (a *wire.Cancel, a
// *wire.ProtocolError, or a FrameError that is its own refusal), or
// Deferred when the answer comes later.
type Handler func(ctx context.Context, s *Session, f *wire.Frame) (any, error)

// Deferred tells the server that the handler answers later.
var Deferred = &struct{ deferred bool }{true}

// FrameError is a refusal that is a ready-made frame (an invitation's
// outcome, which names from and to).
type FrameError interface {
	error
	Frame() []byte
}

// Server holds the sessions of one node.
type Server struct {
	cfg    *config.Config
	log    *slog.Logger
	auth   *auth.Service
	node   *cluster.Node
	tasks  *tasks.Group
	single bool // the only node: deliveries skip the bus
	// readBufs lends read buffers to the connections with bytes waiting.
	readBufs *bufferPool

	handlers map[string]Handler
	notices  map[string]func(ctx context.Context, about string)
	rooms    Rooms
	invites  Invitations

	mu       sync.RWMutex
	presence []Presence // under mu
	sessions map[string]*Session
	users    map[string]*localUser
}

type localUser struct {
	sessions map[string]*Session
	sub      bus.Subscription
}

// Options are the parts a Server works with.
type Options struct {
	Config *config.Config
	Log    *slog.Logger
	Auth   *auth.Service
	Node   *cluster.Node
	Tasks  *tasks.Group
	// SingleNode says no other node shares the bus: deliveries go to this
	// node's sessions without the bus, and the directory is this node's.
	SingleNode bool
}

// New makes the sessions layer of a node. Use gives it the layers above
// before it serves.
func New(opts Options) *Server {
	srv := &Server{cfg: opts.Config, log: opts.Log, auth: opts.Auth, node: opts.Node, tasks: opts.Tasks,
		single: opts.SingleNode, readBufs: newBufferPool(),
		handlers: map[string]Handler{}, notices: map[string]func(context.Context, string){},
		sessions: map[string]*Session{}, users: map[string]*localUser{}}
	srv.Handle("updateSession", srv.updateSession)
	opts.Auth.OnRevoke(srv.onRevoke)
	opts.Auth.OnInvalidate(srv.onInvalidate)
	return srv
}

// Use gives the server the layers above it.
func (srv *Server) Use(rooms Rooms, invites Invitations) {
	srv.rooms, srv.invites = rooms, invites
}

// Handle serves the request name with h.
func (srv *Server) Handle(name string, h Handler) {
	srv.handlers[name] = h
}

// Local is the session id of this node, or nil.
func (srv *Server) Local(id string) *Session {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return srv.sessions[id]
}

// all lists the sessions of this node.
func (srv *Server) all() []*Session {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	list := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		list = append(list, s)
	}
	return list
}

// PingAll pings every connection, and drops those whose pong is late.
func (srv *Server) PingAll(ctx context.Context) {
	list := srv.all()
	timeout := srv.cfg.QSS.PingTimeout
	for _, s := range list {
		s.ping(timeout)
	}
	// Check the pongs when they are due, not a ping interval later, so
	// that a dead peer is noticed within pingInterval + pingTimeout.
	if timeout < srv.cfg.QSS.PingInterval {
		select {
		case <-ctx.Done():
		case <-time.After(timeout + 10*time.Millisecond):
			for _, s := range list {
				s.checkPong(timeout)
			}
		}
	}
}

// CloseAll ends every session of the node: its connection closes and it
// is removed (it leaves its rooms and stops ringing).
func (srv *Server) CloseAll(ctx context.Context) {
	for _, s := range srv.all() {
		s.mu.Lock()
		c := s.conn
		s.mu.Unlock()
		if c != nil {
			c.close(ws.StatusGoingAway, "server shutting down")
		}
		srv.remove(ctx, s, "server shutting down")
	}
}

// ServeHTTP is the /qss WebSocket endpoint. The access token comes as
// Authorization: Bearer or ?token=; a bad one is refused with 401 before
// the upgrade. ?session=<id> resumes a session within removeAfter.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := auth.BearerToken(r)
	if token == "" {
		http.Error(w, `{"code":401,"message":"an access token is required (Authorization: Bearer, or ?token=)"}`, http.StatusUnauthorized)
		return
	}
	p, err := srv.auth.Authenticate(r.Context(), token)
	if errors.Is(err, auth.ErrInvalidToken) {
		http.Error(w, `{"code":401,"message":"the access token is invalid or expired"}`, http.StatusUnauthorized)
		return
	}
	if err != nil {
		srv.log.Error("qss: authenticate", "err", err)
		http.Error(w, `{"code":500,"message":"internal error"}`, http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	d := Device{UserAgent: r.UserAgent(), Language: cmp.Or(q.Get("language"), r.Header.Get("Accept-Language")),
		Location: q.Get("location"), Platform: q.Get("platform"), DeviceID: q.Get("deviceId"), PushToken: q.Get("pushToken"),
	}.clipped()
	// Browsers send Origin; the token, not cookies, authenticates, so any
	// origin that holds a valid token may connect.
	c, err := upgrade(w, r, srv.readBufs)
	if err != nil {
		return
	}
	// The HTTP handler returns; the session's reader is a goroutine of its
	// own, so the request and its handler's stack are not kept for the
	// connection's life.
	run := func(ctx context.Context) { srv.run(ctx, c, q.Get("session"), p, d, r.RemoteAddr) }
	if !srv.tasks.Go(run) {
		c.close(ws.StatusGoingAway, "server shutting down")
	}
}

// run serves one connection until it ends, or until the hub closes.
func (srv *Server) run(ctx context.Context, c *wsConn, resume string, p *auth.Principal, d Device, addr string) {
	stop := context.AfterFunc(ctx, func() { c.close(ws.StatusGoingAway, "server shutting down") })
	defer stop()
	s, resumed := srv.attach(ctx, resume, p, d, c)
	defer func() {
		c.closeNow()
		switch {
		case !s.detach(c):
		case c.peerLeft():
			srv.left(ctx, s)
		default:
			srv.disconnected(ctx, s)
		}
	}()
	srv.log.Info("qss: client connected", "session", s.ID, "user", p.Username, "resumed", resumed, "ip", addr)
	// The session event comes first; a resumed session then gets what was
	// held for it (the invitations that rang it while it was away), and
	// every session is rung by the invitations ringing its user that it is
	// not a candidate of yet.
	s.greet(c, wire.EventFrame("session", map[string]any{
		"session": s.ID, "user": p.UserID, "username": p.Username, "domain": p.DomainName, "role": p.Role,
		"resumed": resumed, "node": srv.node.ID,
		"removeAfter": max(srv.cfg.Rooms.RemoveAfter, srv.cfg.Invites.Basic.RemoveAfter).Milliseconds(),
	}))
	srv.invites.RingNewSession(ctx, s)
	s.serve(ctx, c)
}

// attach resumes the session named resume if it is this user's and still
// waiting, or else starts a new one.
func (srv *Server) attach(ctx context.Context, resume string, p *auth.Principal, d Device, c *wsConn) (*Session, bool) {
	if resume != "" {
		// A session resumes with a token of the grant it was opened with (a
		// refreshed token keeps the grant); another login starts anew.
		if s := srv.Local(resume); s != nil && s.User.UserID == p.UserID && s.User.GrantID == p.GrantID {
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
					srv.log.Debug("qss: session resumed over a live connection; closing the old one", "session", s.ID)
					old.closeNow()
				}
				srv.save(ctx, s)
				return s, true
			}
		}
	}
	s := newSession(srv, store.NewID(), p, d)
	s.attach(c)
	srv.mu.Lock()
	srv.sessions[s.ID] = s
	u := srv.users[p.UserID]
	first := u == nil
	if first {
		u = &localUser{sessions: map[string]*Session{}}
		srv.users[p.UserID] = u
		sub, err := srv.node.Bus.Subscribe(cluster.UserSubject(p.UserID))
		if err != nil {
			srv.log.Error("qss: subscribe user", "user", p.UserID, "err", err)
		}
		u.sub = sub
	}
	u.sessions[s.ID] = s
	srv.mu.Unlock()
	if first {
		srv.presenceChanged(p.UserID)
	}
	if p.IsAnonymous() && p.Expires > 0 {
		// An anonymous user lives anonymousExpiration and its token with
		// it (there is no refresh): its sessions end when it does.
		t := srv.tasks.AfterFunc(time.Until(time.UnixMilli(p.Expires)), func(ctx context.Context) {
			srv.log.Info("qss: ending session", "session", s.ID, "user", p.Username, "reason", "anonymous user expired")
			s.end("your anonymous session expired")
			srv.remove(ctx, s, "expired")
		})
		s.mu.Lock()
		s.expiry = t
		s.mu.Unlock()
	}
	srv.save(ctx, s)
	return s, false
}

// reasonConnectionLost is why a session whose connection dropped leaves its
// rooms (participantRemoved, code 480), whenever it does.
const reasonConnectionLost = "connection lost"

// disconnected starts the clock on a dropped session: after
// rooms.removeAfter it leaves its rooms, after invites.basic.removeAfter it
// stops ringing, and after both it is gone, unless a reconnect resumed it.
func (srv *Server) disconnected(ctx context.Context, s *Session) {
	srv.log.Info("qss: client disconnected", "session", s.ID, "user", s.User.Username)
	s.mu.Lock()
	ended := s.ended != "" || s.closed
	s.mu.Unlock()
	roomsAfter := srv.cfg.Rooms.RemoveAfter
	invitesAfter := srv.cfg.Invites.Basic.RemoveAfter
	if ended || roomsAfter == 0 && invitesAfter == 0 {
		srv.remove(ctx, s, reasonConnectionLost)
		return
	}
	srv.save(ctx, s)
	gen := func() int { s.mu.Lock(); defer s.mu.Unlock(); return s.gen }()
	stillGone := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.conn == nil && s.gen == gen && !s.closed
	}
	t1 := srv.tasks.AfterFunc(roomsAfter, func(ctx context.Context) {
		if stillGone() {
			srv.rooms.LeaveAll(ctx, s, 480, reasonConnectionLost)
		}
	})
	t2 := srv.tasks.AfterFunc(invitesAfter, func(ctx context.Context) {
		srv.invites.DropRequests(ctx, s, s.stopRinging(gen))
	})
	t3 := srv.tasks.AfterFunc(max(roomsAfter, invitesAfter), func(ctx context.Context) {
		if stillGone() {
			srv.remove(ctx, s, reasonConnectionLost)
		}
	})
	s.mu.Lock()
	s.timers = append(s.timers, t1, t2, t3)
	s.mu.Unlock()
}

// left ends a session whose client closed its connection on purpose (close
// code 1000 or 1001): nobody will resume it, so it leaves its rooms as a
// hang-up (code 200) and is gone at once, without waiting removeAfter.
func (srv *Server) left(ctx context.Context, s *Session) {
	srv.log.Info("qss: client left", "session", s.ID, "user", s.User.Username)
	srv.rooms.LeaveAll(ctx, s, 200, "left")
	srv.remove(ctx, s, "left")
}

// remove forgets a session for good: it leaves its rooms, stops ringing,
// and leaves the directory.
func (srv *Server) remove(ctx context.Context, s *Session, reason string) {
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
	srv.rooms.LeaveAll(ctx, s, 480, reason)
	srv.invites.DropRequests(ctx, s, s.stopRinging(-1))
	srv.invites.CallerGone(ctx, s)
	srv.mu.Lock()
	delete(srv.sessions, s.ID)
	last := false
	if u := srv.users[s.User.UserID]; u != nil {
		delete(u.sessions, s.ID)
		if len(u.sessions) == 0 {
			if u.sub != nil {
				u.sub.Unsubscribe()
			}
			delete(srv.users, s.User.UserID)
			last = true
		}
	}
	srv.mu.Unlock()
	if last {
		srv.presenceChanged(s.User.UserID)
	}
	if !srv.single {
		srv.node.State.SetDelete(ctx, sessionsKey(s.User.UserID), s.ID)
	}
}

// handle serves one request, answer or cancel of a session.
func (srv *Server) handle(ctx context.Context, s *Session, f *wire.Frame) {
	switch f.Kind() {
	case "request":
		fn, ok := srv.handlers[f.Request]
		if !ok {
			s.Send(wire.CancelFrame(f.Request, f.RequestID, 405, fmt.Sprintf("unknown request %q", wire.Truncate(f.Request, 64))))
			return
		}
		result, err := fn(ctx, s, f)
		var c *wire.Cancel
		var pe *wire.ProtocolError
		var fe FrameError
		switch {
		case errors.As(err, &fe):
			s.Send(fe.Frame())
		case errors.As(err, &c):
			s.Send(wire.CancelFrame(f.Request, f.RequestID, c.Code, c.Message))
		case errors.As(err, &pe):
			s.Send(wire.CancelFrame(f.Request, f.RequestID, pe.Code, pe.Message))
		case err != nil:
			srv.log.Error("qss: request failed", "request", f.Request, "session", s.ID, "err", err)
			s.Send(wire.CancelFrame(f.Request, f.RequestID, 500, "internal error"))
		case result == Deferred:
		default:
			s.Send(wire.AnswerFrame(f.Request, f.RequestID, result))
		}
	case "answer", "cancel":
		srv.reply(ctx, s, f)
	}
}

// reply routes the client's answer or cancel: to a server request it is
// answering (an invitation ringing), or, for the caller's own pending
// request, a cancellation of it.
func (srv *Server) reply(ctx context.Context, s *Session, f *wire.Frame) {
	if f.Kind() == "cancel" && srv.invites.CancelOwn(ctx, s, f) {
		return
	}
	p, ok := s.takePending(f.RequestID)
	if !ok {
		s.Send(wire.CancelFrame(f.Name(), f.RequestID, 481, "no request "+wire.Truncate(f.RequestID, 64)+" is waiting for an answer"))
		return
	}
	if p.Kind != f.Name() {
		s.AddPending(f.RequestID, p)
		s.Send(wire.CancelFrame(f.Name(), f.RequestID, 400, fmt.Sprintf("requestID %s belongs to %q, not %q", wire.Truncate(f.RequestID, 64), p.Kind, f.Name())))
		return
	}
	srv.invites.Reply(ctx, s, f, p)
}

// Base is what every layer above the sessions (rooms, invitations, and
// the features to come) works with: the configuration, the log, the
// store, authentication, this node in the cluster, the hub's tasks and
// the sessions.
type Base struct {
	Config   *config.Config
	Log      *slog.Logger
	Store    store.Store
	Auth     *auth.Service
	Node     *cluster.Node
	Tasks    *tasks.Group
	Sessions *Server
}
