package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openwac/wac/client"
)

// qssFlags are the flags of the signaling loads.
type qssFlags struct {
	urls     []string
	admin    string
	password string
	prefix   string
}

func (q *qssFlags) register(fs *flag.FlagSet) *string {
	urls := fs.String("url", "http://127.0.0.1:8000", "server base URL(s), comma separated: users spread over them")
	fs.StringVar(&q.admin, "admin", "admin@wac", "admin who creates the load's users (password from WAC_BENCH_PASSWORD)")
	fs.StringVar(&q.prefix, "prefix", "bench", "name prefix of the load's users")
	return urls
}

func (q *qssFlags) parse(e Env, urls string) error {
	for _, u := range strings.Split(urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			q.urls = append(q.urls, strings.TrimSuffix(u, "/"))
		}
	}
	if len(q.urls) == 0 {
		return e.usagef("bench: --url is required")
	}
	pw, err := benchPassword()
	q.password = pw
	return err
}

// users creates n load users (if missing) and logs each in on a server,
// spreading them over the URLs.
func (q *qssFlags) users(ctx context.Context, n int, out io.Writer) ([]*client.Client, error) {
	admin, err := client.Login(ctx, q.urls[0], q.admin, q.password)
	if err != nil {
		return nil, fmt.Errorf("log in as %s: %w", q.admin, err)
	}
	clients := make([]*client.Client, n)
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			name := fmt.Sprintf("%s%d", q.prefix, i)
			err := admin.API(ctx, "POST", "/sapi/users", map[string]any{"username": name, "password": "bench-password-1"}, nil)
			var ae *client.APIError
			if err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusConflict) {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			cl, err := client.Login(ctx, q.urls[i%len(q.urls)], name+"@wac", "bench-password-1")
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			clients[i] = cl
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	fmt.Fprintf(out, "%d users logged in over %d server(s)\n", n, len(q.urls))
	return clients, nil
}

// diagnosticsGet GETs one of a server's diagnostics (/metrics,
// /debug/pprof/...) with the metrics token of WAC_METRICS_TOKEN, which
// the server needs when it serves them on its public interface
// (metrics.token, the same variable for wac serve).
func diagnosticsGet(ctx context.Context, c *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token := os.Getenv("WAC_METRICS_TOKEN"); token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s (the server serves it on its public interface only with metrics.token: "+
			"give both it and this tool WAC_METRICS_TOKEN)", url, resp.Status)
	}
	return resp, nil
}

// serverMetric reads one sample of a metric from a server's /metrics.
func serverMetric(ctx context.Context, base, name string) (float64, error) {
	resp, err := diagnosticsGet(ctx, http.DefaultClient, base+"/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			return f, err
		}
	}
	return 0, fmt.Errorf("%s has no metric %s", base, name)
}

// serverCPU is the CPU time the servers have used, in seconds (0 when one
// of them does not tell).
func serverCPU(ctx context.Context, urls []string) float64 {
	var total float64
	for _, u := range urls {
		v, err := serverMetric(ctx, u, "process_cpu_seconds_total")
		if err != nil {
			return 0
		}
		total += v
	}
	return total
}

type memSample struct{ rss, heap, stack, goroutines float64 }

// sampleMemory reads the servers' memory. When they serve profiles
// (metrics.pprof), it first has them collect garbage, so that the heap
// figure is what is live rather than what the collector has not freed yet.
func sampleMemory(ctx context.Context, urls []string) (memSample, error) {
	var m memSample
	for _, u := range urls {
		if resp, err := diagnosticsGet(ctx, http.DefaultClient, u+"/debug/pprof/heap?gc=1"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		rss, err := serverMetric(ctx, u, "process_resident_memory_bytes")
		if err != nil {
			return m, err
		}
		heap, err := serverMetric(ctx, u, "go_memstats_heap_inuse_bytes")
		if err != nil {
			return m, err
		}
		g, err := serverMetric(ctx, u, "go_goroutines")
		if err != nil {
			return m, err
		}
		stack, err := serverMetric(ctx, u, "go_memstats_stack_inuse_bytes")
		if err != nil {
			return m, err
		}
		m.rss += rss
		m.heap += heap
		m.stack += stack
		m.goroutines += g
	}
	return m, nil
}

// benchSessions opens many idle sessions and reports the servers' memory
// per session.
func (e Env) benchSessions(ctx context.Context, args []string, out io.Writer) error {
	var q qssFlags
	fs := flag.NewFlagSet("bench sessions", flag.ContinueOnError)
	urls := q.register(fs)
	sessions := fs.Int("sessions", 20000, "idle sessions to open")
	users := fs.Int("users", 200, "users the sessions belong to")
	hold := fs.Duration("hold", 20*time.Second, "how long to keep them open before measuring")
	if err := e.Parse(fs, args); err != nil {
		return err
	}
	if err := q.parse(e, *urls); err != nil {
		return err
	}
	clients, err := q.users(ctx, *users, out)
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	before, err := sampleMemory(ctx, q.urls)
	if err != nil {
		return err
	}
	start := time.Now()
	conns := make([]*client.Conn, *sessions)
	var opened atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var failed atomic.Int64
	for i := range *sessions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c, err := clients[i%len(clients)].Connect(cctx, client.ConnectOptions{Platform: "bench", OnEvent: discardEvent})
			if err != nil {
				if failed.Add(1) == 1 {
					fmt.Fprintf(out, "first failure: %v\n", err)
				}
				return
			}
			conns[i] = c
			if n := opened.Add(1); n%5000 == 0 {
				fmt.Fprintf(out, "%d sessions open (%.0f/s)\n", n, float64(n)/time.Since(start).Seconds())
			}
		}()
	}
	wg.Wait()
	fmt.Fprintf(out, "%d sessions open, %d failed, in %.1fs; holding %v\n", opened.Load(), failed.Load(), time.Since(start).Seconds(), *hold)
	time.Sleep(*hold)
	after, err := sampleMemory(ctx, q.urls)
	if err != nil {
		return err
	}
	n := float64(opened.Load())
	fmt.Fprintf(out, "server RSS %.1f MiB -> %.1f MiB: %.1f KiB per session\n", before.rss/(1<<20), after.rss/(1<<20), (after.rss-before.rss)/n/1024)
	fmt.Fprintf(out, "server heap in use %.1f MiB -> %.1f MiB: %.1f KiB per session\n", before.heap/(1<<20), after.heap/(1<<20), (after.heap-before.heap)/n/1024)
	fmt.Fprintf(out, "server goroutine stacks %.1f MiB -> %.1f MiB: %.1f KiB per session\n", before.stack/(1<<20), after.stack/(1<<20), (after.stack-before.stack)/n/1024)
	fmt.Fprintf(out, "heap + stacks: %.1f KiB per session\n", (after.heap+after.stack-before.heap-before.stack)/n/1024)
	fmt.Fprintf(out, "server goroutines %.0f -> %.0f: %.2f per session\n", before.goroutines, after.goroutines, (after.goroutines-before.goroutines)/n)
	for _, c := range conns {
		if c != nil {
			c.Drop()
		}
	}
	return nil
}

// benchRooms runs room cycles: create, join both, leave both, destroy.
func (e Env) benchRooms(ctx context.Context, args []string, out io.Writer) error {
	var q qssFlags
	fs := flag.NewFlagSet("bench rooms", flag.ContinueOnError)
	urls := q.register(fs)
	workers := fs.Int("workers", 32, "pairs of users cycling rooms")
	duration := fs.Duration("duration", 20*time.Second, "how long to load")
	if err := e.Parse(fs, args); err != nil {
		return err
	}
	if err := q.parse(e, *urls); err != nil {
		return err
	}
	clients, err := q.users(ctx, 2**workers, out)
	if err != nil {
		return err
	}
	pairs := make([][2]*client.Conn, *workers)
	for i := range pairs {
		for j := range 2 {
			c, err := clients[2*i+j].Connect(ctx, client.ConnectOptions{Platform: "bench", OnEvent: discardEvent})
			if err != nil {
				return err
			}
			defer c.Close()
			pairs[i][j] = c
		}
	}
	ops := map[string]*recorder{}
	for _, op := range []string{"createRoom", "joinRoom", "leaveRoom", "destroyRoom", "cycle"} {
		ops[op] = &recorder{}
	}
	names := make([]string, len(clients))
	for i := range clients {
		names[i] = fmt.Sprintf("%s%d", q.prefix, i)
	}
	timed := func(op string, fn func() error) error {
		t := time.Now()
		err := fn()
		ops[op].add(time.Since(t), err)
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i, p := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, b := p[0], p[1]
			for lctx.Err() == nil {
				t0 := time.Now()
				var room string
				err := timed("createRoom", func() error {
					f, err := request(ctx, a, "createRoom", map[string]any{"acl": []string{names[2*i+1]}})
					if err == nil {
						room, err = roomOf(f)
					}
					return err
				})
				if err != nil {
					continue
				}
				r := map[string]any{"room": room}
				err = errors.Join(
					timed("joinRoom", func() error { _, err := request(ctx, a, "joinRoom", r); return err }),
					timed("joinRoom", func() error { _, err := request(ctx, b, "joinRoom", r); return err }),
					timed("leaveRoom", func() error { _, err := request(ctx, b, "leaveRoom", r); return err }),
					timed("leaveRoom", func() error { _, err := request(ctx, a, "leaveRoom", r); return err }),
					timed("destroyRoom", func() error { _, err := request(ctx, a, "destroyRoom", r); return err }),
				)
				ops["cycle"].add(time.Since(t0), err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := int64(0)
	for op, r := range ops {
		if op != "cycle" {
			total += r.ok.Load()
		}
	}
	fmt.Fprintf(out, "%d room operations in %.1fs = %.0f ops/s with %d user pairs over %d server(s)\n",
		total, elapsed.Seconds(), float64(total)/elapsed.Seconds(), *workers, len(q.urls))
	for _, op := range []string{"createRoom", "joinRoom", "leaveRoom", "destroyRoom", "cycle"} {
		fmt.Fprintf(out, "-- %s\n", op)
		ops[op].report(out, op, elapsed)
	}
	return nil
}

// requestTimeout bounds the wait for one answer: a request the server
// never answers counts as a failure instead of stalling the load.
const requestTimeout = 10 * time.Second

func request(ctx context.Context, c *client.Conn, name string, payload any) (*client.Frame, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return c.Request(ctx, name, payload, nil)
}

// discardEvent drops events: the loads read answers, not events, and
// events nobody reads would pile up in the load tool.
func discardEvent(client.Event) {}

func roomOf(f *client.Frame) (string, error) {
	var r struct {
		Room string `json:"room"`
	}
	if err := json.Unmarshal(f.Payload, &r); err != nil || r.Room == "" {
		return "", fmt.Errorf("no room in %s", f.Raw)
	}
	return r.Room, nil
}

// callee is a user with two connected devices.
type callee struct {
	name    string
	devices [2]*client.Conn
}

// benchCalls runs full call set-ups: createRoom, join, invitation to a user
// with two sessions, both ring, one accepts, the callee joins, both leave,
// the room is destroyed. With --hold, calls stay up that long (randomized
// ±50%) so that many are concurrent, and the run checks that no invitation
// is lost or stuck.
func (e Env) benchCalls(ctx context.Context, args []string, out io.Writer) error {
	var q qssFlags
	fs := flag.NewFlagSet("bench calls", flag.ContinueOnError)
	urls := q.register(fs)
	workers := fs.Int("workers", 32, "concurrent callers (each with its own callee)")
	duration := fs.Duration("duration", 20*time.Second, "how long to load")
	hold := fs.Duration("hold", 0, "how long each call stays up (0: hang up at once)")
	rate := fs.Float64("rate", 0, "set-ups per second to aim at over all workers (0: as fast as possible)")
	sample := fs.Duration("sample", 30*time.Second, "how often to sample server memory")
	if err := e.Parse(fs, args); err != nil {
		return err
	}
	if err := q.parse(e, *urls); err != nil {
		return err
	}
	clients, err := q.users(ctx, 2**workers, out)
	if err != nil {
		return err
	}
	callers := make([]*client.Conn, *workers)
	callees := make([]callee, *workers)
	for i := range *workers {
		c, err := clients[2*i].Connect(ctx, client.ConnectOptions{Platform: "bench", OnEvent: discardEvent})
		if err != nil {
			return err
		}
		defer c.Close()
		callers[i] = c
		callees[i].name = fmt.Sprintf("%s%d", q.prefix, 2*i+1)
		for d := range 2 {
			// The callee's two devices sit on different servers when there are two.
			cl := clients[2*i+1]
			if d == 1 && len(q.urls) > 1 {
				other, err := client.Login(ctx, q.urls[(2*i+2)%len(q.urls)], callees[i].name+"@wac", "bench-password-1")
				if err != nil {
					return err
				}
				cl = other
			}
			dev, err := cl.Connect(ctx, client.ConnectOptions{Platform: "bench", OnEvent: discardEvent})
			if err != nil {
				return err
			}
			defer dev.Close()
			callees[i].devices[d] = dev
		}
	}
	setup := &recorder{}
	full := &recorder{}
	var started, answered, lost atomic.Int64
	var limiter <-chan time.Time
	if *rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / *rate))
		defer t.Stop()
		limiter = t.C
	}
	lctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var peakRSS, minRSS atomic.Int64
	minRSS.Store(1 << 62)
	var samples []string
	var smu sync.Mutex
	go func() {
		t := time.NewTicker(*sample)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				m, err := sampleMemory(ctx, q.urls)
				if err != nil {
					continue
				}
				if int64(m.rss) > peakRSS.Load() {
					peakRSS.Store(int64(m.rss))
				}
				if int64(m.rss) < minRSS.Load() {
					minRSS.Store(int64(m.rss))
				}
				smu.Lock()
				samples = append(samples, fmt.Sprintf("%.0fMiB/%.0fg", m.rss/(1<<20), m.goroutines))
				smu.Unlock()
			}
		}
	}()
	cpu0 := serverCPU(ctx, q.urls)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, cal := callers[i], callees[i]
			if *hold > 0 {
				// Held calls start spread over one hold, so that the load is
				// steady from the start instead of one burst of every worker
				// (which would dominate the tail of the set-up latencies).
				select {
				case <-time.After(time.Duration(rand.Int64N(int64(*hold)))):
				case <-lctx.Done():
					return
				}
			}
			for lctx.Err() == nil {
				if limiter != nil {
					select {
					case <-limiter:
					case <-lctx.Done():
						return
					}
				}
				t0 := time.Now()
				err := oneCall(ctx, a, cal, setup, &started, &answered, &lost, *hold)
				full.add(time.Since(t0), err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := serverCPU(ctx, q.urls) - cpu0
	fmt.Fprintf(out, "%d call set-ups in %.1fs = %.0f/s (%d callers, callee with 2 devices, %d server(s), hold %v)\n",
		setup.ok.Load(), elapsed.Seconds(), float64(setup.ok.Load())/elapsed.Seconds(), *workers, len(q.urls), *hold)
	if n := setup.ok.Load(); cpu > 0 && n > 0 {
		fmt.Fprintf(out, "server CPU: %.2f cores, %.3f ms per set-up\n", cpu/elapsed.Seconds(), 1000*cpu/float64(n))
	}
	fmt.Fprintln(out, "-- set-up (invitation sent -> accepted answer at the caller)")
	setup.report(out, "set-ups", elapsed)
	fmt.Fprintln(out, "-- whole call (createRoom ... destroyRoom, hold included)")
	full.report(out, "calls", elapsed)
	fmt.Fprintf(out, "invitations: %d sent, %d answered, %d lost or stuck\n", started.Load(), answered.Load(), lost.Load())
	if len(samples) > 0 {
		fmt.Fprintf(out, "server memory samples (RSS/goroutines): %s\n", strings.Join(samples, " "))
		fmt.Fprintf(out, "server RSS min %.0f MiB, max %.0f MiB\n", float64(minRSS.Load())/(1<<20), float64(peakRSS.Load())/(1<<20))
	}
	return nil
}

// oneCall runs one call set-up and tear-down.
func oneCall(ctx context.Context, a *client.Conn, cal callee, setup *recorder, started, answered, lost *atomic.Int64, hold time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	f, err := a.Request(cctx, "createRoom", map[string]any{}, nil)
	if err != nil {
		return err
	}
	room, err := roomOf(f)
	if err != nil {
		return err
	}
	r := map[string]any{"room": room}
	defer request(ctx, a, "destroyRoom", r)
	if _, err := a.Request(cctx, "joinRoom", r, nil); err != nil {
		return err
	}
	t0 := time.Now()
	started.Add(1)
	_, ch, err := a.Start(cctx, "invitation", map[string]any{"room": room, "mediatypes": map[string]bool{"audio": true, "video": true}},
		map[string]any{"to": cal.name})
	if err != nil {
		return err
	}
	// Both devices ring; the first answers.
	var rings [2]*client.Frame
	for d, dev := range cal.devices {
		f, err := dev.WaitIncoming(cctx, "invitation")
		if err != nil {
			lost.Add(1)
			return fmt.Errorf("device %d did not ring: %w", d, err)
		}
		rings[d] = f
	}
	pick := rand.IntN(2)
	if err := cal.devices[pick].Accept(cctx, rings[pick], nil); err != nil {
		return err
	}
	if _, err := a.Await(cctx, ch); err != nil {
		lost.Add(1)
		setup.add(0, err)
		return err
	}
	answered.Add(1)
	setup.add(time.Since(t0), nil)
	// The other device is told the call was answered elsewhere.
	if _, err := cal.devices[1-pick].WaitIncoming(cctx, "invitation"); err != nil {
		lost.Add(1)
		return fmt.Errorf("the other device kept ringing: %w", err)
	}
	b := cal.devices[pick]
	if _, err := b.Request(cctx, "joinRoom", r, nil); err != nil {
		return err
	}
	if hold > 0 {
		jitter := time.Duration(rand.Int64N(int64(hold))) - hold/2
		select {
		case <-time.After(hold + jitter):
		case <-ctx.Done():
		}
	}
	_, err1 := request(ctx, b, "leaveRoom", r)
	_, err2 := request(ctx, a, "leaveRoom", r)
	return errors.Join(err1, err2)
}
