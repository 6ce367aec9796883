package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/bus"
)

// State is the live state the nodes share in the bus's key-value store.
// Every write that fails is logged and counted here
// (wac_qss_state_write_errors_total by op), so a caller with nothing else
// to do about a failed write may leave its error; a caller whose next step
// depends on the write acts on the error it returns. A lost race is no
// failure: Create of a key that exists (bus.ErrExists) and Update of a key
// that changed (bus.ErrConflict) are outcomes the caller handles.
//
// Per-user live state lives in one key per user and kind, each a JSON map
// (a set of members) changed with compare-and-set, so that reading it is
// one lookup (not a key listing) and two nodes changing it at once lose
// nothing (SetGet, SetPut, SetDelete, SetChange).
type State struct {
	kv     bus.KV
	log    *slog.Logger
	errors *prometheus.CounterVec
}

// NewState wraps kv. The write-error counter is registered in reg (none
// when reg is nil).
func NewState(kv bus.KV, log *slog.Logger, reg prometheus.Registerer) (*State, error) {
	s := &State{kv: kv, log: log, errors: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wac_qss_state_write_errors_total",
		Help: "Writes of the signaling's shared cluster state (bus key-value) that failed, by operation.",
	}, []string{"op"})}
	if reg == nil {
		return s, nil
	}
	if err := reg.Register(s.errors); err != nil {
		// A hub started again on the same registry counts on.
		var dup prometheus.AlreadyRegisteredError
		if !errors.As(err, &dup) {
			return nil, fmt.Errorf("register the cluster state metrics: %w", err)
		}
		s.errors = dup.ExistingCollector.(*prometheus.CounterVec)
	}
	return s, nil
}

// failed logs and counts a failed write of op on key, and returns err.
func (s *State) failed(op, key string, err error) error {
	if err != nil {
		s.errors.WithLabelValues(op).Inc()
		s.log.Warn("qss: cluster state write failed", "op", op, "key", key, "err", err)
	}
	return err
}

// Get returns a value and its revision, or bus.ErrNotFound.
func (s *State) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	return s.kv.Get(ctx, key)
}

// Keys lists the keys starting with prefix.
func (s *State) Keys(ctx context.Context, prefix string) ([]string, error) {
	return s.kv.Keys(ctx, prefix)
}

// Create stores a value if the key has none, else bus.ErrExists.
func (s *State) Create(ctx context.Context, key string, value []byte) error {
	_, err := s.kv.Create(ctx, key, value)
	if errors.Is(err, bus.ErrExists) {
		return err
	}
	return s.failed("create", key, err)
}

// Update stores a value if the key is still at revision rev, else
// bus.ErrConflict.
func (s *State) Update(ctx context.Context, key string, value []byte, rev uint64) error {
	_, err := s.kv.Update(ctx, key, value, rev)
	if errors.Is(err, bus.ErrConflict) {
		return err
	}
	return s.failed("update", key, err)
}

// Put stores a value whatever was there.
func (s *State) Put(ctx context.Context, key string, value []byte) error {
	_, err := s.kv.Put(ctx, key, value)
	return s.failed("put", key, err)
}

// Delete removes a key.
func (s *State) Delete(ctx context.Context, key string) error {
	return s.failed("delete", key, s.kv.Delete(ctx, key))
}

// SetGet reads the set at key (empty when absent).
func (s *State) SetGet(ctx context.Context, key string) (map[string]json.RawMessage, error) {
	m, _, err := s.setGet(ctx, key)
	return m, err
}

func (s *State) setGet(ctx context.Context, key string) (map[string]json.RawMessage, uint64, error) {
	v, rev, err := s.kv.Get(ctx, key)
	if errors.Is(err, bus.ErrNotFound) {
		return map[string]json.RawMessage{}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", key, err)
	}
	return m, rev, nil
}

// SetChange applies fn to the set at key and stores it, retrying when
// another node changed it meanwhile.
func (s *State) SetChange(ctx context.Context, key string, fn func(m map[string]json.RawMessage)) error {
	return s.failed("setChange", key, s.change(ctx, key, fn))
}

// SetPut adds or replaces one member of the set at key.
func (s *State) SetPut(ctx context.Context, key, member string, value any) error {
	b, err := json.Marshal(value)
	if err == nil {
		err = s.change(ctx, key, func(m map[string]json.RawMessage) { m[member] = b })
	}
	return s.failed("setPut", key, err)
}

// SetDelete removes one member of the set at key.
func (s *State) SetDelete(ctx context.Context, key, member string) error {
	return s.failed("setDelete", key, s.change(ctx, key, func(m map[string]json.RawMessage) { delete(m, member) }))
}

func (s *State) change(ctx context.Context, key string, fn func(m map[string]json.RawMessage)) error {
	for range 50 {
		m, rev, err := s.setGet(ctx, key)
		if err != nil {
			return err
		}
		fn(m)
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, b)
		} else {
			_, err = s.kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, bus.ErrConflict) && !errors.Is(err, bus.ErrExists) {
			return err
		}
	}
	return fmt.Errorf("update %s: too much contention", key)
}
