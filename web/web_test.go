package web_test

import (
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/openwac/wac/web"
)

// The app is served under a Content-Security-Policy that lets it load only
// its own files and connect only to its server (HTTP and WebSockets of the
// page's host) and to the configured media nodes, and forbids framing.
func TestContentSecurityPolicy(t *testing.T) {
	h := web.Handler(web.Options{ConnectSrc: []string{"wss://media-1.example.com"}, MediaURL: "https://media-0.example.com:8443/x"})
	for _, path := range []string{"/", "/conference/wac-conf1", "/icon.svg"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Host = "wac.example.com:8000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		csp := w.Header().Get("Content-Security-Policy")
		for _, want := range []string{
			"default-src 'self'", "script-src 'self';", "style-src 'self';", "img-src 'self' data: blob:",
			"media-src 'self' blob:", "object-src 'none'", "frame-ancestors 'none'",
			"connect-src 'self' ws://wac.example.com:8000 wss://wac.example.com:8000 https://media-0.example.com:8443 wss://media-0.example.com:8443 wss://media-1.example.com;",
		} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: the policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: the policy allows unsafe code: %q", path, csp)
		}
	}
	// A Host header that could end the directive stays out of it.
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = "evil.example; script-src *"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if csp := w.Header().Get("Content-Security-Policy"); strings.Contains(csp, "evil") || strings.Count(csp, "script-src") != 1 {
		t.Errorf("a forged Host went into the policy: %q", csp)
	}
}

// The built page has nothing the policy would block: no inline script or
// style, no event handler attributes, nothing loaded from elsewhere.
func TestBuiltPageNeedsNoInlineCode(t *testing.T) {
	b, err := os.ReadFile("dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, re := range []string{
		`<script(\s[^>]*)?>[^<]+</script>`, // inline script
		`<style`, `\sstyle=`, `\son[a-z]+=`, `javascript:`,
		`(?:src|href)="(?:https?:)?//`, // another origin
	} {
		if m := regexp.MustCompile(re).FindString(page); m != "" {
			t.Errorf("dist/index.html has %q, which the Content-Security-Policy blocks", m)
		}
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, ` src="/`) {
			t.Errorf("dist/index.html has a script without a src of its own: %q", tag)
		}
	}
	if !regexp.MustCompile(`<script type="module" src="/assets/main-[A-Z0-9]+\.js"></script>`).MatchString(page) {
		t.Errorf("dist/index.html does not load its script from /assets:\n%s", page)
	}
}
