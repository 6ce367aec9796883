package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// mappingOf is the SIP identity a caller calls the trunk with: its stored
// mapping, or for an anonymous user the dynamic one
// (sipmappings.dynamicMappingPrefix + its id) where the prefix is set.
func (s *Server) mappingOf(ctx context.Context, caller qss.User) (*store.SipMapping, error) {
	m, err := s.store.SipMappingByOwner(ctx, store.SipOwnerUser, caller.ID)
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("find the caller's SIP mapping: %w", err)
	}
	if prefix := s.cfg.SipMappings.DynamicMappingPrefix; prefix != "" && caller.Role == store.RoleAnonymous {
		u, err := s.store.GetUser(ctx, caller.ID)
		if err != nil {
			return nil, fmt.Errorf("find the anonymous caller: %w", err)
		}
		if m := store.DynamicSipMapping(prefix, u); m != nil {
			return m, nil
		}
	}
	return nil, wire.Refuse(403, "you have no SIP identity (sip mapping) to call the phone network with")
}

// mappingByUsername finds the mapping a call from the trunk is for: a
// stored one, or the dynamic mapping of an anonymous user (its username is
// the prefix and the user's id). ErrNotFound: neither.
func (s *Server) mappingByUsername(ctx context.Context, username string) (*store.SipMapping, error) {
	m, err := s.store.SipMappingByUsername(ctx, username)
	if !errors.Is(err, store.ErrNotFound) {
		return m, err
	}
	prefix := s.cfg.SipMappings.DynamicMappingPrefix
	id, ok := strings.CutPrefix(username, prefix)
	if prefix == "" || !ok || !store.ValidID(id) {
		return nil, store.ErrNotFound
	}
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return nil, err // ErrNotFound for a user that is gone
	}
	if m := store.DynamicSipMapping(prefix, u); m != nil {
		return m, nil
	}
	return nil, store.ErrNotFound
}
