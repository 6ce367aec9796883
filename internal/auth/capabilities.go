package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/openwac/wac/internal/store"
)

// serviceCapabilities maps the seeds' service names (the keys of a domain's
// "services") to the capabilities they bring. A service not listed brings a
// capability of its own name.
var serviceCapabilities = map[string][]string{
	"callalarms":   {"call-alarms"},
	"callcontrol":  {"callcontrol", "call-history"},
	"meetings":     {"meetings", "view-meetings"},
	"oauth2client": {"login-token"},
	"remotelog":    {"log"},
	"usersettings": {"settings"},
}

// coreCapabilities are always present: the server always runs them.
var coreCapabilities = []string{"credentials", "sessions"}

// Capabilities is the answer of GET /sapi/capabilities: the domain's
// capabilities, the user's forced (+) and pruned (-) ones, and the result.
type Capabilities struct {
	Domain       []string `json:"domain"`
	User         []string `json:"user"`
	Capabilities []string `json:"capabilities"`
}

// Has reports whether name is among the computed capabilities.
func (c *Capabilities) Has(name string) bool { return slices.Contains(c.Capabilities, name) }

// DomainChain returns a domain and its ancestors, nearest first.
func (s *Service) DomainChain(ctx context.Context, domainID string) ([]*store.Domain, error) {
	var chain []*store.Domain
	id := domainID
	for id != "" {
		if len(chain) > 16 {
			return nil, fmt.Errorf("domain hierarchy of %s is deeper than 16 or has a cycle", domainID)
		}
		d, err := s.Domain(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("load domain %s: %w", id, err)
		}
		chain = append(chain, d)
		id = d.ParentID
	}
	return chain, nil
}

// EffectiveServices returns the services a domain may use: those the
// deployment runs, narrowed by the domain's own "services" and by every
// ancestor's (an empty "services" narrows nothing).
func (s *Service) EffectiveServices(chain []*store.Domain) []string {
	allowed := make(map[string]bool)
	for _, svc := range s.cfg.Capabilities.Services {
		allowed[svc] = true
	}
	for _, d := range chain {
		if len(d.Services) == 0 {
			continue
		}
		for svc := range allowed {
			if _, ok := d.Services[svc]; !ok {
				delete(allowed, svc)
			}
		}
	}
	return sortedKeys(allowed)
}

// DomainCapabilities are what every user of a domain has before user-level
// changes: the capabilities of its effective services, the core ones, the
// stack's and the application options.
func (s *Service) DomainCapabilities(chain []*store.Domain) []string {
	set := make(map[string]bool)
	for _, svc := range s.EffectiveServices(chain) {
		caps, ok := serviceCapabilities[svc]
		if !ok {
			caps = []string{svc}
		}
		for _, c := range caps {
			set[c] = true
		}
	}
	for _, list := range [][]string{coreCapabilities, s.cfg.Capabilities.Stack, s.cfg.Capabilities.Options} {
		for _, c := range list {
			set[c] = true
		}
	}
	return sortedKeys(set)
}

// Capabilities computes a principal's capabilities: the domain's, then the
// user's +forced and -pruned (for anonymous users, the anonymousCapabilities
// of the domain and its ancestors, where an ancestor's pruning cannot be
// undone below it).
//
// Results are kept for up to 30 s per user; InvalidateUser and
// InvalidateDomains drop them when the records they come from change.
func (s *Service) Capabilities(ctx context.Context, p *Principal) (*Capabilities, error) {
	key := p.UserID + "|" + p.DomainID + "|" + p.Role
	now := s.now()
	s.capsMu.Lock()
	e, ok := s.caps[key]
	s.capsMu.Unlock()
	if ok && now.Before(e.until) {
		return e.caps, nil
	}
	caps, err := s.computeCapabilities(ctx, p)
	if err != nil {
		return nil, err
	}
	s.capsMu.Lock()
	if len(s.caps) > 100000 {
		clear(s.caps)
	}
	s.caps[key] = capsEntry{caps: caps, until: now.Add(s.cacheTTL), userID: p.UserID}
	s.capsMu.Unlock()
	return caps, nil
}

type capsEntry struct {
	caps   *Capabilities
	until  time.Time
	userID string
}

func (s *Service) computeCapabilities(ctx context.Context, p *Principal) (*Capabilities, error) {
	chain, err := s.DomainChain(ctx, p.DomainID)
	if err != nil {
		return nil, err
	}
	domainCaps := s.DomainCapabilities(chain)
	set := make(map[string]bool, len(domainCaps))
	for _, c := range domainCaps {
		set[c] = true
	}
	userCaps := []string{}
	if p.IsAnonymous() {
		prunedAbove := make(map[string]bool)
		for i := len(chain) - 1; i >= 0; i-- { // root first
			for _, c := range chain[i].AnonymousCapabilities {
				name, forced, ok := ParseCapability(c)
				if !ok {
					continue
				}
				userCaps = append(userCaps, c)
				if forced && !prunedAbove[name] {
					set[name] = true
				} else if !forced {
					delete(set, name)
					prunedAbove[name] = true
				}
			}
		}
	} else if p.UserID != "" {
		u, err := s.st.GetUser(ctx, p.UserID)
		if err != nil {
			return nil, fmt.Errorf("load user: %w", err)
		}
		for _, c := range u.Capabilities {
			name, forced, ok := ParseCapability(c)
			if !ok {
				continue
			}
			userCaps = append(userCaps, c)
			if forced {
				set[name] = true
			} else {
				delete(set, name)
			}
		}
	}
	return &Capabilities{Domain: domainCaps, User: userCaps, Capabilities: sortedKeys(set)}, nil
}

// ParseCapability splits "+name" or "-name"; ok is false for anything else.
func ParseCapability(c string) (name string, forced, ok bool) {
	if len(c) < 2 || (c[0] != '+' && c[0] != '-') || strings.ContainsAny(c[1:], " \t,") {
		return "", false, false
	}
	return c[1:], c[0] == '+', true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// PermissionReceiveCalls is the seeds' permission for incoming calls.
const PermissionReceiveCalls = "receiveCalls"

// Permission resolves a permission switch for a user: the user's own
// setting, else the nearest domain's in the hierarchy, else enabled.
func (s *Service) Permission(ctx context.Context, name, userID, domainID string) (bool, error) {
	key := name + "|" + userID + "|" + domainID
	if v, ok := s.perms.get(key, s.now()); ok {
		return v, nil
	}
	v, err := s.permission(ctx, name, userID, domainID)
	if err == nil {
		s.perms.put(key, v, s.now().Add(s.cacheTTL))
	}
	return v, err
}

func (s *Service) permission(ctx context.Context, name, userID, domainID string) (bool, error) {
	p, err := s.st.GetPermission(ctx, "user", userID, name)
	if err == nil {
		return p.Enabled, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("load user permission: %w", err)
	}
	chain, err := s.DomainChain(ctx, domainID)
	if err != nil {
		return false, err
	}
	for _, d := range chain {
		p, err := s.st.GetPermission(ctx, "domain", d.ID, name)
		if err == nil {
			return p.Enabled, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return false, fmt.Errorf("load domain permission: %w", err)
		}
	}
	return true, nil
}

// Scope returns the ids of the domains a principal administers or reads:
// nil (every domain) for admins of the default domain, the domain and its
// descendants for other admins, and the own domain for everyone else.
func (s *Service) Scope(ctx context.Context, p *Principal) ([]string, error) {
	if !p.IsAdmin() {
		return []string{p.DomainID}, nil
	}
	if strings.EqualFold(p.DomainName, s.cfg.DefaultDomain) {
		return nil, nil
	}
	domains, err := s.st.ListDomains(ctx)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	children := make(map[string][]string)
	for _, d := range domains {
		children[d.ParentID] = append(children[d.ParentID], d.ID)
	}
	out := []string{}
	seen := map[string]bool{}
	queue := []string{p.DomainID}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
		queue = append(queue, children[id]...)
	}
	return out, nil
}

// Administers reports whether an admin of the domain adminDomainID (named
// adminDomain) administers domainID: admins of the default domain
// administer every domain, other admins their own domain and the domains
// below it. It is Scope for one domain, without listing every domain.
func (s *Service) Administers(ctx context.Context, adminDomainID, adminDomain, domainID string) (bool, error) {
	if strings.EqualFold(adminDomain, s.cfg.DefaultDomain) {
		return true, nil
	}
	if domainID == "" {
		return false, nil
	}
	chain, err := s.DomainChain(ctx, domainID)
	if err != nil {
		return false, err
	}
	for _, d := range chain {
		if d.ID == adminDomainID {
			return true, nil
		}
	}
	return false, nil
}

// InScope reports whether domainID is within scope (nil = everything).
func InScope(scope []string, domainID string) bool {
	if scope == nil {
		return true
	}
	for _, id := range scope {
		if id == domainID {
			return true
		}
	}
	return false
}
