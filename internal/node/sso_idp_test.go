package node_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/openwac/wac/internal/config"
)

// stubIdP is a small OpenID Connect provider on loopback whose answers a
// test bends: who logs in, the id_token's claims and times, a discovery
// document naming another issuer, a JWKS that fails. Its /auth logs the
// user in at once.
type stubIdP struct {
	srv  *httptest.Server
	key  *rsa.PrivateKey
	key2 *rsa.PrivateKey // a rotated key, whose JWKS cannot be fetched

	mu         sync.Mutex
	nonce      string
	claims     map[string]any // merged over the defaults
	issuedAt   time.Time      // zero: now
	docIssuer  string         // "" = the server's URL
	jwksFails  bool
	refreshErr bool
	refreshes  int
}

func newStubIdP(t *testing.T) *stubIdP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &stubIdP{key: key, key2: key2, claims: map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		iss := s.docIssuer
		s.mu.Unlock()
		if iss == "" {
			iss = s.srv.URL
		}
		json.NewEncoder(w).Encode(map[string]any{"issuer": iss, "authorization_endpoint": s.srv.URL + "/auth",
			"token_endpoint": s.srv.URL + "/token", "jwks_uri": s.srv.URL + "/jwks", "end_session_endpoint": s.srv.URL + "/logout",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		fails := s.jwksFails
		s.mu.Unlock()
		if fails {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &s.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /auth", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s.mu.Lock()
		s.nonce = q.Get("nonce")
		s.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {"stub-code"}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("grant_type") == "refresh_token" {
			s.refreshes++
			if s.refreshErr {
				w.WriteHeader(400)
				w.Write([]byte(`{"error":"invalid_grant","error_description":"session ended"}`))
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"access_token": "at-2", "token_type": "Bearer", "expires_in": 60, "refresh_token": "rt-2"})
			return
		}
		if r.PostForm.Get("code") != "stub-code" || r.PostForm.Get("code_verifier") == "" {
			w.WriteHeader(400)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		iat := s.issuedAt
		if iat.IsZero() {
			iat = time.Now()
		}
		claims := map[string]any{"iss": s.srv.URL, "sub": "stub-1", "aud": "wac-client", "iat": iat.Unix(),
			"exp": iat.Add(5 * time.Minute).Unix(), "nonce": s.nonce, "preferred_username": "carol", "email": "carol@corp.example"}
		for k, v := range s.claims {
			claims[k] = v
		}
		key, kid := s.key, "k1"
		if s.jwksFails {
			key, kid = s.key2, "k2" // a new key: the relying party must fetch the JWKS again
		}
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
		raw, _ := jwt.Signed(signer).Claims(claims).Serialize()
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at-1", "token_type": "Bearer", "expires_in": 60,
			"refresh_token": "rt-1", "id_token": raw})
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stubIdP) set(f func(s *stubIdP)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// stubPair is node b with the provider "stub" of its domain corp.
type stubPair struct {
	*ssoPair
	idp *stubIdP
}

func startStub(t *testing.T, tweak func(*config.Config), provider map[string]any) *stubPair {
	p := startSSOPair(t, tweak)
	idp := newStubIdP(t)
	body := map[string]any{"name": "stub", "domain": "corp", "issuer": idp.srv.URL, "clientId": "wac-client", "clientSecret": "s"}
	for k, v := range provider {
		body[k] = v
	}
	if code := apiJSON(t, "POST", p.bURL+"/sapi/providers", p.bAdmin, body, &struct{}{}); code != 201 {
		t.Fatalf("create stub provider: %d", code)
	}
	return &stubPair{ssoPair: p, idp: idp}
}

// run logs in through the stub and returns the app URL's fragment.
func (p *stubPair) run(t *testing.T) url.Values {
	t.Helper()
	br := newBrowser(t)
	end := br.follow(p.bURL+"/sapi/o/federation/stub/start?return_to=/admin", func(u string) bool { return strings.HasPrefix(u, p.bURL+"/admin#") })
	if !strings.HasPrefix(end, p.bURL+"/admin#") {
		t.Fatalf("the login did not come back to the app: %s (%d %.200s)", end, br.status, br.body)
	}
	return fragment(t, end)
}

// Every failure of a federated login comes back to the app as an OAuth2
// error with a message that names what failed: a state that is not the
// browser's, the provider's refusal of an expired code, an id_token for
// another audience, from another issuer, issued in the future or expired
// beyond the clock skew allowed, a JWKS that cannot be fetched, a nonce
// that is not the login's, a discovery document of another issuer.
func TestSSOFailuresAreClearOAuth2Errors(t *testing.T) {
	p := startStub(t, nil, nil)
	if frag := p.run(t); frag.Get("sso_access_token") == "" {
		t.Fatalf("the stub's login works: %v", frag)
	}
	for _, c := range []struct {
		name       string
		bend       func(s *stubIdP)
		code, want string
	}{
		{"wrong audience", func(s *stubIdP) { s.claims["aud"] = "another-client" }, "invalid_grant", "wrong audience"},
		{"unknown issuer", func(s *stubIdP) { s.claims["iss"] = "https://evil.example.com" }, "invalid_grant", "unknown issuer"},
		{"clock skew: future", func(s *stubIdP) { s.issuedAt = time.Now().Add(5 * time.Minute) }, "invalid_grant", "issued in the future"},
		{"clock skew: expired", func(s *stubIdP) { s.issuedAt = time.Now().Add(-7 * time.Minute) }, "invalid_grant", "expired"},
		{"nonce", func(s *stubIdP) { s.claims["nonce"] = "another" }, "invalid_grant", "nonce"},
		{"JWKS fetch failure", func(s *stubIdP) { s.jwksFails = true }, "temporarily_unavailable", "JWKS"},
	} {
		p.idp.set(func(s *stubIdP) { s.claims, s.issuedAt, s.jwksFails = map[string]any{}, time.Time{}, false; c.bend(s) })
		frag := p.run(t)
		if frag.Get("sso_access_token") != "" || frag.Get("sso_error") != c.code || !strings.Contains(frag.Get("sso_error_description"), c.want) {
			t.Errorf("%s: %v", c.name, frag)
		}
	}
	p.idp.set(func(s *stubIdP) { s.claims, s.issuedAt, s.jwksFails = map[string]any{}, time.Time{}, false })
	// Within the clock skew allowed (oauth2client.clockSkew, 60 s): fine.
	p.idp.set(func(s *stubIdP) { s.issuedAt = time.Now().Add(30 * time.Second) })
	if frag := p.run(t); frag.Get("sso_access_token") == "" {
		t.Errorf("30 s of skew: %v", frag)
	}
	p.idp.set(func(s *stubIdP) { s.issuedAt = time.Time{} })

	// State mismatch: the callback of another browser's login.
	br := newBrowser(t)
	loc := br.do("GET", p.bURL+"/sapi/o/federation/stub/start", nil)
	u, _ := url.Parse(loc)
	other := newBrowser(t)
	back := other.do("GET", p.bURL+"/sapi/o/federation/callback?code=stub-code&state="+u.Query().Get("state"), nil)
	if frag := fragment(t, back); frag.Get("sso_error") != "invalid_request" || !strings.Contains(frag.Get("sso_error_description"), "state") {
		t.Errorf("callback without the browser's cookie: %v", frag)
	}
	back = br.do("GET", p.bURL+"/sapi/o/federation/callback?code=stub-code&state=forged", nil)
	if frag := fragment(t, back); frag.Get("sso_error") != "invalid_request" || !strings.Contains(frag.Get("sso_error_description"), "state mismatch") {
		t.Errorf("forged state: %v", frag)
	}

	// An expired code: a (the other node) refuses it, and b says so.
	br = newBrowser(t)
	atApp := func(u string) bool { return strings.HasPrefix(u, p.bURL+"/#") }
	br.do("GET", br.do("GET", p.bURL+"/sapi/o/federation/wac-a/start", nil), nil)
	callback := br.submit("login", url.Values{"username": {"alice"}, "password": {"alice-password"}})
	if !strings.HasPrefix(callback, p.bURL) {
		callback = br.submit("allow", nil)
	}
	later := time.Now().Add(2 * time.Minute)
	p.a.Auth.SetClock(func() time.Time { return later })
	end := br.follow(callback, atApp)
	p.a.Auth.SetClock(time.Now)
	if frag := fragment(t, end); frag.Get("sso_error") != "invalid_grant" || !strings.Contains(frag.Get("sso_error_description"), "expired") {
		t.Errorf("expired code: %s", end)
	}

	// A discovery document of another issuer.
	p.idp.set(func(s *stubIdP) { s.docIssuer = "https://other.example.com" })
	p.b.Federation.SetClock(func() time.Time { return time.Now().Add(time.Hour) }) // past the discovery cache
	frag := p.run(t)
	if frag.Get("sso_error") != "invalid_request" || !strings.Contains(frag.Get("sso_error_description"), "answers for the issuer") {
		t.Errorf("issuer mismatch in discovery: %v", frag)
	}
}

// Without login.createOAuthUser an unknown user is refused with a message
// that says so; a user that exists is linked and logs in.
func TestSSOUnknownUserRefusedWithoutCreateOAuthUser(t *testing.T) {
	p := startStub(t, func(c *config.Config) { c.Login.CreateOAuthUser = false }, nil)
	frag := p.run(t)
	if frag.Get("sso_error") != "access_denied" || !strings.Contains(frag.Get("sso_error_description"), "no OpenWAC user carol@corp") ||
		!strings.Contains(frag.Get("sso_error_description"), "login.createOAuthUser") {
		t.Errorf("unknown user: %v", frag)
	}
	apiJSON(t, "POST", p.bURL+"/sapi/users", p.bAdmin, map[string]any{"username": "carol", "domain": "corp"}, &struct{}{})
	if frag := p.run(t); frag.Get("sso_access_token") == "" {
		t.Errorf("existing user: %v", frag)
	}
}

// A provider reaches its own domain and those below it: a domain claim
// naming another tenant is refused, and OAuthUserForcedDomain puts new
// users where it says.
func TestSSOTenantIsolation(t *testing.T) {
	p := startStub(t, func(c *config.Config) { c.Login.OAuthUserForcedDomain = "corp.sub" },
		map[string]any{"claims": map[string]any{"domain": "tenant"}})
	apiJSON(t, "POST", p.bURL+"/sapi/domains", p.bAdmin, map[string]any{"domain": "globex"}, &struct{}{})
	apiJSON(t, "POST", p.bURL+"/sapi/domains", p.bAdmin, map[string]any{"domain": "corp.sub", "parent": "corp"}, &struct{}{})
	p.idp.set(func(s *stubIdP) { s.claims["tenant"] = "globex" })
	if frag := p.run(t); frag.Get("sso_error") != "access_denied" || !strings.Contains(frag.Get("sso_error_description"), "may not log users into another domain") {
		t.Errorf("domain claim of another tenant: %v", frag)
	}
	p.idp.set(func(s *stubIdP) { s.claims["tenant"] = "corp" })
	frag := p.run(t)
	var me struct{ Domain string }
	apiJSON(t, "GET", p.bURL+"/sapi/users/me", frag.Get("sso_access_token"), nil, &me)
	if me.Domain != "corp.sub" {
		t.Errorf("forced domain: %+v %v", me, frag)
	}
	// A tenant admin of globex sees no provider of corp, and cannot make
	// one for corp.
	apiJSON(t, "POST", p.bURL+"/sapi/users", p.bAdmin, map[string]any{"username": "gadmin", "domain": "globex", "role": "admin", "password": "gadmin-password"}, &struct{}{})
	var tok tokenAnswer
	(&opFixture{base: p.bURL}).exchange(t, url.Values{"grant_type": {"password"}, "username": {"gadmin@globex"}, "password": {"gadmin-password"}}, &tok)
	var list []map[string]any
	apiJSON(t, "GET", p.bURL+"/sapi/providers", tok.AccessToken, nil, &list)
	if len(list) != 0 {
		t.Errorf("globex's admin sees %v", list)
	}
	if code := apiJSON(t, "POST", p.bURL+"/sapi/providers", tok.AccessToken, map[string]any{"name": "x", "domain": "corp",
		"issuer": "https://x.example.com", "clientId": "c"}, nil); code != 422 {
		t.Errorf("globex's admin makes a provider of corp: %d", code)
	}
}

// A domain whose provider has disablePasswordLogin refuses password logins
// (saying where to sign in), but not the system's admins; groupMap gives
// roles and hunt groups; the provider's tokens are refreshed with b's, and
// a provider that refuses ends the login.
func TestSSOAdminControls(t *testing.T) {
	p := startStub(t, nil, map[string]any{"displayName": "Corp SSO", "disablePasswordLogin": true,
		"claims":   map[string]any{"groups": "groups"},
		"groupMap": map[string]any{"wac-admins": map[string]any{"role": "admin"}, "support": map[string]any{"groups": []string{"helpdesk"}}}})
	apiJSON(t, "POST", p.bURL+"/sapi/users", p.bAdmin, map[string]any{"username": "dave", "domain": "corp", "password": "dave-password"}, &struct{}{})
	var ans tokenAnswer
	op := &opFixture{base: p.bURL}
	if st := op.exchange(t, url.Values{"grant_type": {"password"}, "username": {"dave@corp"}, "password": {"dave-password"}}, &ans); st != 400 ||
		!strings.Contains(ans.Description, "password login is disabled for the domain corp: sign in with Corp SSO") {
		t.Errorf("password login of corp: %d %+v", st, ans)
	}
	if st := op.exchange(t, url.Values{"grant_type": {"password"}, "username": {"admin@wac"}, "password": {"admin-secret-1"}}, &ans); st != 200 {
		t.Errorf("the system admin: %d %+v", st, ans)
	}
	var group struct{ ID string }
	apiJSON(t, "POST", p.bURL+"/sapi/usersGroup", p.bAdmin, map[string]any{"name": "helpdesk", "domain": "corp"}, &group)
	p.idp.set(func(s *stubIdP) { s.claims["groups"] = []string{"wac-admins", "support"} })
	frag := p.run(t)
	var me struct{ ID, Role string }
	apiJSON(t, "GET", p.bURL+"/sapi/users/me", frag.Get("sso_access_token"), nil, &me)
	if me.Role != "admin" {
		t.Errorf("role from groups: %+v", me)
	}
	var members struct{ Participants []string }
	apiJSON(t, "GET", p.bURL+"/sapi/usersGroup/"+group.ID, p.bAdmin, nil, &members)
	if len(members.Participants) != 1 || members.Participants[0] != me.ID {
		t.Errorf("hunt group from groups: %+v", members)
	}
	// Out of the support group at the provider: out of helpdesk.
	p.idp.set(func(s *stubIdP) { s.claims["groups"] = []string{"wac-admins"} })
	frag = p.run(t)
	apiJSON(t, "GET", p.bURL+"/sapi/usersGroup/"+group.ID, p.bAdmin, nil, &members)
	if len(members.Participants) != 0 {
		t.Errorf("still in helpdesk: %+v", members)
	}
	// The provider's access token lasts 60 s: past it, b's refresh
	// refreshes it at the provider first.
	p.b.Federation.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	if st := op.exchange(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {frag.Get("sso_refresh_token")}}, &ans); st != 200 {
		t.Fatalf("refresh: %d %+v", st, ans)
	}
	p.idp.set(func(s *stubIdP) {
		if s.refreshes != 1 {
			t.Errorf("the provider was asked %d times to refresh", s.refreshes)
		}
		s.refreshErr = true
	})
	p.b.Federation.SetClock(func() time.Time { return time.Now().Add(5 * time.Minute) })
	if st := op.exchange(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ans.RefreshToken}}, &ans); st != 400 ||
		!strings.Contains(ans.Description, "identity provider no longer accepts this login") {
		t.Errorf("refresh the provider refuses: %d %+v", st, ans)
	}
}

// Providers of the configuration's providers directory (the seeds'
// oauth2client.providers) log users in, are offered on the login page
// when listed, and are read-only through the API.
func TestSSOProvidersDirectory(t *testing.T) {
	idp := newStubIdP(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "corp.json"), []byte(`{"displayName": "Corp", "issuer": "`+idp.srv.URL+
		`", "clientId": "wac-client", "clientSecret": "s", "listed": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, base := startNodeWith(t, t.TempDir(), func(c *config.Config) {
		c.OAuth2Client.Providers = dir
		c.Login.CreateOAuthUser = true
	})
	var offered []struct{ Name, DisplayName, Domain, Start string }
	apiJSON(t, "GET", base+"/sapi/o/providers", "", nil, &offered)
	if len(offered) != 1 || offered[0].Name != "corp" || offered[0].Domain != "wac" || offered[0].Start != "/sapi/o/federation/corp/start" {
		t.Fatalf("login page providers: %+v", offered)
	}
	br := newBrowser(t)
	end := br.follow(base+offered[0].Start, func(u string) bool { return strings.HasPrefix(u, base+"/#") })
	if frag := fragment(t, end); frag.Get("sso_access_token") == "" {
		t.Fatalf("login through the file's provider: %s", end)
	}
	admin := (&opFixture{base: base})
	var tok tokenAnswer
	admin.exchange(t, url.Values{"grant_type": {"password"}, "username": {"admin@wac"}, "password": {"admin-secret-1"}}, &tok)
	var list []struct {
		ID              string
		Source          string
		ClientSecret    string
		ClientSecretSet bool
	}
	apiJSON(t, "GET", base+"/sapi/providers", tok.AccessToken, nil, &list)
	if len(list) != 1 || list[0].Source != "file" || list[0].ClientSecret != "" || !list[0].ClientSecretSet {
		t.Fatalf("providers: %+v", list)
	}
	if code := apiJSON(t, "DELETE", base+"/sapi/providers/"+list[0].ID, tok.AccessToken, nil, nil); code != 409 {
		t.Errorf("delete a file's provider: %d", code)
	}
}
