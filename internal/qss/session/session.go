package session

import (
	"context"
	"errors"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/time/rate"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/qss/wire"
)

// Device is what a session tells about the device it runs on, as the seeds'
// logs show it.
type Device struct {
	UserAgent string `json:"userAgent,omitempty"`
	Language  string `json:"language,omitempty"`
	Location  string `json:"location,omitempty"`
	Platform  string `json:"platform,omitempty"`
	DeviceID  string `json:"deviceId,omitempty"`
	PushToken string `json:"pushToken,omitempty"`
}

// clipped is d with each field cut to its limit.
func (d Device) clipped() Device {
	return Device{UserAgent: wire.Truncate(d.UserAgent, 256), Language: wire.Truncate(d.Language, 64),
		Location: wire.Truncate(d.Location, 128), Platform: wire.Truncate(d.Platform, 64),
		DeviceID: wire.Truncate(d.DeviceID, 128), PushToken: wire.Truncate(d.PushToken, 512)}
}

// update takes the fields that u sets.
func (d *Device) update(u Device) {
	for _, f := range []struct {
		field *string
		value string
	}{{&d.UserAgent, u.UserAgent}, {&d.Language, u.Language}, {&d.Location, u.Location},
		{&d.Platform, u.Platform}, {&d.DeviceID, u.DeviceID}, {&d.PushToken, u.PushToken}} {
		if f.value != "" {
			*f.field = f.value
		}
	}
}

// Session is one connection of a user: a device. It survives a dropped
// connection for removeAfter, so that a reconnect resumes it.
type Session struct {
	ID     string
	User   *auth.Principal
	srv    *Server
	limit  *rate.Limiter
	device Device
	start  time.Time

	mu       sync.Mutex
	conn     *wsConn // nil while disconnected
	gen      int     // increases with each (re)attached connection
	queue    [][]byte
	writing  bool
	pingDue  bool
	closed   bool // removed for good
	ended    string
	refusals int
	joined   map[string]bool    // rooms this session is in
	pending  map[string]Pending // server-to-client requests awaiting answers
	timers   []*time.Timer      // removal timers while disconnected
	// abandoned is when the connection dropped (zero while connected).
	abandoned time.Time
	expiry    *time.Timer // ends an anonymous session with its user
	// held are the frames kept for the client while it has no connection
	// (the server's requests, and cancels of those it saw) or while its new
	// connection still waits for its session event; greet sends them.
	held    []heldFrame
	greeted bool // the connection got its session event
	// unrung says the session was away longer than
	// invites.basic.removeAfter: it is rung again only once it resumes.
	unrung bool
}

// heldFrame is a frame waiting for the session's next connection. request
// is the requestID of the server request it is, if it is one.
type heldFrame struct {
	data    []byte
	request string
}

// Pending is a request the server sent to the client (an invitation) and
// where its answer goes.
type Pending struct {
	Kind   string `json:"kind"` // invitation, inviteRequest, transferring-attended-transfer
	Owner  string `json:"o"`    // node that owns the invitation
	Invite string `json:"i"`
}

func newSession(srv *Server, id string, p *auth.Principal, d Device) *Session {
	return &Session{
		ID: id, User: p, srv: srv, device: d, start: time.Now(),
		limit:   rate.NewLimiter(rate.Limit(srv.cfg.QSS.RequestRate), int(2*srv.cfg.QSS.RequestRate)+1),
		joined:  map[string]bool{},
		pending: map[string]Pending{},
	}
}

// Send queues a frame for the client. A client too slow to take
// qss.sendQueue frames is disconnected. While the session has no
// connection the frame is dropped; before its new connection got its
// session event, the frame waits for it.
func (s *Session) Send(frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.conn == nil {
		return
	}
	s.keepLocked(heldFrame{data: frame})
}

// SendAnswer sends the late answer (or cancel) of one of the client's
// requests, an invitation's outcome. While the session has no connection it
// is held for the next one, so that a resumed session still learns the
// outcome of what it asked.
func (s *Session) SendAnswer(frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.keepLocked(heldFrame{data: frame})
	}
}

// queueLocked queues a frame for the connection; s.mu is held and the
// session is connected.
func (s *Session) queueLocked(frame []byte) {
	if len(s.queue) >= s.srv.cfg.QSS.SendQueue {
		s.srv.log.Warn("qss: session too slow to take its frames; disconnecting", "session", s.ID, "user", s.User.Username)
		c := s.conn // closed aside: never block the caller (the bus inbox)
		s.srv.tasks.Go(func(context.Context) { c.close(ws.StatusPolicyViolation, "too slow") })
		return
	}
	s.queue = append(s.queue, frame)
	s.startWriter()
}

// sendRequest sends a server request (an invitation) that the client is to
// answer, and records where the answer goes. While the session has no
// connection the request is held for its next one, until the session has
// been away for invites.basic.removeAfter and within qss.sendQueue frames:
// it reports false when the session cannot get the request, which then is
// not pending.
func (s *Session) sendRequest(reqID string, p Pending, frame []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.conn == nil && s.unrung || !s.keepLocked(heldFrame{data: frame, request: reqID}) {
		return false
	}
	s.pending[reqID] = p
	return true
}

// cancelRequest tells the client that the server's request reqID is over.
// A request still held is dropped with its cancel: the client never hears
// of a request it never saw. The cancel of a request it saw waits, while
// the session has no connection, for the next one.
func (s *Session) cancelRequest(reqID string, frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, reqID)
	if s.closed || frame == nil || s.unhold(reqID) {
		return
	}
	s.keepLocked(heldFrame{data: frame})
}

// keepLocked queues f for the connection, or holds it for the next one
// (at most qss.sendQueue frames), and reports whether it did; s.mu is held.
func (s *Session) keepLocked(f heldFrame) bool {
	if s.conn != nil && s.greeted {
		s.queueLocked(f.data)
		return true
	}
	if len(s.held) >= s.srv.cfg.QSS.SendQueue {
		return false
	}
	s.held = append(s.held, f)
	return true
}

// unhold drops the held request reqID and reports whether it was held;
// s.mu is held.
func (s *Session) unhold(reqID string) bool {
	for i, f := range s.held {
		if f.request == reqID {
			s.held = append(s.held[:i:i], s.held[i+1:]...)
			return true
		}
	}
	return false
}

// greet sends the session event of connection c, then the frames held for
// it, in order (unless c is no longer the session's).
func (s *Session) greet(c *wsConn, frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.conn != c || s.greeted {
		return
	}
	s.greeted = true
	held := s.held
	s.held = nil
	s.queue = append(s.queue, frame)
	for _, f := range held {
		s.queue = append(s.queue, f.data)
	}
	s.startWriter()
}

// stopRinging takes the session out of the invitations ringing it and
// returns them, to be reported gone to their owners. gen is the connection
// generation in which the session was seen gone for
// invites.basic.removeAfter (nothing happens if it resumed since), or -1
// for a session being removed. The requests it holds are dropped unseen;
// those it saw get a cancel that it finds if it resumes, and it is not
// rung again until then.
func (s *Session) stopRinging(gen int) []Pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen >= 0 {
		if s.gen != gen || s.conn != nil {
			return nil
		}
		s.unrung = true
	}
	var out []Pending
	for reqID, p := range s.pending {
		out = append(out, p)
		delete(s.pending, reqID)
		if !s.unhold(reqID) && !s.closed {
			s.keepLocked(heldFrame{data: wire.CancelFrame(p.Kind, reqID, 480, "this device was away longer than invites.basic.removeAfter")})
		}
	}
	return out
}

// ping checks the session's connection (checkPong) and, unless a ping is
// still unanswered, has the writer send a new one.
func (s *Session) ping(timeout time.Duration) {
	if s.checkPong(timeout) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.conn; c == nil || s.closed || c.pingSent.Load() != 0 {
		return
	}
	s.pingDue = true
	s.startWriter()
}

// checkPong drops the connection when its ping has waited longer than
// timeout for a pong (the peer is gone), and reports whether a ping is
// still unanswered.
func (s *Session) checkPong(timeout time.Duration) bool {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return false
	}
	sent := c.pingSent.Load()
	if sent == 0 {
		return false
	}
	if time.Since(time.Unix(0, sent)) >= timeout {
		s.srv.log.Debug("qss: ping unanswered; closing", "session", s.ID)
		c.closeNow() // no close handshake to wait for
	}
	return true
}

// startWriter runs a writer goroutine if none runs; s.mu is held. The
// writer exits when the queue is empty, so an idle session has none.
func (s *Session) startWriter() {
	if s.writing {
		return
	}
	c, gen := s.conn, s.gen
	s.writing = s.srv.tasks.Go(func(context.Context) { s.write(c, gen) })
}

func (s *Session) write(c *wsConn, gen int) {
	timeout := s.srv.cfg.QSS.PingTimeout
	for {
		s.mu.Lock()
		if s.gen != gen || s.closed && len(s.queue) == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		if s.pingDue {
			s.pingDue = false
			s.mu.Unlock()
			c.pingSent.Store(time.Now().UnixNano())
			if err := c.write(ws.OpPing, nil, timeout); err != nil {
				if !errors.Is(err, errCloseSent) {
					c.closeNow()
				}
				s.stopWriter(gen)
				return
			}
			continue
		}
		if len(s.queue) == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		if err := c.writeFrames(ws.OpText, batch, 10*time.Second); err != nil {
			if !errors.Is(err, errCloseSent) {
				c.closeNow()
			}
			s.stopWriter(gen)
			return
		}
	}
}

func (s *Session) stopWriter(gen int) {
	s.mu.Lock()
	if s.gen == gen {
		s.writing = false
		s.queue = nil
	}
	s.mu.Unlock()
}

// serve reads frames from c until it closes.
func (s *Session) serve(ctx context.Context, c *wsConn) {
	limit := s.srv.cfg.QSS.MaxFrameBytes
	for {
		op, data, err := c.readMessage(limit, 4*limit)
		var big errTooBig
		switch {
		case errors.As(err, &big):
			s.refuse(&wire.ProtocolError{Code: 413, Message: "frame larger than " + strconv.FormatInt(limit, 10) + " bytes"})
			continue
		case err != nil:
			if code, reason := closeFor(err, 4*limit); code != 0 {
				s.srv.log.Info("qss: closing a connection for a bad frame", "session", s.ID, "code", int(code), "reason", reason)
				c.fail(code, reason)
			}
			return
		case op != ws.OpText:
			s.refuse(&wire.ProtocolError{Code: 400, Message: "frames must be text (JSON)"})
			continue
		}
		// Every frame counts against the rate, well-formed or not; the
		// frame is decoded first so that a refusal names the request it
		// refuses and the client can match it.
		f, err := wire.DecodeFrame(data)
		if !s.limit.Allow() {
			pe := &wire.ProtocolError{Code: 429, Message: "too many requests; slow down"}
			if f != nil {
				pe.Name, pe.ReqID = f.Name(), f.RequestID
			}
			if s.refuse(pe) {
				c.close(ws.StatusPolicyViolation, "request flood")
				return
			}
			continue
		}
		if err != nil {
			var pe *wire.ProtocolError
			if errors.As(err, &pe) {
				s.refuse(pe)
				continue
			}
			return
		}
		s.mu.Lock()
		s.refusals = 0
		s.mu.Unlock()
		s.handle(ctx, f)
	}
}

// handle runs one frame's handler. A handler that panics is a bug: like
// net/http, the server logs it with its stack and answers the request with
// 500 rather than ending every session of the process.
func (s *Session) handle(ctx context.Context, f *wire.Frame) {
	defer func() {
		if v := recover(); v != nil {
			s.srv.log.Error("qss: handler panicked", "frame", f.Name(), "session", s.ID, "panic", v, "stack", string(debug.Stack()))
			if f.Request != "" {
				s.Send(wire.CancelFrame(f.Name(), f.RequestID, 500, "internal error"))
			}
		}
	}()
	s.srv.handle(ctx, s, f)
}

// refuse answers a bad frame with a cancel and reports whether the client
// has been refused so often in a row that it is abuse.
func (s *Session) refuse(pe *wire.ProtocolError) bool {
	name := pe.Name
	if name == "" {
		name = "unknown"
	}
	s.Send(wire.CancelFrame(name, pe.ReqID, pe.Code, pe.Message))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals++
	return s.refusals > 200
}

// attach binds a (new) connection to the session. Frames the old
// connection did not write yet wait, with the held ones, for greet.
func (s *Session) attach(c *wsConn) {
	s.mu.Lock()
	s.holdQueueLocked()
	s.conn = c
	s.gen++
	s.writing = false
	s.greeted = false
	s.unrung = false
	s.abandoned = time.Time{}
	for _, t := range s.timers {
		t.Stop()
	}
	s.timers = nil
	s.mu.Unlock()
}

// holdQueueLocked moves the frames not yet written to the front of the held
// ones; s.mu is held.
func (s *Session) holdQueueLocked() {
	if len(s.queue) == 0 {
		return
	}
	held := make([]heldFrame, 0, len(s.queue)+len(s.held))
	for _, f := range s.queue {
		held = append(held, heldFrame{data: f})
	}
	s.held = append(held, s.held...)
	s.queue = nil
}

// detach forgets c if it is still the session's connection, and reports
// whether it was.
func (s *Session) detach(c *wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != c {
		return false
	}
	s.conn = nil
	s.gen++
	s.holdQueueLocked()
	s.abandoned = time.Now()
	return true
}

func (s *Session) connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn != nil && !s.closed
}

// end closes the session for good with a reason the client is told.
func (s *Session) end(reason string) {
	s.mu.Lock()
	c := s.conn
	s.ended = reason
	s.mu.Unlock()
	if c != nil {
		s.Send(wire.EventFrame("sessionEnded", map[string]any{"session": s.ID, "reason": reason}))
		// Let the writer flush the notice, then close.
		s.srv.tasks.AfterFunc(200*time.Millisecond, func(context.Context) { c.close(4001, wire.Truncate(reason, 100)) })
	}
}

// AddPending records (again) that the server request reqID waits for the
// client's answer, which goes where p says.
func (s *Session) AddPending(reqID string, p Pending) {
	s.mu.Lock()
	s.pending[reqID] = p
	s.mu.Unlock()
}

func (s *Session) takePending(reqID string) (Pending, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[reqID]
	if ok {
		delete(s.pending, reqID)
	}
	return p, ok
}

// Rooms lists the rooms the session joined.
func (s *Session) Rooms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.joined))
	for r := range s.joined {
		out = append(out, r)
	}
	return out
}

// SetJoined records that the session joined room (in) or left it.
func (s *Session) SetJoined(room string, in bool) {
	s.mu.Lock()
	if in {
		s.joined[room] = true
	} else {
		delete(s.joined, room)
	}
	s.mu.Unlock()
}
