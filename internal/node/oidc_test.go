package node_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/node"
)

// opFixture is one node as an OpenID Connect provider with the user alice
// and an app registered to log users in.
type opFixture struct {
	n        *node.Node
	base     string
	admin    string
	clientID string
	secret   string
	redirect string
}

const appRedirect = "https://app.example.com/callback"

func startOP(t testing.TB, tweak func(*config.Config)) *opFixture {
	t.Helper()
	f := &opFixture{redirect: appRedirect}
	f.n, f.base = startNodeWith(t, t.TempDir(), tweak)
	admin, err := client.Login(context.Background(), f.base, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	f.admin = admin.AccessToken()
	if code := apiJSON(t, "POST", f.base+"/sapi/users", f.admin, map[string]any{"username": "alice", "password": "alice-password",
		"email": "alice@example.com"}, &struct{}{}); code != 201 {
		t.Fatalf("create alice: %d", code)
	}
	f.clientID, f.secret = f.register(t, map[string]any{"name": "App", "redirectUris": []string{appRedirect},
		"postLogoutRedirectUris": []string{"https://app.example.com/"}})
	return f
}

// register registers a client and returns its id and secret.
func (f *opFixture) register(t testing.TB, body map[string]any) (string, string) {
	t.Helper()
	var cl struct {
		ID     string `json:"id"`
		Secret string `json:"client_secret"`
	}
	if code := apiJSON(t, "POST", f.base+"/sapi/clients", f.admin, body, &cl); code != 201 {
		t.Fatalf("register client %v: %d", body, code)
	}
	return cl.ID, cl.Secret
}

func pkce(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

const verifier = "a-code-verifier-of-at-least-forty-three-characters-0123456789"

func (f *opFixture) authorizeURL(q url.Values) string {
	return f.base + "/sapi/o/authorize?" + q.Encode()
}

func (f *opFixture) codeQuery(clientID string) url.Values {
	return url.Values{"client_id": {clientID}, "redirect_uri": {f.redirect}, "response_type": {"code"},
		"scope": {"openid profile email"}, "state": {"st-1"}, "nonce": {"n-1"},
		"code_challenge": {pkce(verifier)}, "code_challenge_method": {"S256"}}
}

// authorize logs alice in on the authorization page (and consents) and
// returns where the provider sends the browser back to.
func (f *opFixture) authorize(t testing.TB, br *browser, target string) *url.URL {
	t.Helper()
	loc := br.do("GET", target, nil)
	if loc == "" && strings.Contains(br.body, `name="password"`) {
		loc = br.submit("login", url.Values{"username": {"alice"}, "password": {"alice-password"}})
	}
	if loc == "" && strings.Contains(br.body, `value="allow"`) {
		loc = br.submit("allow", nil)
	}
	if loc == "" {
		t.Fatalf("the authorization did not redirect: %d %.400s", br.status, br.body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *opFixture) exchange(t testing.TB, form url.Values, out any) int {
	t.Helper()
	req, _ := http.NewRequest("POST", f.base+"/sapi/o/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		decodeJSON(t, resp, out)
	}
	return resp.StatusCode
}

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// A third party's relying party (zitadel/oidc) logs a user in through
// OpenWAC: discovery, the authorization page, the code with PKCE, the
// id_token checked against the JWKS, userinfo; and go-oidc verifies the
// same id_token.
func TestOIDCProviderWithThirdPartyRelyingParty(t *testing.T) {
	f := startOP(t, nil)
	ctx := context.Background()
	party, err := rp.NewRelyingPartyOIDC(ctx, f.base, f.clientID, f.secret, f.redirect, []string{"openid", "profile", "email"},
		rp.WithVerifierOpts(rp.WithNonce(func(context.Context) string { return "n-1" })))
	if err != nil {
		t.Fatalf("discovery by zitadel/oidc: %v", err)
	}
	br := newBrowser(t)
	back := f.authorize(t, br, rp.AuthURL("st-1", party, rp.WithCodeChallenge(pkce(verifier)), func() []oauth2.AuthCodeOption {
		return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("nonce", "n-1")}
	}))
	if back.Query().Get("state") != "st-1" || back.Query().Get("iss") != f.base || back.Query().Get("code") == "" {
		t.Fatalf("redirect: %s", back)
	}
	tokens, err := rp.CodeExchange[*zoidc.IDTokenClaims](ctx, back.Query().Get("code"), party, rp.WithCodeVerifier(verifier))
	if err != nil {
		t.Fatalf("code exchange and id_token check by zitadel/oidc: %v", err)
	}
	if tokens.IDTokenClaims.PreferredUsername != "alice" || tokens.IDTokenClaims.Email != "alice@example.com" ||
		tokens.IDTokenClaims.Nonce != "n-1" {
		t.Errorf("claims: %+v", tokens.IDTokenClaims)
	}
	info, err := rp.Userinfo[*zoidc.UserInfo](ctx, tokens.AccessToken, "Bearer", tokens.IDTokenClaims.Subject, party)
	if err != nil || info.PreferredUsername != "alice" {
		t.Errorf("userinfo: %+v %v", info, err)
	}
	// The token acts as alice on the API.
	var me struct{ Username string }
	if apiJSON(t, "GET", f.base+"/sapi/users/me", tokens.AccessToken, nil, &me); me.Username != "alice" {
		t.Errorf("users/me with the app's token: %+v", me)
	}
	op, err := gooidc.NewProvider(ctx, f.base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Verifier(&gooidc.Config{ClientID: f.clientID}).Verify(ctx, tokens.IDToken); err != nil {
		t.Errorf("go-oidc: %v", err)
	}
	// The refresh token rotates, and needs the client's secret.
	var bad, good tokenAnswer
	if code := f.exchange(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken}}, &bad); code != 401 || bad.Error != "invalid_client" {
		t.Errorf("refresh without the client's secret: %d %+v", code, bad)
	}
	if code := f.exchange(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken},
		"client_id": {f.clientID}, "client_secret": {f.secret}}, &good); code != 200 || good.RefreshToken == "" {
		t.Errorf("refresh: %d %+v", code, good)
	}
}

// A public client (no secret) must use PKCE with S256: plain or no
// challenge is refused; a wrong verifier does not get tokens.
func TestOIDCPublicClientNeedsS256(t *testing.T) {
	f := startOP(t, nil)
	pub, _ := f.register(t, map[string]any{"name": "Mobile", "public": true, "redirectUris": []string{appRedirect}})
	br := newBrowser(t)
	for _, c := range []struct {
		name   string
		change func(url.Values)
		want   string
	}{
		{"plain", func(q url.Values) { q.Set("code_challenge", verifier); q.Set("code_challenge_method", "plain") }, "plain is refused for a public client"},
		{"none", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "is required for a public client"},
	} {
		q := f.codeQuery(pub)
		c.change(q)
		loc := br.do("GET", f.authorizeURL(q), nil)
		u, _ := url.Parse(loc)
		if !strings.HasPrefix(loc, appRedirect+"?") || u.Query().Get("error") != "invalid_request" ||
			!strings.Contains(u.Query().Get("error_description"), c.want) || u.Query().Get("state") != "st-1" {
			t.Errorf("%s: %d %q", c.name, br.status, loc)
		}
	}
	back := f.authorize(t, br, f.authorizeURL(f.codeQuery(pub)))
	code := back.Query().Get("code")
	var ans tokenAnswer
	wrong := strings.Repeat("x", 50)
	if st := f.exchange(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect},
		"client_id": {pub}, "code_verifier": {wrong}}, &ans); st != 400 || ans.Error != "invalid_grant" ||
		!strings.Contains(ans.Description, "code_verifier") {
		t.Errorf("wrong verifier: %d %+v", st, ans)
	}
	if st := f.exchange(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect},
		"client_id": {pub}, "code_verifier": {verifier}}, &ans); st != 200 || ans.IDToken == "" {
		t.Errorf("right verifier: %d %+v", st, ans)
	}
}

// The authorization request is checked before anything is shown: an
// unknown client or a redirect_uri that is not exactly a registered one is
// answered with a page (never a redirect); the implicit grant only for
// clients registered with it.
func TestOIDCAuthorizeRefusals(t *testing.T) {
	f := startOP(t, nil)
	br := newBrowser(t)
	for _, c := range []struct {
		name   string
		change func(url.Values)
		want   string
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "0123456789abcdef01234567") }, "invalid_client"},
		{"redirect prefix", func(q url.Values) { q.Set("redirect_uri", appRedirect+"/evil") }, "is not registered for this client"},
		{"redirect host", func(q url.Values) { q.Set("redirect_uri", "https://evil.example.com/callback") }, "is not registered"},
	} {
		q := f.codeQuery(f.clientID)
		c.change(q)
		if loc := br.do("GET", f.authorizeURL(q), nil); loc != "" || br.status != 400 || !strings.Contains(br.body, c.want) {
			t.Errorf("%s: %d %q %.300s", c.name, br.status, loc, br.body)
		}
		if !strings.Contains(br.body, "<html") {
			t.Errorf("%s: not a page", c.name)
		}
	}
	q := f.codeQuery(f.clientID)
	q.Set("response_type", "token")
	loc := br.do("GET", f.authorizeURL(q), nil)
	if frag := fragment(t, loc); frag.Get("error") != "unauthorized_client" {
		t.Errorf("implicit for a client without it (the error goes in the fragment): %q", loc)
	}
	// A client registered with the legacy implicit grant gets tokens in
	// the fragment.
	imp, _ := f.register(t, map[string]any{"name": "Legacy", "public": true, "grantTypes": []string{"implicit"}, "redirectUris": []string{appRedirect}})
	q = url.Values{"client_id": {imp}, "response_type": {"id_token token"}, "scope": {"openid"}, "nonce": {"n"}, "state": {"s"}}
	back := f.authorize(t, br, f.authorizeURL(q))
	frag, _ := url.ParseQuery(back.Fragment)
	if back.RawQuery != "" || frag.Get("access_token") == "" || frag.Get("id_token") == "" || frag.Get("state") != "s" {
		t.Errorf("implicit: %s", back)
	}
}

// An authorization code expires, works once, and a second use revokes the
// tokens of the first; a confidential client must authenticate.
func TestOIDCCodeExpiresAndWorksOnce(t *testing.T) {
	f := startOP(t, nil)
	br := newBrowser(t)
	exchange := func(code, secret string) (int, tokenAnswer) {
		var ans tokenAnswer
		st := f.exchange(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect},
			"client_id": {f.clientID}, "client_secret": {secret}, "code_verifier": {verifier}}, &ans)
		return st, ans
	}
	code := f.authorize(t, br, f.authorizeURL(f.codeQuery(f.clientID))).Query().Get("code")
	if st, ans := exchange(code, "wrong-secret"); st != 401 || ans.Error != "invalid_client" {
		t.Errorf("wrong secret: %d %+v", st, ans)
	}
	st, first := exchange(code, f.secret)
	if st != 200 {
		t.Fatalf("exchange: %d %+v", st, first)
	}
	if st, ans := exchange(code, f.secret); st != 400 || ans.Error != "invalid_grant" || !strings.Contains(ans.Description, "already used") {
		t.Errorf("second use: %d %+v", st, ans)
	}
	if st := apiJSON(t, "GET", f.base+"/sapi/users/me", first.AccessToken, nil, nil); st != 401 {
		t.Errorf("the first use's token after the code was replayed: %d", st)
	}
	// Expired: the node's clock moves past oauth2provider.authCodeExpiration.
	code = f.authorize(t, br, f.authorizeURL(f.codeQuery(f.clientID))).Query().Get("code")
	later := time.Now().Add(61 * time.Second)
	f.n.Auth.SetClock(func() time.Time { return later })
	if st, ans := exchange(code, f.secret); st != 400 || ans.Error != "invalid_grant" || !strings.Contains(ans.Description, "expired") {
		t.Errorf("expired code: %d %+v", st, ans)
	}
}

// The authorization page's password form is throttled as the token
// endpoint is, and refuses a form without the anti-forgery value.
func TestOIDCLoginPageThrottledAndForgeryProof(t *testing.T) {
	f := startOP(t, func(c *config.Config) { c.Login.AccountFailures = 2 })
	br := newBrowser(t)
	br.do("GET", f.authorizeURL(f.codeQuery(f.clientID)), nil)
	page := br.body
	for i := range 2 {
		br.body = page
		if loc := br.submit("login", url.Values{"username": {"alice"}, "password": {"wrong"}}); loc != "" || br.status != 200 ||
			!strings.Contains(br.body, "Wrong username or password") {
			t.Fatalf("failure %d: %d %q", i, br.status, loc)
		}
	}
	br.body = page
	if loc := br.submit("login", url.Values{"username": {"alice"}, "password": {"alice-password"}}); loc != "" ||
		br.status != http.StatusTooManyRequests || !strings.Contains(br.body, "too many failed logins") {
		t.Errorf("after the failures, even the right password waits: %d %.300s", br.status, br.body)
	}
	// The token endpoint shares the count.
	var ans tokenAnswer
	if st := f.exchange(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}}, &ans); st != 429 {
		t.Errorf("password grant after the page's failures: %d %+v", st, ans)
	}
	form := url.Values{"action": {"login"}, "username": {"bob"}, "password": {"x"}}
	for k, v := range f.codeQuery(f.clientID) {
		form[k] = v
	}
	if loc := newBrowser(t).do("POST", f.base+"/sapi/o/authorize", form); loc != "" {
		t.Errorf("a form without csrf redirected to %q", loc)
	}
}

// Signing keys rotate: after oauth2provider.keyRotation a new key is
// published at once and signs only two minutes later, so that every node's
// JWKS has it first; id_tokens of both keys verify.
func TestOIDCKeyRotation(t *testing.T) {
	f := startOP(t, func(c *config.Config) { c.OAuth2Provider.KeyRotation = time.Hour })
	ctx := context.Background()
	now := time.Now()
	f.n.Auth.SetClock(func() time.Time { return now })
	idToken := func() string {
		br := newBrowser(t)
		code := f.authorize(t, br, f.authorizeURL(f.codeQuery(f.clientID))).Query().Get("code")
		var ans tokenAnswer
		if st := f.exchange(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect},
			"client_id": {f.clientID}, "client_secret": {f.secret}, "code_verifier": {verifier}}, &ans); st != 200 {
			t.Fatalf("exchange: %d %+v", st, ans)
		}
		return ans.IDToken
	}
	kid := func(raw string) string {
		header, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
		var h struct{ Kid string }
		json.Unmarshal(header, &h)
		return h.Kid
	}
	keys := func() int {
		var set struct{ Keys []map[string]any }
		apiJSON(t, "GET", f.base+"/sapi/o/jwks", "", nil, &set)
		return len(set.Keys)
	}
	first := idToken()
	if keys() != 1 {
		t.Fatalf("JWKS: %d keys", keys())
	}
	now = now.Add(time.Hour + time.Second)
	second := idToken()
	if kid(second) != kid(first) || keys() != 2 {
		t.Errorf("the new key signed before its publication delay, or is not published: %d keys", keys())
	}
	now = now.Add(3 * time.Minute)
	third := idToken()
	if kid(third) == kid(first) {
		t.Errorf("the new key does not sign after the delay")
	}
	op, err := gooidc.NewProvider(ctx, f.base)
	if err != nil {
		t.Fatal(err)
	}
	v := op.Verifier(&gooidc.Config{ClientID: f.clientID, SkipExpiryCheck: true})
	for i, raw := range []string{first, third} {
		if _, err := v.Verify(ctx, raw); err != nil {
			t.Errorf("id_token %d: %v", i, err)
		}
	}
}

func decodeJSON(t testing.TB, resp *http.Response, out any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("decode answer (%d): %v", resp.StatusCode, err)
	}
}

// The signing keys are the cluster's: a node of the same database serves
// the same JWKS, and an id_token one node signed verifies with the
// other's keys.
func TestOIDCKeysSharedByTheCluster(t *testing.T) {
	dir := t.TempDir()
	f := startOP(t, func(c *config.Config) { c.DataDir = dir })
	_, other := startNodeWith(t, dir, nil)
	br := newBrowser(t)
	code := f.authorize(t, br, f.authorizeURL(f.codeQuery(f.clientID))).Query().Get("code")
	var ans tokenAnswer
	if st := f.exchange(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect},
		"client_id": {f.clientID}, "client_secret": {f.secret}, "code_verifier": {verifier}}, &ans); st != 200 {
		t.Fatalf("exchange: %d %+v", st, ans)
	}
	var one, two struct{ Keys []struct{ Kid string } }
	apiJSON(t, "GET", f.base+"/sapi/o/jwks", "", nil, &one)
	apiJSON(t, "GET", other+"/sapi/o/jwks", "", nil, &two)
	if len(one.Keys) != 1 || len(two.Keys) != 1 || one.Keys[0].Kid != two.Keys[0].Kid {
		t.Fatalf("JWKS of the two nodes: %+v %+v", one, two)
	}
	ctx := context.Background()
	keys := gooidc.NewRemoteKeySet(ctx, other+"/sapi/o/jwks")
	if _, err := gooidc.NewVerifier(f.base, keys, &gooidc.Config{ClientID: f.clientID}).Verify(ctx, ans.IDToken); err != nil {
		t.Errorf("node 1's id_token with node 2's keys: %v", err)
	}
}
