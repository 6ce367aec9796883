package auth

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// hierarchy is root > mid > leaf, plus a sibling of mid, below the default
// domain of newTestService.
type hierarchy struct {
	root, mid, leaf, sibling *store.Domain
}

func newHierarchy(t *testing.T, s *Service, tweak map[string]func(*store.Domain)) hierarchy {
	t.Helper()
	var h hierarchy
	h.root = mustDomain(t, s, "root", nil, tweak["root"])
	h.mid = mustDomain(t, s, "mid", h.root, tweak["mid"])
	h.leaf = mustDomain(t, s, "leaf", h.mid, tweak["leaf"])
	h.sibling = mustDomain(t, s, "sibling", h.root, tweak["sibling"])
	return h
}

func ids(ds []*store.Domain) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// DomainChain lists a domain and its ancestors, nearest first.
func TestDomainChain(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, _, _ := newTestServiceOn(t, dialect, nil)
		h := newHierarchy(t, s, nil)
		ctx := context.Background()
		chain, err := s.DomainChain(ctx, h.leaf.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{h.leaf.ID, h.mid.ID, h.root.ID}; !slices.Equal(ids(chain), want) {
			t.Fatalf("chain of leaf %v, want %v", ids(chain), want)
		}
		if chain, err := s.DomainChain(ctx, h.root.ID); err != nil || len(chain) != 1 {
			t.Fatalf("chain of root: %v, %v", ids(chain), err)
		}
		if _, err := s.DomainChain(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("chain of a missing domain: %v, want ErrNotFound", err)
		}
	})
}

// A cycle in the hierarchy (a corrupt database) is an error, not a hang.
func TestDomainChainCycle(t *testing.T) {
	s, _, _ := newTestService(t, nil)
	h := newHierarchy(t, s, nil)
	ctx := context.Background()
	h.root.ParentID = h.leaf.ID
	if err := s.st.UpdateDomain(ctx, h.root); err != nil {
		t.Fatal(err)
	}
	if chain, err := s.DomainChain(ctx, h.leaf.ID); err == nil {
		t.Fatalf("a cyclic hierarchy gave the chain %v", ids(chain))
	}
}

// A domain may use the services the deployment runs, narrowed by its own
// "services" and by every ancestor's; an empty "services" narrows nothing.
// The domain's capabilities are those of its services plus the core, stack
// and option capabilities.
func TestEffectiveServices(t *testing.T) {
	s, _, _ := newTestService(t, func(c *config.Config) {
		c.Capabilities.Services = []string{"callcontrol", "contacts", "login", "usersettings"}
		c.Capabilities.Stack = []string{"audio-call"}
		c.Capabilities.Options = []string{"make-calls"}
	})
	services := func(names ...string) func(*store.Domain) {
		return func(d *store.Domain) {
			d.Services = map[string][]string{}
			for _, n := range names {
				d.Services[n] = nil
			}
		}
	}
	h := newHierarchy(t, s, map[string]func(*store.Domain){
		"mid":     services("callcontrol", "login", "usersettings", "chat"),
		"leaf":    services("callcontrol", "contacts", "usersettings", "chat"),
		"sibling": services("contacts"),
	})
	ctx := context.Background()
	for _, c := range []struct {
		d        *store.Domain
		services []string
		caps     []string
	}{
		{h.root, []string{"callcontrol", "contacts", "login", "usersettings"},
			[]string{"audio-call", "call-history", "callcontrol", "contacts", "credentials", "login", "make-calls", "sessions", "settings"}},
		{h.mid, []string{"callcontrol", "login", "usersettings"},
			[]string{"audio-call", "call-history", "callcontrol", "credentials", "login", "make-calls", "sessions", "settings"}},
		// contacts is the leaf's, but mid does not have it; chat is not run at all.
		{h.leaf, []string{"callcontrol", "usersettings"},
			[]string{"audio-call", "call-history", "callcontrol", "credentials", "make-calls", "sessions", "settings"}},
		{h.sibling, []string{"contacts"},
			[]string{"audio-call", "contacts", "credentials", "make-calls", "sessions"}},
	} {
		chain, err := s.DomainChain(ctx, c.d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.EffectiveServices(chain); !slices.Equal(got, c.services) {
			t.Errorf("services of %s: %v, want %v", c.d.Name, got, c.services)
		}
		if got := s.DomainCapabilities(chain); !slices.Equal(got, c.caps) {
			t.Errorf("capabilities of %s: %v, want %v", c.d.Name, got, c.caps)
		}
	}
}

// A user's "+name" forces a capability, "-name" prunes one; anything else
// in the list is ignored.
func TestUserCapabilities(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, _, d := newTestServiceOn(t, dialect, func(c *config.Config) {
			c.Capabilities.Services = []string{"callcontrol"}
			c.Capabilities.Stack, c.Capabilities.Options = nil, []string{"make-calls"}
		})
		ctx := context.Background()
		u := &store.User{DomainID: d.ID, Username: "alice", Role: store.RoleUser,
			Capabilities: []string{"+chat", "-make-calls", "bogus", "+bad name", "-"}}
		if err := s.st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		caps, err := s.Capabilities(ctx, &Principal{UserID: u.ID, DomainID: d.ID, Role: u.Role})
		if err != nil {
			t.Fatal(err)
		}
		want := Capabilities{
			Domain:       []string{"call-history", "callcontrol", "credentials", "make-calls", "sessions"},
			User:         []string{"+chat", "-make-calls"},
			Capabilities: []string{"call-history", "callcontrol", "chat", "credentials", "sessions"},
		}
		if !slices.Equal(caps.Domain, want.Domain) || !slices.Equal(caps.User, want.User) || !slices.Equal(caps.Capabilities, want.Capabilities) {
			t.Fatalf("capabilities %+v, want %+v", caps, want)
		}
		if !caps.Has("chat") || caps.Has("make-calls") {
			t.Fatalf("Has: chat %v, make-calls %v", caps.Has("chat"), caps.Has("make-calls"))
		}
	})
}

// Anonymous visitors get the anonymousCapabilities of their domain and its
// ancestors, root first: what an ancestor prunes, a domain below cannot
// force back.
func TestAnonymousCapabilities(t *testing.T) {
	s, _, _ := newTestService(t, func(c *config.Config) {
		c.Capabilities.Services, c.Capabilities.Options = nil, nil
		c.Capabilities.Stack = []string{"audio-call", "video-call", "screen-sharing"}
	})
	anon := func(caps ...string) func(*store.Domain) {
		return func(d *store.Domain) { d.AnonymousCapabilities = caps }
	}
	h := newHierarchy(t, s, map[string]func(*store.Domain){
		"root": anon("-video-call", "+whiteboard", "junk"),
		"leaf": anon("+video-call", "-whiteboard", "-screen-sharing", "+chat"),
	})
	caps, err := s.Capabilities(context.Background(), &Principal{UserID: store.NewID(), DomainID: h.leaf.ID, Role: store.RoleAnonymous})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"audio-call", "chat", "credentials", "sessions"}; !slices.Equal(caps.Capabilities, want) {
		t.Fatalf("anonymous capabilities %v, want %v", caps.Capabilities, want)
	}
	if want := []string{"-video-call", "+whiteboard", "+video-call", "-whiteboard", "-screen-sharing", "+chat"}; !slices.Equal(caps.User, want) {
		t.Fatalf("anonymous user list %v, want %v", caps.User, want)
	}
	// A user's own list does not apply to the visitors of a domain.
	mid, err := s.Capabilities(context.Background(), &Principal{UserID: store.NewID(), DomainID: h.mid.ID, Role: store.RoleAnonymous})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"audio-call", "credentials", "screen-sharing", "sessions", "whiteboard"}; !slices.Equal(mid.Capabilities, want) {
		t.Fatalf("anonymous capabilities in mid %v, want %v", mid.Capabilities, want)
	}
}

// Capabilities are remembered for 30 s; InvalidateUser and
// InvalidateDomains drop them at once and tell the listeners.
func TestCapabilitiesCache(t *testing.T) {
	s, clock, d := newTestService(t, nil)
	ctx := context.Background()
	var heard []Invalidation
	s.OnInvalidate(func(inv Invalidation) { heard = append(heard, inv) })
	u := &store.User{DomainID: d.ID, Username: "alice", Role: store.RoleUser}
	if err := s.st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	p := &Principal{UserID: u.ID, DomainID: d.ID, Role: u.Role}
	has := func(name string) bool {
		t.Helper()
		caps, err := s.Capabilities(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return caps.Has(name)
	}
	if has("chat") {
		t.Fatal("chat before it was forced")
	}
	u.Capabilities = []string{"+chat"}
	if err := s.st.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if has("chat") {
		t.Fatal("a cached answer was not kept")
	}
	clock.add(30 * time.Second)
	if !has("chat") {
		t.Fatal("the cached answer outlived 30 s")
	}

	u.Capabilities = []string{"+chat", "+whiteboard"}
	if err := s.st.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	s.InvalidateUser(u.ID)
	if !has("whiteboard") {
		t.Fatal("InvalidateUser kept the old capabilities")
	}

	d.AnonymousCapabilities = nil
	d.Services = map[string][]string{"login": nil}
	if err := s.st.UpdateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
	if !has("contacts") {
		t.Fatal("contacts before the domain changed")
	}
	s.InvalidateDomains()
	if has("contacts") {
		t.Fatal("InvalidateDomains kept the old capabilities")
	}
	want := []Invalidation{{Kind: "user", ID: u.ID}, {Kind: "domains"}}
	if !slices.Equal(heard, want) {
		t.Fatalf("listeners heard %+v, want %+v", heard, want)
	}
}

// A permission is the user's own switch, else the nearest domain's, else on.
func TestPermission(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, _, _ := newTestServiceOn(t, dialect, nil)
		h := newHierarchy(t, s, nil)
		ctx := context.Background()
		set := func(scope, target string, on bool) {
			t.Helper()
			if err := s.st.SetPermission(ctx, &store.Permission{Scope: scope, TargetID: target, Name: PermissionReceiveCalls, Enabled: on}); err != nil {
				t.Fatal(err)
			}
			s.InvalidatePermissions()
		}
		alice, bob := store.NewID(), store.NewID()
		check := func(user, domain string, want bool) {
			t.Helper()
			got, err := s.Permission(ctx, PermissionReceiveCalls, user, domain)
			if err != nil || got != want {
				t.Fatalf("permission of %s in %s: %v, %v; want %v", user, domain, got, err, want)
			}
		}
		check(alice, h.leaf.ID, true)
		set("domain", h.root.ID, false)
		check(alice, h.leaf.ID, false)
		set("domain", h.mid.ID, true)
		check(alice, h.leaf.ID, true)
		check(bob, h.sibling.ID, false)
		set("user", bob, true)
		check(bob, h.sibling.ID, true)
		set("user", alice, false)
		check(alice, h.leaf.ID, false)

		// Answers are remembered until InvalidatePermissions.
		if err := s.st.SetPermission(ctx, &store.Permission{Scope: "user", TargetID: alice, Name: PermissionReceiveCalls, Enabled: true}); err != nil {
			t.Fatal(err)
		}
		check(alice, h.leaf.ID, false)
		s.InvalidatePermissions()
		check(alice, h.leaf.ID, true)
	})
}

// Admins of the default domain administer every domain, other admins their
// own domain and the domains below it, everyone else reads their own.
func TestScopeAndAdministers(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, _, wac := newTestServiceOn(t, dialect, nil)
		h := newHierarchy(t, s, nil)
		ctx := context.Background()
		for _, c := range []struct {
			p    Principal
			want []string
		}{
			{Principal{Role: store.RoleAdmin, DomainID: wac.ID, DomainName: "WAC"}, nil},
			{Principal{Role: store.RoleAdmin, DomainID: h.mid.ID, DomainName: "mid"}, []string{h.mid.ID, h.leaf.ID}},
			{Principal{Role: store.RoleAdmin, DomainID: h.root.ID, DomainName: "root"}, []string{h.root.ID, h.mid.ID, h.sibling.ID, h.leaf.ID}},
			{Principal{Role: store.RoleUser, DomainID: wac.ID, DomainName: "wac"}, []string{wac.ID}},
			{Principal{Role: store.RoleUser, DomainID: h.root.ID, DomainName: "root"}, []string{h.root.ID}},
		} {
			scope, err := s.Scope(ctx, &c.p)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(scope)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if (scope == nil) != (c.want == nil) || !slices.Equal(scope, want) {
				t.Errorf("scope of %s of %s: %v, want %v", c.p.Role, c.p.DomainName, scope, c.want)
			}
		}
		for _, c := range []struct {
			admin  *store.Domain
			domain string
			want   bool
		}{
			{wac, h.leaf.ID, true},
			{wac, "", true},
			{h.mid, h.mid.ID, true},
			{h.mid, h.leaf.ID, true},
			{h.mid, h.root.ID, false},
			{h.mid, h.sibling.ID, false},
			{h.mid, wac.ID, false},
			{h.mid, "", false},
			{h.root, h.leaf.ID, true},
		} {
			got, err := s.Administers(ctx, c.admin.ID, c.admin.Name, c.domain)
			if err != nil || got != c.want {
				t.Errorf("admin of %s administers %q: %v, %v; want %v", c.admin.Name, c.domain, got, err, c.want)
			}
		}
	})
	if !InScope(nil, "x") || !InScope([]string{"a", "x"}, "x") || InScope([]string{"a"}, "x") || InScope([]string{}, "x") {
		t.Fatal("InScope: nil is everything, a list only its members")
	}
}
