package auth

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/store"
	"github.com/openwac/wac/internal/store/storetest"
)

// testMemoryKiB is the argon2id memory of the tests' hashes.
const testMemoryKiB = 256

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newTestService returns a service over a fresh SQLite store with the domain
// "wac", on a clock the test moves.
func newTestService(t *testing.T, tweak func(*config.Config)) (*Service, *testClock, *store.Domain) {
	t.Helper()
	return newTestServiceOn(t, store.SQLite, tweak)
}

// newTestServiceOn is newTestService over a fresh store of dialect.
func newTestServiceOn(t *testing.T, dialect string, tweak func(*config.Config)) (*Service, *testClock, *store.Domain) {
	t.Helper()
	cfg := config.Default()
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st, _ := storetest.Open(t, dialect)
	s := New(st, &cfg, logging.Discard())
	// The configuration allows no less than 8 MiB; a smaller hash keeps the
	// tests fast (under the race detector too) and changes nothing else.
	s.hasher = NewHasher(testMemoryKiB, 1, 1)
	clock := &testClock{t: time.Now()}
	s.SetClock(clock.now)
	d := &store.Domain{Name: "wac"}
	if err := st.CreateDomain(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return s, clock, d
}

// dialects runs fn on SQLite, and on PostgreSQL when storetest.PostgresEnv
// names a server.
func dialects(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range storetest.Dialects() {
		t.Run(storetest.Name(d), func(t *testing.T) { fn(t, d) })
	}
}

// mustUser creates a user of d with a password.
func mustUser(t *testing.T, s *Service, d *store.Domain, name, password string) *store.User {
	t.Helper()
	ctx := context.Background()
	hash, err := s.Hasher().Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}
	u := &store.User{DomainID: d.ID, Username: name, Role: store.RoleUser}
	if err := s.st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.st.CreateCredential(ctx, &store.Credential{Source: "wac", Type: "basic", DomainID: d.ID, UserID: u.ID,
		Data: map[string]any{"hash": hash}}); err != nil {
		t.Fatal(err)
	}
	return u
}

// mustDomain creates a domain; parent may be nil.
func mustDomain(t *testing.T, s *Service, name string, parent *store.Domain, tweak func(*store.Domain)) *store.Domain {
	t.Helper()
	d := &store.Domain{Name: name}
	if parent != nil {
		d.ParentID = parent.ID
	}
	if tweak != nil {
		tweak(d)
	}
	if err := s.st.CreateDomain(context.Background(), d); err != nil {
		t.Fatalf("create domain %s: %v", name, err)
	}
	return d
}

// mustLogin logs name@domain in with its password.
func mustLogin(t *testing.T, s *Service, full, password string) *TokenPair {
	t.Helper()
	pair, err := s.PasswordGrant(context.Background(), full, password, LoginInfo{ClientIP: "192.0.2.10"})
	if err != nil {
		t.Fatalf("login %s: %v", full, err)
	}
	return pair
}

// mustAuth authenticates token, failing the test if it is refused.
func mustAuth(t *testing.T, s *Service, token string) *Principal {
	t.Helper()
	p, err := s.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return p
}

// wantInvalid checks that token is refused as invalid.
func wantInvalid(t *testing.T, s *Service, token, why string) {
	t.Helper()
	if p, err := s.Authenticate(context.Background(), token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("%s: authenticate = %+v, %v; want ErrInvalidToken", why, p, err)
	}
}

func wantCode(t *testing.T, err error, code string) *GrantError {
	t.Helper()
	var ge *GrantError
	if !errors.As(err, &ge) || ge.Code != code {
		t.Fatalf("error %v, want a %s grant error", err, code)
	}
	return ge
}

// revocations records what the service announces.
type revocations struct {
	mu   sync.Mutex
	list []Revocation
}

func listen(s *Service) *revocations {
	r := &revocations{}
	s.OnRevoke(func(rv Revocation) {
		r.mu.Lock()
		r.list = append(r.list, rv)
		r.mu.Unlock()
	})
	return r
}

func (r *revocations) all() []Revocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

// countingMetrics records login outcomes.
type countingMetrics struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *countingMetrics) Login(grant string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == nil {
		m.n = map[string]int{}
	}
	outcome := "fail"
	if ok {
		outcome = "ok"
	}
	m.n[grant+" "+outcome]++
}

func (m *countingMetrics) get(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[key]
}
