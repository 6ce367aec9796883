package sapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/server"
	"github.com/openwac/wac/internal/store"
	"github.com/openwac/wac/internal/store/storetest"
)

const adminPassword = "admin-secret-1"

// env is a running server on loopback with its admin logged in.
type env struct {
	t      testing.TB
	srv    *server.Server
	http   *httptest.Server
	admin  string // admin access token
	domain string // default domain id
}

// newEnv starts a server over a fresh store of the dialect; tweak adjusts
// the configuration first.
func newEnv(t testing.TB, dialect string, tweak func(*config.Config)) *env {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.HTTP.DDoSProtection = false
	cfg.Password.Memory, cfg.Password.Iterations = 8*1024, 1 // fast hashes for tests
	cfg.Database.Driver = dialect
	switch dialect {
	case store.Postgres:
		cfg.Database.DSN = storetest.PostgresSchema(t)
	}
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), &cfg, logging.Discard(),
		server.Options{Out: io.Discard, Environ: []string{server.AdminPasswordEnv + "=" + adminPassword}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	e := &env{t: t, srv: srv, http: hs}
	e.admin = e.login("admin@wac", adminPassword)
	d, err := srv.Store.GetDomainByName(context.Background(), "wac")
	if err != nil {
		t.Fatal(err)
	}
	e.domain = d.ID
	return e
}

// eachDialect runs fn with a fresh server on every available database.
func eachDialect(t *testing.T, tweak func(*config.Config), fn func(t *testing.T, e *env)) {
	for _, d := range storetest.Dialects() {
		t.Run(storetest.Name(d), func(t *testing.T) { fn(t, newEnv(t, d, tweak)) })
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errBody is the API's error shape.
type errBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

func (e *env) do(method, path, token string, body any, headers ...string) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: data}
}

// want checks the status of r and returns it for chaining.
func (e *env) want(r *response, status int) *response {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// wantErr checks an error answer: its status, that the body is {code,
// message}, and that the message names field (when not "").
func (e *env) wantErr(r *response, status int, field string) errBody {
	e.t.Helper()
	e.want(r, status)
	var b errBody
	r.json(e.t, &b)
	if b.Code != status || b.Message == "" {
		e.t.Fatalf("error body %s lacks code %d or message", r.body, status)
	}
	if field != "" && !strings.Contains(b.Message, `"`+field+`"`) {
		e.t.Fatalf("error message %q does not name field %q", b.Message, field)
	}
	return b
}

type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
}

func (e *env) grant(body any) *response {
	e.t.Helper()
	return e.do("POST", "/sapi/o/token", "", body)
}

func (e *env) loginPair(user, password string) tokenPair {
	e.t.Helper()
	var p tokenPair
	e.want(e.grant(map[string]string{"grant_type": "password", "username": user, "password": password}), 200).json(e.t, &p)
	return p
}

func (e *env) login(user, password string) string {
	e.t.Helper()
	return e.loginPair(user, password).AccessToken
}

// user is a user as the API returns it.
type user struct {
	ID             string   `json:"id"`
	Domain         string   `json:"domain"`
	Username       string   `json:"username"`
	Email          string   `json:"email"`
	Role           string   `json:"role"`
	Capabilities   []string `json:"capabilities"`
	MobilePhone    []string `json:"mobilePhone"`
	LandLineNumber string   `json:"landLineNumber"`
	Alias          string   `json:"alias"`
	Created        int64    `json:"created"`
	LastLogin      int64    `json:"lastLogin"`
	URI            string   `json:"uri"`
}

type domain struct {
	ID                    string              `json:"id"`
	Parent                *string             `json:"parent"`
	Domain                string              `json:"domain"`
	Origins               []string            `json:"origins"`
	EnableAnonymous       bool                `json:"enableAnonymous"`
	AnonymousExpiration   int64               `json:"anonymousExpiration"`
	AnonymousCapabilities []string            `json:"anonymousCapabilities"`
	Services              map[string][]string `json:"services"`
}

// createUser makes a user with a password through the API.
func (e *env) createUser(token, domainName, username, role, password string) user {
	e.t.Helper()
	var u user
	body := map[string]any{"domain": domainName, "username": username, "role": role, "password": password}
	e.want(e.do("POST", "/sapi/users", token, body), 201).json(e.t, &u)
	return u
}

func (e *env) createDomain(token string, body map[string]any) domain {
	e.t.Helper()
	var d domain
	e.want(e.do("POST", "/sapi/domains", token, body), 201).json(e.t, &d)
	return d
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeClock makes the server's authentication service (token expiry, login
// throttling, quotas) follow a clock that the test moves.
func (e *env) fakeClock() *fakeClock {
	c := &fakeClock{t: time.Now()}
	e.srv.Auth.SetClock(c.now)
	return c
}

// passwordBody is a password grant's body.
func passwordBody(user, password string) map[string]string {
	return map[string]string{"grant_type": "password", "username": user, "password": password}
}

// oauthErr is the token endpoint's error answer.
type oauthErr struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Code        int    `json:"code"`
	Message     string `json:"message"`
}

// wantThrottled checks a 429 answer of the token endpoint: Retry-After is
// secs and the message is what, then the wait.
func (e *env) wantThrottled(r *response, what string, secs int) {
	e.t.Helper()
	e.want(r, http.StatusTooManyRequests)
	var b oauthErr
	r.json(e.t, &b)
	want := fmt.Sprintf("%s; try again in %d s", what, secs)
	if b.Error != "too_many_requests" || b.Code != 429 || b.Message != want || b.Description != want {
		e.t.Fatalf("429 answer %s, want too_many_requests with message %q", r.body, want)
	}
	if got := r.header.Get("Retry-After"); got != fmt.Sprint(secs) {
		e.t.Fatalf("Retry-After %q, want %d", got, secs)
	}
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

func (e *env) postForm(path, body string) *response {
	e.t.Helper()
	resp, err := http.Post(e.http.URL+path, "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: data}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var _ = fmt.Sprint
