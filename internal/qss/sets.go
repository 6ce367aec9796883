package qss

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/bus"
)

// Per-user live state lives in one key per user and kind, each a JSON map
// changed with compare-and-set, so that reading it is one lookup (not a key
// listing) and two nodes changing it at once lose nothing:
//
//	sessions.<user>  session id → SessionInfo
//	invites.<user>   invitation id → owner node
//	calls.<user>     room id → owner node (the user is in that room)
func sessionsKey(user string) string { return "sessions." + user }
func invitesKey(user string) string  { return "invites." + user }
func callsKey(user string) string    { return "calls." + user }

// setGet reads the map at key (empty when absent).
func (h *Hub) setGet(ctx context.Context, key string) (map[string]json.RawMessage, uint64, error) {
	v, rev, err := h.kv.Get(ctx, key)
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

// setChange applies fn to the map at key and stores it, retrying when
// another node changed it meanwhile.
func (h *Hub) setChange(ctx context.Context, key string, fn func(m map[string]json.RawMessage)) error {
	for range 50 {
		m, rev, err := h.setGet(ctx, key)
		if err != nil {
			return err
		}
		fn(m)
		b, _ := json.Marshal(m)
		if rev == 0 {
			_, err = h.kv.Create(ctx, key, b)
		} else {
			_, err = h.kv.Update(ctx, key, b, rev)
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

// setPut adds or replaces one member.
func (h *Hub) setPut(ctx context.Context, key, member string, value any) error {
	b, err := json.Marshal(value)
	if err != nil {
		return err
	}
	return h.setChange(ctx, key, func(m map[string]json.RawMessage) { m[member] = b })
}

// setDelete removes one member.
func (h *Hub) setDelete(ctx context.Context, key, member string) error {
	return h.setChange(ctx, key, func(m map[string]json.RawMessage) { delete(m, member) })
}
