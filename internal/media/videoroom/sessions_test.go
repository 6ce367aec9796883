package videoroom_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
)

// fromAddr is an HTTP client whose connections come from the loopback
// address ip (127.0.0.x), so that the SFU sees another client address.
func fromAddr(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// dialFrom opens a Janus WebSocket from the loopback address ip.
func (n *testNode) dialFrom(ctx context.Context, t *testing.T, ip string) *janus.Client {
	t.Helper()
	c, err := janus.DialWith(ctx, n.ws, fromAddr(t, ip))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// create sends a create without a token and returns the new session's id,
// or the error the server answered with.
func create(ctx context.Context, t *testing.T, c *janus.Client) (uint64, *janus.Error) {
	t.Helper()
	r, err := c.Do(ctx, janus.Message{Janus: "create"}, false)
	var e *janus.Error
	if errors.As(err, &e) {
		return 0, e
	}
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil || d.ID == 0 {
		t.Fatalf("create: answer without session id: %s", r.Data)
	}
	return d.ID, nil
}

// alive reports whether session id answers a keepalive on c.
func alive(ctx context.Context, t *testing.T, c *janus.Client, id uint64) bool {
	t.Helper()
	_, err := c.Do(ctx, janus.Message{Janus: "keepalive", SessionID: id}, false)
	var e *janus.Error
	switch {
	case err == nil:
		return true
	case errors.As(err, &e) && e.Code == janus.ErrSessionNotFound:
		return false
	}
	t.Fatalf("keepalive of session %d: %v", id, err)
	return false
}

// joins has a client from ip create a session, attach to the VideoRoom and
// join room as a publisher with a grant: given at create when atCreate
// (Janus token auth), else in the join as janus.js apps do.
func (n *testNode) joins(ctx context.Context, t *testing.T, ip, room, user string, atCreate bool) *janus.Session {
	t.Helper()
	c := n.dialFrom(ctx, t, ip)
	tok := token(room, user, true, true)
	core, body := "", tok
	if atCreate {
		core, body = tok, ""
	}
	sess, err := c.CreateSessionToken(ctx, core)
	if err != nil {
		t.Fatalf("%s from %s: create: %v", user, ip, err)
	}
	h, err := sess.Attach(ctx, janus.VideoRoom)
	if err != nil {
		t.Fatalf("%s from %s: attach: %v", user, ip, err)
	}
	if _, err := peer.JoinPublisher(ctx, h, room, body, user); err != nil {
		t.Fatalf("%s from %s: join: %v", user, ip, err)
	}
	return sess
}

// A flood of sessions that show no room grant, from one address and from
// several, does not take the node's sessions from clients with a grant:
// those create, attach and join, whether they give the grant at create or
// in the join. The sessions without a grant stay within
// media.maxPendingSessions, the oldest ending first.
func TestUngrantedFloodLeavesRoomForGrantedClients(t *testing.T) {
	checkGoroutines(t)
	cfg := testMediaConfig(t)
	cfg.MaxSessions = 8
	cfg.MaxPendingSessions = 6
	cfg.MaxPendingSessionsPerAddress = 3
	n := startSFU(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	flood := func(ip string, conns, creates int) (ids []uint64, refused int, last *janus.Error) {
		t.Helper()
		for range conns {
			c := n.dialFrom(ctx, t, ip)
			for range creates {
				sid, e := create(ctx, t, c)
				switch {
				case e == nil:
					ids = append(ids, sid)
				case e.Code == janus.ErrNotAcceptingSessions:
					refused++
					last = e
				default:
					t.Fatalf("create from %s: %v", ip, e)
				}
			}
		}
		return ids, refused, last
	}

	// One address: 20 creates on two WebSockets. Three are taken
	// (maxPendingSessionsPerAddress), the others refused.
	first, refused, e := flood("127.0.0.1", 2, 10)
	if len(first) != 3 || refused != 17 {
		t.Fatalf("flood from one address: %d sessions, %d refused; want 3 and 17", len(first), refused)
	}
	if !strings.Contains(e.Reason, "media.maxPendingSessionsPerAddress") {
		t.Errorf("refusal reason %q does not name the limit", e.Reason)
	}
	n.joins(ctx, t, "127.0.0.1", id, "alice", true)
	n.joins(ctx, t, "127.0.0.7", id, "bob", false)

	// Four more addresses, three sessions each: past maxPendingSessions
	// the oldest sessions without a grant end.
	for i := 2; i <= 5; i++ {
		ip := fmt.Sprintf("127.0.0.%d", i)
		if ids, refused, _ := flood(ip, 1, 5); len(ids) != 3 || refused != 2 {
			t.Fatalf("flood from %s: %d sessions, %d refused; want 3 and 2", ip, len(ids), refused)
		}
	}
	n.joins(ctx, t, "127.0.0.1", id, "carol", true)
	n.joins(ctx, t, "127.0.0.6", id, "dave", false)

	if l := n.sfu.Load(); l.Sessions > cfg.MaxPendingSessions+4 {
		t.Errorf("%d sessions: more than maxPendingSessions %d and the 4 granted ones", l.Sessions, cfg.MaxPendingSessions)
	}
	probe := n.dialFrom(ctx, t, "127.0.0.1")
	for _, sid := range first {
		if alive(ctx, t, probe, sid) {
			t.Errorf("session %d, among the oldest without a grant, still lives", sid)
		}
	}
}

// An address holds at most media.maxPendingSessionsPerAddress sessions
// without a grant, over both transports; a session that shows its grant,
// or ends, gives its place back.
func TestPendingSessionsPerAddress(t *testing.T) {
	checkGoroutines(t)
	cfg := testMediaConfig(t)
	cfg.MaxPendingSessionsPerAddress = 2
	n := startSFU(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	post := func(hc *http.Client) janus.Message {
		t.Helper()
		resp, err := hc.Post(n.http, "application/json", strings.NewReader(`{"janus":"create","transaction":"r"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m janus.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("POST create: %s", b)
		}
		return m
	}
	refused := func(what string, e *janus.Error) {
		t.Helper()
		if e == nil || e.Code != janus.ErrNotAcceptingSessions || !strings.Contains(e.Reason, "media.maxPendingSessionsPerAddress") {
			t.Fatalf("%s: %v, want 472 naming media.maxPendingSessionsPerAddress", what, e)
		}
	}

	c := n.dialFrom(ctx, t, "127.0.0.1")
	sess, err := c.CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, e := create(ctx, t, c)
	if e != nil {
		t.Fatal(e)
	}
	_, e = create(ctx, t, c)
	refused("a third session over the WebSocket", e)
	refused("a third session over REST", post(fromAddr(t, "127.0.0.1")).Error)
	if m := post(fromAddr(t, "127.0.0.2")); m.Janus != "success" {
		t.Fatalf("create from another address: %+v", m)
	}

	h, err := sess.Attach(ctx, janus.VideoRoom)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.JoinPublisher(ctx, h, id, token(id, "alice", true, true), "Alice"); err != nil {
		t.Fatal(err)
	}
	if _, e := create(ctx, t, c); e != nil {
		t.Fatalf("create after a session showed its grant: %v", e)
	}
	_, e = create(ctx, t, c)
	refused("create with two sessions again without a grant", e)
	if _, err := c.Do(ctx, janus.Message{Janus: "destroy", SessionID: other}, false); err != nil {
		t.Fatal(err)
	}
	if _, e := create(ctx, t, c); e != nil {
		t.Fatalf("create after a session ended: %v", e)
	}
}

// A session that shows no room grant within media.grantTimeout ends with
// a timeout event, handles and all, over WebSocket and REST; a session
// that joined with its grant in that time stays.
func TestSessionWithoutGrantTimesOut(t *testing.T) {
	checkGoroutines(t)
	cfg := testMediaConfig(t)
	cfg.GrantTimeout = 2 * time.Second // room for the granted session to join first, on a loaded machine
	n := startSFU(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	granted := n.joins(ctx, t, "127.0.0.1", id, "alice", false)

	c, err := janus.Dial(ctx, n.ws)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	idle, err := c.CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := idle.Attach(ctx, janus.VideoRoom)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(n.http, "application/json", strings.NewReader(`{"janus":"create","transaction":"r"}`))
	if err != nil {
		t.Fatal(err)
	}
	var m janus.Message
	json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	var d struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(m.Data, &d); err != nil || d.ID == 0 {
		t.Fatalf("REST create: %+v", m)
	}
	polled := make(chan janus.Message, 1)
	go func() {
		var ev janus.Message
		if resp, err := http.Get(fmt.Sprintf("%s/%d", n.http, d.ID)); err == nil {
			json.NewDecoder(resp.Body).Decode(&ev)
			resp.Body.Close()
		}
		polled <- ev
	}()

	select {
	case ev := <-idle.Events():
		if ev.Janus != "timeout" || ev.SessionID != idle.ID {
			t.Fatalf("event of the session without a grant: %+v, want timeout", ev)
		}
	case <-ctx.Done():
		t.Fatal("the session without a grant did not time out")
	}
	if _, err := h.WaitEvent(ctx, func(m janus.Message) bool { return m.Janus == "detached" }); err != nil {
		t.Fatalf("its handle: %v", err)
	}
	if alive(ctx, t, c, idle.ID) {
		t.Fatal("the session without a grant answers a keepalive after its timeout")
	}
	if ev := <-polled; ev.Janus != "timeout" || ev.SessionID != d.ID {
		t.Fatalf("long poll of the REST session without a grant: %+v, want timeout", ev)
	}
	if !alive(ctx, t, c, granted.ID) {
		t.Fatal("the session that joined with its grant timed out")
	}
}

// Sessions that hold a grant are bounded by media.maxSessions: past it a
// create with a grant and a join that would grant one more session are
// refused with 472, while sessions without a grant still open.
func TestGrantedSessionsBoundedByMaxSessions(t *testing.T) {
	checkGoroutines(t)
	cfg := testMediaConfig(t)
	cfg.MaxSessions = 2
	n := startSFU(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	first := n.joins(ctx, t, "127.0.0.1", id, "alice", true)
	n.joins(ctx, t, "127.0.0.1", id, "bob", true)

	c := n.dialFrom(ctx, t, "127.0.0.1")
	_, err := c.CreateSessionToken(ctx, token(id, "carol", true, true))
	var e *janus.Error
	if !errors.As(err, &e) || e.Code != janus.ErrNotAcceptingSessions || !strings.Contains(e.Reason, "media.maxSessions") {
		t.Fatalf("a third session with a grant: %v, want 472 naming media.maxSessions", err)
	}
	sess, err := c.CreateSession(ctx)
	if err != nil {
		t.Fatalf("a session without a grant when the granted ones are full: %v", err)
	}
	h, err := sess.Attach(ctx, janus.VideoRoom)
	if err != nil {
		t.Fatal(err)
	}
	_, err = peer.JoinPublisher(ctx, h, id, token(id, "carol", true, true), "Carol")
	var pe *janus.PluginError
	if !errors.As(err, &pe) || pe.Code != janus.ErrNotAcceptingSessions || !strings.Contains(pe.Reason, "media.maxSessions") {
		t.Fatalf("a join past maxSessions: %v, want 472 naming media.maxSessions", err)
	}
	if err := first.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.JoinPublisher(ctx, h, id, token(id, "carol", true, true), "Carol"); err != nil {
		t.Fatalf("a join once a granted session ended: %v", err)
	}
}

// A session without a grant holds few handles (each is a worker on the
// node) until it shows one.
func TestPendingSessionHandles(t *testing.T) {
	checkGoroutines(t)
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := janus.Dial(ctx, n.ws)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var first *janus.Handle
	for i := range 4 {
		h, err := sess.Attach(ctx, janus.VideoRoom)
		if err != nil {
			t.Fatalf("handle %d of a session without a grant: %v", i+1, err)
		}
		if first == nil {
			first = h
		}
	}
	_, err = sess.Attach(ctx, janus.VideoRoom)
	var e *janus.Error
	if !errors.As(err, &e) || e.Code != janus.ErrPluginAttach || !strings.Contains(e.Reason, "room grant") {
		t.Fatalf("a fifth handle without a grant: %v, want 461 naming the room grant", err)
	}
	if _, err := peer.JoinPublisher(ctx, first, id, token(id, "alice", true, true), "Alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Attach(ctx, janus.VideoRoom); err != nil {
		t.Fatalf("a fifth handle once the session showed its grant: %v", err)
	}
}
