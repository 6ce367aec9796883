package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// Resolve finds a user by id, wac-user:<id>, user@domain, or a bare name or
// alias within the caller's domain.
func TestResolve(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, _, wac := newTestServiceOn(t, dialect, nil)
		other := mustDomain(t, s, "other", nil, nil)
		ctx := context.Background()
		alice := &store.User{DomainID: wac.ID, Username: "alice", Role: store.RoleUser, Alias: "Ally"}
		bob := &store.User{DomainID: other.ID, Username: "bob", Role: store.RoleUser}
		for _, u := range []*store.User{alice, bob} {
			if err := s.st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			caller, target string
			want           *store.User
		}{
			{wac.ID, alice.ID, alice},
			{other.ID, alice.ID, alice}, // an id names one user anywhere
			{wac.ID, "wac-user:" + bob.ID, bob},
			{wac.ID, "bob@other", bob},
			{wac.ID, "BOB@Other", bob},
			{other.ID, "alice@wac", alice},
			{wac.ID, "alice", alice},
			{wac.ID, " ALICE ", alice},
			{wac.ID, "Ally", alice},
			{wac.ID, "Ally@wac", alice},
			{other.ID, "bob", bob},
			{wac.ID, "bob", nil}, // bob is not of the caller's domain
			{other.ID, "alice", nil},
			{wac.ID, "nobody", nil},
			{wac.ID, "alice@nowhere", nil},
			{wac.ID, store.NewID(), nil},
			{wac.ID, "wac-user:" + store.NewID(), nil},
			{wac.ID, "", nil},
			{wac.ID, "   ", nil},
		} {
			u, err := s.Resolve(ctx, c.caller, c.target)
			switch {
			case c.want == nil && !errors.Is(err, store.ErrNotFound):
				t.Errorf("resolve %q: %+v, %v; want ErrNotFound", c.target, u, err)
			case c.want != nil && (err != nil || u.ID != c.want.ID):
				t.Errorf("resolve %q: %+v, %v; want %s", c.target, u, err, c.want.Username)
			}
		}
	})
}

// Found users are remembered for 30 s, unless a change of a user drops
// them; misses are not remembered.
func TestResolveCache(t *testing.T) {
	s, clock, wac := newTestService(t, nil)
	ctx := context.Background()
	alice := &store.User{DomainID: wac.ID, Username: "alice", Role: store.RoleUser}
	if err := s.st.CreateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	resolves := func(target string) bool {
		t.Helper()
		_, err := s.Resolve(ctx, wac.ID, target)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	if resolves("carol") {
		t.Fatal("carol before she exists")
	}
	carol := &store.User{DomainID: wac.ID, Username: "carol", Role: store.RoleUser}
	if err := s.st.CreateUser(ctx, carol); err != nil {
		t.Fatal(err)
	}
	if !resolves("carol") {
		t.Fatal("a miss was remembered")
	}
	if !resolves("alice") {
		t.Fatal("alice")
	}
	if err := s.st.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if !resolves("alice") {
		t.Fatal("a found user was not remembered")
	}
	clock.add(30 * time.Second)
	if resolves("alice") {
		t.Fatal("a found user was remembered beyond 30 s")
	}
	if err := s.st.DeleteUser(ctx, carol.ID); err != nil {
		t.Fatal(err)
	}
	s.InvalidateUser(carol.ID)
	if resolves("carol") {
		t.Fatal("InvalidateUser kept a resolved user")
	}
}

// Cleanup removes expired tokens and anonymous users, keeps what has not
// expired, forgets expired cached tokens and keeps the newest
// login.maxFailedLoginRows 'Failed login' stats.
func TestCleanup(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, clock, d := newTestServiceOn(t, dialect, func(c *config.Config) {
			c.OAuth2Provider.AccessTokenExpiration, c.OAuth2Provider.RefreshTokenExpiration = time.Minute, 2*time.Minute
			c.Login.MaxFailedLoginRows = 2
		})
		ctx := context.Background()
		alice := mustUser(t, s, d, "alice", "alice-password")
		visitors := mustDomain(t, s, "visitors", nil, func(d *store.Domain) { d.EnableAnonymous, d.AnonymousExpiration = true, 30_000 })
		pair := mustLogin(t, s, "alice@wac", "alice-password")
		mustAuth(t, s, pair.AccessToken)
		anon, err := s.AnonymousGrant(ctx, "@visitors", LoginInfo{})
		if err != nil {
			t.Fatal(err)
		}
		visitor := mustAuth(t, s, anon.AccessToken)
		for i := range 4 {
			if err := s.st.CreateStat(ctx, &store.Stat{Service: "Login", Type: "Failed login", DomainID: d.ID,
				Created: clock.now().UnixMilli() + int64(i), Data: map[string]any{"n": i}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.st.CreateStat(ctx, &store.Stat{Service: "Login", Type: "Other", DomainID: d.ID, Created: clock.now().UnixMilli()}); err != nil {
			t.Fatal(err)
		}

		exists := func(what string, err error) bool {
			t.Helper()
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s: %v", what, err)
			}
			return err == nil
		}
		// Nothing has expired yet.
		if err := s.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = s.st.GetUser(ctx, visitor.UserID)
		if !exists("visitor", err) {
			t.Fatal("cleanup removed a live visitor")
		}
		_, err = s.st.GetToken(ctx, HashToken(pair.AccessToken))
		if !exists("access token", err) {
			t.Fatal("cleanup removed a live token")
		}

		clock.add(61 * time.Second)
		if err := s.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = s.st.GetUser(ctx, visitor.UserID)
		if exists("visitor", err) {
			t.Fatal("cleanup kept an expired visitor")
		}
		_, err = s.st.GetToken(ctx, HashToken(pair.AccessToken))
		if exists("access token", err) {
			t.Fatal("cleanup kept an expired access token")
		}
		_, err = s.st.GetToken(ctx, HashToken(pair.RefreshToken))
		if !exists("refresh token", err) {
			t.Fatal("cleanup removed a live refresh token")
		}
		_, err = s.st.GetUser(ctx, alice.ID)
		if !exists("alice", err) {
			t.Fatal("cleanup removed a user with a password")
		}
		_, err = s.st.GetDomain(ctx, visitors.ID)
		if !exists("visitors", err) {
			t.Fatal("cleanup removed the visitors' domain")
		}
		s.cache.mu.RLock()
		cached := len(s.cache.entries)
		s.cache.mu.RUnlock()
		if cached != 0 {
			t.Fatalf("%d expired tokens still cached after cleanup", cached)
		}
		stats, err := s.st.ListStats(ctx, nil, "Login", store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var failed, others int
		for _, st := range stats {
			if st.Type == "Failed login" {
				failed++
				if n, _ := st.Data["n"].(float64); n < 2 {
					t.Errorf("cleanup kept an old failed-login stat %v", st.Data)
				}
			} else {
				others++
			}
		}
		if failed != 2 || others != 1 {
			t.Fatalf("after cleanup: %d failed-login stats and %d others, want 2 (the newest) and 1", failed, others)
		}
	})
}
