package qss_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
)

// rawSession opens a bare WebSocket to node i%n as cl (resuming session
// when it is not empty) and returns it with its session event's payload.
func rawSession(t *testing.T, c *cluster, i int, cl *client.Client, session string) (net.Conn, map[string]any) {
	t.Helper()
	ctx := tctx(t)
	u := strings.Replace(c.urls[i%len(c.urls)], "http", "ws", 1) + "/qss?token=" + cl.AccessToken()
	if session != "" {
		u += "&session=" + session
	}
	raw, br, _, err := ws.Dial(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	var conn net.Conn = raw
	if br != nil { // frames that came with the handshake's answer
		conn = bufferedConn{raw, br}
	}
	t.Cleanup(func() { conn.Close() })
	ev := rawRead(t, conn)
	if ev["type"] != "event" {
		t.Fatalf("first frame %v, want the session event", ev)
	}
	return conn, ev["payload"].(map[string]any)["payload"].(map[string]any)
}

// bufferedConn reads through the reader that holds what came with the
// handshake.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// rawRead reads the next frame the server sends on a bare WebSocket.
func rawRead(t *testing.T, conn net.Conn) map[string]any {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	data, err := wsutil.ReadServerText(conn)
	if err != nil {
		t.Fatalf("read a frame: %v", err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("frame %s: %v", data, err)
	}
	return f
}

// rawRequest sends a request on a bare WebSocket and reads frames until
// its answer.
func rawRequest(t *testing.T, conn net.Conn, name string, payload any) {
	t.Helper()
	frame, _ := json.Marshal(map[string]any{"request": name, "requestID": "raw-" + name, "payload": payload})
	if err := wsutil.WriteClientText(conn, frame); err != nil {
		t.Fatal(err)
	}
	for {
		f := rawRead(t, conn)
		if f["requestID"] != "raw-"+name {
			continue
		}
		if f["answer"] != name {
			t.Fatalf("%s: %v", name, f)
		}
		return
	}
}

// sessionOf finds a session in the user's GET /sapi/sessions.
func sessionOf(ctx context.Context, t *testing.T, cl *client.Client, id string) (map[string]any, bool) {
	t.Helper()
	var list []map[string]any
	if err := cl.API(ctx, "GET", "/sapi/sessions", nil, &list); err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s["id"] == id {
			return s, true
		}
	}
	return nil, false
}

// A client that closes its connection on purpose, with close code 1000
// (normal closure: the app is done) or 1001 (going away: the browser leaves
// the page), has left: its session ends at once and leaves its rooms as a
// hang-up (code 200), instead of lingering "connected: false" for
// removeAfter waiting for a resume that will not come. A connection that
// drops, or closes with another code or none, still waits to be resumed.
func TestDeliberateCloseEndsSession(t *testing.T) {
	const long = 10 * time.Minute // removeAfter far beyond the test's deadline
	modes(t, func(c *config.Config) { c.Rooms.RemoveAfter = long; c.Invites.Basic.RemoveAfter = long }, func(t *testing.T, c *cluster) {
		alice, _ := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		a := connect(t, alice)
		for _, tc := range []struct {
			name  string
			close []byte // the close frame's body; nil: no close frame at all
			left  bool
		}{
			{"normal closure", ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"), true},
			{"going away", ws.NewCloseFrameBody(ws.StatusGoingAway, ""), true},
			{"another code", ws.NewCloseFrameBody(4000, "network change"), false},
			{"close without a code", []byte{}, false},
			{"dropped", nil, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := tctx(t)
				f, err := a.Request(ctx, "createRoom", map[string]any{"acl": []string{"bob"}}, nil)
				if err != nil {
					t.Fatal(err)
				}
				r := decodeRoom(t, f)
				if _, err := a.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil); err != nil {
					t.Fatal(err)
				}
				conn, ev := rawSession(t, c, 1, bob, "")
				session := ev["session"].(string)
				rawRequest(t, conn, "joinRoom", map[string]any{"room": r.Room})
				if _, err := a.WaitEvent(ctx, "participantAdded"); err != nil {
					t.Fatal(err)
				}
				if tc.close == nil {
					conn.Close()
				} else if err := ws.WriteFrame(conn, ws.MaskFrame(ws.NewCloseFrame(tc.close))); err != nil {
					t.Fatal(err)
				}
				if !tc.left {
					// Listed as disconnected, and resumable with its room.
					waitFor(t, func() bool { // the session listed as disconnected
						s, ok := sessionOf(ctx, t, bob, session)
						if !ok {
							t.Fatalf("the session ended; it should wait removeAfter for a resume")
						}
						return s["connected"] == false
					})
					conn, ev = rawSession(t, c, 1, bob, session)
					if ev["session"] != session || ev["resumed"] != true {
						t.Fatalf("resume: %v, want session %s resumed", ev, session)
					}
					// Leaving now ends it, and the room is left below.
					ws.WriteFrame(conn, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
				}
				ev2, err := a.WaitEvent(ctx, "participantRemoved")
				if err != nil {
					t.Fatal(err)
				}
				var removed struct {
					Participant string `json:"participant"`
					Code        int    `json:"code"`
				}
				json.Unmarshal(ev2.Payload, &removed)
				if removed.Participant != bu.ID || removed.Code != 200 {
					t.Fatalf("participantRemoved %s, want bob leaving with 200", ev2.Payload)
				}
				waitFor(t, func() bool { // the session gone from GET /sapi/sessions
					_, ok := sessionOf(ctx, t, bob, session)
					return !ok
				})
			})
		}
	})
}
