package qss

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/openwac/wac/internal/store"
)

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

// run writes the pending records half a second after a change, until ctx
// ends (Close writes what is left). A write under way completes.
func (w *callWriter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				return
			}
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			w.flush(wctx)
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
