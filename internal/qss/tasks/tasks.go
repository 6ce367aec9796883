// Package tasks runs the goroutines of a signaling hub so that none
// outlives it: each gets the hub's root context, which Close cancels, and
// Close returns only once every one has returned. Work that other
// goroutines hand to the hub (a bus delivery, a call of another node) runs
// under Do, and is refused once the hub closes.
package tasks

import (
	"context"
	"sync"
	"time"
)

// Group is the goroutines of one hub.
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// New starts a group whose root context derives from parent's values (not
// its cancellation: only Close ends the group).
func New(parent context.Context) *Group {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	return &Group{ctx: ctx, cancel: cancel}
}

// Context is the root context, cancelled when Close starts waiting.
func (g *Group) Context() context.Context { return g.ctx }

// enter counts one more running task, unless the group is closed.
func (g *Group) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// Go runs fn in a goroutine of the group and reports whether it did: after
// Close it does not.
func (g *Group) Go(fn func(ctx context.Context)) bool {
	if !g.enter() {
		return false
	}
	go func() {
		defer g.wg.Done()
		fn(g.ctx)
	}()
	return true
}

// Do runs fn in the calling goroutine as a task of the group (Close waits
// for it) and reports whether it did: after Close it does not.
func (g *Group) Do(fn func(ctx context.Context)) bool {
	if !g.enter() {
		return false
	}
	defer g.wg.Done()
	fn(g.ctx)
	return true
}

// AfterFunc runs fn in a goroutine of the group after d, unless the timer
// is stopped or the group closed by then.
func (g *Group) AfterFunc(d time.Duration, fn func(ctx context.Context)) *time.Timer {
	return time.AfterFunc(d, func() { g.Go(fn) })
}

// Every runs fn every period in a goroutine of the group until it closes.
func (g *Group) Every(period time.Duration, fn func(ctx context.Context)) {
	g.Go(func(ctx context.Context) {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn(ctx)
			}
		}
	})
}

// Close refuses new tasks, cancels the root context and waits for the
// running tasks to return.
func (g *Group) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}
