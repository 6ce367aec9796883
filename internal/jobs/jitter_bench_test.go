package jobs_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/internal/jobs"
	"github.com/openwac/wac/internal/store"
	"github.com/openwac/wac/internal/store/storetest"
)

// BenchmarkReminderJitter schedules 10,000 jobs (as 10,000 meetings'
// reminders) due over 20 seconds and measures how late each one runs
// after its due time: p50, p99 and the worst, on SQLite, one node.
//
//	go test ./internal/jobs -run '^$' -bench ReminderJitter -benchtime 1x
func BenchmarkReminderJitter(b *testing.B) {
	const count, spread = 10000, 20 * time.Second
	for range b.N {
		st, _ := storetest.Open(b, store.SQLite)
		r, err := jobs.New(st, jobs.Options{Node: "n"})
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var late []time.Duration
		done := make(chan struct{})
		r.Handle("meeting-reminder", func(_ context.Context, j *store.Job) error {
			d := time.Since(time.UnixMilli(j.Due))
			mu.Lock()
			defer mu.Unlock()
			late = append(late, d)
			if len(late) == count {
				close(done)
			}
			return nil
		})
		ctx := context.Background()
		start := time.Now().Add(5 * time.Second)
		err = st.InTx(ctx, func(tx store.Store) error {
			for i := range count {
				due := start.Add(time.Duration(i) * spread / count)
				if _, err := jobs.Enqueue(ctx, tx, "meeting-reminder", "", due, map[string]int{"i": i}, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			r.Run(rctx)
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			b.Fatalf("%d of %d jobs ran", len(late), count)
		}
		cancel()
		<-stopped
		slices.Sort(late)
		b.ReportMetric(float64(late[len(late)/2].Milliseconds()), "p50-ms")
		b.ReportMetric(float64(late[len(late)*99/100].Milliseconds()), "p99-ms")
		b.ReportMetric(float64(late[len(late)-1].Milliseconds()), "max-ms")
	}
}
