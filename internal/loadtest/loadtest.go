// Package loadtest is wac's load tools (wac bench): load generators that
// drive a running server from another process over its public
// interfaces: the REST API, the QSS signaling socket (through the Go
// client) and the Janus API (through peers of package janus/peer). Run is
// the entry point; the command line's conventions (flag parsing, usage
// errors, reading the store) are the command's, given in an Env.
package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

const benchUsage = `wac bench: load generators that drive a running server from another process

  wac bench api   --url URL --user USER@DOMAIN [--path /sapi/capabilities] [--duration 10s] [--connections 64] [--rate 0]
  wac bench login --url URL --user USER@DOMAIN [--duration 10s] [--connections 4]
  wac bench sessions --url URL[,URL2] [--sessions 20000] [--users 200]     memory per idle session
  wac bench rooms    --url URL[,URL2] [--workers 32] [--duration 20s]      room operations per second
  wac bench calls    --url URL[,URL2] [--workers 32] [--duration 20s] [--hold 0] [--rate 0]
                                                                           call set-ups per second
  wac bench media ...                                                      the SFU (or Janus) under
                                                                           publishers and subscribers
                                                                           (wac bench media help)
  wac bench sipcalls --url URL --trunk IP:PORT [--calls 50] [--codec pcmu|opus] [--pid PID]
                     [--janus WS --janus-pid PID]                          bridged phone calls with audio:
                                                                           loss and server CPU per call
                                                                           (wac bench sipcalls help)

The password (of --user, or of --admin who creates the load's users) is read
from the environment variable WAC_BENCH_PASSWORD. The servers' /metrics are
read with the token of WAC_METRICS_TOKEN (start wac serve with the same
variable: it sets metrics.token). WAC_BENCH_CPUPROFILE=FILE
writes a CPU profile of the load tool itself (go tool pprof FILE).
Results: docs/benchmarks.md.
`

// Env is what the load tools take from the command that runs them.
type Env struct {
	// Parse parses a load's flags; a bad command line is a usage error.
	Parse func(fs *flag.FlagSet, args []string) error
	// Usage is the error of a bad command line, with help the text to
	// show with it ("" for the command's usage).
	Usage func(msg, help string) error
	// StoreFlags adds the flags that name a node's store to fs, and
	// returns what reads the cluster secret from that store (the media
	// loads sign room grants with it).
	StoreFlags func(fs *flag.FlagSet) func(context.Context) ([]byte, error)
}

// isHelp says whether arg asks for the usage text.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help"
}

func (e Env) usagef(format string, args ...any) error {
	return e.Usage(fmt.Sprintf(format, args...), "")
}

// Run runs the load that args name (wac bench args...), writing its
// results to stdout.
func Run(ctx context.Context, args []string, stdout io.Writer, e Env) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stdout, benchUsage)
		return nil
	}
	if os.Getenv("GOGC") == "" {
		// The load tool churns through small messages as the server does;
		// collecting less often leaves more of the machine to the server.
		debug.SetGCPercent(400)
	}
	if path := os.Getenv("WAC_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("bench: WAC_BENCH_CPUPROFILE: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: WAC_BENCH_CPUPROFILE: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	switch args[0] {
	case "api":
		return e.benchAPI(ctx, args[1:], stdout)
	case "login":
		return e.benchLogin(ctx, args[1:], stdout)
	case "sessions":
		return e.benchSessions(ctx, args[1:], stdout)
	case "rooms":
		return e.benchRooms(ctx, args[1:], stdout)
	case "calls":
		return e.benchCalls(ctx, args[1:], stdout)
	case "media":
		return e.benchMedia(ctx, args[1:], stdout)
	case "sipcalls":
		return e.benchSIPCalls(ctx, args[1:], stdout)
	}
	return e.Usage(fmt.Sprintf("bench: unknown load %q", args[0]), benchUsage)
}

type benchFlags struct {
	url         string
	user        string
	duration    time.Duration
	connections int
}

func (b *benchFlags) register(fs *flag.FlagSet, conns int) {
	fs.StringVar(&b.url, "url", "http://127.0.0.1:8000", "server base URL")
	fs.StringVar(&b.user, "user", "admin@wac", "user to log in as (password from WAC_BENCH_PASSWORD)")
	fs.DurationVar(&b.duration, "duration", 10*time.Second, "how long to load")
	fs.IntVar(&b.connections, "connections", conns, "concurrent connections")
}

func benchClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
			IdleConnTimeout: time.Minute, DisableCompression: true,
		},
	}
}

func benchPassword() (string, error) {
	pw := os.Getenv("WAC_BENCH_PASSWORD")
	if pw == "" {
		return "", errors.New("set WAC_BENCH_PASSWORD to the password of --user")
	}
	return pw, nil
}

// passwordLogin runs one password grant and returns the access token.
func passwordLogin(ctx context.Context, c *http.Client, base, user, password string) (string, error) {
	body, _ := json.Marshal(map[string]string{"grant_type": "password", "username": user, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/sapi/o/token", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		Message     string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("login answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("login as %s: %s: %s", user, resp.Status, out.Message)
	}
	return out.AccessToken, nil
}

// recorder collects latencies from many workers.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	ok, fail  atomic.Int64
	lastErr   atomic.Value
}

func (r *recorder) add(d time.Duration, err error) {
	if err != nil {
		r.fail.Add(1)
		r.lastErr.Store(err.Error())
		return
	}
	r.ok.Add(1)
	r.mu.Lock()
	r.latencies = append(r.latencies, d)
	r.mu.Unlock()
}

func (r *recorder) report(w io.Writer, what string, elapsed time.Duration) {
	sort.Slice(r.latencies, func(i, j int) bool { return r.latencies[i] < r.latencies[j] })
	q := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
	}
	fmt.Fprintf(w, "%s: %d ok, %d failed in %.1fs = %.0f/s\n", what, r.ok.Load(), r.fail.Load(),
		elapsed.Seconds(), float64(r.ok.Load())/elapsed.Seconds())
	fmt.Fprintf(w, "latency: p50 %v  p90 %v  p99 %v  max %v\n", q(.50), q(.90), q(.99), q(1))
	if e, ok := r.lastErr.Load().(string); ok {
		fmt.Fprintf(w, "last error: %s\n", e)
	}
}

// load runs fn from n workers until d has passed or ctx ends. With a
// limiter, calls are paced to its rate over all workers; the wait for the
// limiter is not part of the latency.
func load(ctx context.Context, n int, d time.Duration, rec *recorder, limiter *rate.Limiter, fn func(ctx context.Context) error) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if limiter != nil && limiter.Wait(ctx) != nil {
					return
				}
				t := time.Now()
				err := fn(ctx)
				if ctx.Err() != nil {
					return
				}
				rec.add(time.Since(t), err)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func (e Env) benchAPI(ctx context.Context, args []string, stdout io.Writer) error {
	var b benchFlags
	fs := flag.NewFlagSet("bench api", flag.ContinueOnError)
	b.register(fs, 64)
	path := fs.String("path", "/sapi/capabilities", "GET path to load")
	perSecond := fs.Float64("rate", 0, "requests per second over all connections (0: as fast as they answer)")
	if err := e.Parse(fs, args); err != nil {
		return err
	}
	var limiter *rate.Limiter
	if *perSecond > 0 {
		limiter = rate.NewLimiter(rate.Limit(*perSecond), b.connections)
	}
	pw, err := benchPassword()
	if err != nil {
		return err
	}
	c := benchClient(b.connections)
	token, err := passwordLogin(ctx, c, b.url, b.user, pw)
	if err != nil {
		return err
	}
	target := b.url + *path
	rec := &recorder{}
	get := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", *path, resp.Status)
		}
		return nil
	}
	fmt.Fprintf(stdout, "GET %s with %d connections for %v\n", target, b.connections, b.duration)
	elapsed := load(ctx, b.connections, b.duration, rec, limiter, get)
	rec.report(stdout, "requests", elapsed)
	return nil
}

func (e Env) benchLogin(ctx context.Context, args []string, stdout io.Writer) error {
	var b benchFlags
	fs := flag.NewFlagSet("bench login", flag.ContinueOnError)
	b.register(fs, 4)
	if err := e.Parse(fs, args); err != nil {
		return err
	}
	pw, err := benchPassword()
	if err != nil {
		return err
	}
	c := benchClient(b.connections + 1)
	before, _ := serverRSS(ctx, c, b.url)
	var peak atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
				if rss, err := serverRSS(sampleCtx, c, b.url); err == nil && rss > peak.Load() {
					peak.Store(rss)
				}
			}
		}
	}()
	rec := &recorder{}
	fmt.Fprintf(stdout, "password grants as %s with %d connections for %v\n", b.user, b.connections, b.duration)
	elapsed := load(ctx, b.connections, b.duration, rec, nil, func(ctx context.Context) error {
		_, err := passwordLogin(ctx, c, b.url, b.user, pw)
		return err
	})
	stopSampling()
	rec.report(stdout, "logins", elapsed)
	if before > 0 {
		fmt.Fprintf(stdout, "server RSS: %.1f MiB before, %.1f MiB peak under load\n",
			float64(before)/(1<<20), float64(peak.Load())/(1<<20))
	}
	return nil
}

// serverRSS reads process_resident_memory_bytes from the server's /metrics.
func serverRSS(ctx context.Context, c *http.Client, base string) (int64, error) {
	u, err := url.JoinPath(base, "/metrics")
	if err != nil {
		return 0, err
	}
	resp, err := diagnosticsGet(ctx, c, u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err
		}
	}
	return 0, errors.New("no process_resident_memory_bytes in /metrics")
}
