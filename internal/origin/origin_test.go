package origin

import "testing"

func mustParse(t *testing.T, s string) Pattern {
	t.Helper()
	p, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return p
}

func TestMatchOrigin(t *testing.T) {
	cases := []struct {
		pattern, origin string
		want            bool
	}{
		{"app.example.com", "https://app.example.com", true},
		{"app.example.com", "https://app.example.com:443", true},
		{"app.example.com", "https://APP.example.com", true},
		// Dots are dots: the attack of issue #18.
		{"app.example.com", "https://app-example.com", false},
		{"app.example.com", "https://appxexample.com", false},
		// Scheme and port are exact; a bare host is https on 443.
		{"app.example.com", "http://app.example.com", false},
		{"app.example.com", "https://app.example.com:8443", false},
		{"http://localhost:8000", "http://localhost:8000", true},
		{"http://localhost:8000", "http://localhost:8001", false},
		{"http://localhost:8000", "https://localhost:8000", false},
		{"http://localhost", "http://localhost:80", true},
		{"*.example.com", "https://a.example.com", true},
		{"*.example.com", "https://a.b.example.com", true},
		{"*.example.com", "https://example.com", false},
		{"*.example.com", "https://evilexample.com", false},
		{"*.example.com", "https://a.example.com.evil.net", false},
		{"https://*.example.com:8443", "https://a.example.com:8443", true},
		{"https://*.example.com:8443", "https://a.example.com", false},
		// Free patterns match the host.
		{"demo.quobis.*", "https://demo.quobis.com", true},
		{"demo.quobis.*", "http://demo.quobis.net:81", true},
		{"^demo\\.quobis\\.(com|net)$", "https://demo.quobis.net", true},
		{"*", "https://anything.example", true},
		// Not origins.
		{"app.example.com", "app.example.com", false},
		{"app.example.com", "ftp://app.example.com", false},
		{"app.example.com", "https://app.example.com/path", false},
		{"app.example.com", "", false},
		{"*", "null", false},
	}
	for _, c := range cases {
		if got := mustParse(t, c.pattern).MatchOrigin(c.origin); got != c.want {
			t.Errorf("%q.MatchOrigin(%q) = %v, want %v", c.pattern, c.origin, got, c.want)
		}
	}
}

func TestMatchName(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"quobis", "quobis", true},
		{"quobis", "QUOBIS", true},
		{"*.quobis.com", "demo.quobis.com", true},
		{"*.quobis.com", "quobis.com", false},
		{"https://demo.quobis.com:8443", "demo.quobis.com", true},
		{"demo.quobis.com", "demo-quobis.com", false},
		{"demo.quobis.*", "demo.quobis.net", true},
		{"^demo", "demo.x", true},
		{"quobis", "", false},
	}
	for _, c := range cases {
		if got := mustParse(t, c.pattern).MatchName(c.name); got != c.want {
			t.Errorf("%q.MatchName(%q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"", "   ", "ftp://x.com", "https://x.com:99999", "https://x.com:abc", "a..b", "-a.com",
		"^(", "https://*", "a b.com", "https://x.com/path", "a.com\x00", "demo.*\x00", "^a\x00b$", "*.a\t.com", "demo.*\x7f"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
	for s, simple := range map[string]bool{"a.com": true, "*.a.com": true, "http://a.com:81": true, "127.0.0.1": true,
		"quobis": true, "*": false, "demo.quobis.*": false, "^a": false} {
		p := mustParse(t, s)
		if p.Simple() != simple {
			t.Errorf("Parse(%q).Simple() = %v", s, p.Simple())
		}
	}
	if !mustParse(t, "*.com").Broad() || mustParse(t, "*.a.com").Broad() || mustParse(t, "com").Broad() {
		t.Error("Broad: *.com is broad, *.a.com and com are not")
	}
}

func TestOverlaps(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"a.example.com", "a.example.com", true},
		{"a.example.com", "b.example.com", false},
		{"a.example.com", "*.example.com", true},
		{"*.example.com", "*.b.example.com", true},
		{"*.example.com", "*.example.net", false},
		{"*.example.com", "example.com", false},
		{"https://a.example.com:8443", "a.example.com", true}, // one name for visitors
		{"quobis", "*.quobis.com", false},
		{"demo.quobis.*", "demo.quobis.com", true},
		{"demo.quobis.*", "*.other.com", false},
		{"*", "anything.example", true},
		{"^a\\.com$", "a.com", true},
		{"^a\\.com$", "^b\\.com$", false},
		{"*", "*", true},
	}
	for _, c := range cases {
		a, b := mustParse(t, c.a), mustParse(t, c.b)
		if got := a.Overlaps(b); got != c.want {
			t.Errorf("%q.Overlaps(%q) = %v, want %v", c.a, c.b, got, c.want)
		}
		if got := b.Overlaps(a); got != c.want {
			t.Errorf("%q.Overlaps(%q) = %v, want %v", c.b, c.a, got, c.want)
		}
	}
}

func TestListPrefersTheMostSpecific(t *testing.T) {
	l, err := ParseList([]string{"*", "*.quobis.com", "*.demo.quobis.com", "x.demo.quobis.com"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"x.demo.quobis.com": "x.demo.quobis.com", "y.demo.quobis.com": "*.demo.quobis.com",
		"a.quobis.com": "*.quobis.com", "elsewhere.net": "*"} {
		p, ok := l.MatchName(name)
		if !ok || p.String() != want {
			t.Errorf("MatchName(%q) = %q %v, want %q", name, p, ok, want)
		}
	}
	if _, err := ParseList([]string{"a.com", "^("}); err == nil || err.Error()[:6] != "item 1" {
		t.Errorf("ParseList names the bad item: %v", err)
	}
}

func TestCORS(t *testing.T) {
	l, err := CORS("app.example.com|.*\\.partner\\.net|http://localhost:5173")
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]bool{
		"https://app.example.com":  true,
		"https://app-example.com":  false, // the literal part is literal
		"https://a.partner.net":    true,  // the regular expression part matches the host
		"http://a.partner.net:81":  true,
		"https://partner.net":      false,
		"http://localhost:5173":    true,
		"http://localhost:5174":    false,
		"https://evil.example.com": false,
	} {
		_, got := l.MatchOrigin(origin)
		if got != want {
			t.Errorf("CORS MatchOrigin(%q) = %v, want %v", origin, got, want)
		}
	}
	l, err = CORS("^(a|b)\\.example\\.com$")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.MatchOrigin("https://b.example.com"); !ok {
		t.Error("a whole regular expression matches the host")
	}
	if _, err := CORS("a.com|("); err == nil {
		t.Error("a bad regular expression is refused")
	}
	if l, err := CORS(""); err != nil || l != nil {
		t.Errorf("empty: %v %v", l, err)
	}
}
