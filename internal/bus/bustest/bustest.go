// Package bustest has test doubles of the bus for the tests of its users.
package bustest

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/openwac/wac/internal/bus"
)

// ErrDown is what a FailingKV's writes return while it fails.
var ErrDown = errors.New("bustest: the key-value store is down")

// FailingKV is a KV whose writes (Create, Update, Put, Delete) fail with
// ErrDown while Fail is set; reads always work.
type FailingKV struct {
	bus.KV
	Fail atomic.Bool
}

// Create stores a value if the key has none, unless the store is down.
func (k *FailingKV) Create(ctx context.Context, key string, v []byte) (uint64, error) {
	if k.Fail.Load() {
		return 0, ErrDown
	}
	return k.KV.Create(ctx, key, v)
}

// Update stores a value at revision rev, unless the store is down.
func (k *FailingKV) Update(ctx context.Context, key string, v []byte, rev uint64) (uint64, error) {
	if k.Fail.Load() {
		return 0, ErrDown
	}
	return k.KV.Update(ctx, key, v, rev)
}

// Put stores a value, unless the store is down.
func (k *FailingKV) Put(ctx context.Context, key string, v []byte) (uint64, error) {
	if k.Fail.Load() {
		return 0, ErrDown
	}
	return k.KV.Put(ctx, key, v)
}

// Delete removes a key, unless the store is down.
func (k *FailingKV) Delete(ctx context.Context, key string) error {
	if k.Fail.Load() {
		return ErrDown
	}
	return k.KV.Delete(ctx, key)
}

// Bus is a bus whose KV is another (a FailingKV).
type Bus struct {
	bus.Bus
	Store bus.KV
}

// KV is the replaced store.
func (b Bus) KV() bus.KV { return b.Store }
