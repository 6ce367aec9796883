package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/server"
)

func testConfig(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Password.Memory, cfg.Password.Iterations = 8*1024, 1
	cfg.Wiface.Public.Port = 0
	cfg.Wiface.Public.PortSecure = 0
	return &cfg
}

func newServer(t *testing.T, cfg *config.Config, out io.Writer, env ...string) *server.Server {
	t.Helper()
	if out == nil {
		out = io.Discard
	}
	srv, err := server.New(context.Background(), cfg, logging.Discard(), server.Options{Out: out, Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func TestBootstrapGeneratesAdminPasswordOnce(t *testing.T) {
	cfg := testConfig(t)
	var out bytes.Buffer
	srv := newServer(t, cfg, &out)
	file := filepath.Join(cfg.DataDir, server.AdminPasswordFile)
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("password file mode %v, want 0600", st.Mode().Perm())
	}
	pw, _ := os.ReadFile(file)
	password := strings.TrimSpace(string(pw))
	if len(password) < 20 || !strings.Contains(out.String(), password) || !strings.Contains(out.String(), "admin@wac") {
		t.Fatalf("first start printed %q; file holds %q", out.String(), password)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	resp, err := http.Post(hs.URL+"/sapi/o/token", "application/json",
		strings.NewReader(`{"grant_type":"password","username":"admin@wac","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("admin login with the generated password: %d", resp.StatusCode)
	}
	srv.Close()
	// Later starts create nothing and print nothing, even without the
	// variable (a re-created admin would print a new password), and a
	// password given later changes nothing: the first one still logs in.
	out.Reset()
	newServer(t, cfg, &out).Close()
	if out.Len() != 0 {
		t.Fatalf("second start printed %q", out.String())
	}
	srv = newServer(t, cfg, &out, server.AdminPasswordEnv+"=ignored-now-1")
	if out.Len() != 0 {
		t.Fatalf("third start printed %q", out.String())
	}
	hs2 := httptest.NewServer(srv.Handler())
	defer hs2.Close()
	for pw, want := range map[string]int{password: 200, "ignored-now-1": 400} {
		resp, err := http.Post(hs2.URL+"/sapi/o/token", "application/json",
			strings.NewReader(`{"grant_type":"password","username":"admin@wac","password":"`+pw+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("after restarts, admin login with %q: %d, want %d", pw, resp.StatusCode, want)
		}
	}
}

func TestBootstrapPasswordFromEnvironment(t *testing.T) {
	cfg := testConfig(t)
	cfg.DefaultDomain = "quobis"
	var out bytes.Buffer
	srv := newServer(t, cfg, &out, server.AdminPasswordEnv+"=from-the-env-1")
	if out.Len() != 0 {
		t.Fatalf("printed %q though the password came from the environment", out.String())
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, server.AdminPasswordFile)); !os.IsNotExist(err) {
		t.Fatalf("password file written: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	resp, _ := http.Post(hs.URL+"/sapi/o/token", "application/x-www-form-urlencoded",
		strings.NewReader("grant_type=password&username=admin@quobis&password=from-the-env-1"))
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	cfg2 := testConfig(t)
	if _, err := server.New(context.Background(), cfg2, logging.Discard(), server.Options{Out: io.Discard,
		Environ: []string{server.AdminPasswordEnv + "=short"}}); err == nil || !strings.Contains(err.Error(), server.AdminPasswordEnv) {
		t.Fatalf("a too short admin password: %v", err)
	}
}

func get(t *testing.T, h http.Handler, method, path string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = "192.0.2.10:4000"
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "RemoteAddr" {
			req.RemoteAddr = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestRateLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.RPS, cfg.HTTP.RPSHigh = 5, 50
	cfg.HTTP.TrustedProxies = []string{"127.0.0.0/8"}
	srv := newServer(t, cfg, nil)
	h := srv.Handler()
	limited := 0
	for range 30 {
		if get(t, h, "GET", "/sapi/capabilities").Code == http.StatusTooManyRequests {
			limited++
		}
	}
	// Burst is twice the rate: 10 pass at once, the rest are refused.
	if limited < 15 {
		t.Fatalf("%d of 30 quick requests refused, want about 20", limited)
	}
	w := get(t, h, "GET", "/sapi/capabilities")
	if w.Code != 429 || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), `"code":429`) {
		t.Fatalf("429 answer: %d %v %s", w.Code, w.Header(), w.Body)
	}
	// Another client is not affected.
	if c := get(t, h, "GET", "/sapi/capabilities", "RemoteAddr", "192.0.2.11:5000").Code; c == 429 {
		t.Fatal("a second IP is limited by the first one's traffic")
	}
	// A spoofed X-Forwarded-For from an untrusted peer does not help.
	if c := get(t, h, "GET", "/sapi/capabilities", "X-Forwarded-For", "203.0.113.9").Code; c != 429 {
		t.Fatalf("forged X-Forwarded-For escaped the limit: %d", c)
	}
	// Through a trusted proxy, the forwarded address is the client.
	if c := get(t, h, "GET", "/sapi/capabilities", "RemoteAddr", "127.0.0.1:9", "X-Forwarded-For", "203.0.113.9").Code; c == 429 {
		t.Fatal("a proxied client was limited by another's traffic")
	}
}

// With the defaults no peer is a trusted proxy: a client on loopback (or
// anywhere) cannot pick its address with a forwarded-for header.
func TestClientIPTrustsNoProxyByDefault(t *testing.T) {
	ips, err := server.NewClientIPs(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, peer := range []string{"127.0.0.1:1", "[::1]:1", "192.0.2.1:1"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = peer
		req.Header.Set("X-Forwarded-For", "203.0.113.5")
		want, _, _ := net.SplitHostPort(peer)
		if got := ips.Of(req); got != want {
			t.Errorf("peer %s with X-Forwarded-For 203.0.113.5: got %s, want %s", peer, got, want)
		}
	}
}

func TestClientIP(t *testing.T) {
	cfg := testConfig(t)
	cfg.Login.RequestHeader = "Client-IP-Header"
	cfg.HTTP.TrustedProxies = []string{"127.0.0.0/8", "::1/128"}
	ips, err := server.NewClientIPs(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		peer, header, want string
	}{
		{"192.0.2.1:1", "", "192.0.2.1"},
		{"192.0.2.1:1", "203.0.113.5", "192.0.2.1"},                 // untrusted peer: header ignored
		{"127.0.0.1:1", "203.0.113.5", "203.0.113.5"},               // trusted proxy
		{"127.0.0.1:1", "198.51.100.1, 203.0.113.5", "203.0.113.5"}, // rightmost untrusted hop
		{"127.0.0.1:1", "203.0.113.5, 127.0.0.2", "203.0.113.5"},    // skip trusted hops
		{"127.0.0.1:1", "garbage", "127.0.0.1"},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.peer
		if c.header != "" {
			req.Header.Set("Client-IP-Header", c.header)
		}
		if got := ips.Of(req); got != c.want {
			t.Errorf("peer %s header %q: got %s, want %s", c.peer, c.header, got, c.want)
		}
	}
}

func TestCORS(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.CORSDomains = "app.example.com|.*\\.partner\\.net"
	srv := newServer(t, cfg, nil)
	h := srv.Handler()
	w := get(t, h, "OPTIONS", "/sapi/users", "Origin", "https://app.example.com", "Access-Control-Request-Method", "POST")
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight from an allowed origin: %d %v", w.Code, w.Header())
	}
	w = get(t, h, "GET", "/healthz", "Origin", "https://x.partner.net:8443")
	if w.Header().Get("Access-Control-Allow-Origin") != "https://x.partner.net:8443" {
		t.Fatalf("allowed by pattern: %v", w.Header())
	}
	w = get(t, h, "GET", "/healthz", "Origin", "https://evil.example.org")
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("an origin off the list got CORS headers: %v", w.Header())
	}
	w = get(t, h, "GET", "/healthz", "Origin", "https://app.example.com.evil.org")
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("the pattern is not anchored")
	}
	// A host of the list is literal (its dots are not wildcards) and exact
	// on scheme and port (https on 443).
	for _, o := range []string{"https://app-example.com", "https://appxexample.com", "http://app.example.com",
		"https://app.example.com:8443"} {
		w = get(t, h, "GET", "/healthz", "Origin", o)
		if w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%s is allowed by app.example.com", o)
		}
	}
}

func TestBodyLimitHealthAndMetrics(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.MaxBodyBytes = 1024
	cfg.Metrics.Token = "metrics-token-0123456789"
	srv := newServer(t, cfg, nil)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	big := `{"grant_type":"password","username":"` + strings.Repeat("a", 2048) + `","password":"x"}`
	resp, err := http.Post(hs.URL+"/sapi/o/token", "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "1024") {
		t.Fatalf("oversized body: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post(hs.URL+"/sapi/o/token", "application/json",
		strings.NewReader(`{"grant_type":"password","username":"admin@wac","password":"wrong"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, p := range []string{"/healthz", "/metrics"} {
		req, _ := http.NewRequest("GET", hs.URL+p, nil)
		req.Header.Set("Authorization", "Bearer "+cfg.Metrics.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		if p == "/metrics" {
			for _, m := range []string{"wac_http_requests_total", "wac_http_request_duration_seconds", "wac_logins_total{grant=\"password\",result=\"failed\"}"} {
				if !strings.Contains(string(body), m) {
					t.Fatalf("/metrics lacks %s", m)
				}
			}
			if !strings.Contains(string(body), `route="POST /sapi/o/token"`) {
				t.Fatal("requests are not labelled by route pattern")
			}
		}
	}
	// Not ready until Run listens.
	resp, _ = http.Get(hs.URL + "/readyz")
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz before Run: %d", resp.StatusCode)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// freePort returns a port that was free a moment ago.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestRunTLSInternalAndGracefulShutdown(t *testing.T) {
	cfg := testConfig(t)
	cert, key := selfSigned(t, cfg.DataDir)
	cfg.Wiface.Public = config.Iface{Iface: "127.0.0.1", Port: freePort(t), PortSecure: freePort(t), Cert: cert, Key: key}
	cfg.Wiface.Internal = config.Iface{Iface: "127.0.0.1", Port: freePort(t)}
	srv := newServer(t, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, u := range []string{"http://" + srv.Addr("public") + "/readyz", "https://" + srv.Addr("public_secure") + "/healthz",
		"http://" + srv.Addr("internal") + "/metrics"} {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || (strings.HasPrefix(u, "https") && resp.TLS == nil) {
			t.Fatalf("%s: %d", u, resp.StatusCode)
		}
	}
	// With an internal interface, metrics are served there only.
	resp, err := client.Get("http://" + srv.Addr("public") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("public /metrics: %d, want 404 when an internal iface exists", resp.StatusCode)
	}
	if got := srv.PublicURL(); got != "https://"+srv.Addr("public_secure") {
		t.Fatalf("PublicURL %s", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if _, err := client.Get("http://" + srv.Addr("public") + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

func TestRunReportsBadTLSAndBusyPort(t *testing.T) {
	cfg := testConfig(t)
	cfg.Wiface.Public = config.Iface{Iface: "127.0.0.1", PortSecure: freePort(t), Cert: "/nonexistent.pem", Key: "/nonexistent.key"}
	srv := newServer(t, cfg, nil)
	err := srv.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "wiface.public") {
		t.Fatalf("bad TLS files: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	cfg2 := testConfig(t)
	cfg2.Wiface.Public = config.Iface{Iface: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port}
	err = newServer(t, cfg2, nil).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "wiface.public") {
		t.Fatalf("busy port: %v", err)
	}
}

// WAC_ADMIN_PASSWORD set on a data directory whose admin exists changes
// nothing: the start says so once, with how to change the password, and
// without the password.
func TestBootstrapWarnsOfALateAdminPassword(t *testing.T) {
	cfg := testConfig(t)
	newServer(t, cfg, nil).Close()
	start := func(env ...string) string {
		var logs bytes.Buffer
		log, err := logging.New(&logs, slog.LevelInfo, "text")
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(context.Background(), cfg, log, server.Options{Out: io.Discard, Environ: env})
		if err != nil {
			t.Fatal(err)
		}
		srv.Close()
		return logs.String()
	}
	logs := start(server.AdminPasswordEnv + "=too-late-secret-1")
	if strings.Count(logs, "level=warn") != 1 || !strings.Contains(logs, server.AdminPasswordEnv+" is set but changes nothing") ||
		!strings.Contains(logs, "only sets the password of admin@wac when the first start creates it") ||
		!strings.Contains(logs, "wac user passwd admin@wac") {
		t.Fatalf("a late %s: the logs do not warn once and say how to change the password:\n%s", server.AdminPasswordEnv, logs)
	}
	if strings.Contains(logs, "too-late-secret-1") {
		t.Fatalf("the logs hold the password:\n%s", logs)
	}
	if logs := start(); strings.Contains(logs, "level=warn") {
		t.Fatalf("a start without the variable warns:\n%s", logs)
	}
}

// /metrics and the profiles are not public by default: without an internal
// interface they are served on the public one only behind metrics.token.
func TestMetricsAccess(t *testing.T) {
	status := func(h http.Handler, path, auth string) (int, string) {
		t.Helper()
		var w *httptest.ResponseRecorder
		if auth == "" {
			w = get(t, h, "GET", path)
		} else {
			w = get(t, h, "GET", path, "Authorization", auth)
		}
		return w.Code, w.Body.String()
	}
	cfg := testConfig(t)
	cfg.Metrics.Pprof = true
	open := newServer(t, cfg, nil).Handler()
	for _, p := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/heap"} {
		if code, body := status(open, p, ""); code != http.StatusNotFound || !strings.Contains(body, "metrics.token") {
			t.Errorf("%s without metrics.token: %d %s, want 404 saying how to serve it", p, code, body)
		}
	}

	cfg = testConfig(t)
	cfg.Metrics.Pprof = true
	cfg.Metrics.Token = "metrics-token-0123456789"
	h := newServer(t, cfg, nil).Handler()
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		for _, auth := range []string{"", "Bearer wrong-token-0123456789", "Basic " + cfg.Metrics.Token, "Bearer " + cfg.Metrics.Token + "x"} {
			code, body := status(h, p, auth)
			if code != http.StatusUnauthorized || !strings.Contains(body, "metrics.token") {
				t.Errorf("%s with %q: %d %s, want 401 naming metrics.token", p, auth, code, body)
			}
		}
		if code, body := status(h, p, "Bearer "+cfg.Metrics.Token); code != http.StatusOK || body == "" {
			t.Errorf("%s with the token: %d", p, code)
		}
	}
	if w := get(t, h, "GET", "/metrics"); !strings.Contains(w.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("a 401 without WWW-Authenticate: %v", w.Header())
	}

	cfg = testConfig(t)
	cfg.Metrics.Token = "short"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "metrics.token") {
		t.Errorf("a short metrics.token: %v", err)
	}
}

// Every answer carries the security headers: no MIME sniffing, no
// referrer, no framing, and a policy under which an API answer opened in a
// browser loads and runs nothing.
func TestSecurityHeaders(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.RPS = 1000
	h := newServer(t, cfg, nil).Handler()
	for _, p := range []string{"/healthz", "/readyz", "/sapi/openapi.json", "/sapi/users", "/sapi/nothing", "/nothing"} {
		w := get(t, h, "GET", p)
		for name, want := range map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
			"Content-Security-Policy": server.APIContentSecurityPolicy,
		} {
			if got := w.Header().Get(name); got != want {
				t.Errorf("%s (%d): %s is %q, want %q", p, w.Code, name, got, want)
			}
		}
	}
	if got := get(t, h, "GET", "/healthz").Header().Get("Strict-Transport-Security"); got != "" {
		t.Errorf("plain HTTP answer sets HSTS %q", got)
	}
	r := httptest.NewRequest("GET", "https://wac.example/healthz", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if got := w.Header().Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("an answer over TLS: Strict-Transport-Security %q, want max-age=31536000", got)
	}
	if !strings.Contains(server.APIContentSecurityPolicy, "default-src 'none'") ||
		!strings.Contains(server.APIContentSecurityPolicy, "frame-ancestors 'none'") {
		t.Errorf("the API's policy is not restrictive: %s", server.APIContentSecurityPolicy)
	}
}
