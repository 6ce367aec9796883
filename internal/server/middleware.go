package server

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/metrics"
	"github.com/openwac/wac/internal/origin"
)

// ClientIPs finds a request's real client address: the peer, or, when the
// peer is a trusted proxy, the nearest untrusted address of the forwarded-for
// header (login.requestHeader, or X-Forwarded-For).
type ClientIPs struct {
	header  string
	trusted []*net.IPNet
}

// NewClientIPs builds the client address finder from the configuration.
func NewClientIPs(cfg *config.Config) (*ClientIPs, error) {
	c := &ClientIPs{header: cfg.Login.RequestHeader}
	if c.header == "" {
		c.header = "X-Forwarded-For"
	}
	for _, p := range cfg.HTTP.TrustedProxies {
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			return nil, fmt.Errorf("http.trustedProxies: %w", err)
		}
		c.trusted = append(c.trusted, n)
	}
	return c, nil
}

func (c *ClientIPs) isTrusted(ip net.IP) bool {
	for _, n := range c.trusted {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// Of returns the client IP of r.
func (c *ClientIPs) Of(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer := net.ParseIP(host)
	if peer == nil || !c.isTrusted(peer) {
		return host
	}
	fwd := r.Header.Values(c.header)
	if len(fwd) == 0 {
		return host
	}
	// Walk the chain from the right: the first address not of a trusted
	// proxy is the client (addresses further left are the client's claims).
	hops := strings.Split(strings.Join(fwd, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip := net.ParseIP(strings.TrimSpace(hops[i]))
		if ip == nil {
			break
		}
		if !c.isTrusted(ip) || i == 0 {
			return ip.String()
		}
	}
	return host
}

type clientIPKey struct{}

// ClientIP returns the client address the server stored for r.
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return host
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (WebSockets).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// limiter keeps a token bucket per client IP and forgets idle ones.
type limiter struct {
	rps   rate.Limit
	burst int
	mu    sync.Mutex
	ips   map[string]*ipLimit
}

type ipLimit struct {
	l    *rate.Limiter
	seen time.Time
}

func newLimiter(rps float64) *limiter {
	burst := int(2 * rps)
	if burst < 1 {
		burst = 1
	}
	return &limiter{rps: rate.Limit(rps), burst: burst, ips: make(map[string]*ipLimit)}
}

func (l *limiter) allow(ip string, now time.Time) bool {
	l.mu.Lock()
	e, ok := l.ips[ip]
	if !ok {
		e = &ipLimit{l: rate.NewLimiter(l.rps, l.burst)}
		l.ips[ip] = e
	}
	e.seen = now
	l.mu.Unlock()
	return e.l.AllowN(now, 1)
}

func (l *limiter) sweep(now time.Time) {
	l.mu.Lock()
	for ip, e := range l.ips {
		if now.Sub(e.seen) > time.Minute {
			delete(l.ips, ip)
		}
	}
	l.mu.Unlock()
}

// cors answers cross-origin requests from the corsDomains allow-list.
type cors struct {
	allowed origin.List // empty: same origin only
}

func newCORS(pattern string) (*cors, error) {
	l, err := origin.CORS(pattern)
	if err != nil {
		return nil, fmt.Errorf("http.corsDomains: %w", err)
	}
	return &cors{allowed: l}, nil
}

// allow reports whether origin (scheme://host[:port]) is allowed: exactly
// on scheme, host and port for the host patterns of the list.
func (c *cors) allow(o string) bool {
	_, ok := c.allowed.MatchOrigin(o)
	return ok
}

// middleware wraps every request: panics become 500s, the client IP is
// found, rate limits and CORS apply, bodies are limited, and the request is
// counted and timed.
type middleware struct {
	log      *slog.Logger
	metrics  *metrics.Metrics
	ips      *ClientIPs
	api      *limiter // nil when ddosProtection is off
	files    *limiter
	cors     *cors
	maxBody  int64
	isStatic func(path string) bool
	// readTimeout bounds the reading of a request body (http.readTimeout).
	readTimeout time.Duration
}

func (m *middleware) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		ctx, route := metrics.WithRoute(r.Context())
		ip := m.ips.Of(r)
		ctx = context.WithValue(ctx, clientIPKey{}, ip)
		r = r.WithContext(ctx)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				m.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				if sw.code == 0 {
					http.Error(sw, `{"code":500,"message":"internal error"}`, http.StatusInternalServerError)
				}
			}
			if *route == "" {
				*route = "other"
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			m.metrics.Request(*route, r.Method, code, time.Since(start).Seconds())
		}()
		securityHeaders(sw.Header(), r.TLS != nil)
		if !m.allowRate(sw, r, ip) {
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && m.cors.allow(origin) {
			h := sw.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				h.Set("Access-Control-Max-Age", "600")
				*route = "cors-preflight"
				sw.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if r.Body != nil && r.ContentLength != 0 {
			m.bodyDeadline(w, r)
			r.Body = http.MaxBytesReader(sw, r.Body, m.maxBody)
		}
		next.ServeHTTP(sw, r)
	})
}

// bodyDeadline holds the reading of r's body to readTimeout, so that a
// client dribbling its body (slow loris) does not hold the connection: past
// it reads fail (the API answers 408) and the connection is closed. It is a
// per-request deadline rather than http.Server.ReadTimeout, which would
// also end WebSocket connections; upgrades carry no body and are left
// alone. net/http lifts the deadline itself once the body has been read
// (it then reads in the background to notice a client that leaves), and
// sets the next request's deadlines on a kept-alive connection.
func (m *middleware) bodyDeadline(w http.ResponseWriter, r *http.Request) {
	if m.readTimeout <= 0 || r.Header.Get("Upgrade") != "" {
		return
	}
	// Recorders in tests have no connection: nothing to hold then.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(m.readTimeout))
}

// APIContentSecurityPolicy is the policy of every response but the web
// app's (which sets its own): nothing may load from it, nothing may frame
// it. A JSON answer opened in a browser runs nothing.
const APIContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// securityHeaders are set on every response: no MIME sniffing (a JSON
// answer is never taken for HTML or script), no referrer sent from the
// app's pages, no framing (clickjacking), and the API's restrictive policy.
// An answer over TLS also tells the browser to use only https for the
// host for a year (HSTS); over plain HTTP the header would mean nothing
// (RFC 6797 §8.1), and TLS terminated in front of wac sets its own.
func securityHeaders(h http.Header, tls bool) {
	if tls {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", APIContentSecurityPolicy)
}

func (m *middleware) allowRate(w http.ResponseWriter, r *http.Request, ip string) bool {
	l := m.api
	if m.isStatic != nil && m.isStatic(r.URL.Path) {
		l = m.files
	}
	if l == nil || l.allow(ip, time.Now()) {
		return true
	}
	m.metrics.RateLimited()
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprintf(w, `{"code":429,"message":"too many requests from %s; slow down"}`+"\n", ip)
	return false
}

// Flush passes flushes through (streaming responses).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack passes connection takeovers through (WebSocket upgrades).
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("response writer cannot hijack")
	}
	if w.code == 0 {
		w.code = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}
