package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/node"
	"github.com/openwac/wac/internal/server"
)

const adminPassword = "admin-secret-1"

// testServer is a node with the api and signaling roles on loopback.
type testServer struct {
	url   string
	admin *client.Client
	stop  func() // shuts the node down as wac serve does on a signal
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Roles = []string{"api", "signaling"}
	cfg.Password.Memory, cfg.Password.Iterations = 8*1024, 1
	cfg.HTTP.DDoSProtection = false
	cfg.Log.Level = "error"
	cfg.Wiface.Public = config.Iface{Iface: "127.0.0.1", Port: freePort(t)}
	cfg.TURN.Enabled = false
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	nd, err := node.New(context.Background(), &cfg, logging.Discard(), node.Options{Options: server.Options{
		Out: io.Discard, Environ: []string{server.AdminPasswordEnv + "=" + adminPassword}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nd.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			nd.Close()
		})
	}
	t.Cleanup(stop)
	admin, err := client.Login(tctx(t), nd.PublicURL(), "admin@wac", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{url: nd.PublicURL(), admin: admin, stop: stop}
}

// user creates username@wac (password username-password) and logs it in.
func (s *testServer) user(t *testing.T, username string) (*client.Client, string) {
	t.Helper()
	var u struct {
		ID string `json:"id"`
	}
	if err := s.admin.API(tctx(t), "POST", "/sapi/users", map[string]any{"username": username, "password": username + "-password"}, &u); err != nil {
		t.Fatalf("create %s: %v", username, err)
	}
	cl, err := client.Login(tctx(t), s.url, username+"@wac", username+"-password")
	if err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	return cl, u.ID
}

func connect(t *testing.T, cl *client.Client, opts client.ConnectOptions) *client.Conn {
	t.Helper()
	conn, err := cl.Connect(tctx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	// Should a bug leave the reader stuck on a frame nobody reads, unstick
	// it before the connection is closed, so that the test fails, not hangs.
	t.Cleanup(func() {
		go func() {
			for {
				select {
				case <-conn.Events():
				case <-conn.Incoming():
				case <-conn.Done():
					return
				}
			}
		}()
	})
	return conn
}

// tctx bounds a test's waits, so that a bug fails the test instead of
// hanging it; nothing is measured against it.
func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantAPIError(t *testing.T, err error, status int) *client.APIError {
	t.Helper()
	var e *client.APIError
	if !errors.As(err, &e) || e.Status != status {
		t.Fatalf("error %v, want an APIError with status %d", err, status)
	}
	return e
}

// me reads the user of the client's token.
func me(ctx context.Context, cl *client.Client) (username, role string, err error) {
	var u struct {
		Username string `json:"username"`
		Role     string `json:"role"`
	}
	err = cl.API(ctx, "GET", "/sapi/users/me", nil, &u)
	return u.Username, u.Role, err
}

// Login gives a client whose token the API takes; the API's refusals come
// back as *APIError with the status and the answer's fields.
func TestLoginAndAPIErrors(t *testing.T) {
	s := startServer(t)
	ctx := tctx(t)
	alice, _ := s.user(t, "alice")
	if alice.AccessToken() == "" {
		t.Fatal("no access token")
	}
	if name, role, err := me(ctx, alice); err != nil || name != "alice" || role != "user" {
		t.Fatalf("me: %q %q %v", name, role, err)
	}

	_, err := client.Login(ctx, s.url, "alice@wac", "wrong-password")
	e := wantAPIError(t, err, 400)
	if e.Code != 400 || e.OAuth != "invalid_grant" || e.Message != "invalid username or password" {
		t.Fatalf("wrong password: %+v", e)
	}
	if e.Error() != "400 invalid username or password" {
		t.Fatalf("Error() = %q", e.Error())
	}

	err = s.admin.API(ctx, "POST", "/sapi/users", map[string]any{"password": "some-password"}, nil)
	if e := wantAPIError(t, err, 422); e.Field != "username" || !strings.Contains(e.Message, "username") {
		t.Fatalf("missing username: %+v, want the field named", e)
	}
	err = alice.API(ctx, "GET", "/sapi/alarms", nil, nil)
	wantAPIError(t, err, 403)

	// An error answer that is not JSON keeps its text as the message.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream is down", http.StatusBadGateway)
	}))
	defer plain.Close()
	_, err = client.Login(ctx, plain.URL, "alice@wac", "alice-password")
	if e := wantAPIError(t, err, 502); e.Message != "upstream is down" {
		t.Fatalf("plain-text error: message %q", e.Message)
	}
}

// LoginAnonymous logs a visitor into a domain that takes them, with or
// without the "@".
func TestLoginAnonymous(t *testing.T) {
	s := startServer(t)
	ctx := tctx(t)
	if err := s.admin.API(ctx, "POST", "/sapi/domains", map[string]any{"domain": "visitors", "enableAnonymous": true}, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"visitors", "@visitors"} {
		v, err := client.LoginAnonymous(ctx, s.url, name)
		if err != nil {
			t.Fatalf("anonymous login to %q: %v", name, err)
		}
		if _, role, err := me(ctx, v); err != nil || role != "anonymous" {
			t.Fatalf("anonymous visitor of %q: role %q, %v", name, role, err)
		}
	}
	_, err := client.LoginAnonymous(ctx, s.url, "wac")
	if e := wantAPIError(t, err, 400); e.OAuth != "invalid_grant" {
		t.Fatalf("anonymous login to a closed domain: %+v", e)
	}
}

// Refresh replaces the tokens (the old access token stops working);
// Logout ends them.
func TestRefreshAndLogout(t *testing.T) {
	s := startServer(t)
	ctx := tctx(t)
	alice, _ := s.user(t, "alice")
	old := alice.AccessToken()
	if err := alice.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if alice.AccessToken() == old || alice.AccessToken() == "" {
		t.Fatal("refresh kept the access token")
	}
	if _, _, err := me(ctx, alice); err != nil {
		t.Fatalf("refreshed token: %v", err)
	}
	stale := &client.Client{BaseURL: s.url, HTTP: http.DefaultClient}
	err := stale.API(ctx, "GET", "/sapi/users/me", nil, nil)
	wantAPIError(t, err, 401)
	// The refresh token was replaced too: a second refresh works.
	if err := alice.Refresh(ctx); err != nil {
		t.Fatalf("second refresh: %v", err)
	}

	if err := alice.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	_, _, err = me(ctx, alice)
	wantAPIError(t, err, 401)
	err = alice.Refresh(ctx)
	if e := wantAPIError(t, err, 400); e.OAuth != "invalid_grant" {
		t.Fatalf("refresh after logout: %+v", e)
	}
}

// tracer records the frames a connection sends and receives.
type tracer struct {
	mu     sync.Mutex
	frames []string
}

func (tr *tracer) trace(sent bool, frame []byte) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	dir := "recv"
	if sent {
		dir = "sent"
	}
	tr.frames = append(tr.frames, dir+" "+string(frame))
}

func (tr *tracer) all() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.frames...)
}

// Connect waits for the session event, takes the session's id and node
// from it, and keeps it off the Events channel; Request gets the answer,
// or a *CancelError for a cancel.
func TestConnectAndRequest(t *testing.T) {
	s := startServer(t)
	alice, aliceID := s.user(t, "alice")
	ctx := tctx(t)
	tr := &tracer{}
	conn := connect(t, alice, client.ConnectOptions{Platform: "test", Language: "gl", Trace: tr.trace})
	if conn.Session == "" || conn.Node == "" {
		t.Fatalf("session %q on node %q", conn.Session, conn.Node)
	}
	if frames := tr.all(); len(frames) != 1 || !strings.HasPrefix(frames[0], "recv ") || !strings.Contains(frames[0], `"eventName":"session"`) {
		t.Fatalf("frames before Connect returned: %q, want the session event", frames)
	}

	f, err := conn.Request(ctx, "updateSession", map[string]any{"location": "Vigo"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		ID       string `json:"id"`
		User     string `json:"user"`
		Platform string `json:"platform"`
		Language string `json:"language"`
		Location string `json:"location"`
	}
	if err := json.Unmarshal(f.Payload, &info); err != nil {
		t.Fatal(err)
	}
	if f.Answer != "updateSession" || info.ID != conn.Session || info.User != aliceID ||
		info.Platform != "test" || info.Language != "gl" || info.Location != "Vigo" {
		t.Fatalf("updateSession answer %s", f.Raw)
	}
	if f.String("answer") != "updateSession" || f.String("requestID") != f.RequestID || f.String("nothing") != "" {
		t.Fatalf("frame fields: answer %q, requestID %q", f.String("answer"), f.String("requestID"))
	}
	if err := f.Field("nothing", new(string)); err == nil {
		t.Fatal("Field of a missing field: no error")
	}
	if !strings.HasPrefix(f.RequestID, "go-"+conn.Session+"-") {
		t.Fatalf("requestID %q", f.RequestID)
	}

	f, err = conn.Request(ctx, "unknownThing", nil, map[string]any{"extra": 1})
	var ce *client.CancelError
	if !errors.As(err, &ce) || ce.Code != 405 || !strings.Contains(ce.Message, "unknownThing") || ce.Frame != f || f.Cancel != "unknownThing" {
		t.Fatalf("unknown request: %v (frame %+v), want a 405 CancelError", err, f)
	}
	if ce.Error() != fmt.Sprintf("405 %s", ce.Message) {
		t.Fatalf("CancelError.Error() = %q", ce.Error())
	}
	sent := 0
	for _, fr := range tr.all() {
		if strings.HasPrefix(fr, "sent ") {
			sent++
		}
	}
	if sent != 2 {
		t.Fatalf("trace saw %d frames sent, want 2", sent)
	}
	if _, err := conn.StartMessage(ctx, map[string]any{"request": "updateSession"}); err == nil {
		t.Fatal("StartMessage without a requestID: no error")
	}
	// Nothing but what the test caused reached Events: the session event was kept off.
	select {
	case ev := <-conn.Events():
		t.Fatalf("event %s %s delivered", ev.Name, ev.Payload)
	default:
	}
}

// roomOf reads the room id of a createRoom answer.
func roomOf(t *testing.T, f *client.Frame) string {
	t.Helper()
	var p struct {
		Room string `json:"room"`
	}
	if err := json.Unmarshal(f.Payload, &p); err != nil || p.Room == "" {
		t.Fatalf("createRoom answer %s: %v", f.Raw, err)
	}
	return p.Room
}

// call is alice calling bob: a room with bob in its ACL, alice in it.
type call struct {
	aliceClient *client.Client
	alice, bob  *client.Conn
	bobID       string
	room        string
}

func newCall(t *testing.T, s *testServer) *call {
	t.Helper()
	ctx := tctx(t)
	alice, _ := s.user(t, "alice")
	bob, bobID := s.user(t, "bob")
	c := &call{aliceClient: alice, alice: connect(t, alice, client.ConnectOptions{}), bob: connect(t, bob, client.ConnectOptions{}), bobID: bobID}
	f, err := c.alice.Request(ctx, "createRoom", map[string]any{"acl": []string{"bob"}}, nil)
	if err != nil {
		t.Fatalf("alice creates a room: %v", err)
	}
	c.room = roomOf(t, f)
	if _, err := c.alice.Request(ctx, "joinRoom", map[string]any{"room": c.room}, nil); err != nil {
		t.Fatalf("alice joins her room: %v", err)
	}
	return c
}

func (c *call) invite(t *testing.T) (string, <-chan *client.Frame) {
	t.Helper()
	id, ch, err := c.alice.Start(tctx(t), "invitation", map[string]any{"room": c.room, "mediatypes": map[string]bool{"audio": true}}, map[string]any{"to": "bob"})
	if err != nil {
		t.Fatal(err)
	}
	return id, ch
}

// The server's requests arrive on Incoming, its events on Events: bob is
// rung and accepts, alice gets the answer and follows the invitation's
// state in events.
func TestInvitationAccepted(t *testing.T) {
	s := startServer(t)
	c := newCall(t, s)
	ctx := tctx(t)
	_, answer := c.invite(t)
	var ring *client.Frame
	select {
	case ring = <-c.bob.Incoming():
	case <-ctx.Done():
		t.Fatal("bob was not rung")
	}
	if ring.Request != "invitation" || ring.RequestID == "" || ring.String("to") != c.bobID {
		t.Fatalf("bob got %s", ring.Raw)
	}
	if err := c.bob.Accept(ctx, ring, nil); err != nil {
		t.Fatal(err)
	}
	f, err := c.alice.Await(ctx, answer)
	if err != nil {
		t.Fatal(err)
	}
	if f.Answer != "invitation" || f.String("whoAccepted") != c.bobID || f.String("session") != c.bob.Session {
		t.Fatalf("alice got %s", f.Raw)
	}
	var states []string
	for len(states) < 2 {
		ev, err := c.alice.WaitEvent(ctx, "outgoingInvitation")
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			State string `json:"state"`
		}
		if err := ev.Decode(&p); err != nil {
			t.Fatal(err)
		}
		states = append(states, p.State)
	}
	if states[0] != "ringing" || states[1] != "accepted" {
		t.Fatalf("outgoingInvitation states %v, want ringing then accepted", states)
	}
}

// A declined invitation is an answer with an error code: Await returns it
// as a *CancelError. A cancelled one reaches the callee's Incoming as a
// cancel, which WaitIncoming matches by name.
func TestInvitationDeclinedAndCancelled(t *testing.T) {
	s := startServer(t)
	c := newCall(t, s)
	ctx := tctx(t)

	_, answer := c.invite(t)
	ring, err := c.bob.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.bob.Decline(ctx, ring, 486); err != nil {
		t.Fatal(err)
	}
	f, err := c.alice.Await(ctx, answer)
	var ce *client.CancelError
	if !errors.As(err, &ce) || ce.Code != 486 || f == nil || f.Answer != "invitation" {
		t.Fatalf("declined invitation: %v, %+v; want a 486 CancelError", err, f)
	}

	id, answer := c.invite(t)
	if _, err := c.bob.WaitIncoming(ctx, "invitation"); err != nil {
		t.Fatal(err)
	}
	if err := c.alice.CancelRequest(ctx, "invitation", id); err != nil {
		t.Fatal(err)
	}
	stop, err := c.bob.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	if stop.Cancel != "invitation" || stop.Error != 487 {
		t.Fatalf("bob got %s, want the cancel of the ringing (487)", stop.Raw)
	}
	if _, err := c.alice.Await(ctx, answer); !errors.As(err, &ce) || ce.Code != 487 {
		t.Fatalf("cancelled invitation: %v, want a 487 CancelError", err)
	}
}

// Events queue while the app does not read them: the connection keeps
// reading, so answers still arrive; the events then come in order.
func TestUnreadEventsDoNotBlockAnswers(t *testing.T) {
	s := startServer(t)
	c := newCall(t, s)
	ctx := tctx(t)
	const n = 20
	for i := range n {
		record := i%2 == 0
		if _, err := c.alice.Request(ctx, "updateRoom", map[string]any{"room": c.room, "record": record}, nil); err != nil {
			t.Fatalf("update %d with %d events unread: %v", i, i, err)
		}
	}
	for i := range n {
		ev, err := c.alice.WaitEvent(ctx, "roomUpdated")
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Record bool `json:"record"`
		}
		if err := ev.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Record != (i%2 == 0) {
			t.Fatalf("event %d: record %v, out of order", i, p.Record)
		}
	}
}

// WaitEvent skips other events, and gives up when its context ends or the
// connection closes.
func TestWaitEvent(t *testing.T) {
	s := startServer(t)
	c := newCall(t, s)
	ctx := tctx(t)
	if _, err := c.bob.Request(ctx, "joinRoom", map[string]any{"room": c.room}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.alice.Request(ctx, "updateRoom", map[string]any{"room": c.room, "record": true}, nil); err != nil {
		t.Fatal(err)
	}
	// participantAdded (bob) came first; WaitEvent drops it.
	ev, err := c.alice.WaitEvent(ctx, "roomUpdated")
	if err != nil || ev.Name != "roomUpdated" {
		t.Fatalf("WaitEvent: %v %v", ev.Name, err)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.alice.WaitEvent(ended, "roomUpdated"); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "roomUpdated") {
		t.Fatalf("WaitEvent with an ended context: %v", err)
	}
	if _, err := c.alice.WaitIncoming(ended, "invitation"); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitIncoming with an ended context: %v", err)
	}
	c.alice.Close()
	if _, err := c.alice.WaitEvent(ctx, "roomUpdated"); err == nil || !strings.Contains(err.Error(), "connection closed") {
		t.Fatalf("WaitEvent on a closed connection: %v", err)
	}
}

// OnEvent takes the events instead of the Events channel.
func TestOnEvent(t *testing.T) {
	s := startServer(t)
	alice, _ := s.user(t, "alice")
	ctx := tctx(t)
	got := make(chan client.Event, 16)
	conn := connect(t, alice, client.ConnectOptions{OnEvent: func(ev client.Event) { got <- ev }})
	f, err := conn.Request(ctx, "createRoom", map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	room := roomOf(t, f)
	for _, req := range []string{"joinRoom", "updateRoom"} {
		if _, err := conn.Request(ctx, req, map[string]any{"room": room, "record": true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for names := []string{}; len(names) == 0 || names[len(names)-1] != "roomUpdated"; {
		select {
		case ev := <-got:
			names = append(names, ev.Name)
		case <-ctx.Done():
			t.Fatalf("OnEvent got %v, and no roomUpdated", names)
		}
	}
	select {
	case ev := <-conn.Events():
		t.Fatalf("%s reached Events too", ev.Name)
	default:
	}
}

// When the server stops, Done closes and Err says why (1001 going away);
// a request waiting for its answer ends, and the events that arrived
// before stay readable.
func TestServerClose(t *testing.T) {
	s := startServer(t)
	c := newCall(t, s) // alice's remoteParticipants event is left unread
	ctx := tctx(t)
	_, pending := c.invite(t)
	if _, err := c.bob.WaitIncoming(ctx, "invitation"); err != nil {
		t.Fatal(err)
	}
	s.stop()
	select {
	case <-c.alice.Done():
	case <-ctx.Done():
		t.Fatal("Done did not close when the server stopped")
	}
	if code := websocket.CloseStatus(c.alice.Err()); code != websocket.StatusGoingAway {
		t.Fatalf("Err %v (close code %d), want 1001 going away", c.alice.Err(), code)
	}
	if f, err := c.alice.Await(ctx, pending); err == nil || !strings.Contains(err.Error(), "connection closed") {
		t.Fatalf("Await of a ringing invitation after the server stopped: %+v, %v", f, err)
	}
	if ev, err := c.alice.WaitEvent(ctx, "remoteParticipants"); err != nil {
		t.Fatalf("an event received before the close: %v", err)
	} else if ev.Name != "remoteParticipants" {
		t.Fatalf("WaitEvent gave %s", ev.Name)
	}
	if _, err := c.alice.Request(ctx, "updateSession", map[string]any{}, nil); err == nil {
		t.Fatal("Request on a closed connection: no error")
	}
	if _, err := c.aliceClient.Connect(ctx, client.ConnectOptions{}); err == nil {
		t.Fatal("Connect to a stopped server: no error")
	}
}

// A dropped connection resumes its session with ConnectOptions.Resume and
// a token of the same login (refreshed here): the same id, the rooms kept.
func TestResume(t *testing.T) {
	s := startServer(t)
	c := newCall(t, s)
	ctx := tctx(t)
	old := c.alice.Session
	c.alice.Drop()
	select {
	case <-c.alice.Done():
	default:
		t.Fatal("Drop returned before the connection ended")
	}
	if err := c.aliceClient.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	tr := &tracer{}
	conn := connect(t, c.aliceClient, client.ConnectOptions{Resume: old, Trace: tr.trace})
	if conn.Session != old {
		t.Fatalf("resumed session %q, want %q", conn.Session, old)
	}
	if frames := tr.all(); len(frames) == 0 || !strings.Contains(frames[0], `"resumed":true`) {
		t.Fatalf("session event %q, want resumed", frames)
	}
	// Still in the room: an update reaches her as a participant.
	if _, err := conn.Request(ctx, "updateRoom", map[string]any{"room": c.room, "record": true}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.WaitEvent(ctx, "roomUpdated"); err != nil {
		t.Fatal(err)
	}
}
