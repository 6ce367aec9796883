package qss_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/grant"
)

func TestRoomOptions(t *testing.T) {
	tweak := func(c *config.Config) {
		c.Rooms.UserIDAsRoomID = true
		c.Rooms.UpdateRoomOwnerWhenLeaves = true
		c.Rooms.IdleTimeout = 300 * time.Millisecond
	}
	modes(t, tweak, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, au := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		a, b := connect(t, alice), connect(t, bob)
		// userIdAsRoomId: alice's room is named after her, and asking again
		// gives the same room.
		f, err := a.Request(ctx, "createRoom", map[string]any{"acl": []string{"bob"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := decodeRoom(t, f)
		if r.Room != "alice" || r.UUID != "alice" {
			t.Fatalf("room of alice is %q", r.Room)
		}
		f, err = a.Request(ctx, "createRoom", map[string]any{}, nil)
		if err != nil || decodeRoom(t, f).ID != r.ID {
			t.Fatalf("second createRoom: %v %s", err, f.Payload)
		}
		// A node that died with carol's room in it leaves its claim in the
		// shared state; carol's next createRoom takes the id over.
		carol, _ := c.user(1, "carol")
		cc := connect(t, carol)
		if _, err := c.nodes[0].Bus().KV().Put(ctx, "room.carol", []byte("n0000dead00")); err != nil {
			t.Fatal(err)
		}
		f, err = cc.Request(ctx, "createRoom", map[string]any{}, nil)
		if err != nil || decodeRoom(t, f).Room != "carol" {
			t.Fatalf("createRoom over the claim of a dead node: %v", err)
		}
		// The room token is a grant for this room and user, signed with the
		// cluster secret the media server checks.
		g, err := grant.Verify(c.nodes[0].Secret, r.Token, time.Now())
		if err != nil || g.Room != "alice" || g.User != au.ID || !g.Publish || !g.Subscribe {
			t.Fatalf("token grant %+v %v", g, err)
		}
		if _, err := grant.Verify([]byte("another secret"), r.Token, time.Now()); err == nil {
			t.Fatal("the token verifies with another secret")
		}
		a.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil)
		b.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil)
		// updateRoomOwnerWhenLeaves: bob owns the room once alice leaves.
		a.Request(ctx, "leaveRoom", map[string]any{"room": r.Room}, nil)
		ev := waitEventAbout(t, b, "roomUpdated", bu.ID)
		if !strings.Contains(string(ev.Payload), `"owner":"`+bu.ID+`"`) {
			t.Fatalf("roomUpdated %s", ev.Payload)
		}
		if _, err := b.Request(ctx, "updateRoom", map[string]any{"room": r.Room, "record": true}, nil); err != nil {
			t.Fatalf("the new owner cannot update: %v", err)
		}
		// rooms.idleTimeout: once empty, the room goes after the timeout
		// (checked each minute, so the test asks the node to check now).
		b.Request(ctx, "leaveRoom", map[string]any{"room": r.Room}, nil)
		time.Sleep(400 * time.Millisecond)
		for _, n := range c.nodes {
			n.Hub().Upkeep()
		}
		waitFor(t, func() bool {
			_, err := a.Request(ctx, "getRoom", map[string]any{"room": r.Room}, nil)
			return cancelCode(err) == 404
		})
	})
}

func TestNotInACall(t *testing.T) {
	tweak := func(c *config.Config) {
		c.Rooms.NotInACall = true
		c.ConferenceState.AllowInvitesWhileInCall = false
	}
	modes(t, tweak, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, _ := c.user(0, "alice")
		a := connect(t, alice)
		f, _ := a.Request(ctx, "createRoom", map[string]any{}, nil)
		a.Request(ctx, "joinRoom", map[string]any{"room": decodeRoom(t, f).Room}, nil)
		if _, err := a.Request(ctx, "createRoom", map[string]any{}, nil); cancelCode(err) != 486 {
			t.Fatalf("a user in a call created a second room: %v", err)
		}
	})
}

// pushRecorder records push invitations: it stands where the push service
// plugs into signaling (invites.basic.resolvePush).
type pushRecorder struct{ users chan string }

func (p *pushRecorder) PushInvitation(ctx context.Context, userID string, tokens []string, info map[string]any) (int, error) {
	p.users <- userID
	return len(tokens), nil
}

func (p *pushRecorder) PushInvitationEnded(context.Context, string, []string, map[string]any) (int, error) {
	return 0, nil
}

func TestResolvePushKeepsRingingForThePhone(t *testing.T) {
	push := &pushRecorder{users: make(chan string, 4)}
	c := newClusterWith(t, 1, func(cfg *config.Config) { cfg.Invites.Basic.ResolvePush = true }, push)
	ctx := tctx(t)
	alice, _ := c.user(0, "alice")
	bob, bu := c.user(0, "bob")
	a := connect(t, alice)
	cl := dial(t, a, "bob", nil)
	select {
	case u := <-push.users:
		if u != bu.ID {
			t.Fatalf("pushed to %s", u)
		}
	case <-ctx.Done():
		t.Fatal("no push for a callee without sessions")
	}
	silent(t, cl.ch, 200*time.Millisecond)
	// The phone wakes, connects and rings.
	b := connect(t, bob)
	b.Accept(ctx, ring(t, b), nil)
	if f := outcome(t, cl.ch); f.Answer != "invitation" {
		t.Fatalf("outcome %s", f.Raw)
	}
}

// wakingPhone is a push service whose push wakes the callee's phone at
// once: the phone connects before the push returns, and its session was
// rung by what rings its user once it answers a first request.
type wakingPhone struct {
	phone *client.Client
	conns chan *client.Conn
}

func (p *wakingPhone) PushInvitation(ctx context.Context, userID string, tokens []string, info map[string]any) (int, error) {
	conn, err := p.phone.Connect(ctx, client.ConnectOptions{Platform: "ios"})
	if err != nil {
		return 0, err
	}
	p.conns <- conn
	_, err = conn.Request(ctx, "getCurrentInvitations", nil, nil)
	return 1, err
}

func (p *wakingPhone) PushInvitationEnded(context.Context, string, []string, map[string]any) (int, error) {
	return 0, nil
}

// A phone woken by the push of an invitation rings even when it connects
// before the push returns: the invitation rings (for devices that connect)
// before it is pushed.
func TestPushedPhoneThatConnectsAtOnceRings(t *testing.T) {
	for _, nodes := range []int{1, 2} {
		t.Run(fmt.Sprintf("nodes=%d", nodes), func(t *testing.T) {
			push := &wakingPhone{conns: make(chan *client.Conn, 1)}
			c := newClusterWith(t, nodes, func(cfg *config.Config) { cfg.Invites.Basic.ResolvePush = true }, push)
			ctx := tctx(t)
			alice, _ := c.user(0, "alice")
			push.phone, _ = c.user(1, "bob")
			cl := dial(t, connect(t, alice), "bob", nil)
			var b *client.Conn
			select {
			case b = <-push.conns:
				t.Cleanup(b.Close)
			case f := <-cl.ch:
				t.Fatalf("no push; the caller got %s", f.Raw)
			}
			b.Accept(ctx, ring(t, b), nil)
			if f := outcome(t, cl.ch); f.Answer != "invitation" {
				t.Fatalf("outcome %s", f.Raw)
			}
		})
	}
}

// failingPush is a push service that reaches nobody.
type failingPush struct{}

func (failingPush) PushInvitation(context.Context, string, []string, map[string]any) (int, error) {
	return 0, errors.New("push service unavailable")
}

func (failingPush) PushInvitationEnded(context.Context, string, []string, map[string]any) (int, error) {
	return 0, errors.New("push service unavailable")
}

// A callee without a session whom no push reaches is not connected: the
// caller's invitation ends with 480.
func TestFailedPushEndsTheInvitation(t *testing.T) {
	c := newClusterWith(t, 1, func(cfg *config.Config) { cfg.Invites.Basic.ResolvePush = true }, failingPush{})
	alice, au := c.user(0, "alice")
	_, bu := c.user(0, "bob")
	cl := dial(t, connect(t, alice), "bob", nil)
	f := outcome(t, cl.ch)
	if f.Cancel != "invitation" || f.Error != 480 || f.Message != "not connected: the callee has no session" ||
		f.String("to") != bu.ID || f.String("from") != au.ID {
		t.Fatalf("outcome %s", f.Raw)
	}
}

func TestSeparateWebSocketListener(t *testing.T) {
	port := freePort(t)
	c := newCluster(t, 1, func(cfg *config.Config) { cfg.IO.Websockets.Port = port })
	alice, _ := c.user(0, "alice")
	ctx := tctx(t)
	conn, err := alice.Connect(ctx, client.ConnectOptions{URL: "ws://" + c.nodes[0].WebSocketAddr() + "/qss"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if !strings.HasSuffix(c.nodes[0].WebSocketAddr(), ":"+strconv.Itoa(port)) {
		t.Fatalf("listener on %s, want port %d", c.nodes[0].WebSocketAddr(), port)
	}
	if _, err := conn.Request(ctx, "createRoom", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
}

// A node that ran calls and stopped leaves no goroutine behind.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("calls", func(t *testing.T) {
		c := newCluster(t, 2, nil)
		ctx := tctx(t)
		alice, _ := c.user(0, "alice")
		bob, _ := c.user(1, "bob")
		a, b := connect(t, alice), connect(t, bob)
		for range 5 {
			cl := dial(t, a, "bob", nil)
			b.Accept(ctx, ring(t, b), nil)
			outcome(t, cl.ch)
			b.Request(ctx, "joinRoom", map[string]any{"room": cl.room.Room}, nil)
			a.Request(ctx, "destroyRoom", map[string]any{"room": cl.room.Room}, nil)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after the nodes stopped:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// A client that stops answering pings (a dead network) is noticed within
// qss.pingInterval + qss.pingTimeout and its session ends.
func TestDeadConnectionDetected(t *testing.T) {
	c := newCluster(t, 1, func(cfg *config.Config) {
		cfg.QSS.PingInterval, cfg.QSS.PingTimeout = time.Second, 500*time.Millisecond
	})
	alice, _ := c.user(0, "alice")
	ctx := tctx(t)
	// A raw WebSocket handshake, then silence: no pong ever comes back.
	addr := strings.TrimPrefix(c.urls[0], "http://")
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fmt.Fprintf(raw, "GET /qss?token=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", alice.AccessToken(), addr)
	status, _ := bufio.NewReader(raw).ReadString('\n')
	if !strings.Contains(status, "101") {
		t.Fatalf("handshake: %q", status)
	}
	var list []map[string]any
	waitFor(t, func() bool {
		alice.API(ctx, "GET", "/sapi/sessions", nil, &list)
		return len(list) == 1
	})
	start := time.Now()
	waitFor(t, func() bool {
		alice.API(ctx, "GET", "/sapi/sessions", nil, &list)
		return len(list) == 0
	})
	t.Logf("dead session removed after %v", time.Since(start))
}

// invites.basic.legacyUserGroupResolution false: as the seeds say,
// resolveGroups and resolvePush are ignored. Candidates are resolved in one
// step that gives the groups and the push devices too, so a group rings its
// participants and a callee without a session is pushed, whatever the two
// keys say. With it true (the default), they apply.
func TestLegacyUserGroupResolution(t *testing.T) {
	for _, tc := range []struct {
		nodes  int
		legacy bool
	}{{1, false}, {1, true}, {2, false}, {2, true}} {
		legacy := tc.legacy
		t.Run(fmt.Sprintf("nodes=%d,legacy=%v", tc.nodes, legacy), func(t *testing.T) {
			push := &pushRecorder{users: make(chan string, 4)}
			c := newClusterWith(t, tc.nodes, func(cfg *config.Config) {
				cfg.Invites.Basic.LegacyUserGroupResolution = legacy
				cfg.Invites.Basic.ResolveGroups = false
				cfg.Invites.Basic.ResolvePush = false
			}, push)
			ctx := tctx(t)
			alice, _ := c.user(0, "alice")
			bob, bu := c.user(1, "bob")
			carol, cu := c.user(1, "carol")
			if err := bob.API(ctx, "POST", "/sapi/usersGroup", map[string]any{"name": "support", "participants": []string{"bob", "carol"}}, nil); err != nil {
				t.Fatal(err)
			}
			a, cc := connect(t, alice), connect(t, carol)
			// A group: rung without resolveGroups only when it is ignored.
			cl := dial(t, a, "support", nil)
			if legacy {
				if f := outcome(t, cl.ch); f.Error != 404 {
					t.Fatalf("a group call with resolveGroups false: %s", f.Raw)
				}
			} else {
				cc.Accept(ctx, ring(t, cc), nil)
				if f := outcome(t, cl.ch); f.Answer != "invitation" {
					t.Fatalf("a group call: %s", f.Raw)
				}
				// The participants' phones, which have no session, were
				// woken too: bob's, and carol's beside her connected
				// session (another device).
				woken := map[string]bool{}
				for range 2 {
					select {
					case u := <-push.users:
						woken[u] = true
					case <-ctx.Done():
						t.Fatalf("the group call woke %v", woken)
					}
				}
				if !woken[bu.ID] || !woken[cu.ID] {
					t.Fatalf("the group call woke %v", woken)
				}
			}
			// Bob has no session: pushed only when resolvePush is ignored.
			cl = dial(t, a, "bob", nil)
			if legacy {
				if f := outcome(t, cl.ch); f.Error != 480 {
					t.Fatalf("a call to a user without a session, resolvePush false: %s", f.Raw)
				}
				return
			}
			select {
			case u := <-push.users:
				if u != bu.ID {
					t.Fatalf("pushed to %s", u)
				}
			case <-ctx.Done():
				t.Fatal("no push for a callee without sessions")
			}
			b := connect(t, bob)
			b.Accept(ctx, ring(t, b), nil)
			if f := outcome(t, cl.ch); f.Answer != "invitation" {
				t.Fatalf("the pushed call: %s", f.Raw)
			}
		})
	}
}
