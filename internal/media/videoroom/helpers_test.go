package videoroom_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/grant"
	"github.com/openwac/wac/internal/logging/logtest"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/videoroom"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// checkGoroutines fails the test when goroutines started during it are
// still running shortly after its cleanups.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(30 * time.Second) // Pion ends some goroutines of a closed peer connection late
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d running, %d before the test\n%s", n, before, buf)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func testMediaConfig(t *testing.T) config.Media {
	cfg := config.Default().Media
	cfg.ListenIP = "127.0.0.1"
	cfg.UDPPort = freeUDPPort(t)
	return cfg
}

type testNode struct {
	sfu  *videoroom.SFU
	ws   string
	http string
	logs *logtest.Buffer
}

// startSFU runs an SFU behind a real HTTP server on loopback.
func startSFU(t *testing.T, cfg config.Media) *testNode {
	t.Helper()
	return startSFUWith(t, cfg, videoroom.Options{})
}

// startSFUWith is startSFU with options (the secret and the log are the
// test's).
func startSFUWith(t *testing.T, cfg config.Media, opts videoroom.Options) *testNode {
	t.Helper()
	logs := &logtest.Buffer{}
	opts.Secret = testSecret
	opts.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := videoroom.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		s.Close()
		srv.Close()
		if t.Failed() {
			t.Logf("media server log:\n%s", logs.String())
		}
	})
	return &testNode{sfu: s, ws: "ws" + strings.TrimPrefix(srv.URL, "http") + "/janus", http: srv.URL + "/janus", logs: logs}
}

func token(room, user string, publish, subscribe bool) string {
	return grant.Sign(testSecret, grant.Grant{Room: room, User: user, Publish: publish, Subscribe: subscribe,
		Expires: time.Now().Add(time.Hour).Unix()})
}

func testAPI(t *testing.T) *webrtc.API {
	t.Helper()
	api, err := peer.NewAPI(peer.APIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// client dials the node and opens a session with one VideoRoom handle.
// publishAlice joins room id as alice on a client of her own and
// publishes codec until the media server has her peer connection up; the
// caller closes the publisher.
func (n *testNode) publishAlice(ctx context.Context, t *testing.T, api *webrtc.API, id, codec string,
	iceServers []webrtc.ICEServer, relayOnly bool) (*janus.Handle, peer.Joined, *peer.Publisher) {
	t.Helper()
	_, h := n.client(ctx, t)
	j, err := peer.JoinPublisher(ctx, h, id, token(id, "alice", true, true), "Alice")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := peer.Publish(ctx, api, h, codec, iceServers, relayOnly)
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.Active(ctx, h, pub.PC); err != nil {
		pub.Close()
		t.Fatal(err)
	}
	return h, j, pub
}

func (n *testNode) client(ctx context.Context, t *testing.T) (*janus.Client, *janus.Handle) {
	t.Helper()
	c, err := janus.Dial(ctx, n.ws)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := c.CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Attach(ctx, janus.VideoRoom)
	if err != nil {
		t.Fatal(err)
	}
	return c, h
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func roomID(t *testing.T) string {
	return fmt.Sprintf("%x", time.Now().UnixNano()) + strings.Repeat("a", 48)
}

// publishing joins user to room as a publisher and publishes VP8 and Opus
// until the test ends, once connected.
func (n *testNode) publishing(ctx context.Context, t *testing.T, api *webrtc.API, room any, user string) (peer.Joined, *peer.Publisher) {
	t.Helper()
	_, h := n.client(ctx, t)
	roomID := fmt.Sprint(room)
	j, err := peer.JoinPublisher(ctx, h, room, token(roomID, user, true, true), user)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := peer.Publish(ctx, api, h, "vp8", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	if err := peer.Active(ctx, h, pub.PC); err != nil {
		t.Fatalf("%s's publication: %v", user, err)
	}
	return j, pub
}
