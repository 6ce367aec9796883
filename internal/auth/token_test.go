package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// An access token stands for its user until it expires; a refresh token,
// an unknown token or a malformed one stands for nobody.
func TestAuthenticate(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, clock, d := newTestServiceOn(t, dialect, func(c *config.Config) { c.OAuth2Provider.AccessTokenExpiration = 10 * time.Second })
		alice := mustUser(t, s, d, "alice", "alice-password")
		pair := mustLogin(t, s, "alice@wac", "alice-password")
		p := mustAuth(t, s, pair.AccessToken)
		if p.UserID != alice.ID || p.Username != "alice" || p.DomainID != d.ID || p.DomainName != "wac" ||
			p.Role != store.RoleUser || p.GrantID == "" || p.ClientID != "" {
			t.Fatalf("principal %+v, want alice@wac with a grant", p)
		}
		if want := clock.now().Add(10 * time.Second).UnixMilli(); p.Expires != want {
			t.Fatalf("expires %d, want %d (now + accessTokenExpiration)", p.Expires, want)
		}
		if p.URI() != "wac-user:"+alice.ID || p.IsAdmin() || p.IsAnonymous() {
			t.Fatalf("principal %+v: uri %s", p, p.URI())
		}
		wantInvalid(t, s, pair.RefreshToken, "a refresh token")
		wantInvalid(t, s, "", "an empty token")
		wantInvalid(t, s, strings.Repeat("a", 257), "a token of 257 bytes")
		wantInvalid(t, s, "0123456789abcdef", "an unknown token")

		// Cached or not, the token ends when it expires.
		clock.add(10*time.Second - time.Millisecond)
		mustAuth(t, s, pair.AccessToken)
		clock.add(time.Millisecond)
		wantInvalid(t, s, pair.AccessToken, "an expired token")
	})
}

// A valid token is answered from memory for 30 s: a token deleted behind
// the service's back still works until then, or until Forget drops it (a
// revocation made on another node).
func TestAuthenticateCache(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, clock, d := newTestServiceOn(t, dialect, nil)
		mustUser(t, s, d, "alice", "alice-password")
		ctx := context.Background()
		first := mustLogin(t, s, "alice@wac", "alice-password")
		second := mustLogin(t, s, "alice@wac", "alice-password")
		for _, pair := range []*TokenPair{first, second} {
			p := mustAuth(t, s, pair.AccessToken)
			if _, err := s.st.DeleteGrant(ctx, p.GrantID); err != nil {
				t.Fatal(err)
			}
		}
		mustAuth(t, s, first.AccessToken)
		mustAuth(t, s, second.AccessToken)

		s.Forget([]string{HashToken(first.AccessToken)})
		wantInvalid(t, s, first.AccessToken, "a forgotten token")
		clock.add(29 * time.Second)
		mustAuth(t, s, second.AccessToken)
		clock.add(time.Second)
		wantInvalid(t, s, second.AccessToken, "a deleted token after 30 s")
	})
}

// Logout ends the grant of a token (access or refresh) at once, even
// where it was cached, and tells the listeners which tokens ended.
func TestLogoutRevokes(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, _, d := newTestServiceOn(t, dialect, nil)
		alice := mustUser(t, s, d, "alice", "alice-password")
		heard := listen(s)
		ctx := context.Background()
		a := mustLogin(t, s, "alice@wac", "alice-password")
		b := mustLogin(t, s, "alice@wac", "alice-password")
		grantA := mustAuth(t, s, a.AccessToken).GrantID
		mustAuth(t, s, b.AccessToken)

		if err := s.Logout(ctx, a.AccessToken); err != nil {
			t.Fatal(err)
		}
		wantInvalid(t, s, a.AccessToken, "the access token of a logged-out grant")
		if _, err := s.RefreshGrant(ctx, a.RefreshToken, LoginInfo{}); err == nil {
			t.Fatal("the refresh token of a logged-out grant still works")
		}
		mustAuth(t, s, b.AccessToken)
		got := heard.all()
		if len(got) != 1 {
			t.Fatalf("revocations %+v, want one", got)
		}
		r := got[0]
		if r.UserID != alice.ID || r.Reason != "logout" || !slices.Equal(r.GrantIDs, []string{grantA}) ||
			len(r.Hashes) != 2 || !slices.Contains(r.Hashes, HashToken(a.AccessToken)) || !slices.Contains(r.Hashes, HashToken(a.RefreshToken)) {
			t.Fatalf("revocation %+v, want alice's grant %s with both its tokens", r, grantA)
		}

		// With the refresh token the grant ends too.
		if err := s.Logout(ctx, b.RefreshToken); err != nil {
			t.Fatal(err)
		}
		wantInvalid(t, s, b.AccessToken, "logged out with the refresh token")
		if err := s.Logout(ctx, a.AccessToken); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("logout with an ended token: %v, want ErrInvalidToken", err)
		}
	})
}

// RevokeUser ends every grant of a user; RevokeOtherGrants every grant
// but one.
func TestRevokeUserAndOtherGrants(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, _, d := newTestServiceOn(t, dialect, nil)
		alice := mustUser(t, s, d, "alice", "alice-password")
		mustUser(t, s, d, "bob", "bob-password")
		heard := listen(s)
		ctx := context.Background()
		var pairs []*TokenPair
		for range 3 {
			pairs = append(pairs, mustLogin(t, s, "alice@wac", "alice-password"))
		}
		bob := mustLogin(t, s, "bob@wac", "bob-password")
		keep := mustAuth(t, s, pairs[1].AccessToken).GrantID
		for _, p := range pairs {
			mustAuth(t, s, p.AccessToken)
		}

		if err := s.RevokeOtherGrants(ctx, alice.ID, keep, "password changed"); err != nil {
			t.Fatal(err)
		}
		wantInvalid(t, s, pairs[0].AccessToken, "another grant")
		wantInvalid(t, s, pairs[2].AccessToken, "another grant")
		mustAuth(t, s, pairs[1].AccessToken)
		if got := heard.all(); len(got) != 1 || len(got[0].GrantIDs) != 2 || slices.Contains(got[0].GrantIDs, keep) || got[0].Reason != "password changed" {
			t.Fatalf("revocations %+v, want the two other grants", got)
		}
		// Nothing left to revoke: nothing is announced.
		if err := s.RevokeOtherGrants(ctx, alice.ID, keep, "again"); err != nil || len(heard.all()) != 1 {
			t.Fatalf("second RevokeOtherGrants: %v, %d revocations", err, len(heard.all()))
		}

		if err := s.RevokeUser(ctx, alice.ID, "deleted"); err != nil {
			t.Fatal(err)
		}
		wantInvalid(t, s, pairs[1].AccessToken, "a revoked user's token")
		mustAuth(t, s, bob.AccessToken)
		if got := heard.all(); len(got) != 2 || got[1].UserID != alice.ID || len(got[1].Hashes) != 2 {
			t.Fatalf("revocations %+v, want alice's last grant (two tokens)", got)
		}
	})
}

// A token whose user was deleted stands for nobody.
func TestAuthenticateDeletedUser(t *testing.T) {
	s, _, d := newTestService(t, nil)
	alice := mustUser(t, s, d, "alice", "alice-password")
	pair := mustLogin(t, s, "alice@wac", "alice-password")
	if err := s.st.DeleteUser(context.Background(), alice.ID); err != nil {
		t.Fatal(err)
	}
	wantInvalid(t, s, pair.AccessToken, "the token of a deleted user")
}
