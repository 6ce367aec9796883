package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/bus/bustest"
	"github.com/openwac/wac/internal/qss/cluster"
)

// Every failed write of the shared state is counted by operation and
// logged with its key; a lost compare-and-set race is not a failure.
func TestStateWriteErrorsAreCountedAndLogged(t *testing.T) {
	ctx := context.Background()
	local := bus.NewLocal(bus.NewLocalNet(), "n1", func(string, []byte) {})
	t.Cleanup(func() { local.Close() })
	kv := &bustest.FailingKV{KV: local.KV()}
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	st, err := cluster.NewState(kv, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Create(ctx, "room.a", []byte("n1")); err != nil {
		t.Fatal(err)
	}
	if err := st.Create(ctx, "room.a", []byte("n2")); !errors.Is(err, bus.ErrExists) {
		t.Fatalf("second create: %v, want bus.ErrExists", err)
	}
	if err := st.Update(ctx, "room.a", []byte("n2"), 999); !errors.Is(err, bus.ErrConflict) {
		t.Fatalf("update at an old revision: %v, want bus.ErrConflict", err)
	}
	if got := writeErrors(t, reg); len(got) != 0 {
		t.Fatalf("lost races counted as write errors: %v", got)
	}

	kv.Fail.Store(true)
	writes := map[string]func() error{
		"put":       func() error { return st.Put(ctx, "node.n1", []byte("1")) },
		"create":    func() error { return st.Create(ctx, "room.b", []byte("n1")) },
		"update":    func() error { return st.Update(ctx, "room.a", []byte("n1"), 1) },
		"delete":    func() error { return st.Delete(ctx, "room.a") },
		"setPut":    func() error { return st.SetPut(ctx, "calls.u1", "room.a", "n1") },
		"setDelete": func() error { return st.SetDelete(ctx, "invites.u1", "i1") },
		"setChange": func() error { return st.SetChange(ctx, "sessions.u1", func(map[string]json.RawMessage) {}) },
	}
	for op, write := range writes {
		if err := write(); !errors.Is(err, bustest.ErrDown) {
			t.Errorf("%s: %v, want the KV's error", op, err)
		}
	}
	got := writeErrors(t, reg)
	for op := range writes {
		if got[op] != 1 {
			t.Errorf("wac_qss_state_write_errors_total{op=%q} = %v, want 1", op, got[op])
		}
		if !strings.Contains(logs.String(), "op="+op+" ") {
			t.Errorf("no log line for the failed %s:\n%s", op, logs.String())
		}
	}
	if !strings.Contains(logs.String(), `msg="qss: cluster state write failed" op=setPut key=calls.u1 err="bustest: the key-value store is down"`) {
		t.Errorf("the log line does not name the operation, key and error:\n%s", logs.String())
	}
}

// writeErrors reads wac_qss_state_write_errors_total by op.
func writeErrors(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range families {
		if mf.GetName() != "wac_qss_state_write_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return got
}
