// Package server assembles a node: it opens the store, runs migrations,
// creates the first domain and admin, wires the roles' HTTP handlers behind
// the common middleware, and serves the configured interfaces until the
// context ends, then drains them.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/auth/federation"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/metrics"
	"github.com/openwac/wac/internal/sapi"
	"github.com/openwac/wac/internal/store"
)

// Server is one node.
type Server struct {
	Config  *config.Config
	Log     *slog.Logger
	Metrics *metrics.Metrics
	Store   *store.SQL
	Auth    *auth.Service
	API     *sapi.API
	// Federation logs users in through external identity providers.
	Federation *federation.Federation

	mux     *http.ServeMux
	handler http.Handler
	mw      *middleware
	ready   atomic.Bool

	// Addrs are the bound addresses, by interface name, once Run has
	// started listening ("public", "public_secure", "internal", ...).
	addrMu sync.Mutex
	addrs  map[string]string
	bound  chan struct{}
	once   sync.Once

	// drainTimeout bounds the drain on shutdown (http.shutdownTimeout);
	// onDrain run when it starts.
	drainTimeout time.Duration
	onDrain      []func()
}

// Options adjust New for tools and tests.
type Options struct {
	// Out receives the one-time admin password notice (stdout by default).
	Out io.Writer
	// Environ is the environment for WAC_ADMIN_PASSWORD (os.Environ by default).
	Environ []string
}

// OpenStore opens and migrates the configured store.
func OpenStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.SQL, error) {
	dsn := cfg.Database.DSN
	if cfg.Database.Driver == store.SQLite {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory (config key dataDir) %s: %w", cfg.DataDir, err)
		}
		if dsn == "" {
			dsn = filepath.Join(cfg.DataDir, "wac.db")
		}
	}
	st, err := store.Open(ctx, cfg.Database.Driver, dsn, cfg.Database.MaxOpenConns)
	if err != nil {
		return nil, fmt.Errorf("%w (check database.driver and database.dsn)", err)
	}
	if _, err := st.Migrate(ctx, log); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// New builds a node from its configuration: store, migrations, first admin,
// services and routes. It does not listen yet.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) (*Server, error) {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Environ == nil {
		opts.Environ = os.Environ()
	}
	st, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	s := &Server{Config: cfg, Log: log, Metrics: metrics.New(), Store: st, mux: http.NewServeMux(),
		addrs: map[string]string{}, bound: make(chan struct{}),
		drainTimeout: cfg.HTTP.ShutdownTimeout}
	s.Auth = auth.New(st, cfg, log)
	s.Auth.Metrics = s.Metrics
	if err := Bootstrap(ctx, st, s.Auth, cfg, log, opts.Out, opts.Environ); err != nil {
		st.Close()
		return nil, err
	}
	ips, err := NewClientIPs(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	c, err := newCORS(cfg.HTTP.CORSDomains)
	if err != nil {
		st.Close()
		return nil, err
	}
	s.mw = &middleware{log: log, metrics: s.Metrics, ips: ips, cors: c, maxBody: cfg.HTTP.MaxBodyBytes,
		readTimeout: cfg.HTTP.ReadTimeout}
	if cfg.HTTP.DDoSProtection {
		s.mw.api = newLimiter(cfg.HTTP.RPS)
		s.mw.files = newLimiter(cfg.HTTP.RPSHigh)
	}
	s.API = sapi.New(st, s.Auth, cfg, log, ClientIP)
	if err := s.enableSSO(ctx); err != nil {
		st.Close()
		return nil, err
	}
	s.mux.Handle("/sapi/", s.API)
	s.mux.Handle("GET /.well-known/openid-configuration", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		metrics.SetRoute(r.Context(), "GET /.well-known/openid-configuration")
		s.API.Discovery(w, r)
	}))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if cfg.Wiface.Internal.Port == 0 && cfg.Wiface.Internal.PortSecure == 0 {
		if cfg.Metrics.Token != "" {
			s.diagnostics(s.mux)
		} else {
			s.noDiagnostics(s.mux)
		}
	}
	s.handler = s.mw.wrap(s.mux)
	return s, nil
}

// diagnostics serves /metrics and, with metrics.pprof, /debug/pprof/ on mux,
// behind metrics.token when one is set.
func (s *Server) diagnostics(mux *http.ServeMux) {
	guard := bearerGuard(s.Config.Metrics.Token)
	if s.Config.Metrics.Enabled {
		mux.Handle("GET /metrics", guard(s.Metrics.Handler()))
	}
	if s.Config.Metrics.Pprof {
		// Contention profiles too (/debug/pprof/mutex and /block).
		runtime.SetMutexProfileFraction(100)
		runtime.SetBlockProfileRate(100_000)
		mux.Handle("/debug/pprof/", guard(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/profile", guard(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/trace", guard(http.HandlerFunc(pprof.Trace)))
	}
}

// noDiagnostics answers /metrics and /debug/pprof/ on the public mux with
// a 404 that says how to serve them (rather than with the web app's page).
func (s *Server) noDiagnostics(mux *http.ServeMux) {
	const msg = "/metrics and /debug/pprof/ are not served on the public interface: set metrics.token " +
		"(and send it as Authorization: Bearer), or serve them on an internal interface (wiface.internal.port)"
	if s.Config.Metrics.Enabled || s.Config.Metrics.Pprof {
		s.Log.Info(msg)
	}
	notServed := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"code":404,"message":"`+msg+`"}`+"\n")
	}
	mux.HandleFunc("/metrics", notServed)
	mux.HandleFunc("/debug/pprof/", notServed)
}

// bearerGuard lets through the requests that carry token as their bearer
// token (all of them when token is empty) and answers the others 401.
func bearerGuard(token string) func(http.Handler) http.Handler {
	if token == "" {
		return func(h http.Handler) http.Handler { return h }
	}
	want := sha256.Sum256([]byte(token))
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := sha256.Sum256([]byte(auth.HeaderToken(r)))
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"code":401,"message":"this endpoint needs the metrics token (metrics.token) as Authorization: Bearer <token>"}`+"\n")
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

// Handle adds a top-level route (the web app, the QSS socket, the media API).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// SetStatic tells the rate limiter which paths are the web app's files,
// limited by rpsHigh instead of rps.
func (s *Server) SetStatic(isStatic func(path string) bool) { s.mw.isStatic = isStatic }

// OnDrain registers f to run when shutdown begins, before the in-flight
// requests are waited for: roles end their long-held requests (long polls)
// there. Call it before Run.
func (s *Server) OnDrain(f func()) { s.onDrain = append(s.onDrain, f) }

// HTTPServer is an HTTP server for h with the configured limits: headers
// within http.readHeaderTimeout, idle keep-alive connections closed after
// http.idleTimeout. Request bodies are held to http.readTimeout by the
// middleware, per request, so that WebSocket connections are not cut.
func (s *Server) HTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.Config.HTTP.ReadHeaderTimeout,
		IdleTimeout:       s.Config.HTTP.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelDebug),
	}
}

// Handler is the node's whole HTTP handler, middleware included.
func (s *Server) Handler() http.Handler { return s.handler }

// Close releases the store.
func (s *Server) Close() error { return s.Store.Close() }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	metrics.SetRoute(r.Context(), "GET /healthz")
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"status":"ok"}`+"\n")
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	metrics.SetRoute(r.Context(), "GET /readyz")
	w.Header().Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"status":"starting"}`+"\n")
		return
	}
	if err := s.Store.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `{"status":"database unavailable"}`+"\n")
		s.Log.Warn("readiness: database unavailable", "err", err)
		return
	}
	io.WriteString(w, `{"status":"ready"}`+"\n")
}

// Addr returns the address an interface is bound to ("public",
// "public_secure", "internal", "internal_secure"), after Run started.
func (s *Server) Addr(name string) string {
	<-s.bound
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	return s.addrs[name]
}

type listener struct {
	name string
	ln   net.Listener
	srv  *http.Server
}

// Run listens on the configured interfaces and serves until ctx ends, then
// shuts down gracefully within http.shutdownTimeout. Background chores
// (token cleanup, rate-limit sweeping) run meanwhile.
func (s *Server) Run(ctx context.Context) error {
	cfg := s.Config
	// Requests run on a context the signal does not end: on shutdown, those
	// in flight finish within the drain. It ends at the drain's timeout.
	requests, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	internal := http.NewServeMux()
	internal.Handle("/", s.handler)
	s.diagnostics(internal)
	var lns []listener
	defer s.once.Do(func() { close(s.bound) }) // also when listening fails
	closeAll := func() {
		for _, l := range lns {
			l.ln.Close()
		}
	}
	add := func(name string, ifc config.Iface, port int, secure bool, h http.Handler) error {
		if port == 0 {
			return nil
		}
		addr := net.JoinHostPort(ifc.Iface, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen on %s (config key wiface.%s): %w", addr, strings.TrimSuffix(name, "_secure"), err)
		}
		srv := s.HTTPServer(h)
		srv.BaseContext = func(net.Listener) context.Context { return requests }
		if secure {
			cert, err := tls.LoadX509KeyPair(ifc.Cert, ifc.Key)
			if err != nil {
				ln.Close()
				return fmt.Errorf("load TLS key pair of wiface.%s (cert %s, key %s): %w",
					strings.TrimSuffix(name, "_secure"), ifc.Cert, ifc.Key, err)
			}
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			ln = tls.NewListener(ln, srv.TLSConfig)
		}
		lns = append(lns, listener{name: name, ln: ln, srv: srv})
		return nil
	}
	pub, in := cfg.Wiface.Public, cfg.Wiface.Internal
	for _, l := range []struct {
		name   string
		ifc    config.Iface
		port   int
		secure bool
		h      http.Handler
	}{
		{"public", pub, pub.Port, false, s.handler},
		{"public_secure", pub, pub.PortSecure, true, s.handler},
		{"internal", in, in.Port, false, internal},
		{"internal_secure", in, in.PortSecure, true, internal},
	} {
		if err := add(l.name, l.ifc, l.port, l.secure, l.h); err != nil {
			closeAll()
			return err
		}
	}
	s.addrMu.Lock()
	for _, l := range lns {
		s.addrs[l.name] = l.ln.Addr().String()
	}
	s.addrMu.Unlock()
	s.once.Do(func() { close(s.bound) })

	errc := make(chan error, len(lns))
	for _, l := range lns {
		go func() {
			if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", l.name, err)
			}
		}()
	}
	chores, stopChores := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.chores(chores)
	}()
	s.ready.Store(true)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.drain(lns, cancelRequests)
	stopChores()
	wg.Wait()
	return runErr
}

// cancelGrace is how long the requests cancelled at the end of the drain
// get to answer (503) before their connections are closed.
const cancelGrace = 2 * time.Second

// drain shuts the listeners down: the node turns unready, stops accepting
// and lets the requests in flight finish within the drain timeout. Those
// still running then are cancelled and get cancelGrace to answer before
// their connections are closed.
func (s *Server) drain(lns []listener, cancelRequests context.CancelFunc) {
	s.ready.Store(false)
	for _, f := range s.onDrain {
		f()
	}
	s.Log.Info("shutting down: draining requests in flight", "timeout", s.drainTimeout)
	left := shutdownAll(lns, s.drainTimeout)
	if len(left) == 0 {
		return
	}
	s.Log.Warn("shutdown: requests still running at the end of the drain are cancelled", "timeout", s.drainTimeout)
	cancelRequests()
	for _, l := range shutdownAll(left, cancelGrace) {
		s.Log.Warn("shutdown: closing connections that did not finish", "iface", l.name)
		l.srv.Close()
	}
}

// shutdownAll shuts the listeners' servers down together, waiting up to
// timeout for their requests in flight, and returns those that did not
// finish in time.
func shutdownAll(lns []listener, timeout time.Duration) (undrained []listener) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	errs := make([]error, len(lns))
	var wg sync.WaitGroup
	for i, l := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.srv.Shutdown(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			undrained = append(undrained, lns[i])
		}
	}
	return undrained
}

// chores runs periodic upkeep until ctx ends.
func (s *Server) chores(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := s.Auth.Cleanup(ctx); err != nil && ctx.Err() == nil {
				s.Log.Warn("token cleanup failed", "err", err)
			}
			if s.mw.api != nil {
				s.mw.api.sweep(now)
				s.mw.files.sweep(now)
			}
		}
	}
}

// PublicURL is where users open the server: wiface.public.public(_secure)
// when set, else the bound address.
func (s *Server) PublicURL() string {
	pub := s.Config.Wiface.Public
	if pub.PublicSecure != "" {
		return strings.TrimSuffix(pub.PublicSecure, "/")
	}
	if pub.Public != "" {
		return strings.TrimSuffix(pub.Public, "/")
	}
	if a := s.Addr("public_secure"); a != "" {
		return "https://" + a
	}
	if a := s.Addr("public"); a != "" {
		return "http://" + a
	}
	return ""
}
