package placement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/openwac/wac/internal/bus"
)

// BusDirectory is the media directory of a cluster: media nodes register in
// the bus's shared state (key media.<node>) and take commands on the
// subject wac.media.<node>, so a signaling node places rooms on any media
// node of the cluster.
//
// Listing the nodes is a key listing and a read per node; it is reused for
// listingTTL, so that placing a room costs no round trip to the shared
// state (new nodes are seen within that time; loads change only with
// heartbeats, seconds apart).
type BusDirectory struct {
	bus bus.Bus

	mu         sync.Mutex
	nodes      []NodeInfo
	listedAt   time.Time
	refreshing bool
}

const listingTTL = time.Second

// NewBusDirectory is the media directory over a cluster's bus.
func NewBusDirectory(b bus.Bus) *BusDirectory { return &BusDirectory{bus: b} }

// forget drops the cached listing: it may be wrong (a node registered,
// left, or did not answer).
func (d *BusDirectory) forget() {
	d.mu.Lock()
	d.nodes = nil
	d.mu.Unlock()
}

func mediaKey(id string) string     { return "media." + id }
func mediaSubject(id string) string { return "wac.media." + id }

// Heartbeat stores a node's info and load, stamped now.
func (d *BusDirectory) Heartbeat(ctx context.Context, n NodeInfo) error {
	n.Seen = time.Now()
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	_, err = d.bus.KV().Put(ctx, mediaKey(n.ID), b)
	d.forget()
	return err
}

// Leave removes a node that stops.
func (d *BusDirectory) Leave(ctx context.Context, id string) error {
	d.forget()
	return d.bus.KV().Delete(ctx, mediaKey(id))
}

// Nodes lists the registered media nodes: a listing at most listingTTL old.
// While one caller refreshes a stale listing, the others get the stale one
// instead of waiting.
func (d *BusDirectory) Nodes(ctx context.Context) ([]NodeInfo, error) {
	d.mu.Lock()
	if d.nodes != nil && (time.Since(d.listedAt) < listingTTL || d.refreshing) {
		nodes := d.nodes
		d.mu.Unlock()
		return nodes, nil
	}
	d.refreshing = true
	d.mu.Unlock()
	nodes, err := d.list(ctx)
	d.mu.Lock()
	d.refreshing = false
	if err == nil {
		d.nodes, d.listedAt = nodes, time.Now()
	}
	d.mu.Unlock()
	return nodes, err
}

func (d *BusDirectory) list(ctx context.Context) ([]NodeInfo, error) {
	keys, err := d.bus.KV().Keys(ctx, "media.")
	if err != nil {
		return nil, err
	}
	out := make([]NodeInfo, 0, len(keys))
	for _, k := range keys {
		v, _, err := d.bus.KV().Get(ctx, k)
		if errors.Is(err, bus.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var n NodeInfo
		if json.Unmarshal(v, &n) == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// Send delivers a command to a media node.
func (d *BusDirectory) Send(ctx context.Context, id string, cmd Command) (Reply, error) {
	b, err := json.Marshal(cmd)
	if err != nil {
		return Reply{}, err
	}
	raw, err := d.bus.Request(ctx, mediaSubject(id), b)
	if err != nil {
		d.forget() // the node may be gone: list again next time
	}
	if errors.Is(err, bus.ErrNoResponders) {
		return Reply{}, fmt.Errorf("send %s to %s: %w", cmd.Op, id, ErrNodeUnreachable)
	}
	if err != nil {
		return Reply{}, err
	}
	var r Reply
	if err := json.Unmarshal(raw, &r); err != nil {
		return Reply{}, fmt.Errorf("reply of media node %s: %w", id, err)
	}
	return r, nil
}

// Serve answers a media node's commands from its return on, until stop.
func (d *BusDirectory) Serve(id string, h func(context.Context, Command) Reply) (func(), error) {
	sub, err := d.bus.Serve(mediaSubject(id), func(ctx context.Context, data []byte) ([]byte, error) {
		var cmd Command
		if err := json.Unmarshal(data, &cmd); err != nil {
			return nil, fmt.Errorf("bad media command: %w", err)
		}
		return json.Marshal(h(ctx, cmd))
	})
	if err != nil {
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
