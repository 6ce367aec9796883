package videoroom

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/metrics"
)

// longPollTimeout is how long a GET on a session waits for events before
// answering with a keepalive, as Janus does.
const longPollTimeout = 30 * time.Second

// goingAwayGrace bounds the goodbye of a Janus WebSocket when the SFU
// closes: its last events and the close frame are written, and the
// peer's answer awaited, for at most this long before it is dropped.
const goingAwayGrace = time.Second

// encode renders an answer; server_info carries its fields at the top
// level, as in Janus.
func encode(m janus.Message) []byte {
	if m.Janus == "server_info" && len(m.Data) > 0 {
		var fields map[string]json.RawMessage
		if json.Unmarshal(m.Data, &fields) == nil {
			fields["janus"], _ = json.Marshal(m.Janus)
			if m.Transaction != "" {
				fields["transaction"], _ = json.Marshal(m.Transaction)
			}
			b, _ := json.Marshal(fields)
			return b
		}
	}
	b, _ := json.Marshal(m)
	return b
}

func (s *SFU) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/janus")
	if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
		http.NotFound(w, r)
		return
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		metrics.SetRoute(r.Context(), "GET /janus (websocket)")
		s.serveWS(w, r)
		return
	}
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		switch v := v.(type) {
		case janus.Message:
			w.Write(encode(v))
		case []janus.Message:
			out := make([]json.RawMessage, len(v))
			for i, m := range v {
				out[i] = encode(m)
			}
			b, _ := json.Marshal(out)
			w.Write(b)
		}
	}
	path, ok := parseRESTPath(rest)
	if !ok {
		metrics.SetRoute(r.Context(), "janus other")
		reply(janus.Message{Janus: "error", Error: janus.Errorf(janus.ErrInvalidRequestPath, "Invalid path %s", clipStr(r.URL.Path))})
		return
	}
	switch r.Method {
	case http.MethodGet:
		metrics.SetRoute(r.Context(), "GET /janus/{session}")
		if path.info {
			reply(s.info(janus.Request{}))
			return
		}
		if len(path.ids) != 1 {
			reply(janus.Message{Janus: "error", Error: janus.Errorf(janus.ErrInvalidRequestPath, "Long polls are on /janus/<session>")})
			return
		}
		s.longPoll(w, r, path.ids[0], reply)
	case http.MethodPost:
		metrics.SetRoute(r.Context(), "POST /janus")
		data, err := io.ReadAll(io.LimitReader(r.Body, int64(s.cfg.MaxMessageBytes)+1))
		if err != nil || len(data) > s.cfg.MaxMessageBytes {
			reply(janus.Message{Janus: "error", Error: janus.Errorf(janus.ErrTransportSpecific, "Request too large or unreadable")})
			return
		}
		req, e := decodeREST(path, data)
		if e != nil {
			reply(errorReply(req, e))
			return
		}
		reply(s.serve(req, nil, s.clientIP(r)))
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// restPath is the path of a REST request after /janus: /info, or up to a
// session id and a handle id.
type restPath struct {
	info bool
	ids  []uint64 // session, handle
}

// depth is how deep the path is: 0 for /janus, 1 for a session (and
// /janus/info), 2 for a handle.
func (p restPath) depth() int {
	if p.info {
		return 1
	}
	return len(p.ids)
}

// parseRESTPath reads the path after /janus; false when it is none of
// the API's (answered with 457).
func parseRESTPath(rest string) (restPath, bool) {
	var parts []string
	for _, p := range strings.Split(strings.Trim(rest, "/"), "/") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 1 && parts[0] == "info" {
		return restPath{info: true}, true
	}
	if len(parts) > 2 {
		return restPath{}, false
	}
	var p restPath
	for _, part := range parts {
		n, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return restPath{}, false
		}
		p.ids = append(p.ids, n)
	}
	return p, true
}

// decodeREST decodes the body of a REST request to path: the session and
// handle come from the path, and the request must belong at its depth.
func decodeREST(path restPath, data []byte) (janus.Request, *janus.Error) {
	req, e := janus.Decode(data)
	if e != nil {
		return req, e
	}
	if len(path.ids) >= 1 {
		req.SessionID = path.ids[0]
	}
	if len(path.ids) == 2 {
		req.HandleID = path.ids[1]
	}
	if e := pathAllows(req.Janus, path.depth()); e != nil {
		return req, e
	}
	return req, nil
}

// pathAllows checks a REST request against its path depth: create at
// /janus, session requests at /janus/<session>, handle requests at
// /janus/<session>/<handle>.
func pathAllows(request string, depth int) *janus.Error {
	want := map[string]int{"create": 0, "attach": 1, "keepalive": 1, "destroy": 1, "claim": 1,
		"message": 2, "trickle": 2, "detach": 2, "hangup": 2}
	d, ok := want[request]
	if !ok || d == depth {
		return nil
	}
	return janus.Errorf(janus.ErrInvalidRequestPath, "Unhandled request '%s' at this path", request)
}

// longPoll answers GET /janus/<session>: the session's queued events, or
// a keepalive after 30 seconds. maxev asks for up to that many events, in
// an array.
func (s *SFU) longPoll(w http.ResponseWriter, r *http.Request, id uint64, reply func(any)) {
	sess := s.session(id)
	if sess == nil || sess.queue == nil {
		reply(janus.Message{Janus: "error", SessionID: id, Error: janus.Errorf(janus.ErrSessionNotFound, "No such session %d", id)})
		return
	}
	sess.touch()
	maxev := 1
	if v, err := strconv.Atoi(r.URL.Query().Get("maxev")); err == nil && v > 1 {
		maxev = min(v, 100)
	}
	ctx, cancel := context.WithTimeout(r.Context(), longPollTimeout)
	defer cancel()
	defer context.AfterFunc(s.draining, cancel)()
	events := sess.queue.take(ctx, maxev)
	sess.touch()
	switch {
	case len(events) == 0:
		reply(janus.Message{Janus: "keepalive"})
	case maxev > 1:
		reply(events)
	default:
		reply(events[0])
	}
}

// wsConn is a Janus WebSocket connection: the sink of the sessions it
// created or claimed, which end when it closes.
type wsConn struct {
	s    *SFU
	c    *websocket.Conn
	addr string // the client's address
	out  chan []byte
	// ctx ends the connection at once: the client left, does not read,
	// or a write failed.
	ctx    context.Context
	cancel context.CancelFunc
	// goingAway is closed when the SFU closes: the connection ends with a
	// close frame.
	goingAway chan struct{}

	mu       sync.Mutex
	sessions map[*session]struct{}
}

func (c *wsConn) push(m janus.Message) {
	select {
	case c.out <- encode(m):
	case <-c.ctx.Done():
	default:
		// The client does not read its events: it is dropped rather than
		// letting its queue grow.
		c.s.log.Warn("janus websocket too slow, closing it")
		c.cancel()
	}
}

// write sends one message, waiting at most 10 seconds.
func (c *wsConn) write(b []byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	return c.c.Write(ctx, websocket.MessageText, b)
}

// goAway ends the connection as the SFU closes: the events already queued
// (those that ended its sessions) go out, then a close frame, 1001 going
// away. A peer that does not take them within goingAwayGrace is dropped.
func (c *wsConn) goAway() {
	t := time.AfterFunc(goingAwayGrace, c.cancel)
	defer t.Stop()
	for queued := true; queued; {
		select {
		case b := <-c.out:
			if c.write(b) != nil {
				return
			}
		default:
			queued = false
		}
	}
	c.c.Close(websocket.StatusGoingAway, "server shutting down")
}

func (c *wsConn) own(s *session) {
	c.mu.Lock()
	c.sessions[s] = struct{}{}
	c.mu.Unlock()
}

func (c *wsConn) disown(s *session) {
	c.mu.Lock()
	delete(c.sessions, s)
	c.mu.Unlock()
}

func (s *SFU) serveWS(w http.ResponseWriter, r *http.Request) {
	// The Janus API is authorized by room grants, not by cookies, so any
	// origin may connect (as with Janus itself).
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       []string{janus.Subprotocol},
		InsecureSkipVerify: true,
	})
	if err != nil {
		return
	}
	if conn.Subprotocol() != janus.Subprotocol {
		conn.Close(websocket.StatusPolicyViolation, "the janus-protocol subprotocol is required")
		return
	}
	conn.SetReadLimit(int64(s.cfg.MaxMessageBytes))
	c := &wsConn{s: s, c: conn, addr: s.clientIP(r), out: make(chan []byte, 1024), goingAway: make(chan struct{}),
		sessions: map[*session]struct{}{}}
	// The connection outlives the request's context, which the HTTP
	// server cancels as it starts shutting down: the SFU's Close ends it,
	// with a close frame.
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(r.Context()))
	if !s.addWS(c) {
		conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer s.removeWS(c)
	stop := context.AfterFunc(s.ctx, c.cancel)
	defer stop()
	s.stats.wsConns.Add(1)
	defer s.stats.wsConns.Add(-1)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer c.cancel()
		for {
			select {
			case b := <-c.out:
				if c.write(b) != nil {
					return
				}
			case <-c.goingAway:
				c.goAway()
				return
			case <-c.ctx.Done():
				return
			}
		}
	}()

	limit := rate.NewLimiter(100, 200)
	for {
		_, data, err := conn.Read(c.ctx)
		if err != nil {
			break
		}
		if !limit.Allow() {
			s.log.Warn("janus websocket exceeds 100 requests per second, closing it")
			conn.Close(websocket.StatusPolicyViolation, "too many requests")
			break
		}
		req, e := janus.Decode(data)
		if e != nil {
			c.push(errorReply(req, e))
			continue
		}
		c.push(s.serve(req, c, c.addr))
	}
	c.cancel()
	wg.Wait()
	c.mu.Lock()
	owned := make([]*session, 0, len(c.sessions))
	for sess := range c.sessions {
		owned = append(owned, sess)
	}
	c.mu.Unlock()
	for _, sess := range owned {
		sess.mu.Lock()
		mine := sess.owner == c
		sess.mu.Unlock()
		if mine {
			s.destroySession(sess, "")
		}
	}
	conn.Close(websocket.StatusNormalClosure, "")
}
