package node_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/node"
)

// browser is an HTTP client with a cookie jar that follows redirects by
// hand, so that a test sees every step of a login.
type browser struct {
	t      testing.TB
	c      *http.Client
	lang   string
	status int
	body   string
	url    string // of the last answer
}

func newBrowser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// do sends one request and returns the answer's Location, if any.
func (b *browser) do(method, target string, form url.Values) string {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	b.status, b.body, b.url = resp.StatusCode, string(data), target
	loc := resp.Header.Get("Location")
	if loc != "" {
		u, _ := url.Parse(target)
		l, err := u.Parse(loc)
		if err != nil {
			b.t.Fatal(err)
		}
		loc = l.String()
	}
	return loc
}

// follow GETs target and follows redirects until a page, or a URL of the
// app (stop says which), and returns the last URL.
func (b *browser) follow(target string, stop func(string) bool) string {
	b.t.Helper()
	for range 10 {
		if stop != nil && stop(target) {
			return target
		}
		next := b.do("GET", target, nil)
		if next == "" {
			return target
		}
		target = next
	}
	b.t.Fatalf("too many redirects, last %s", target)
	return ""
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// submit posts the page's form with its hidden fields and more.
func (b *browser) submit(action string, more url.Values) string {
	b.t.Helper()
	form := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(b.body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if form.Get("csrf") == "" {
		b.t.Fatalf("no form on the page (%d): %.300s", b.status, b.body)
	}
	for k, v := range more {
		form[k] = v
	}
	form.Set("action", action)
	u, _ := url.Parse(b.url)
	return b.do("POST", u.Scheme+"://"+u.Host+"/sapi/o/authorize", form)
}

// fragment reads the parameters of a URL's fragment.
func fragment(t testing.TB, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	v, err := url.ParseQuery(u.EscapedFragment())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func apiJSON(t testing.TB, method, target, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = strings.NewReader(string(data))
	}
	req, _ := http.NewRequest(method, target, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, target, err, data)
		}
	}
	if resp.StatusCode/100 != 2 && out != nil {
		t.Logf("%s %s: %d %s", method, target, resp.StatusCode, data)
	}
	return resp.StatusCode
}

// ssoPair is two nodes: a, the identity provider of b.
type ssoPair struct {
	a, b         *node.Node
	aURL, bURL   string
	aAdmin       string
	bAdmin       string
	clientID     string
	clientSecret string
	providerID   string
}

// startSSOPair starts node a, with the user alice@wac, and node b, whose
// domain corp signs in through a (the provider "wac-a"), creating users on
// their first login.
func startSSOPair(t *testing.T, tweakB func(*config.Config)) *ssoPair {
	t.Helper()
	ctx := context.Background()
	p := &ssoPair{}
	p.a, p.aURL = startNodeWith(t, t.TempDir(), nil)
	p.b, p.bURL = startNodeWith(t, t.TempDir(), func(c *config.Config) {
		c.Login.CreateOAuthUser = true
		c.Login.NewUserCaps = "+call-history,-chat"
		if tweakB != nil {
			tweakB(c)
		}
	})
	admin, err := client.Login(ctx, p.aURL, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	p.aAdmin = admin.AccessToken()
	if code := apiJSON(t, "POST", p.aURL+"/sapi/users", p.aAdmin, map[string]any{"username": "alice", "password": "alice-password",
		"email": "alice@example.com"}, &struct{}{}); code != 201 {
		t.Fatalf("create alice: %d", code)
	}
	var cl struct {
		ID     string `json:"id"`
		Secret string `json:"client_secret"`
	}
	if code := apiJSON(t, "POST", p.aURL+"/sapi/clients", p.aAdmin, map[string]any{"name": "Node B",
		"redirectUris": []string{p.bURL + "/sapi/o/federation/callback"}, "postLogoutRedirectUris": []string{p.bURL + "/"}}, &cl); code != 201 {
		t.Fatalf("register client: %d", code)
	}
	p.clientID, p.clientSecret = cl.ID, cl.Secret
	badmin, err := client.Login(ctx, p.bURL, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	p.bAdmin = badmin.AccessToken()
	apiJSON(t, "POST", p.bURL+"/sapi/domains", p.bAdmin, map[string]any{"domain": "corp"}, &struct{}{})
	var prov struct{ ID string }
	if code := apiJSON(t, "POST", p.bURL+"/sapi/providers", p.bAdmin, map[string]any{"name": "wac-a", "displayName": "Node A",
		"domain": "corp", "issuer": p.aURL, "clientId": cl.ID, "clientSecret": cl.Secret, "listed": true}, &prov); code != 201 {
		t.Fatalf("create provider: %d", code)
	}
	p.providerID = prov.ID
	return p
}

// login runs a whole federated login of alice in br and returns the
// fragment of the app URL it ends at.
func (p *ssoPair) login(t *testing.T, br *browser) url.Values {
	t.Helper()
	atApp := func(u string) bool { return strings.HasPrefix(u, p.bURL+"/#") }
	end := br.follow(p.bURL+"/sapi/o/federation/wac-a/start?return_to=/", atApp)
	if !atApp(end) {
		if !strings.Contains(br.body, `name="password"`) && !strings.Contains(br.body, `value="allow"`) {
			t.Fatalf("expected the login or consent page of a, got %d %.400s", br.status, br.body)
		}
		if strings.Contains(br.body, `name="password"`) {
			next := br.submit("login", url.Values{"username": {"alice"}, "password": {"alice-password"}})
			if next != "" {
				end = br.follow(next, atApp)
			}
		}
		if !atApp(end) && strings.Contains(br.body, `value="allow"`) {
			end = br.follow(br.submit("allow", nil), atApp)
		}
	}
	if !atApp(end) {
		t.Fatalf("the login did not end at the app: %s (%d %.300s)", end, br.status, br.body)
	}
	return fragment(t, end)
}

// Two nodes, one the identity provider of the other: a federated login
// through the login and consent pages ends with an OpenWAC token of node b
// for a user created on the first login with newUserCaps; the token
// refreshes, a second login needs neither password nor consent, and the
// logout ends a's session too (RP-initiated logout).
func TestSSOBetweenTwoNodes(t *testing.T) {
	p := startSSOPair(t, nil)
	br := newBrowser(t)
	// The login page is a's, in Spanish when the browser asks.
	br.lang = "es-ES,es;q=0.9"
	start := br.do("GET", p.bURL+"/sapi/o/federation/wac-a/start?return_to=/", nil)
	if !strings.HasPrefix(start, p.aURL+"/sapi/o/authorize?") || !strings.Contains(start, "code_challenge_method=S256") {
		t.Fatalf("start: %d → %q", br.status, start)
	}
	br.do("GET", start, nil)
	if br.status != 200 || !strings.Contains(br.body, "Contraseña") || !strings.Contains(br.body, "Node B") {
		t.Fatalf("login page: %d %.500s", br.status, br.body)
	}
	br.lang = ""
	frag := p.login(t, br)
	token := frag.Get("sso_access_token")
	if token == "" || frag.Get("sso_refresh_token") == "" {
		t.Fatalf("no tokens in the fragment: %v", frag)
	}
	var me struct {
		Username, Domain, Email string
		Capabilities            []string
	}
	if code := apiJSON(t, "GET", p.bURL+"/sapi/users/me", token, nil, &me); code != 200 {
		t.Fatalf("users/me on b: %d", code)
	}
	if me.Username != "alice" || me.Domain != "corp" || me.Email != "alice@example.com" ||
		strings.Join(me.Capabilities, ",") != "+call-history,-chat" {
		t.Errorf("the user made on b: %+v", me)
	}
	// The provider's tokens are kept as a credential, sealed.
	var creds []struct {
		Type string
		Data map[string]any
	}
	apiJSON(t, "GET", p.bURL+"/sapi/credentials", token, nil, &creds)
	found := false
	for _, c := range creds {
		if c.Type == "oauth2" {
			found = true
			if s, _ := c.Data["sealed"].(string); !strings.HasPrefix(s, "gcm1:") {
				t.Errorf("provider tokens not sealed: %v", c.Data)
			}
		}
	}
	if !found {
		t.Errorf("no oauth2 credential: %+v", creds)
	}
	// b's refresh token works (the provider's tokens are still fresh).
	var refreshed struct {
		AccessToken string `json:"access_token"`
	}
	if code := apiJSON(t, "POST", p.bURL+"/sapi/o/token", "", map[string]string{"grant_type": "refresh_token",
		"refresh_token": frag.Get("sso_refresh_token")}, &refreshed); code != 200 {
		t.Fatalf("refresh on b: %d", code)
	}
	// A second login: a remembers the browser and the consent.
	br.follow(p.bURL+"/sapi/o/federation/wac-a/start", func(u string) bool { return strings.HasPrefix(u, p.bURL+"/#") })
	if br.status != http.StatusSeeOther {
		t.Fatalf("second login should go straight back: %d %.300s", br.status, br.body)
	}
	// Logout ends the login on b and a's session (end_session).
	var out struct {
		EndSessionURL string `json:"endSessionUrl"`
	}
	if code := apiJSON(t, "POST", p.bURL+"/sapi/o/federation/logout", refreshed.AccessToken, nil, &out); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	if !strings.HasPrefix(out.EndSessionURL, p.aURL+"/sapi/o/end_session?") || !strings.Contains(out.EndSessionURL, "id_token_hint=") {
		t.Fatalf("endSessionUrl: %q", out.EndSessionURL)
	}
	if code := apiJSON(t, "GET", p.bURL+"/sapi/users/me", refreshed.AccessToken, nil, nil); code != 401 {
		t.Errorf("b's token after logout: %d", code)
	}
	if back := br.do("GET", out.EndSessionURL, nil); back != p.bURL+"/" {
		t.Errorf("end_session went to %q (%d %.200s)", back, br.status, br.body)
	}
	br.follow(p.bURL+"/sapi/o/federation/wac-a/start", func(u string) bool { return strings.HasPrefix(u, p.bURL+"/#") })
	if !strings.Contains(br.body, `name="password"`) {
		t.Errorf("after end_session a asks for the password again: %d %.200s", br.status, br.body)
	}
}
