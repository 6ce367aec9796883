// Package client is the Go SDK of OpenWAC: log in through the REST API
// (SAPI), open the signaling WebSocket (QSS), send requests and await their
// answers, answer the server's requests (invitations), and receive events.
// The project's tests, load generators and bots use it.
package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/qss/wire"
)

// Client is a logged-in user of a server.
type Client struct {
	BaseURL string
	HTTP    *http.Client

	mu     sync.Mutex
	tokens Tokens
}

// Tokens are the answer of /sapi/o/token.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

// APIError is an error answer of the REST API.
type APIError struct {
	Status  int
	Code    int    `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
	OAuth   string `json:"error"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

// Login logs in with the password grant (username@domain).
func Login(ctx context.Context, baseURL, username, password string) (*Client, error) {
	return grant(ctx, baseURL, map[string]string{"grant_type": "password", "username": username, "password": password})
}

// LoginAnonymous logs in anonymously into domain (the "@domain" grant).
func LoginAnonymous(ctx context.Context, baseURL, domain string) (*Client, error) {
	return grant(ctx, baseURL, map[string]string{"grant_type": "anonymous", "username": "@" + strings.TrimPrefix(domain, "@")})
}

func grant(ctx context.Context, baseURL string, body map[string]string) (*Client, error) {
	c := &Client{BaseURL: strings.TrimSuffix(baseURL, "/"), HTTP: &http.Client{Timeout: 30 * time.Second}}
	var t Tokens
	if err := c.do(ctx, http.MethodPost, "/sapi/o/token", "", body, &t); err != nil {
		return nil, err
	}
	c.tokens = t
	return c, nil
}

// AccessToken is the current access token.
func (c *Client) AccessToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tokens.AccessToken
}

// Refresh exchanges the refresh token for new tokens.
func (c *Client) Refresh(ctx context.Context) error {
	c.mu.Lock()
	rt := c.tokens.RefreshToken
	c.mu.Unlock()
	var t Tokens
	if err := c.do(ctx, http.MethodPost, "/sapi/o/token", "", map[string]string{"grant_type": "refresh_token", "refresh_token": rt}, &t); err != nil {
		return err
	}
	c.mu.Lock()
	c.tokens = t
	c.mu.Unlock()
	return nil
}

// Logout ends the client's grant.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/sapi/o/revoke", "", map[string]string{"token": c.AccessToken()}, nil)
}

// API calls the REST API with the client's token: body is sent as JSON and
// the answer decoded into out (either may be nil).
func (c *Client) API(ctx context.Context, method, path string, body, out any) error {
	return c.do(ctx, method, path, c.AccessToken(), body, out)
}

func (c *Client) do(ctx context.Context, method, path, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		e := &APIError{Status: resp.StatusCode}
		json.Unmarshal(data, e)
		if e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		return e
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Frame is one QSS message, the type the server reads too: the request,
// answer or cancel name, requestID, error code and message, and payload;
// Raw is the whole frame as received, for fields beside these (Field,
// String).
type Frame = wire.Frame

// Event is a server event.
type Event struct {
	Name    string          `json:"eventName"`
	Payload json.RawMessage `json:"payload"`
}

// Decode reads the event's payload into v.
func (e Event) Decode(v any) error { return json.Unmarshal(e.Payload, v) }

// CancelError is a request the server refused (a cancel frame), or an
// answer that carries an error code (a declined invitation).
type CancelError struct {
	Code    int
	Message string
	Frame   *Frame
}

func (e *CancelError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Message) }

// Conn is an open signaling session.
type Conn struct {
	ws      *websocket.Conn
	Session string // the session id, from the server's "session" event
	Node    string

	seq      atomic.Int64
	mu       sync.Mutex
	waiting  map[string]chan *Frame
	events   chan Event
	requests chan *Frame
	closed   chan struct{}
	err      error
	trace    func(bool, []byte)
	onEvent  func(Event)

	// Events and server requests queue here until the app reads them, so
	// that reading the socket never waits for the app.
	eventBox   mailbox[Event]
	requestBox mailbox[*Frame]
}

// mailbox is an unbounded queue feeding a channel.
type mailbox[T any] struct {
	mu    sync.Mutex
	items []T
	wake  chan struct{}
}

func (m *mailbox[T]) put(v T) {
	m.mu.Lock()
	m.items = append(m.items, v)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// pump moves items from m to out. Items left when the connection ends stay
// readable for a while; then the pump gives up on readers that never come.
func pump[T any](m *mailbox[T], out chan<- T, closed <-chan struct{}) {
	for {
		m.mu.Lock()
		if len(m.items) == 0 {
			m.mu.Unlock()
			select {
			case <-m.wake:
				continue
			case <-closed:
				m.mu.Lock()
				empty := len(m.items) == 0
				m.mu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		v := m.items[0]
		m.items = m.items[1:]
		m.mu.Unlock()
		select {
		case out <- v:
		case <-closed:
			select {
			case out <- v:
			case <-time.After(2 * time.Second):
				return
			}
		}
	}
}

// ConnectOptions tune Connect.
type ConnectOptions struct {
	// Resume is the id of a session to resume after a dropped connection.
	Resume string
	// Device context, as the seeds' sessions carry it.
	Platform, DeviceID, PushToken, Language, Location string
	// UserAgent is the User-Agent header of the WebSocket handshake (the
	// session's userAgent); empty = the WebSocket library's.
	UserAgent string
	// URL overrides the WebSocket URL (default: <BaseURL>/qss).
	URL string
	// Trace, when set, sees every frame sent (sent true) and received.
	Trace func(sent bool, frame []byte)
	// OnEvent, when set, receives the events (on the connection's reading
	// goroutine: it must not block) instead of the Events channel.
	OnEvent func(Event)
}

// Connect opens the QSS WebSocket with the client's token and waits for the
// server's session event.
func (c *Client) Connect(ctx context.Context, opts ConnectOptions) (*Conn, error) {
	u := opts.URL
	if u == "" {
		u = strings.Replace(c.BaseURL, "http", "ws", 1) + "/qss"
	}
	q := url.Values{}
	for k, v := range map[string]string{"session": opts.Resume, "platform": opts.Platform, "deviceId": opts.DeviceID,
		"pushToken": opts.PushToken, "language": opts.Language, "location": opts.Location} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	header := http.Header{"Authorization": {"Bearer " + c.AccessToken()}}
	if opts.UserAgent != "" {
		header.Set("User-Agent", opts.UserAgent)
	}
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", u, err)
	}
	ws.SetReadLimit(1 << 20)
	conn := &Conn{ws: ws, waiting: map[string]chan *Frame{}, events: make(chan Event),
		requests: make(chan *Frame), closed: make(chan struct{}), trace: opts.Trace, onEvent: opts.OnEvent}
	conn.eventBox.wake = make(chan struct{}, 1)
	conn.requestBox.wake = make(chan struct{}, 1)
	// The first event names the session; the app's OnEvent takes the rest.
	first := make(chan Event, 1)
	conn.onEvent = func(ev Event) {
		if ev.Name == "session" {
			conn.onEvent = opts.OnEvent
			if conn.onEvent == nil {
				conn.onEvent = conn.eventBox.put
			}
			first <- ev
			return
		}
		conn.eventBox.put(ev)
	}
	go conn.read()
	go pump(&conn.eventBox, conn.events, conn.closed)
	go pump(&conn.requestBox, conn.requests, conn.closed)
	var ev Event
	select {
	case ev = <-first:
	case <-conn.closed:
		return nil, fmt.Errorf("connection closed before the session event: %w", conn.Err())
	case <-ctx.Done():
		ws.Close(websocket.StatusNormalClosure, "")
		return nil, ctx.Err()
	}
	var s struct {
		Session string `json:"session"`
		Node    string `json:"node"`
	}
	ev.Decode(&s)
	conn.Session, conn.Node = s.Session, s.Node
	return conn, nil
}

func (c *Conn) read() {
	defer close(c.closed)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		if c.trace != nil {
			c.trace(false, data)
		}
		f := &Frame{}
		if json.Unmarshal(data, f) != nil {
			continue
		}
		f.Raw = data
		switch {
		case f.Type == "event":
			var ev Event
			json.Unmarshal(f.Payload, &ev)
			c.onEvent(ev)
		case f.Request != "":
			c.requestBox.put(f)
		default:
			c.mu.Lock()
			ch := c.waiting[f.RequestID]
			delete(c.waiting, f.RequestID)
			c.mu.Unlock()
			if ch != nil {
				ch <- f
			} else if f.Cancel != "" {
				// The server stopped a request it had sent us (ringing ended).
				c.requestBox.put(f)
			}
		}
	}
}

// Events are the server's events, in order.
func (c *Conn) Events() <-chan Event { return c.events }

// Incoming are the server's requests (invitations ...) and its cancels of them.
func (c *Conn) Incoming() <-chan *Frame { return c.requests }

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// Err is why the connection ended.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// NewRequestID returns a fresh requestID.
func (c *Conn) NewRequestID() string {
	return fmt.Sprintf("go-%s-%d", c.Session, c.seq.Add(1))
}

// Send writes a frame (any JSON-marshalable value).
func (c *Conn) Send(ctx context.Context, frame any) error {
	b, err := json.Marshal(frame)
	if err != nil {
		return err
	}
	return c.SendRaw(ctx, b)
}

// SendRaw writes raw bytes as a text frame (tests of bad input use it).
func (c *Conn) SendRaw(ctx context.Context, data []byte) error {
	if c.trace != nil {
		c.trace(true, data)
	}
	return c.ws.Write(ctx, websocket.MessageText, data)
}

// Start sends a request and returns its requestID and a channel that gets
// its answer or cancel; for requests answered much later (invitations).
func (c *Conn) Start(ctx context.Context, name string, payload any, extra map[string]any) (string, <-chan *Frame, error) {
	id := c.NewRequestID()
	msg := map[string]any{"request": name, "requestID": id}
	if payload != nil {
		msg["payload"] = payload
	}
	for k, v := range extra {
		msg[k] = v
	}
	ch, err := c.StartMessage(ctx, msg)
	return id, ch, err
}

// StartMessage sends a prepared request (with "request" and "requestID")
// and returns the channel that gets its answer or cancel.
func (c *Conn) StartMessage(ctx context.Context, msg map[string]any) (<-chan *Frame, error) {
	id, _ := msg["requestID"].(string)
	if id == "" {
		return nil, fmt.Errorf("the message has no requestID")
	}
	ch := make(chan *Frame, 1)
	c.mu.Lock()
	c.waiting[id] = ch
	c.mu.Unlock()
	if err := c.Send(ctx, msg); err != nil {
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
		return nil, err
	}
	return ch, nil
}

// Request sends a request and waits for its answer. A cancel, or an answer
// carrying an error code, is returned as a *CancelError.
func (c *Conn) Request(ctx context.Context, name string, payload any, extra map[string]any) (*Frame, error) {
	_, ch, err := c.Start(ctx, name, payload, extra)
	if err != nil {
		return nil, err
	}
	return c.Await(ctx, ch)
}

// Await waits for the answer on ch.
func (c *Conn) Await(ctx context.Context, ch <-chan *Frame) (*Frame, error) {
	select {
	case f := <-ch:
		if f.Cancel != "" || f.Error != 0 {
			return f, &CancelError{Code: f.Error, Message: f.Message, Frame: f}
		}
		return f, nil
	case <-c.closed:
		return nil, fmt.Errorf("connection closed: %w", c.Err())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// CancelRequest cancels one of our own pending requests (a ringing invitation).
func (c *Conn) CancelRequest(ctx context.Context, name, requestID string) error {
	return c.Send(ctx, map[string]any{"cancel": name, "requestID": requestID})
}

// Accept answers a server request (an invitation) positively.
func (c *Conn) Accept(ctx context.Context, req *Frame, payload any) error {
	msg := map[string]any{"answer": req.Request, "requestID": req.RequestID}
	if payload != nil {
		msg["payload"] = payload
	}
	return c.Send(ctx, msg)
}

// Decline refuses a server request with a SIP code (603 decline, 486 busy).
func (c *Conn) Decline(ctx context.Context, req *Frame, code int) error {
	return c.Send(ctx, map[string]any{"cancel": req.Request, "requestID": req.RequestID, "error": code})
}

// WaitEvent returns the next event called name, dropping others.
func (c *Conn) WaitEvent(ctx context.Context, name string) (Event, error) {
	for {
		select {
		case ev := <-c.events:
			if ev.Name == name {
				return ev, nil
			}
		case <-c.closed:
			select {
			case ev := <-c.events:
				if ev.Name == name {
					return ev, nil
				}
				continue
			case <-time.After(100 * time.Millisecond):
			}
			return Event{}, fmt.Errorf("connection closed waiting for %s: %w", name, c.Err())
		case <-ctx.Done():
			return Event{}, fmt.Errorf("waiting for event %s: %w", name, ctx.Err())
		}
	}
}

// WaitIncoming returns the next server request (or cancel of one) called
// name, dropping others.
func (c *Conn) WaitIncoming(ctx context.Context, name string) (*Frame, error) {
	for {
		select {
		case f := <-c.requests:
			if f.Request == name || f.Cancel == name {
				return f, nil
			}
		case <-c.closed:
			select {
			case f := <-c.requests:
				if f.Request == name || f.Cancel == name {
					return f, nil
				}
				continue
			case <-time.After(100 * time.Millisecond):
			}
			return nil, fmt.Errorf("connection closed waiting for %s: %w", name, c.Err())
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for request %s: %w", name, ctx.Err())
		}
	}
}

// Close ends the connection with a close handshake.
func (c *Conn) Close() {
	c.ws.Close(websocket.StatusNormalClosure, "bye")
	<-c.closed
}

// Drop cuts the connection without a close handshake, as a lost network
// would (tests of removeAfter use it).
func (c *Conn) Drop() {
	c.ws.CloseNow()
	<-c.closed
}
