package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/openwac/wac/internal/config"
)

// A refused attempt is answered without hashing: it is refused even while
// every hashing slot is taken, where an attempt that is let through waits.
func TestRefusedLoginRunsNoHash(t *testing.T) {
	s, _, d := newTestService(t, func(c *config.Config) { c.Login.AccountFailures, c.Login.AddressFailures = 2, 3 })
	mustUser(t, s, d, "alice", "alice-password")
	ctx := context.Background()
	from := LoginInfo{ClientIP: "192.0.2.1"}
	for _, u := range []string{"alice", "alice", "bob"} {
		_, err := s.PasswordGrant(ctx, u+"@wac", "wrong-password", from)
		wantCode(t, err, "invalid_grant")
	}
	for range cap(s.hasher.slots) {
		s.hasher.slots <- struct{}{}
	}
	defer func() {
		for range cap(s.hasher.slots) {
			<-s.hasher.slots
		}
	}()
	// An attempt let through waits for a hashing slot...
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.PasswordGrant(short, "carol@wac", "some-password", LoginInfo{ClientIP: "192.0.2.2"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("attempt with every hashing slot taken: %v, want it to wait", err)
	}
	// ...refused ones do not: the account waits, then the address does.
	long, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, c := range []struct {
		user string
		from LoginInfo
		msg  string
	}{
		{"alice@wac", LoginInfo{ClientIP: "192.0.2.2"}, "too many failed logins for this account; try again in 1 s"},
		{"dave@wac", from, "too many failed logins from your address; try again in 1 s"},
	} {
		_, err := s.PasswordGrant(long, c.user, "alice-password", c.from)
		if ge := wantCode(t, err, "too_many_requests"); ge.Message != c.msg || ge.RetryAfter != time.Second {
			t.Fatalf("%s from %s: %q, retry after %v; want %q", c.user, c.from.ClientIP, ge.Message, ge.RetryAfter, c.msg)
		}
	}
}

// Attempts sent at once count before their outcome is known: no more than
// accountFailures of them are let through.
func TestConcurrentGuessesAreCounted(t *testing.T) {
	s, _, d := newTestService(t, func(c *config.Config) { c.Login.AccountFailures, c.Login.AddressFailures = 3, 0 })
	s.hasher = NewHasher(8*1024, 1, 1) // slow enough for the guesses to overlap
	mustUser(t, s, d, "alice", "alice-password")
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.PasswordGrant(context.Background(), "alice@wac", fmt.Sprint("guess-", i), LoginInfo{})
			var ge *GrantError
			if !errors.As(err, &ge) {
				t.Errorf("guess %d: %v", i, err)
				return
			}
			mu.Lock()
			codes[ge.Code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes["invalid_grant"] != 3 || codes["too_many_requests"] != 9 {
		t.Fatalf("outcomes of 12 guesses at once: %v, want 3 checked and 9 refused", codes)
	}
}

// The guard's tables stay within their bound under a flood of names and
// addresses, forgetting the entries that expire soonest.
func TestLoginGuardIsBounded(t *testing.T) {
	cfg := config.Default().Login
	g := newLoginGuard(&cfg, 32)
	now := time.Now()
	for i := range 1000 {
		tk, refused := g.admit(fmt.Sprint("user", i, "@wac"), fmt.Sprint("198.51.100.", i), now)
		if refused != nil {
			t.Fatal(refused)
		}
		tk.failed()
	}
	if len(g.accounts.m) > 32 || len(g.addresses.m) > 32 {
		t.Fatalf("tables hold %d accounts and %d addresses, bound 32", len(g.accounts.m), len(g.addresses.m))
	}

	b := newBounded[int](16, func(v *time.Time) time.Time { return *v })
	for i := range 16 {
		*b.add(i, now, nil) = now.Add(time.Duration(16-i) * time.Minute)
	}
	var dropped []int
	*b.add(99, now, func(k int, _ *time.Time) { dropped = append(dropped, k) }) = now.Add(time.Hour)
	if len(dropped) != 1 || dropped[0] != 15 || len(b.m) != 16 {
		t.Fatalf("full table dropped %v (holds %d), want the soonest to expire (15)", dropped, len(b.m))
	}
	dropped = nil
	b.sweep(now.Add(3*time.Minute), func(k int, _ *time.Time) { dropped = append(dropped, k) })
	if len(dropped) != 2 {
		t.Fatalf("sweep dropped %v, want the two expired (13, 14)", dropped)
	}
}

// What a client chose for a username is logged cut short, and an overlong
// one is refused before anything is logged or looked up.
func TestFailedLoginLogIsBounded(t *testing.T) {
	s, _, _ := newTestService(t, nil)
	var logs bytes.Buffer
	s.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	_, err := s.PasswordGrant(ctx, strings.Repeat("x", 100000)+"@wac", "wrong-password", LoginInfo{ClientIP: "192.0.2.1"})
	if ge := wantCode(t, err, "invalid_request"); !strings.HasPrefix(ge.Message, `field "username": `) {
		t.Fatalf("message %q does not name the field", ge.Message)
	}
	if logs.Len() != 0 {
		t.Fatalf("a refused username was logged: %.200s", logs.String())
	}
	for range 3 {
		_, err = s.PasswordGrant(ctx, strings.Repeat("é", 150)+"@wac", "wrong-password", LoginInfo{ClientIP: "192.0.2.1"})
		wantCode(t, err, "invalid_grant")
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if len(line) > 400 || !strings.Contains(line, "more bytes]") || !utf8.ValidString(line) {
			t.Fatalf("log line of %d bytes: %s", len(line), line)
		}
	}
}
