package auth

import (
	"context"
	"sync"
	"time"

	"github.com/openwac/wac/internal/store"
)

// Invalidation names records that changed, so that every node drops what it
// cached of them: a user ("user" and its id), every domain ("domains"), or
// every permission switch ("permissions").
type Invalidation struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
}

// OnInvalidate registers fn to hear of every invalidation made on this node
// (signaling forwards them to the other nodes).
func (s *Service) OnInvalidate(fn func(Invalidation)) {
	s.mu.Lock()
	s.invalid = append(s.invalid, fn)
	s.mu.Unlock()
}

// InvalidateUser drops cached identities and capabilities of a user whose
// record changed (role, domain, capabilities), here and on the other nodes.
func (s *Service) InvalidateUser(userID string) { s.invalidate(Invalidation{Kind: "user", ID: userID}) }

// InvalidateDomains drops cached domains and capabilities, after a domain
// changed.
func (s *Service) InvalidateDomains() { s.invalidate(Invalidation{Kind: "domains"}) }

// InvalidatePermissions drops cached permission switches, after one changed.
func (s *Service) InvalidatePermissions() { s.invalidate(Invalidation{Kind: "permissions"}) }

func (s *Service) invalidate(inv Invalidation) {
	s.Apply(inv)
	s.mu.Lock()
	ls := append([]func(Invalidation){}, s.invalid...)
	s.mu.Unlock()
	for _, fn := range ls {
		fn(inv)
	}
}

// Apply drops this node's cached copies named by inv (an invalidation made
// on another node).
func (s *Service) Apply(inv Invalidation) {
	switch inv.Kind {
	case "user":
		s.cache.dropUser(inv.ID)
		s.capsMu.Lock()
		for k, e := range s.caps {
			if e.userID == inv.ID {
				delete(s.caps, k)
			}
		}
		s.capsMu.Unlock()
		s.perms.clear()
		s.resolved.clear()
	case "domains":
		s.domains.clear()
		s.capsMu.Lock()
		clear(s.caps)
		s.capsMu.Unlock()
		s.perms.clear()
		s.resolved.clear()
	case "permissions":
		s.perms.clear()
	}
}

// Domain returns a domain by id, from memory for up to 30 s.
func (s *Service) Domain(ctx context.Context, id string) (*store.Domain, error) {
	if d, ok := s.domains.get(id, s.now()); ok {
		return d, nil
	}
	d, err := s.st.GetDomain(ctx, id)
	if err != nil {
		return nil, err
	}
	s.domains.put(id, d, s.now().Add(s.cacheTTL))
	return d, nil
}

// ttlCache is a map whose entries expire.
type ttlCache[V any] struct {
	mu sync.Mutex
	m  map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v     V
	until time.Time
}

func (c *ttlCache[V]) get(k string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(k string, v V, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 100000 {
		c.m = map[string]ttlEntry[V]{}
	}
	c.m[k] = ttlEntry[V]{v: v, until: until}
}

func (c *ttlCache[V]) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}
