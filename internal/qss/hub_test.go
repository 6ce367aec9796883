package qss_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/bus/bustest"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/server"
)

// bareHub is a Hub started on its own, without a node: on the local bus
// of one node, whose key-value store can fail (kv.Fail).
type bareHub struct {
	*qss.Hub
	kv   *bustest.FailingKV
	reg  *prometheus.Registry
	logs *syncBuffer
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
	b := &bareHub{kv: &bustest.FailingKV{KV: local.KV()}, reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(b.logs, nil))
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

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
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
