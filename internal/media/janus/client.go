package janus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Subprotocol is the WebSocket subprotocol of the Janus API.
const Subprotocol = "janus-protocol"

// PluginError is an error a plugin answered with (error_code and error in
// its data).
type PluginError struct {
	Code   int    `json:"error_code"`
	Reason string `json:"error"`
}

func (e *PluginError) Error() string { return fmt.Sprintf("plugin error %d: %s", e.Code, e.Reason) }

// Client is one WebSocket connection to a Janus API server. It may carry
// several sessions. It is safe for concurrent use.
type Client struct {
	conn   *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	pending  map[string]chan Message
	handles  map[uint64]*Handle
	sessions map[uint64]*Session
	err      error
}

// Dial connects to a Janus WebSocket endpoint (ws:// or wss:// URL).
func Dial(ctx context.Context, url string) (*Client, error) {
	return DialWith(ctx, url, nil)
}

// DialWith is Dial through hc (nil = http.DefaultClient), for instance one
// whose transport dials from a given local address.
func DialWith(ctx context.Context, url string, hc *http.Client) (*Client, error) {
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{Subprotocol},
		HTTPHeader:   http.Header{},
		HTTPClient:   hc,
	})
	if err != nil {
		return nil, fmt.Errorf("dial Janus API %s: %w", url, err)
	}
	conn.SetReadLimit(4 << 20)
	c := &Client{conn: conn, done: make(chan struct{}), pending: map[string]chan Message{},
		handles: map[uint64]*Handle{}, sessions: map[uint64]*Session{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.readLoop()
	return c, nil
}

// Close closes the connection; the server then drops its sessions.
func (c *Client) Close() error {
	c.cancel()
	err := c.conn.Close(websocket.StatusNormalClosure, "")
	<-c.done
	return err
}

// Done is closed when the connection is gone.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended, nil while it is open. When the server
// closed it with a close frame, websocket.CloseStatus(Err()) is its code.
func (c *Client) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) readLoop() {
	defer close(c.done)
	for {
		_, data, err := c.conn.Read(c.ctx)
		if err != nil {
			c.mu.Lock()
			c.err = err
			for _, h := range c.handles {
				h.closeEvents()
			}
			c.handles = map[uint64]*Handle{}
			c.mu.Unlock()
			return
		}
		var m Message
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		c.route(m)
	}
}

func (c *Client) route(m Message) {
	c.mu.Lock()
	ch, isReply := c.pending[m.Transaction]
	var h *Handle
	if !isReply && m.Sender != 0 {
		h = c.handles[m.Sender]
	}
	s := c.sessions[m.SessionID]
	c.mu.Unlock()
	switch {
	case isReply && m.Transaction != "":
		select {
		case ch <- m:
		default:
		}
	case h != nil:
		h.deliver(m)
	case s != nil:
		s.deliver(m)
	}
}

func transaction() string {
	b := make([]byte, 9)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Client) send(ctx context.Context, m Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := c.conn.Write(ctx, websocket.MessageText, data); err != nil {
		return fmt.Errorf("send %s: %w", m.Janus, err)
	}
	return nil
}

// SendRaw writes bytes as they are (to test how the server takes bad input).
func (c *Client) SendRaw(ctx context.Context, data []byte) error {
	return c.conn.Write(ctx, websocket.MessageText, data)
}

// ReadRaw registers for the answer to transaction txn and returns a
// function that waits for it (for requests sent with SendRaw).
func (c *Client) ReadRaw(txn string) func(ctx context.Context) (Message, error) {
	ch := make(chan Message, 4)
	c.mu.Lock()
	c.pending[txn] = ch
	c.mu.Unlock()
	return func(ctx context.Context) (Message, error) {
		defer func() {
			c.mu.Lock()
			delete(c.pending, txn)
			c.mu.Unlock()
		}()
		select {
		case m := <-ch:
			return m, nil
		case <-ctx.Done():
			return Message{}, ctx.Err()
		case <-c.done:
			return Message{}, c.closedErr()
		}
	}
}

func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return fmt.Errorf("janus connection closed: %w", c.err)
	}
	return errors.New("janus connection closed")
}

// Do sends a request and returns its answer; with wantEvent it waits past
// an "ack" for the event of the same transaction (asynchronous plugin
// requests). An "error" answer is returned as *Error, a plugin error as
// *PluginError.
func (c *Client) Do(ctx context.Context, m Message, wantEvent bool) (Message, error) {
	if m.Transaction == "" {
		m.Transaction = transaction()
	}
	ch := make(chan Message, 4)
	c.mu.Lock()
	c.pending[m.Transaction] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, m.Transaction)
		c.mu.Unlock()
	}()
	if err := c.send(ctx, m); err != nil {
		return Message{}, err
	}
	for {
		select {
		case r := <-ch:
			switch r.Janus {
			case "error":
				if r.Error == nil {
					return r, errors.New("janus error without error object")
				}
				return r, r.Error
			case "ack":
				if wantEvent {
					continue
				}
				return r, nil
			}
			if r.PluginData != nil {
				var pe PluginError
				if json.Unmarshal(r.PluginData.Data, &pe) == nil && pe.Code != 0 {
					return r, &pe
				}
			}
			return r, nil
		case <-ctx.Done():
			return Message{}, fmt.Errorf("%s: %w", m.Janus, ctx.Err())
		case <-c.done:
			return Message{}, c.closedErr()
		}
	}
}

// Session is a Janus session.
type Session struct {
	ID     uint64
	c      *Client
	events chan Message
	stop   chan struct{}
	once   sync.Once
}

// CreateSession creates a session and keeps it alive until Destroy.
func (c *Client) CreateSession(ctx context.Context) (*Session, error) {
	return c.CreateSessionToken(ctx, "")
}

// CreateSessionToken is CreateSession presenting token at the core level
// (Janus token auth; "" = none).
func (c *Client) CreateSessionToken(ctx context.Context, token string) (*Session, error) {
	r, err := c.Do(ctx, Message{Janus: "create", Token: token}, false)
	if err != nil {
		return nil, err
	}
	var d struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil || d.ID == 0 {
		return nil, fmt.Errorf("create: answer without session id: %s", r.Data)
	}
	s := &Session{ID: d.ID, c: c, events: make(chan Message, 64), stop: make(chan struct{})}
	c.mu.Lock()
	c.sessions[s.ID] = s
	c.mu.Unlock()
	go s.keepalive()
	return s, nil
}

func (s *Session) keepalive() {
	t := time.NewTicker(20 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			ctx, cancel := context.WithTimeout(s.c.ctx, 10*time.Second)
			s.c.Do(ctx, Message{Janus: "keepalive", SessionID: s.ID}, false)
			cancel()
		case <-s.stop:
			return
		case <-s.c.done:
			return
		}
	}
}

func (s *Session) deliver(m Message) {
	select {
	case s.events <- m:
	default: // nobody reads session events; drop
	}
}

// Events are the session's unsolicited messages (e.g. "timeout").
func (s *Session) Events() <-chan Message { return s.events }

// Destroy destroys the session.
func (s *Session) Destroy(ctx context.Context) error {
	s.once.Do(func() { close(s.stop) })
	_, err := s.c.Do(ctx, Message{Janus: "destroy", SessionID: s.ID}, false)
	return err
}

// Handle is a plugin handle.
type Handle struct {
	ID      uint64
	Session *Session

	mu     sync.Mutex
	events chan Message
	closed bool
}

// Attach attaches the session to a plugin.
func (s *Session) Attach(ctx context.Context, plugin string) (*Handle, error) {
	r, err := s.c.Do(ctx, Message{Janus: "attach", SessionID: s.ID, Plugin: plugin}, false)
	if err != nil {
		return nil, err
	}
	var d struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil || d.ID == 0 {
		return nil, fmt.Errorf("attach: answer without handle id: %s", r.Data)
	}
	h := &Handle{ID: d.ID, Session: s, events: make(chan Message, 256)}
	s.c.mu.Lock()
	s.c.handles[h.ID] = h
	s.c.mu.Unlock()
	return h, nil
}

func (h *Handle) deliver(m Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	select {
	case h.events <- m:
	default: // a reader that does not keep up loses events
	}
}

func (h *Handle) closeEvents() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.events)
	}
}

// Events are the handle's unsolicited messages: plugin events without a
// transaction, webrtcup, media, hangup, slowlink, detached. The channel is
// closed when the connection ends.
func (h *Handle) Events() <-chan Message { return h.events }

// Request sends a plugin request and returns the plugin's data: directly
// for synchronous requests, from the event that follows the ack for
// asynchronous ones. jsep may be nil.
func (h *Handle) Request(ctx context.Context, body any, jsep *JSEP, async bool) (json.RawMessage, *JSEP, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, nil, err
	}
	r, err := h.Session.c.Do(ctx, Message{Janus: "message", SessionID: h.Session.ID, HandleID: h.ID, Body: b, JSEP: jsep}, async)
	if err != nil {
		return nil, nil, err
	}
	if r.PluginData == nil {
		return nil, r.JSEP, fmt.Errorf("answer %q without plugindata", r.Janus)
	}
	return r.PluginData.Data, r.JSEP, nil
}

// Trickle sends one ICE candidate (nil: gathering completed).
func (h *Handle) Trickle(ctx context.Context, c *Candidate) error {
	if c == nil {
		c = &Candidate{Completed: true}
	}
	raw, _ := json.Marshal(c)
	_, err := h.Session.c.Do(ctx, Message{Janus: "trickle", SessionID: h.Session.ID, HandleID: h.ID, Candidate: raw}, false)
	return err
}

// Detach detaches the handle.
func (h *Handle) Detach(ctx context.Context) error {
	_, err := h.Session.c.Do(ctx, Message{Janus: "detach", SessionID: h.Session.ID, HandleID: h.ID}, false)
	h.Session.c.mu.Lock()
	delete(h.Session.c.handles, h.ID)
	h.Session.c.mu.Unlock()
	h.closeEvents()
	return err
}

// WaitEvent returns the next event of the handle for which match is true,
// skipping the others.
func (h *Handle) WaitEvent(ctx context.Context, match func(Message) bool) (Message, error) {
	for {
		select {
		case m, ok := <-h.events:
			if !ok {
				return Message{}, errors.New("handle events closed")
			}
			if match(m) {
				return m, nil
			}
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}
