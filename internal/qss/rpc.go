package qss

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// rpcMsg is a request to the node that owns a room or an invitation.
type rpcMsg struct {
	Kind   string    `json:"kind"` // room, invite
	Room   *roomOp   `json:"room,omitempty"`
	Invite *inviteOp `json:"invite,omitempty"`
}

type rpcReply struct {
	OK     json.RawMessage `json:"ok,omitempty"`
	Code   int             `json:"code,omitempty"`
	Reason string          `json:"reason,omitempty"`
}

// rpcCall runs msg on node: in place when it is this node, over the bus
// otherwise. A refusal on the other node comes back as the same *wire.Cancel.
func (h *Hub) rpcCall(ctx context.Context, node string, msg rpcMsg) (json.RawMessage, error) {
	if node == h.node {
		return h.dispatchRPC(ctx, msg)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw, err := h.bus.Request(ctx, nodeSubject(node), wire.Encode(msg))
	if err != nil {
		return nil, fmt.Errorf("ask node %s: %w", node, err)
	}
	var r rpcReply
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("answer of node %s: %w", node, err)
	}
	if r.Code != 0 {
		return nil, &wire.Cancel{Code: r.Code, Message: r.Reason}
	}
	return r.OK, nil
}

// serveRPC answers other nodes' requests.
func (h *Hub) serveRPC(ctx context.Context, data []byte) ([]byte, error) {
	var msg rpcMsg
	if err := json.Unmarshal(data, &msg); err != nil {
		return nil, fmt.Errorf("bad request: %w", err)
	}
	out, err := h.dispatchRPC(ctx, msg)
	var c *wire.Cancel
	if errors.As(err, &c) {
		return wire.Encode(rpcReply{Code: c.Code, Reason: c.Message}), nil
	}
	if err != nil {
		return nil, err
	}
	return wire.Encode(rpcReply{OK: out}), nil
}

func (h *Hub) dispatchRPC(ctx context.Context, msg rpcMsg) (json.RawMessage, error) {
	switch {
	case msg.Kind == "room" && msg.Room != nil:
		res, err := h.rooms.apply(ctx, *msg.Room)
		if err != nil {
			return nil, err
		}
		return json.Marshal(res)
	case msg.Kind == "invite" && msg.Invite != nil:
		return h.invites.apply(ctx, *msg.Invite)
	}
	return nil, fmt.Errorf("unknown node request %q", msg.Kind)
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
