package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/logging"
)

// collector is a node inbox that records what arrives.
type collector struct {
	mu   sync.Mutex
	msgs []string
	cond chan struct{}
}

func newCollector() *collector { return &collector{cond: make(chan struct{}, 1000)} }

func (c *collector) inbox(subject string, data []byte) {
	c.mu.Lock()
	c.msgs = append(c.msgs, subject+"="+string(data))
	c.mu.Unlock()
	c.cond <- struct{}{}
}

// wait returns the first n messages, failing after a while.
func (c *collector) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		if len(c.msgs) >= n {
			out := append([]string{}, c.msgs...)
			c.mu.Unlock()
			return out
		}
		c.mu.Unlock()
		select {
		case <-c.cond:
		case <-deadline:
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("got %d messages %v, want %d", len(c.msgs), c.msgs, n)
		}
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// cluster makes two connected nodes of one implementation.
type cluster func(t *testing.T, a, b bus.Inbox) (bus.Bus, bus.Bus)

func implementations(t *testing.T) map[string]cluster {
	return map[string]cluster{
		"local": func(t *testing.T, a, b bus.Inbox) (bus.Bus, bus.Bus) {
			net := bus.NewLocalNet()
			na, nb := bus.NewLocal(net, "a", a), bus.NewLocal(net, "b", b)
			t.Cleanup(func() { na.Close(); nb.Close() })
			return na, nb
		},
		"nats": func(t *testing.T, a, b bus.Inbox) (bus.Bus, bus.Bus) {
			srv, err := bus.StartEmbedded("127.0.0.1", -1, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Shutdown)
			ctx := context.Background()
			na, err := bus.DialNATS(ctx, srv.URL(), "a", a, logging.Discard(), bus.NATSOptions{})
			if err != nil {
				t.Fatal(err)
			}
			nb, err := bus.DialNATS(ctx, srv.URL(), "b", b, logging.Discard(), bus.NATSOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { na.Close(); nb.Close() })
			return na, nb
		},
	}
}

func eachBus(t *testing.T, fn func(t *testing.T, a, b bus.Bus, ca, cb *collector)) {
	for name, mk := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			ca, cb := newCollector(), newCollector()
			a, b := mk(t, ca.inbox, cb.inbox)
			fn(t, a, b, ca, cb)
		})
	}
}

func TestPublishSubscribe(t *testing.T) {
	eachBus(t, func(t *testing.T, a, b bus.Bus, ca, cb *collector) {
		ctx := context.Background()
		sa, _ := a.Subscribe("wac.u.alice")
		b.Subscribe("wac.u.alice")
		b.Subscribe("wac.u.bob")
		flush(t, a, b)
		for i := range 100 {
			a.Publish(ctx, "wac.u.alice", []byte(fmt.Sprint(i)))
		}
		b.Publish(ctx, "wac.u.bob", []byte("x"))
		got := cb.wait(t, 101)
		// In order per publisher and subject.
		n := 0
		for _, m := range got {
			if m == fmt.Sprintf("wac.u.alice=%d", n) {
				n++
			}
		}
		if n != 100 {
			t.Fatalf("node b got alice's messages out of order: %v", got)
		}
		if len(ca.wait(t, 100)) != 100 {
			t.Fatal("node a missed messages")
		}
		sa.Unsubscribe()
		flush(t, a, b)
		a.Publish(ctx, "wac.u.alice", []byte("after"))
		cb.wait(t, 102)
		time.Sleep(50 * time.Millisecond)
		if ca.count() != 100 {
			t.Fatal("an unsubscribed node still receives")
		}
	})
}

// flush makes sure subscriptions reached the server before publishing.
func flush(t *testing.T, nodes ...bus.Bus) {
	for _, n := range nodes {
		if f, ok := n.(interface{ Flush() error }); ok {
			if err := f.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestRequestReply(t *testing.T) {
	eachBus(t, func(t *testing.T, a, b bus.Bus, ca, cb *collector) {
		ctx := context.Background()
		b.Serve("wac.n.b", func(ctx context.Context, data []byte) ([]byte, error) {
			if string(data) == "fail" {
				return nil, errors.New("room is full")
			}
			return append([]byte("echo:"), data...), nil
		})
		flush(t, a, b)
		got, err := a.Request(ctx, "wac.n.b", []byte("hi"))
		if err != nil || string(got) != "echo:hi" {
			t.Fatalf("request: %q %v", got, err)
		}
		_, err = a.Request(ctx, "wac.n.b", []byte("fail"))
		var re *bus.RemoteError
		if !errors.As(err, &re) || re.Msg != "room is full" {
			t.Fatalf("remote error: %v", err)
		}
		if _, err := a.Request(ctx, "wac.n.nobody", []byte("x")); !errors.Is(err, bus.ErrNoResponders) {
			t.Fatalf("no responders: %v", err)
		}
	})
}

func TestKV(t *testing.T) {
	eachBus(t, func(t *testing.T, a, b bus.Bus, ca, cb *collector) {
		ctx := context.Background()
		kv, other := a.KV(), b.KV()
		if _, _, err := kv.Get(ctx, "room.r1"); !errors.Is(err, bus.ErrNotFound) {
			t.Fatalf("get missing: %v", err)
		}
		rev, err := kv.Create(ctx, "room.r1", []byte("a"))
		if err != nil {
			t.Fatal(err)
		}
		// Ownership: the second node cannot take the room.
		if _, err := other.Create(ctx, "room.r1", []byte("b")); !errors.Is(err, bus.ErrExists) {
			t.Fatalf("second create: %v", err)
		}
		v, r2, err := other.Get(ctx, "room.r1")
		if err != nil || string(v) != "a" || r2 != rev {
			t.Fatalf("b reads %q@%d %v", v, r2, err)
		}
		// Compare-and-set.
		rev2, err := kv.Update(ctx, "room.r1", []byte("a2"), rev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Update(ctx, "room.r1", []byte("stale"), rev); !errors.Is(err, bus.ErrConflict) {
			t.Fatalf("stale update: %v", err)
		}
		if _, err := other.Update(ctx, "room.r1", []byte("b2"), rev2); err != nil {
			t.Fatal(err)
		}
		// Concurrent compare-and-set increments lose nothing.
		kv.Put(ctx, "count", []byte("0"))
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				store := kv
				if i%2 == 1 {
					store = other
				}
				for {
					v, rev, err := store.Get(ctx, "count")
					if err != nil {
						t.Error(err)
						return
					}
					var n int
					fmt.Sscan(string(v), &n)
					if _, err := store.Update(ctx, "count", []byte(fmt.Sprint(n+1)), rev); err == nil {
						return
					} else if !errors.Is(err, bus.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if v, _, _ := kv.Get(ctx, "count"); string(v) != "10" {
			t.Fatalf("count = %s after 10 increments", v)
		}
		kv.Put(ctx, "sess.u1.s1", []byte("x"))
		kv.Put(ctx, "sess.u1.s2", []byte("x"))
		kv.Put(ctx, "sess.u2.s3", []byte("x"))
		keys, err := other.Keys(ctx, "sess.u1.")
		if err != nil || len(keys) != 2 {
			t.Fatalf("keys: %v %v", keys, err)
		}
		kv.Delete(ctx, "room.r1")
		if _, _, err := kv.Get(ctx, "room.r1"); !errors.Is(err, bus.ErrNotFound) {
			t.Fatalf("deleted: %v", err)
		}
		if _, err := other.Create(ctx, "room.r1", []byte("b")); err != nil {
			t.Fatalf("create after delete: %v", err)
		}
		if _, err := kv.Put(ctx, "bad key", nil); err == nil {
			t.Fatal("invalid key accepted")
		}
		keys, _ = kv.Keys(ctx, "nothing.")
		if len(keys) != 0 {
			t.Fatalf("empty prefix listed %v", keys)
		}
	})
}
