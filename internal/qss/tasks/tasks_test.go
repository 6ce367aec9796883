package tasks_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openwac/wac/internal/qss/tasks"
)

// Close cancels the root context and returns only after every task
// returned, however the task was started; after it no task starts.
func TestCloseWaitsForTasks(t *testing.T) {
	g := tasks.New(context.Background())
	var done atomic.Int32
	slow := func(ctx context.Context) {
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // work after the cancel, that Close must wait for
		done.Add(1)
	}
	started := make(chan struct{}, 3)
	g.Go(func(ctx context.Context) { started <- struct{}{}; slow(ctx) })
	g.AfterFunc(0, func(ctx context.Context) { started <- struct{}{}; slow(ctx) })
	go g.Do(func(ctx context.Context) { started <- struct{}{}; slow(ctx) })
	for range 3 {
		<-started
	}
	g.Close()
	if n := done.Load(); n != 3 {
		t.Fatalf("Close returned with %d of 3 tasks still running", 3-n)
	}
	if g.Context().Err() == nil {
		t.Error("the root context is not cancelled after Close")
	}
	ran := false
	if g.Go(func(context.Context) { ran = true }) || g.Do(func(context.Context) { ran = true }) || ran {
		t.Error("a task started after Close")
	}
}
