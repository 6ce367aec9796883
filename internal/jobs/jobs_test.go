package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openwac/wac/internal/jobs"
	"github.com/openwac/wac/internal/store"
	"github.com/openwac/wac/internal/store/storetest"
)

func eachDialect(t *testing.T, fn func(t *testing.T, st *store.SQL, dsn, dialect string)) {
	for _, d := range storetest.Dialects() {
		t.Run(storetest.Name(d), func(t *testing.T) {
			st, dsn := storetest.Open(t, d)
			fn(t, st, dsn, d)
		})
	}
}

func newRunner(t *testing.T, st store.Jobs, node string, lease time.Duration, reg prometheus.Registerer) *jobs.Runner {
	t.Helper()
	r, err := jobs.New(st, jobs.Options{Node: node, Lease: lease, Backoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		MaxAttempts: 3, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitRun runs r's due jobs until it ran want of them (a job waiting for
// its lease or backoff becomes due by itself).
func waitRun(t *testing.T, r *jobs.Runner, want int) {
	t.Helper()
	ran := 0
	deadline := time.Now().Add(10 * time.Second)
	for ran < want {
		ran += r.RunDue(context.Background())
		if time.Now().After(deadline) {
			t.Fatalf("ran %d jobs, want %d", ran, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A job claimed by a node that dies (its claim stays, it never finishes)
// runs on another node once the lease ran out, exactly once; the dead
// node's late report changes nothing.
func TestJobOfDeadNodeRunsOnceAfterLease(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL, _, _ string) {
		ctx := context.Background()
		var mu sync.Mutex
		runs := map[string]int{}
		handler := func(_ context.Context, j *store.Job) error {
			mu.Lock()
			defer mu.Unlock()
			runs[j.Payload]++
			return nil
		}
		b := newRunner(t, st, "node-b", 300*time.Millisecond, nil)
		b.Handle("mail", handler)
		id, err := b.Enqueue(ctx, "mail", "", time.Now(), "to-alice")
		if err != nil {
			t.Fatal(err)
		}
		// Node A claims it and dies.
		now := time.Now()
		ok, err := st.ClaimJob(ctx, id, "node-a", now.UnixMilli(), now.Add(300*time.Millisecond).UnixMilli())
		if err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if n := b.RunDue(ctx); n != 0 {
			t.Fatalf("node b ran %d jobs while node a's lease held", n)
		}
		waitRun(t, b, 1)
		if runs[`"to-alice"`] != 1 {
			t.Fatalf("runs %v", runs)
		}
		if err := st.FinishJob(ctx, id, "node-a"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the dead node's finish: %v, want not found", err)
		}
		if _, err := st.GetJob(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the finished job is still there: %v", err)
		}
		if n := b.RunDue(ctx); n != 0 {
			t.Fatalf("ran %d jobs again", n)
		}
	})
}

// Jobs survive a restart: a job stored by one process runs in the next.
func TestJobSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dsn := t.TempDir() + "/wac.db"
	st, err := store.Open(ctx, store.SQLite, dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx, discard()); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, st, "before", time.Minute, nil)
	if _, err := r.Enqueue(ctx, "reminder", "meeting:1", time.Now().Add(50*time.Millisecond), map[string]string{"id": "1"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = store.Open(ctx, store.SQLite, dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	after := newRunner(t, st, "after", time.Minute, nil)
	got := make(chan string, 1)
	after.Handle("reminder", func(_ context.Context, j *store.Job) error {
		var p struct{ ID string }
		if err := jobs.Decode(j, &p); err != nil {
			return err
		}
		got <- p.ID
		return nil
	})
	waitRun(t, after, 1)
	if id := <-got; id != "1" {
		t.Fatalf("payload id %q", id)
	}
}

// Two nodes polling one table run each job once.
func TestJobsRunOnceAcrossNodes(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL, _, _ string) {
		ctx := context.Background()
		var mu sync.Mutex
		runs := map[string]int{}
		total := 0
		handler := func(_ context.Context, j *store.Job) error {
			mu.Lock()
			defer mu.Unlock()
			runs[j.ID]++
			total++
			return nil
		}
		nodes := []*jobs.Runner{newRunner(t, st, "n1", time.Minute, nil), newRunner(t, st, "n2", time.Minute, nil)}
		for _, n := range nodes {
			n.Handle("k", handler)
		}
		const count = 60
		for i := range count {
			if _, err := nodes[0].Enqueue(ctx, "k", "", time.Now(), i); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 50 {
					n.RunDue(ctx)
				}
			}()
		}
		wg.Wait()
		if total != count || len(runs) != count {
			t.Fatalf("%d runs of %d jobs, want %d once each", total, len(runs), count)
		}
		for id, n := range runs {
			if n != 1 {
				t.Errorf("job %s ran %d times", id, n)
			}
		}
	})
}

// A failing job is retried after a backoff, keeps its error, and fails for
// good after its attempts; a permanent error fails it at once. The
// metrics count them.
func TestJobRetriesAndFailures(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL, _, _ string) {
		ctx := context.Background()
		reg := prometheus.NewRegistry()
		r := newRunner(t, st, "n", time.Minute, reg)
		attempts := 0
		r.Handle("flaky", func(context.Context, *store.Job) error {
			attempts++
			if attempts < 2 {
				return errors.New("connection refused")
			}
			return nil
		})
		r.Handle("broken", func(context.Context, *store.Job) error { return errors.New("always down") })
		r.Handle("bad", func(_ context.Context, j *store.Job) error {
			return fmt.Errorf("%w: bad address", jobs.Permanent)
		})
		flaky, _ := r.Enqueue(ctx, "flaky", "", time.Now(), nil)
		if n := r.RunDue(ctx); n != 1 {
			t.Fatalf("ran %d", n)
		}
		j, err := st.GetJob(ctx, flaky)
		if err != nil || j.Status != store.JobQueued || j.Attempts != 1 || !strings.Contains(j.LastError, "connection refused") || j.Due <= time.Now().UnixMilli()-5 {
			t.Fatalf("after a failure: %+v %v", j, err)
		}
		waitRun(t, r, 1)
		if attempts != 2 {
			t.Fatalf("attempts %d", attempts)
		}
		broken, _ := r.Enqueue(ctx, "broken", "", time.Now(), nil)
		waitRun(t, r, 3)
		if j, err := st.GetJob(ctx, broken); err != nil || j.Status != store.JobFailed || j.Attempts != 3 {
			t.Fatalf("after its attempts: %+v %v", j, err)
		}
		bad, _ := r.Enqueue(ctx, "bad", "", time.Now(), nil)
		unknown, _ := r.Enqueue(ctx, "nobody-handles-this", "", time.Now(), nil)
		waitRun(t, r, 2)
		for _, id := range []string{bad, unknown} {
			if j, err := st.GetJob(ctx, id); err != nil || j.Status != store.JobFailed || j.Attempts != 1 {
				t.Fatalf("a permanent failure: %+v %v", j, err)
			}
		}
		for kind, want := range map[string]float64{"broken": 1, "bad": 1, "nobody-handles-this": 1} {
			if got := metric(t, reg, "wac_jobs_failed_total", kind); got != want {
				t.Errorf("failed %s: %v", kind, got)
			}
		}
		if got := metric(t, reg, "wac_jobs_done_total", "flaky"); got != 1 {
			t.Errorf("done flaky: %v", got)
		}
		if got := metric(t, reg, "wac_jobs_retried_total", "broken"); got != 2 {
			t.Errorf("retried broken: %v", got)
		}
		if n, err := st.PurgeJobs(ctx, time.Now().Add(time.Second).UnixMilli()); err != nil || n != 3 {
			t.Errorf("purged %d failed jobs: %v", n, err)
		}
	})
}

// Cancelling a key drops its queued jobs only.
func TestCancelJobs(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL, _, _ string) {
		ctx := context.Background()
		r := newRunner(t, st, "n", time.Minute, nil)
		for _, k := range []string{"a", "a", "b"} {
			if _, err := r.Enqueue(ctx, "k", k, time.Now().Add(time.Hour), nil); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := st.CancelJobs(ctx, "a"); err != nil || n != 2 {
			t.Fatalf("cancelled %d: %v", n, err)
		}
		if c, err := st.CountJobs(ctx); err != nil || c[store.JobQueued] != 1 {
			t.Fatalf("left %v: %v", c, err)
		}
	})
}

// The backoff doubles from Backoff up to MaxBackoff.
func TestBackoff(t *testing.T) {
	r, err := jobs.New(nil, jobs.Options{Node: "n", Backoff: time.Second, MaxBackoff: 8 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 10: 8 * time.Second} {
		if got := r.Backoff(attempt); got < want || got > want+want/10 {
			t.Errorf("attempt %d: %v, want %v (+10%%)", attempt, got, want)
		}
	}
}

// metric is the value of a counter of the registry for a kind.
func metric(t *testing.T, reg *prometheus.Registry, name, kind string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A job whose nodes keep dying while they run it (claimed past its
// attempts) fails without running again.
func TestJobThatKillsItsNodesFails(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL, _, _ string) {
		ctx := context.Background()
		r := newRunner(t, st, "n", time.Minute, nil)
		ran := 0
		r.Handle("poison", func(context.Context, *store.Job) error { ran++; return nil })
		id, err := r.Enqueue(ctx, "poison", "", time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 { // MaxAttempts: three nodes claim it and die
			now := time.Now()
			if ok, err := st.ClaimJob(ctx, id, fmt.Sprintf("dead-%d", i), now.UnixMilli(), now.UnixMilli()); err != nil || !ok {
				t.Fatalf("claim %d: %v %v", i, ok, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
		waitRun(t, r, 1)
		if j, err := st.GetJob(ctx, id); err != nil || j.Status != store.JobFailed || ran != 0 || !strings.Contains(j.LastError, "without finishing") {
			t.Fatalf("job %+v (%v), ran %d", j, err, ran)
		}
	})
}
