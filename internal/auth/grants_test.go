package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// The password grant issues an access and a refresh token to the right
// password of user@domain (a bare name means the default domain, case does
// not matter), and the same refusal to a wrong password, an unknown user or
// an unknown domain.
func TestPasswordGrant(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, clock, d := newTestServiceOn(t, dialect, func(c *config.Config) { c.OAuth2Provider.AccessTokenExpiration = 10 * time.Minute })
		m := &countingMetrics{}
		s.Metrics = m
		alice := mustUser(t, s, d, "alice", "alice-password")
		ctx := context.Background()
		from := LoginInfo{ClientIP: "192.0.2.7"}
		for _, name := range []string{"alice@wac", "alice", " ALICE@WAC "} {
			pair, err := s.PasswordGrant(ctx, name, "alice-password", from)
			if err != nil {
				t.Fatalf("login as %q: %v", name, err)
			}
			if pair.AccessToken == "" || pair.RefreshToken == "" || pair.AccessToken == pair.RefreshToken ||
				pair.TokenType != "Bearer" || pair.ExpiresIn != 599 {
				t.Fatalf("login as %q: %+v", name, pair)
			}
			if p := mustAuth(t, s, pair.AccessToken); p.UserID != alice.ID {
				t.Fatalf("login as %q gave a token of %+v", name, p)
			}
		}
		u, err := s.st.GetUser(ctx, alice.ID)
		if err != nil || u.LastLogin != clock.now().UnixMilli() {
			t.Fatalf("last login %v (%v), want %d", u, err, clock.now().UnixMilli())
		}
		for _, c := range []struct{ user, password string }{
			{"alice@wac", "wrong-password"},
			{"nobody@wac", "alice-password"},
			{"alice@elsewhere", "alice-password"},
		} {
			_, err := s.PasswordGrant(ctx, c.user, c.password, from)
			if ge := wantCode(t, err, "invalid_grant"); ge.Message != "invalid username or password" {
				t.Fatalf("%s: message %q tells more than a wrong password would", c.user, ge.Message)
			}
		}
		_, err = s.PasswordGrant(ctx, "alice@wac", "", from)
		if ge := wantCode(t, err, "invalid_request"); !strings.Contains(ge.Message, `"password"`) {
			t.Fatalf("empty password: %q does not name the field", ge.Message)
		}
		_, err = s.PasswordGrant(ctx, "", "alice-password", from)
		if ge := wantCode(t, err, "invalid_request"); !strings.Contains(ge.Message, `"username"`) {
			t.Fatalf("empty username: %q does not name the field", ge.Message)
		}
		if ok, fail := m.get("password ok"), m.get("password fail"); ok != 3 || fail != 3 {
			t.Fatalf("metrics counted %d logins and %d failures, want 3 and 3", ok, fail)
		}
	})
}

// Users without a password (anonymous visitors, users with no basic
// credential) cannot use the password grant.
func TestPasswordGrantWithoutPassword(t *testing.T) {
	s, _, d := newTestService(t, nil)
	ctx := context.Background()
	for _, u := range []*store.User{
		{DomainID: d.ID, Username: "visitor", Role: store.RoleAnonymous},
		{DomainID: d.ID, Username: "sso-only", Role: store.RoleUser},
	} {
		if err := s.st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	// Even with a credential, an anonymous user does not log in.
	visitor, _ := s.st.GetUserByName(ctx, d.ID, "visitor")
	hash, _ := s.Hasher().Hash(ctx, "a-password")
	if err := s.st.CreateCredential(ctx, &store.Credential{Source: "wac", Type: "basic", DomainID: d.ID, UserID: visitor.ID,
		Data: map[string]any{"hash": hash}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"visitor@wac", "sso-only@wac"} {
		_, err := s.PasswordGrant(ctx, name, "a-password", LoginInfo{})
		wantCode(t, err, "invalid_grant")
	}
}

// oauth2provider.maxTokens keeps a user's newest grants; login.exclusive
// keeps only the newest. The ended grants are announced with the reason.
func TestGrantLimits(t *testing.T) {
	for _, c := range []struct {
		name   string
		tweak  func(*config.Config)
		live   int
		reason string
	}{
		{"maxTokens", func(c *config.Config) { c.OAuth2Provider.MaxTokens = 2 }, 2, "maxTokens"},
		{"exclusive", func(c *config.Config) { c.Login.Exclusive = true }, 1, "exclusive login: the user logged in elsewhere"},
		{"unlimited", nil, 4, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dialects(t, func(t *testing.T, dialect string) {
				s, clock, d := newTestServiceOn(t, dialect, c.tweak)
				mustUser(t, s, d, "alice", "alice-password")
				heard := listen(s)
				var pairs []*TokenPair
				for range 4 {
					clock.add(time.Millisecond) // grants are ordered by creation
					pairs = append(pairs, mustLogin(t, s, "alice@wac", "alice-password"))
				}
				for i, p := range pairs {
					if i < len(pairs)-c.live {
						wantInvalid(t, s, p.AccessToken, "an older grant")
					} else {
						mustAuth(t, s, p.AccessToken)
					}
				}
				got := heard.all()
				if len(got) != len(pairs)-c.live {
					t.Fatalf("%d revocations, want %d", len(got), len(pairs)-c.live)
				}
				for _, r := range got {
					if r.Reason != c.reason || len(r.GrantIDs) != 1 {
						t.Fatalf("revocation %+v, want one grant ended for %q", r, c.reason)
					}
				}
			})
		})
	}
}

// A refresh token gives new tokens of the same grant once: the old pair
// stops working at once (even the cached access token). A refresh token
// that comes back after that is a stolen copy: the whole grant ends, the
// revocation is announced and an alarm raised, once.
func TestRefreshGrantRotates(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, _, d := newTestServiceOn(t, dialect, nil)
		m := &countingMetrics{}
		s.Metrics = m
		alice := mustUser(t, s, d, "alice", "alice-password")
		ctx := context.Background()
		from := LoginInfo{ClientIP: "198.51.100.9"}
		first := mustLogin(t, s, "alice@wac", "alice-password")
		grant := mustAuth(t, s, first.AccessToken).GrantID
		heard := listen(s)

		second, err := s.RefreshGrant(ctx, first.RefreshToken, from)
		if err != nil {
			t.Fatal(err)
		}
		if second.AccessToken == first.AccessToken || second.RefreshToken == first.RefreshToken || second.RefreshToken == "" {
			t.Fatalf("refresh gave %+v after %+v: not new tokens", second, first)
		}
		if p := mustAuth(t, s, second.AccessToken); p.GrantID != grant || p.UserID != alice.ID {
			t.Fatalf("refreshed token: %+v, want alice's grant %s", p, grant)
		}
		wantInvalid(t, s, first.AccessToken, "the access token before the refresh")
		if len(heard.all()) != 0 {
			t.Fatalf("a refresh announced %+v: the grant's sessions would close", heard.all())
		}

		// The old refresh token again: the grant ends.
		_, err = s.RefreshGrant(ctx, first.RefreshToken, from)
		if ge := wantCode(t, err, "invalid_grant"); !strings.Contains(ge.Message, "already used") {
			t.Fatalf("reused refresh token: %q", ge.Message)
		}
		wantInvalid(t, s, second.AccessToken, "the grant of a reused refresh token")
		if _, err := s.RefreshGrant(ctx, second.RefreshToken, from); err == nil {
			t.Fatal("the newest refresh token of a revoked grant still works")
		}
		got := heard.all()
		if len(got) != 1 || got[0].Reason != "refresh token reused" || got[0].GrantIDs[0] != grant || got[0].UserID != alice.ID {
			t.Fatalf("revocations %+v, want the grant ended for reuse", got)
		}
		alarms, err := s.st.ListAlarms(ctx, nil, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(alarms) != 1 || alarms[0].Type != "refresh-token-reuse" || alarms[0].UserID != alice.ID ||
			!strings.Contains(alarms[0].Message, "alice@wac") || !strings.Contains(alarms[0].Message, "198.51.100.9") {
			t.Fatalf("alarms %+v, want one refresh-token-reuse naming alice@wac and the address", alarms)
		}
		// A further replay finds nothing: no second alarm.
		_, err = s.RefreshGrant(ctx, first.RefreshToken, from)
		if ge := wantCode(t, err, "invalid_grant"); strings.Contains(ge.Message, "already used") {
			t.Fatalf("second replay: %q", ge.Message)
		}
		if alarms, _ := s.st.ListAlarms(ctx, nil, store.Page{}); len(alarms) != 1 {
			t.Fatalf("%d alarms after a second replay, want 1", len(alarms))
		}
		if ok, fail := m.get("refresh_token ok"), m.get("refresh_token fail"); ok != 1 || fail != 3 {
			t.Fatalf("metrics counted %d refreshes and %d failures, want 1 and 3", ok, fail)
		}
	})
}

// What is not a live refresh token is refused.
func TestRefreshGrantRefuses(t *testing.T) {
	s, clock, d := newTestService(t, func(c *config.Config) { c.OAuth2Provider.RefreshTokenExpiration = time.Minute })
	mustUser(t, s, d, "alice", "alice-password")
	ctx := context.Background()
	pair := mustLogin(t, s, "alice@wac", "alice-password")
	_, err := s.RefreshGrant(ctx, "", LoginInfo{})
	if ge := wantCode(t, err, "invalid_request"); !strings.Contains(ge.Message, `"refresh_token"`) {
		t.Fatalf("empty refresh token: %q does not name the field", ge.Message)
	}
	_, err = s.RefreshGrant(ctx, pair.AccessToken, LoginInfo{})
	wantCode(t, err, "invalid_grant")
	_, err = s.RefreshGrant(ctx, "not-a-token", LoginInfo{})
	wantCode(t, err, "invalid_grant")
	clock.add(60 * time.Second)
	_, err = s.RefreshGrant(ctx, pair.RefreshToken, LoginInfo{})
	wantCode(t, err, "invalid_grant")
}

// A registered client gets an access token (no refresh token) for its
// secret; the token stands for the client, with its role and domain.
func TestClientCredentialsGrant(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, _, d := newTestServiceOn(t, dialect, nil)
		m := &countingMetrics{}
		s.Metrics = m
		ctx := context.Background()
		secret, hash := NewClientSecret()
		if hash != HashToken(secret) || len(secret) != 64 {
			t.Fatalf("secret %q, hash %q", secret, hash)
		}
		c := &store.Client{Name: "crm", SecretHash: hash, DomainID: d.ID, Role: store.RoleAdmin}
		if err := s.st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		pair, err := s.ClientCredentialsGrant(ctx, c.ID, secret)
		if err != nil {
			t.Fatal(err)
		}
		if pair.AccessToken == "" || pair.RefreshToken != "" || pair.TokenType != "Bearer" {
			t.Fatalf("client grant %+v, want an access token only", pair)
		}
		p := mustAuth(t, s, pair.AccessToken)
		if p.ClientID != c.ID || p.UserID != "" || p.Username != "client:crm" || !p.IsAdmin() || p.DomainName != "wac" {
			t.Fatalf("client principal %+v", p)
		}
		for _, bad := range []struct{ id, secret string }{
			{c.ID, "wrong"},
			{c.ID, ""},
			{"", secret},
			{"not an id", secret},
			{store.NewID(), secret},
		} {
			_, err := s.ClientCredentialsGrant(ctx, bad.id, bad.secret)
			wantCode(t, err, "invalid_client")
		}
		if ok, fail := m.get("client_credentials ok"), m.get("client_credentials fail"); ok != 1 || fail != 3 {
			t.Fatalf("metrics counted %d grants and %d failures, want 1 and 3", ok, fail)
		}
		// A deleted client's token stands for nobody.
		if err := s.st.DeleteClient(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		s.Forget([]string{HashToken(pair.AccessToken)})
		wantInvalid(t, s, pair.AccessToken, "the token of a deleted client")
	})
}

// The anonymous grant creates a visitor of the domain "@name" designates,
// for the domain's anonymousExpiration.
func TestAnonymousGrant(t *testing.T) {
	dialects(t, func(t *testing.T, dialect string) {
		s, clock, _ := newTestServiceOn(t, dialect, nil)
		ctx := context.Background()
		visitors := mustDomain(t, s, "visitors", nil, func(d *store.Domain) {
			d.EnableAnonymous, d.AnonymousExpiration = true, 60_000
		})
		pair, err := s.AnonymousGrant(ctx, "@Visitors", LoginInfo{ClientIP: "192.0.2.1"})
		if err != nil {
			t.Fatal(err)
		}
		if pair.RefreshToken != "" || pair.ExpiresIn != 59 {
			t.Fatalf("anonymous grant %+v, want an access token for 59 s", pair)
		}
		p := mustAuth(t, s, pair.AccessToken)
		if !p.IsAnonymous() || p.DomainID != visitors.ID || !strings.HasPrefix(p.Username, "anonymous-") {
			t.Fatalf("anonymous principal %+v", p)
		}
		u, err := s.st.GetUser(ctx, p.UserID)
		if err != nil || u.Expires != clock.now().Add(time.Minute).UnixMilli() {
			t.Fatalf("visitor %+v (%v), want a record that expires with the session", u, err)
		}
		clock.add(time.Minute)
		wantInvalid(t, s, pair.AccessToken, "an anonymous session past anonymousExpiration")

		for _, name := range []string{"visitors", "@", ""} {
			_, err := s.AnonymousGrant(ctx, name, LoginInfo{})
			if ge := wantCode(t, err, "invalid_request"); !strings.Contains(ge.Message, `"username"`) {
				t.Fatalf("%q: %q does not name the field", name, ge.Message)
			}
		}
		// The default domain does not take visitors; nor does a name nobody has.
		for _, name := range []string{"@wac", "@nowhere"} {
			_, err := s.AnonymousGrant(ctx, name, LoginInfo{})
			wantCode(t, err, "invalid_grant")
		}
	})
}

// Without a domain of that name, the visitor goes to the domain whose
// origins match the name or the Origin header most specifically: an exact
// host before a wildcard, a longer wildcard before a shorter, "*" last.
func TestAnonymousGrantOrigins(t *testing.T) {
	s, _, _ := newTestService(t, nil)
	ctx := context.Background()
	open := func(origins ...string) func(*store.Domain) {
		return func(d *store.Domain) { d.EnableAnonymous, d.Origins = true, origins }
	}
	// Listed by name, so the broad patterns come first.
	mustDomain(t, s, "a-any", nil, open("*"))
	mustDomain(t, s, "b-example", nil, open("*.example.com"))
	mustDomain(t, s, "c-eu", nil, open("*.eu.example.com"))
	mustDomain(t, s, "d-shop", nil, open("shop.eu.example.com", "http://localhost:8000"))
	mustDomain(t, s, "e-closed", nil, func(d *store.Domain) { d.Origins = []string{"closed.example.org"} })
	mustDomain(t, s, "f-broken", nil, func(d *store.Domain) { d.EnableAnonymous, d.Origins = true, []string{"http://[::1"} })
	for _, c := range []struct {
		name, origin, want string
	}{
		{"@shop.eu.example.com", "", "d-shop"},
		{"@www.eu.example.com", "", "c-eu"},
		{"@www.example.com", "", "b-example"},
		{"@example.org", "", "a-any"},
		{"@closed.example.org", "", "a-any"},
		{"@unknown", "https://shop.eu.example.com", "d-shop"},
		{"@unknown", "http://localhost:8000", "d-shop"},
		{"@unknown", "https://app.example.com", "b-example"},
		{"@c-eu", "https://shop.eu.example.com", "c-eu"}, // a domain's name comes first
	} {
		pair, err := s.AnonymousGrant(ctx, c.name, LoginInfo{Origin: c.origin})
		if err != nil {
			t.Fatalf("%s from %q: %v", c.name, c.origin, err)
		}
		if p := mustAuth(t, s, pair.AccessToken); p.DomainName != c.want {
			t.Errorf("%s from %q went to %s, want %s", c.name, c.origin, p.DomainName, c.want)
		}
	}
	// A domain named but closed to visitors is not replaced by a pattern.
	_, err := s.AnonymousGrant(ctx, "@e-closed", LoginInfo{Origin: "https://app.example.com"})
	wantCode(t, err, "invalid_grant")
}

// The anonymous quotas refuse logins beyond them with too_many_requests.
func TestAnonymousGrantQuota(t *testing.T) {
	s, clock, _ := newTestService(t, func(c *config.Config) {
		c.Login.AnonymousPerAddress, c.Login.AnonymousPerDomain, c.Login.AnonymousWindow = 2, 0, time.Minute
	})
	mustDomain(t, s, "visitors", nil, func(d *store.Domain) { d.EnableAnonymous = true })
	ctx := context.Background()
	from := LoginInfo{ClientIP: "192.0.2.1"}
	for range 2 {
		if _, err := s.AnonymousGrant(ctx, "@visitors", from); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.AnonymousGrant(ctx, "@visitors", from)
	if ge := wantCode(t, err, "too_many_requests"); ge.RetryAfter <= 0 {
		t.Fatalf("quota refusal without a retry delay: %+v", ge)
	}
	if _, err := s.AnonymousGrant(ctx, "@visitors", LoginInfo{ClientIP: "192.0.2.2"}); err != nil {
		t.Fatalf("another address: %v", err)
	}
	clock.add(time.Minute)
	if _, err := s.AnonymousGrant(ctx, "@visitors", from); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}
