package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/openwac/wac/internal/store"
)

// Resolve finds the user a caller means by target: a user id, a
// wac-user:<id> URI, username@domain, or a bare username or alias, which
// resolves within the caller's own domain (alice@quobis calling "bob" means
// bob@quobis). It returns store.ErrNotFound when nobody matches.
//
// Found users are remembered for up to 30 s; changes to users drop them.
func (s *Service) Resolve(ctx context.Context, callerDomainID, target string) (*store.User, error) {
	key := callerDomainID + "|" + target
	if u, ok := s.resolved.get(key, s.now()); ok {
		return u, nil
	}
	u, err := s.resolve(ctx, callerDomainID, target)
	if err == nil {
		s.resolved.put(key, u, s.now().Add(s.cacheTTL))
	}
	return u, err
}

func (s *Service) resolve(ctx context.Context, callerDomainID, target string) (*store.User, error) {
	target = strings.TrimSpace(target)
	if target == "" {
		return nil, store.ErrNotFound
	}
	if id, ok := strings.CutPrefix(target, "wac-user:"); ok {
		target = id
	}
	if store.ValidID(target) {
		u, err := s.st.GetUser(ctx, target)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return u, err
		}
	}
	if name, domain, ok := strings.Cut(target, "@"); ok {
		d, err := s.st.GetDomainByName(ctx, strings.ToLower(domain))
		if err != nil {
			return nil, err
		}
		return s.byNameOrAlias(ctx, d.ID, name)
	}
	return s.byNameOrAlias(ctx, callerDomainID, target)
}

func (s *Service) byNameOrAlias(ctx context.Context, domainID, name string) (*store.User, error) {
	u, err := s.st.GetUserByName(ctx, domainID, strings.ToLower(name))
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("resolve user: %w", err)
	}
	return s.st.GetUserByAlias(ctx, domainID, name)
}
