package rooms

import (
	"context"
	"fmt"
	"log/slog"
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
	st      store.Store
	log     *slog.Logger
	mu      sync.Mutex
	pending map[string]*callSave
	wake    chan struct{}
}

func newCallWriter(st store.Store, log *slog.Logger) *callWriter {
	return &callWriter{st: st, log: log, pending: map[string]*callSave{}, wake: make(chan struct{}, 1)}
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

// Flush writes the call records not written yet (Close does, once the
// hub's tasks returned).
func (t *Table) Flush(ctx context.Context) { t.calls.flush(ctx) }

// flush writes every pending record.
func (w *callWriter) flush(ctx context.Context) {
	w.mu.Lock()
	batch := w.pending
	w.pending = map[string]*callSave{}
	w.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := w.st.InTx(ctx, func(tx store.Store) error {
		for _, c := range batch {
			if err := tx.SaveCall(ctx, c.call, c.users); err != nil {
				return fmt.Errorf("call %s: %w", c.call.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		w.log.Error("qss: save call records", "calls", len(batch), "err", err)
	}
}

// finishDeadCalls marks finished the call records of the nodes that are
// gone: a node that died (or an earlier run of this one, whose node id was
// another) took its rooms with it, and the call history would otherwise
// show those calls as still going on. The finish time is when this was
// noticed. A node that was only cut off writes its records again on its
// next change, unfinished. At start (starting), this node's own id counts
// as gone too: it holds no room yet.
func (t *Table) finishDeadCalls(ctx context.Context, starting bool) {
	nodes, err := t.Store.UnfinishedCallNodes(ctx)
	if err != nil {
		t.Log.Warn("qss: list the nodes of unfinished calls", "err", err)
		return
	}
	for _, node := range nodes {
		if (node != t.Node.ID || !starting) && t.Node.Alive(ctx, node) {
			continue
		}
		n, err := t.Store.FinishNodeCalls(ctx, node, time.Now().UnixMilli())
		if err != nil {
			t.Log.Warn("qss: finish the calls of a node that is gone", "node", node, "err", err)
			continue
		}
		if n > 0 {
			t.Log.Info("qss: finished the calls of a node that is gone", "node", node, "calls", n)
		}
	}
}

// Upkeep destroys idle rooms, finishes the calls of nodes that are gone and
// applies call-history retention; Start runs it every minute.
func (t *Table) Upkeep(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if t.Config.Rooms.IdleTimeout > 0 {
		t.destroyIdle(ctx, t.Config.Rooms.IdleTimeout)
	}
	t.finishDeadCalls(ctx, false)
	if d := t.Config.CallHistoryDays; d > 0 {
		before := time.Now().Add(-time.Duration(d) * 24 * time.Hour).UnixMilli()
		if n, err := t.Store.DeleteCallsFinishedBefore(ctx, before); err != nil {
			t.Log.Warn("qss: call history retention", "err", err)
		} else if n > 0 {
			t.Log.Info("qss: removed old calls from the history", "count", n, "callHistoryDays", d)
		}
	}
}
