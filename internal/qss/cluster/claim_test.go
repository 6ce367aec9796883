package cluster_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/qss/cluster"
	"github.com/openwac/wac/internal/qss/tasks"
)

// newNodes joins n nodes to one local bus network.
func newNodes(t *testing.T, n int) []*cluster.Node {
	t.Helper()
	ctx := context.Background()
	net := bus.NewLocalNet()
	var nodes []*cluster.Node
	for i := range n {
		b := bus.NewLocal(net, "n"+strconv.Itoa(i+1), func(string, []byte) {})
		t.Cleanup(func() { b.Close() })
		st, err := cluster.NewState(b.KV(), slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		g := tasks.New(ctx)
		node, err := cluster.New(ctx, b, st, g)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, node)
	}
	return nodes
}

// One node holds a claim at a time: the others are refused while it is
// alive, one takes it once it is released, and a claim of a node that
// stopped beating is taken over.
func TestClaimHasOneHolder(t *testing.T) {
	ctx := context.Background()
	nodes := newNodes(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]

	// Claimed at once by all three: one holder.
	var mu sync.Mutex
	var holders []string
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := n.Claim(ctx, "sipreg.u1")
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				holders = append(holders, n.ID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(holders) != 1 {
		t.Fatalf("holders of one claim: %v", holders)
	}
	holder := map[string]*cluster.Node{a.ID: a, b.ID: b, c.ID: c}[holders[0]]
	if ok, err := holder.Claim(ctx, "sipreg.u1"); err != nil || !ok {
		t.Fatalf("the holder claiming again: %v %v", ok, err)
	}
	others := []*cluster.Node{}
	for _, n := range nodes {
		if n != holder {
			others = append(others, n)
		}
	}
	// Another claim is another key.
	if ok, err := others[0].Claim(ctx, "sipreg.u2"); err != nil || !ok {
		t.Fatalf("a claim of another name: %v %v", ok, err)
	}

	// A release by a node that does not hold it changes nothing.
	if err := others[0].Release(ctx, "sipreg.u1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := others[1].Claim(ctx, "sipreg.u1"); ok {
		t.Fatal("claimed while its live holder has it")
	}
	// Released: the next claimant holds it.
	if err := holder.Release(ctx, "sipreg.u1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := others[1].Claim(ctx, "sipreg.u1"); err != nil || !ok {
		t.Fatalf("claim after the release: %v %v", ok, err)
	}
	if ok, _ := holder.Claim(ctx, "sipreg.u1"); ok {
		t.Fatal("the former holder claimed it back from a live holder")
	}

	// A holder that stopped beating loses it to the next claimant.
	stale := strconv.FormatInt(time.Now().Add(-2*cluster.AliveWithin).UnixMilli(), 10)
	if err := others[1].State.Put(ctx, "node."+others[1].ID, []byte(stale)); err != nil {
		t.Fatal(err)
	}
	if ok, err := others[0].Claim(ctx, "sipreg.u1"); err != nil || !ok {
		t.Fatalf("claim of a dead node's: %v %v", ok, err)
	}
	if ok, _ := holder.Claim(ctx, "sipreg.u1"); ok {
		t.Fatal("two nodes took over the dead node's claim")
	}
}
