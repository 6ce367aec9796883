package qss_test

import (
	"context"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/bus/bustest"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/logging/logtest"
	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/server"
)

// bareHub is a Hub started on its own, without a node: on the local bus
// of one node, whose key-value store can fail (kv.Fail).
type bareHub struct {
	*qss.Hub
	kv   *bustest.FailingKV
	reg  *prometheus.Registry
	logs *logtest.Buffer
}

func startBareHub(t *testing.T) *bareHub {
	t.Helper()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(ctx, &cfg, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var inbox atomic.Pointer[bus.Inbox]
	local := bus.NewLocal(bus.NewLocalNet(), "n1", func(subject string, data []byte) {
		if in := inbox.Load(); in != nil {
			(*in)(subject, data)
		}
	})
	b := &bareHub{kv: &bustest.FailingKV{KV: local.KV()}, reg: prometheus.NewRegistry(), logs: &logtest.Buffer{}}
	log := b.logs.Logger()
	b.Hub, err = qss.New(qss.Options{Config: &cfg, Log: log, Store: st, Auth: auth.New(st, &cfg, log),
		Bus: func(in bus.Inbox) (bus.Bus, error) {
			inbox.Store(&in)
			return bustest.Bus{Bus: local, Store: b.kv}, nil
		},
		Secret: []byte("cluster-secret"), Registry: b.reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// metrics is the hub's metrics as /metrics shows them.
func (b *bareHub) metrics() string {
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// The heartbeat and the node's leaving are writes of the shared state
// whose failures were dropped: they are logged and counted.
func TestClusterStateWriteErrorsAreCounted(t *testing.T) {
	h := startBareHub(t)
	h.kv.Fail.Store(true)
	waitFor(t, func() bool { return strings.Contains(h.metrics(), `wac_qss_state_write_errors_total{op="put"}`) })
	if !strings.Contains(h.logs.String(), `msg="qss: cluster state write failed" op=put key=node.n1`) {
		t.Errorf("no log line for the failed heartbeat:\n%s", h.logs.String())
	}
	h.Close()
	if m := h.metrics(); !strings.Contains(m, `wac_qss_state_write_errors_total{op="delete"} 1`) {
		t.Errorf("the failed delete of the node's key is not counted:\n%s", m)
	}
	if !strings.Contains(h.logs.String(), `op=delete key=node.n1`) {
		t.Errorf("no log line for the failed delete of the node's key:\n%s", h.logs.String())
	}
}

// hubGoroutines lists the goroutines running code of the signaling hub
// (internal/qss and its layers, but for the wire types the client uses
// too).
func hubGoroutines() []string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, line := range strings.Split(g, "\n") {
			if strings.HasPrefix(line, "github.com/openwac/wac/internal/qss") &&
				!strings.HasPrefix(line, "github.com/openwac/wac/internal/qss_test.") &&
				!strings.HasPrefix(line, "github.com/openwac/wac/internal/qss/wire.") {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// slowPush is a push service that answers only when the hub's work is
// cancelled; pushing tells on pushing.
type slowPush struct{ pushing chan string }

func (p slowPush) PushInvitation(ctx context.Context, userID string, tokens []string, info map[string]any) (int, error) {
	p.pushing <- userID
	<-ctx.Done()
	return 0, ctx.Err()
}

func (p slowPush) PushInvitationEnded(ctx context.Context, userID string, tokens []string, info map[string]any) (int, error) {
	return 0, nil
}

// Hub.Close returns only once every goroutine of the hub returned: the
// readers and writers of the connections, the requests they serve (here an
// invitation waiting for a slow push service), the periodic work, the work
// of timers and notifications.
func TestCloseWaitsForTheHubsGoroutines(t *testing.T) {
	push := slowPush{pushing: make(chan string, 1)}
	c := newClusterWith(t, 1, func(cfg *config.Config) {
		cfg.Rooms.RemoveAfter, cfg.Invites.Basic.RemoveAfter = time.Minute, time.Minute
		cfg.Invites.Basic.ResolvePush = true
	}, push)
	alice, _ := c.user(0, "alice")
	bob, _ := c.user(0, "bob")
	c.user(0, "carol") // no session: she is pushed
	a, b := connect(t, alice), connect(t, bob)
	dial(t, a, "bob", nil)
	ring(t, b)
	for range 10 {
		connect(t, bob)
	}
	dial(t, a, "carol", nil)
	<-push.pushing
	c.nodes[0].Hub().Close()
	if g := hubGoroutines(); len(g) > 0 {
		t.Fatalf("Close returned while %d goroutines of the hub ran:\n%s", len(g), strings.Join(g, "\n\n"))
	}
}
