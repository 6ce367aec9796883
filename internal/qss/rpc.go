package qss

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/store"
)

// The services of a node that other nodes call: operations on the rooms
// and on the invitations it owns.
const (
	serviceRooms   = "rooms"
	serviceInvites = "invites"
)

// serveRoom runs another node's operation on a room this node owns.
func (h *Hub) serveRoom(ctx context.Context, req json.RawMessage) (any, error) {
	var op roomOp
	if err := json.Unmarshal(req, &op); err != nil {
		return nil, fmt.Errorf("bad room operation: %w", err)
	}
	return h.rooms.apply(ctx, op)
}

// serveInvite runs another node's operation on an invitation this node
// owns.
func (h *Hub) serveInvite(ctx context.Context, req json.RawMessage) (any, error) {
	var op inviteOp
	if err := json.Unmarshal(req, &op); err != nil {
		return nil, fmt.Errorf("bad invitation operation: %w", err)
	}
	return h.invites.apply(ctx, op)
}

// inviteCall runs op on the node that owns its invitation: in place when
// it is this node, over the bus otherwise.
func (h *Hub) inviteCall(ctx context.Context, owner string, op inviteOp) (json.RawMessage, error) {
	if owner == h.node {
		return h.invites.apply(ctx, op)
	}
	return h.cluster.Call(ctx, owner, serviceInvites, op)
}

// callSave is a call record waiting to be written.
type callSave struct {
	call  *store.Call
	users map[string]string
}

// callWriter writes call records off the signaling path: changes within
// half a second are gathered, and the latest state of each call is written
// once, all in one transaction.
type callWriter struct {
	h       *Hub
	mu      sync.Mutex
	pending map[string]*callSave
	wake    chan struct{}
}

func newCallWriter(h *Hub) *callWriter {
	return &callWriter{h: h, pending: map[string]*callSave{}, wake: make(chan struct{}, 1)}
}

func (w *callWriter) save(c *callSave) {
	w.mu.Lock()
	w.pending[c.call.ID] = c
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *callWriter) run() {
	defer w.h.wg.Done()
	for {
		select {
		case <-w.h.done:
			return
		case <-w.wake:
			select {
			case <-time.After(500 * time.Millisecond):
			case <-w.h.done:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			w.flush(ctx)
			cancel()
		}
	}
}

// flush writes every pending record.
func (w *callWriter) flush(ctx context.Context) {
	w.mu.Lock()
	batch := w.pending
	w.pending = map[string]*callSave{}
	w.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := w.h.st.InTx(ctx, func(tx store.Store) error {
		for _, c := range batch {
			if err := tx.SaveCall(ctx, c.call, c.users); err != nil {
				return fmt.Errorf("call %s: %w", c.call.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		w.h.log.Error("qss: save call records", "calls", len(batch), "err", err)
	}
}
