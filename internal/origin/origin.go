// Package origin matches web origins (the Origin header, scheme://host[:port])
// and the names anonymous visitors log in with ("@demo.quobis.com") against
// the patterns of the configuration (http.corsDomains) and of domains
// (origins).
//
// A pattern is simple or free. Simple patterns are exact and can be compared
// with each other:
//
//	app.example.com            https://app.example.com (port 443) only
//	*.example.com              https on port 443, any host below example.com
//	http://localhost:8000      exactly that scheme, host and port
//	https://*.example.com:8443 any host below example.com, that scheme and port
//
// Dots are dots, never wildcards. Free patterns are the seeds' globs with a *
// anywhere else ("demo.quobis.*", "*") and regular expressions (starting with
// ^); they match the host only and cannot be compared, so only the system's
// admins may write them.
package origin

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Pattern is one parsed pattern.
type Pattern struct {
	raw string
	// Simple patterns.
	simple   bool
	scheme   string // http or https
	host     string // the exact host, or the suffix below which hosts match
	wildcard bool   // host is a suffix ("*.example.com")
	port     int
	// Free patterns.
	glob string
	re   *regexp.Regexp
}

var (
	labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

	// ErrEmpty is an empty pattern.
	ErrEmpty = errors.New("empty pattern")
)

// Parse reads a pattern. A free pattern (glob or regular expression) is
// accepted here; callers that must compare patterns check Simple.
func Parse(s string) (Pattern, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Pattern{}, ErrEmpty
	}
	if len(s) > 255 {
		return Pattern{}, fmt.Errorf("%q is longer than 255 characters", s[:32]+"...")
	}
	// No origin a browser sends holds a control character or a space; a
	// pattern with one could only match what no browser says.
	if i := strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
		return Pattern{}, fmt.Errorf("%q holds a control character or space at %d", s, i)
	}
	if strings.HasPrefix(s, "^") {
		re, err := regexp.Compile(s)
		if err != nil {
			return Pattern{}, fmt.Errorf("not a valid regular expression: %w", err)
		}
		return Pattern{raw: s, re: re}, nil
	}
	if p, err := parseSimple(s); err == nil {
		return p, nil
	} else if !strings.Contains(s, "*") || strings.Contains(s, "://") {
		return Pattern{}, err
	}
	glob := strings.ToLower(s)
	if _, err := path.Match(glob, ""); err != nil {
		return Pattern{}, fmt.Errorf("%q is not a valid pattern: %w", s, err)
	}
	return Pattern{raw: s, glob: glob}, nil
}

func parseSimple(s string) (Pattern, error) {
	p := Pattern{raw: s, simple: true, scheme: "https", port: 443}
	hostport := strings.ToLower(s)
	if scheme, rest, ok := strings.Cut(hostport, "://"); ok {
		switch scheme {
		case "http":
			p.scheme, p.port = "http", 80
		case "https":
		default:
			return Pattern{}, fmt.Errorf("%q: the scheme must be http or https", s)
		}
		hostport = rest
	}
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Pattern{}, fmt.Errorf("%q: %q is not a port", s, port)
		}
		host, p.port = h, n
	}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		host, p.wildcard = rest, true
	}
	if !validHost(host) {
		return Pattern{}, fmt.Errorf("%q is not a host name, *.host name or scheme://host[:port]", s)
	}
	p.host = host
	return p, nil
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, l := range strings.Split(h, ".") {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	return true
}

// String is the pattern as written.
func (p Pattern) String() string { return p.raw }

// Simple reports whether p is exact (a host, *.host or scheme://host:port):
// it can be compared with other patterns.
func (p Pattern) Simple() bool { return p.simple }

// Broad reports whether p is a simple wildcard over a top-level name
// ("*.com"): hosts of many owners.
func (p Pattern) Broad() bool { return p.simple && p.wildcard && !strings.Contains(p.host, ".") }

// Specificity ranks patterns for a value several match: exact hosts first,
// then wildcards by the length of their suffix, then free patterns, the
// catch-all "*" last.
func (p Pattern) Specificity() int {
	switch {
	case p.simple && !p.wildcard:
		return 3000
	case p.simple:
		return 1000 + len(p.host)
	case p.glob == "*":
		return 0
	default:
		return 500
	}
}

// MatchOrigin reports whether origin (scheme://host[:port], as the Origin
// header has it) matches. Simple patterns match scheme, host and port
// exactly; free patterns the host.
func (p Pattern) MatchOrigin(origin string) bool {
	u, err := url.Parse(strings.ToLower(strings.TrimSpace(origin)))
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" || u.Path != "" && u.Path != "/" {
		return false
	}
	host := u.Hostname()
	if !p.simple {
		return p.matchFree(host)
	}
	port := 443
	if u.Scheme == "http" {
		port = 80
	}
	if ps := u.Port(); ps != "" {
		if port, err = strconv.Atoi(ps); err != nil {
			return false
		}
	}
	return u.Scheme == p.scheme && port == p.port && p.matchHost(host)
}

// MatchName reports whether a bare name (the domain an anonymous visitor
// names, "@demo.quobis.com") matches: the host part of the pattern only.
func (p Pattern) MatchName(name string) bool {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return false
	}
	if !p.simple {
		return p.matchFree(name)
	}
	return p.matchHost(name)
}

func (p Pattern) matchHost(host string) bool {
	if p.wildcard {
		return strings.HasSuffix(host, "."+p.host) && len(host) > len(p.host)+1
	}
	return host == p.host
}

func (p Pattern) matchFree(host string) bool {
	if host == "" {
		return false
	}
	if p.re != nil {
		return p.re.MatchString(host)
	}
	ok, err := path.Match(p.glob, host)
	return err == nil && ok
}

// Overlaps reports whether some origin or name could match both p and q.
// For two simple patterns the answer is exact. A free pattern is compared by
// whether it matches the other's hosts (the host itself, or a name below a
// wildcard's suffix); two free patterns are taken to overlap only when they
// are written alike.
func (p Pattern) Overlaps(q Pattern) bool {
	switch {
	case p.simple && q.simple:
		// Hosts decide, whatever the schemes and ports: the names
		// visitors log in with ("@host") carry neither.
		return p.hostsOverlap(q)
	case p.simple:
		return q.matchFree(p.sampleHost())
	case q.simple:
		return p.matchFree(q.sampleHost())
	default:
		return strings.EqualFold(p.raw, q.raw)
	}
}

func (p Pattern) hostsOverlap(q Pattern) bool {
	switch {
	case !p.wildcard && !q.wildcard:
		return p.host == q.host
	case p.wildcard && q.wildcard:
		return p.host == q.host || strings.HasSuffix(p.host, "."+q.host) || strings.HasSuffix(q.host, "."+p.host)
	case p.wildcard:
		return p.matchHost(q.host)
	default:
		return q.matchHost(p.host)
	}
}

// sampleHost is a host a simple pattern matches.
func (p Pattern) sampleHost() string {
	if p.wildcard {
		return "a." + p.host
	}
	return p.host
}

// List is the patterns of one owner (a domain's origins, http.corsDomains).
type List []Pattern

// ParseList reads patterns, naming the item that is wrong.
func ParseList(items []string) (List, error) {
	out := make(List, 0, len(items))
	for i, s := range items {
		p, err := Parse(s)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// MatchOrigin returns the best (most specific) pattern matching origin.
func (l List) MatchOrigin(origin string) (Pattern, bool) {
	return l.best(func(p Pattern) bool { return p.MatchOrigin(origin) })
}

// MatchName returns the best pattern matching name.
func (l List) MatchName(name string) (Pattern, bool) {
	return l.best(func(p Pattern) bool { return p.MatchName(name) })
}

func (l List) best(match func(Pattern) bool) (Pattern, bool) {
	var best Pattern
	found := false
	for _, p := range l {
		if match(p) && (!found || p.Specificity() > best.Specificity()) {
			best, found = p, true
		}
	}
	return best, found
}

// CORS parses http.corsDomains: host patterns joined by a vertical bar (the
// seeds' "domain1.com|domain2.net"), each simple or, when it is not a host
// pattern, a regular expression matched against the whole host; a value
// with parentheses or starting with ^ is one regular expression.
func CORS(s string) (List, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if strings.HasPrefix(s, "^") || strings.ContainsAny(s, "()") {
		re, err := regexp.Compile(`^(?:` + strings.TrimPrefix(s, "^") + `)$`)
		if err != nil {
			return nil, fmt.Errorf("not a valid regular expression: %w", err)
		}
		return List{{raw: s, re: re}}, nil
	}
	var out List
	for _, part := range strings.Split(s, "|") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := parseSimple(part); err == nil {
			out = append(out, p)
			continue
		}
		re, err := regexp.Compile(`^(?:` + part + `)$`)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a host pattern nor a valid regular expression: %w", part, err)
		}
		out = append(out, Pattern{raw: part, re: re})
	}
	return out, nil
}
