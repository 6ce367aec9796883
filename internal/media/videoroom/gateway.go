package videoroom

import (
	"container/list"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openwac/wac/internal/grant"
	"github.com/openwac/wac/internal/media/janus"
)

// maxHandles bounds the handles of one session; maxPendingHandles those
// of a session that has shown no room grant yet (each handle is a worker).
const (
	maxHandles        = 64
	maxPendingHandles = 4
)

// sink is where a session's events go: a WebSocket connection, or the
// queue an HTTP long poll drains. push never blocks.
type sink interface {
	push(m janus.Message)
}

// session is a Janus session.
type session struct {
	id       uint64
	sfu      *SFU
	addr     string       // the client address that created it
	lastSeen atomic.Int64 // unix nanoseconds

	// Guarded by SFU.mu: when the session was admitted, and its place in
	// SFU.pending while it has shown no valid room grant (nil after).
	created time.Time
	pending *list.Element

	mu      sync.Mutex
	handles map[uint64]*handle
	sink    sink
	owner   *wsConn // the WebSocket that created or claimed it; nil over HTTP
	queue   *eventQueue
	grant   *grant.Grant // from a core-level token, if any
	closed  bool
}

func (s *session) touch() { s.lastSeen.Store(time.Now().UnixNano()) }

func (s *session) push(m janus.Message) {
	s.mu.Lock()
	out := s.sink
	s.mu.Unlock()
	if out != nil {
		out.push(m)
	}
}

// handle is a plugin handle of a session, attached to the VideoRoom.
type handle struct {
	id      uint64
	session *session
	opaque  string

	ctx    context.Context
	cancel context.CancelFunc
	jobs   chan func()
	wg     sync.WaitGroup
	exited chan struct{} // closed when the worker returns

	vr vrHandle // plugin state, used only from the handle's worker
}

// event sends a plugin event on the handle; txn links it to the request it
// answers ("" for unsolicited events).
func (h *handle) event(txn string, data any, jsep *janus.JSEP) {
	raw, err := json.Marshal(data)
	if err != nil {
		return
	}
	h.session.push(janus.Message{Janus: "event", SessionID: h.session.id, Transaction: txn, Sender: h.id,
		PluginData: &janus.PluginData{Plugin: janus.VideoRoom, Data: raw}, JSEP: jsep})
}

// core sends a core event (webrtcup, media, hangup, slowlink) on the handle.
func (h *handle) core(m janus.Message) {
	m.SessionID, m.Sender = h.session.id, h.id
	h.session.push(m)
}

// run executes fn on the handle's worker, in order with the handle's other
// requests. It reports false when the handle is gone or overloaded.
func (h *handle) run(fn func()) bool {
	select {
	case <-h.ctx.Done():
		return false
	default:
	}
	select {
	case h.jobs <- fn:
		return true
	default:
		return false
	}
}

func (h *handle) worker() {
	defer h.wg.Done()
	defer close(h.exited)
	for {
		select {
		case fn := <-h.jobs:
			fn()
		case <-h.ctx.Done():
			return
		}
	}
}

// randomID returns a random Janus id that JavaScript numbers hold exactly.
func randomID() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if id := binary.BigEndian.Uint64(b[:]) & (1<<53 - 1); id != 0 {
			return id
		}
	}
}

func success(req janus.Request, data any) janus.Message {
	m := janus.Message{Janus: "success", Transaction: req.Transaction, SessionID: req.SessionID}
	if data != nil {
		m.Data, _ = json.Marshal(data)
	}
	return m
}

func ack(req janus.Request) janus.Message {
	return janus.Message{Janus: "ack", Transaction: req.Transaction, SessionID: req.SessionID}
}

func errorReply(req janus.Request, e *janus.Error) janus.Message {
	return janus.Message{Janus: "error", Transaction: req.Transaction, SessionID: req.SessionID, Error: e}
}

// serve handles one decoded request and returns the immediate answer.
// from is the WebSocket the request came on (nil over HTTP), addr the
// client's address; asynchronous events go to the session's sink.
func (s *SFU) serve(req janus.Request, from *wsConn, addr string) janus.Message {
	switch req.Janus {
	case "info":
		return s.info(req)
	case "ping":
		return janus.Message{Janus: "pong", Transaction: req.Transaction}
	case "create":
		return s.createSession(req, from, addr)
	}
	if req.SessionID == 0 {
		return errorReply(req, janus.Errorf(janus.ErrMissingMandatoryElement, "Missing mandatory element (session_id)"))
	}
	sess := s.session(req.SessionID)
	if sess == nil {
		return errorReply(req, janus.Errorf(janus.ErrSessionNotFound, "No such session %d", req.SessionID))
	}
	sess.touch()
	if req.Token != "" {
		g, err := grant.Verify(s.secret, req.Token, time.Now())
		if err != nil {
			return errorReply(req, janus.Errorf(janus.ErrUnauthorized, "Unauthorized request (wrong or missing secret/token)"))
		}
		sess.mu.Lock()
		sess.grant = &g
		sess.mu.Unlock()
		// Past media.maxSessions the session stays without a grant: a
		// join tells why, and media.grantTimeout ends it.
		s.grantSession(sess)
	}
	switch req.Janus {
	case "keepalive":
		return ack(req)
	case "destroy":
		s.destroySession(sess, "")
		return success(req, nil)
	case "claim":
		if from == nil {
			return success(req, nil)
		}
		sess.mu.Lock()
		sess.sink, sess.owner = from, from
		sess.mu.Unlock()
		from.own(sess)
		return success(req, nil)
	case "attach":
		return s.attach(sess, req)
	}
	if req.HandleID == 0 {
		return errorReply(req, janus.Errorf(janus.ErrMissingMandatoryElement, "Missing mandatory element (handle_id)"))
	}
	sess.mu.Lock()
	h := sess.handles[req.HandleID]
	sess.mu.Unlock()
	if h == nil {
		return errorReply(req, janus.Errorf(janus.ErrHandleNotFound, "No such handle %d in session %d", req.HandleID, req.SessionID))
	}
	switch req.Janus {
	case "detach":
		s.detach(h, "Detach")
		return success(req, nil)
	case "hangup":
		if !h.run(func() { h.hangup("Janus API") }) {
			return errorReply(req, janus.Errorf(janus.ErrPluginMessage, "Handle is busy"))
		}
		return success(req, nil)
	case "trickle":
		cands := req.TrickleCandidates
		if !h.run(func() { s.vrTrickle(h, cands) }) {
			return errorReply(req, janus.Errorf(janus.ErrPluginMessage, "Handle is busy"))
		}
		return ack(req)
	case "message":
		return s.vrMessage(h, req)
	}
	return errorReply(req, janus.Errorf(janus.ErrUnknownRequest, "Unknown request '%s'", req.Janus))
}

func (s *SFU) info(req janus.Request) janus.Message {
	data, _ := json.Marshal(map[string]any{
		"name": "OpenWAC media server", "version": 1102, "version_string": "1.1.2",
		"author": "OpenWAC", "transports": map[string]any{}, "data_channels": true,
		"session-timeout": int64(s.cfg.SessionTimeout / time.Second), "api_secret": false, "auth_token": false,
		"plugins": map[string]any{janus.VideoRoom: map[string]any{"name": "JANUS VideoRoom plugin", "version": 9,
			"version_string": "0.0.9", "description": "VideoRoom-compatible SFU on Pion"}},
	})
	// encode puts these fields at the top level of the answer, as Janus does.
	return janus.Message{Janus: "server_info", Transaction: req.Transaction, Data: data}
}

func (s *SFU) createSession(req janus.Request, from *wsConn, addr string) janus.Message {
	var g *grant.Grant
	if req.Token != "" {
		v, err := grant.Verify(s.secret, req.Token, time.Now())
		if err != nil {
			return errorReply(req, janus.Errorf(janus.ErrUnauthorized, "Unauthorized request (wrong or missing secret/token)"))
		}
		g = &v
	}
	sess := &session{sfu: s, addr: addr, handles: map[uint64]*handle{}, grant: g}
	if from != nil {
		sess.sink, sess.owner = from, from
	} else {
		sess.queue = newEventQueue()
		sess.sink = sess.queue
	}
	sess.touch()
	s.mu.Lock()
	pushed, e := s.admitLocked(sess)
	if e == nil {
		for {
			sess.id = randomID()
			if _, dup := s.sessions[sess.id]; !dup {
				break
			}
		}
		s.sessions[sess.id] = sess
	}
	s.mu.Unlock()
	if e != nil {
		s.stats.sessionsRefused.Add(1)
		if g != nil {
			s.log.Warn("refused a Janus session with a room grant", "reason", e.Reason)
		} else {
			s.log.Debug("refused a Janus session without a room grant", "addr", addr, "reason", e.Reason)
		}
		return errorReply(req, e)
	}
	if pushed != nil {
		s.stats.pendingEnded.Add(1)
		s.log.Debug("janus session without a room grant ended: media.maxPendingSessions reached",
			"session", pushed.id, "max", s.cfg.MaxPendingSessions)
		s.endSession(pushed, "timeout")
	}
	if from != nil {
		from.own(sess)
	}
	s.log.Debug("janus session created", "session", sess.id, "granted", g != nil)
	return success(req, map[string]uint64{"id": sess.id})
}

// admitLocked counts a new session among the sessions of the node, or
// returns the error that refuses it. A session with a grant needs room
// under media.maxSessions. One without needs room under
// media.maxPendingSessionsPerAddress for its address; when
// media.maxPendingSessions is reached the oldest session without a grant
// makes way, and is returned to be ended. Called with s.mu held.
func (s *SFU) admitLocked(sess *session) (pushed *session, e *janus.Error) {
	if s.closed {
		return nil, janus.Errorf(janus.ErrNotAcceptingSessions, "Currently not accepting new sessions")
	}
	sess.created = time.Now()
	if sess.grant != nil {
		if s.granted >= s.cfg.MaxSessions {
			return nil, s.fullError()
		}
		s.granted++
		return nil, nil
	}
	if s.pendingBy[sess.addr] >= s.cfg.MaxPendingSessionsPerAddress {
		return nil, janus.Errorf(janus.ErrNotAcceptingSessions,
			"Currently not accepting new sessions from this address: %d sessions without a room grant (media.maxPendingSessionsPerAddress)",
			s.cfg.MaxPendingSessionsPerAddress)
	}
	if s.pending.Len() >= s.cfg.MaxPendingSessions {
		pushed = s.pending.Front().Value.(*session)
		s.forgetLocked(pushed)
	}
	sess.pending = s.pending.PushBack(sess)
	s.pendingBy[sess.addr]++
	return pushed, nil
}

// fullError is the answer past media.maxSessions.
func (s *SFU) fullError() *janus.Error {
	return janus.Errorf(janus.ErrNotAcceptingSessions,
		"Currently not accepting new sessions: %d sessions with a room grant (media.maxSessions)", s.cfg.MaxSessions)
}

// grantSession counts sess among the sessions holding a grant from now on:
// media.grantTimeout and the caps on sessions without a grant no longer
// apply to it. Past media.maxSessions it stays as it was and the error
// says why.
func (s *SFU) grantSession(sess *session) *janus.Error {
	s.mu.Lock()
	if sess.pending == nil || s.sessions[sess.id] != sess {
		s.mu.Unlock()
		return nil
	}
	if s.granted >= s.cfg.MaxSessions {
		s.mu.Unlock()
		s.stats.sessionsRefused.Add(1)
		s.log.Warn("a Janus session showed its room grant past media.maxSessions", "session", sess.id, "max", s.cfg.MaxSessions)
		return s.fullError()
	}
	s.unpendLocked(sess)
	s.granted++
	s.mu.Unlock()
	s.log.Debug("janus session granted", "session", sess.id)
	return nil
}

// forgetLocked removes sess from the node's sessions and counts; false
// when it was gone already. Called with s.mu held.
func (s *SFU) forgetLocked(sess *session) bool {
	if s.sessions[sess.id] != sess {
		return false
	}
	delete(s.sessions, sess.id)
	if sess.pending != nil {
		s.unpendLocked(sess)
	} else {
		s.granted--
	}
	return true
}

// unpendLocked takes sess off the sessions without a grant. Called with
// s.mu held.
func (s *SFU) unpendLocked(sess *session) {
	s.pending.Remove(sess.pending)
	sess.pending = nil
	if n := s.pendingBy[sess.addr] - 1; n > 0 {
		s.pendingBy[sess.addr] = n
	} else {
		delete(s.pendingBy, sess.addr)
	}
}

func (s *SFU) session(id uint64) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

func (s *SFU) attach(sess *session, req janus.Request) janus.Message {
	if req.Plugin != janus.VideoRoom {
		return errorReply(req, janus.Errorf(janus.ErrPluginNotFound, "No such plugin '%s'", req.Plugin))
	}
	s.mu.Lock()
	pending := sess.pending != nil
	s.mu.Unlock()
	sess.mu.Lock()
	if sess.closed {
		sess.mu.Unlock()
		return errorReply(req, janus.Errorf(janus.ErrSessionNotFound, "No such session %d", sess.id))
	}
	if pending && len(sess.handles) >= maxPendingHandles {
		sess.mu.Unlock()
		return errorReply(req, janus.Errorf(janus.ErrPluginAttach,
			"Error attaching plugin (a session without a room grant holds at most %d handles)", maxPendingHandles))
	}
	if len(sess.handles) >= maxHandles {
		sess.mu.Unlock()
		return errorReply(req, janus.Errorf(janus.ErrPluginAttach, "Error attaching plugin (more than %d handles)", maxHandles))
	}
	h := &handle{session: sess, opaque: req.OpaqueID, jobs: make(chan func(), 64), exited: make(chan struct{})}
	for {
		h.id = randomID()
		if _, dup := sess.handles[h.id]; !dup {
			break
		}
	}
	h.ctx, h.cancel = context.WithCancel(s.ctx)
	sess.handles[h.id] = h
	h.wg.Add(1)
	go h.worker()
	sess.mu.Unlock()
	m := success(req, map[string]uint64{"id": h.id})
	return m
}

// detach removes a handle: its plugin state goes (leaving its room), then
// its worker stops.
func (s *SFU) detach(h *handle, reason string) {
	sess := h.session
	sess.mu.Lock()
	if sess.handles[h.id] != h {
		sess.mu.Unlock()
		return
	}
	delete(sess.handles, h.id)
	sess.mu.Unlock()
	done := make(chan struct{})
	if h.run(func() { h.release(reason); close(done) }) {
		select {
		case <-done:
		case <-h.exited:
			// The worker stopped (the node is stopping) before it took the
			// job; it is cleaned up from here below.
		}
	}
	h.cancel()
	h.wg.Wait()
	select {
	case <-done:
	default:
		// The worker was stuck or full, or stopped first: with it gone,
		// the plugin state is ours to clean up.
		h.release(reason)
	}
	h.core(janus.Message{Janus: "detached"})
}

// destroySession detaches every handle and forgets the session. With a
// reason ("timeout") the client is told.
func (s *SFU) destroySession(sess *session, reason string) {
	s.mu.Lock()
	gone := !s.forgetLocked(sess)
	s.mu.Unlock()
	if !gone {
		s.endSession(sess, reason)
	}
}

// endSession ends a session the node has forgotten: its handles detach,
// and with a reason ("timeout") the client is told.
func (s *SFU) endSession(sess *session, reason string) {
	sess.mu.Lock()
	sess.closed = true
	hs := make([]*handle, 0, len(sess.handles))
	for _, h := range sess.handles {
		hs = append(hs, h)
	}
	owner := sess.owner
	sess.mu.Unlock()
	for _, h := range hs {
		s.detach(h, "Session destroyed")
	}
	if reason == "timeout" {
		sess.push(janus.Message{Janus: "timeout", SessionID: sess.id})
	}
	if owner != nil {
		owner.disown(sess)
	}
	if sess.queue != nil {
		sess.queue.close()
	}
	s.log.Debug("janus session destroyed", "session", sess.id, "reason", reason)
}

// sweep ends the sessions that have not been seen for sessionTimeout,
// and those that have shown no room grant for grantTimeout.
func (s *SFU) sweep(now time.Time) {
	idle := now.Add(-s.cfg.SessionTimeout).UnixNano()
	late := now.Add(-s.cfg.GrantTimeout)
	s.mu.Lock()
	var stale, ungranted []*session
	for _, sess := range s.sessions {
		if sess.lastSeen.Load() < idle {
			stale = append(stale, sess)
		}
	}
	// The sessions without a grant are in the order they came.
	for e := s.pending.Front(); e != nil; e = e.Next() {
		sess := e.Value.(*session)
		if sess.created.After(late) {
			break
		}
		if sess.lastSeen.Load() >= idle {
			ungranted = append(ungranted, sess)
		}
	}
	s.mu.Unlock()
	for _, sess := range stale {
		s.log.Info("janus session timed out", "session", sess.id, "timeout", s.cfg.SessionTimeout)
		s.destroySession(sess, "timeout")
	}
	for _, sess := range ungranted {
		s.log.Debug("janus session without a room grant timed out", "session", sess.id)
		s.destroySession(sess, "timeout")
	}
	if n := len(ungranted); n > 0 {
		s.stats.pendingEnded.Add(uint64(n))
		s.log.Info("janus sessions ended without showing a room grant", "sessions", n, "grant_timeout", s.cfg.GrantTimeout)
	}
}

// eventQueue buffers the events of a session used over HTTP until a long
// poll takes them.
type eventQueue struct {
	mu     sync.Mutex
	events []janus.Message
	notify chan struct{}
	closed bool
}

const maxQueuedEvents = 1000

func newEventQueue() *eventQueue { return &eventQueue{notify: make(chan struct{}, 1)} }

func (q *eventQueue) push(m janus.Message) {
	q.mu.Lock()
	if !q.closed {
		if len(q.events) >= maxQueuedEvents {
			q.events = q.events[1:] // a client that never polls loses its oldest events
		}
		q.events = append(q.events, m)
	}
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// take waits until there are events (or ctx ends) and returns up to max.
func (q *eventQueue) take(ctx context.Context, max int) []janus.Message {
	for {
		q.mu.Lock()
		if len(q.events) > 0 || q.closed {
			n := min(max, len(q.events))
			out := append([]janus.Message(nil), q.events[:n]...)
			q.events = q.events[n:]
			q.mu.Unlock()
			return out
		}
		q.mu.Unlock()
		select {
		case <-q.notify:
		case <-ctx.Done():
			return nil
		}
	}
}
