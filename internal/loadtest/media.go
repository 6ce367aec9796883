package loadtest

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/grant"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
)

const benchMediaUsage = `wac bench media: load a Janus VideoRoom API server (ours or Janus) with Pion peers

  wac bench media fanout --url WS [--janus | --data DIR] [--subscribers 10,25,50,100] [--pid PID] ...
      one publisher (VP8 about --video-kbps plus Opus) and N subscribers, N stepping up
      until the loss reaches 1%
  wac bench media rooms  --url WS [--janus | --data DIR] [--rooms 1,2,4,8] [--record] [--pid PID] ...
      rooms of 4 where everyone publishes and receives the 3 others; --record
      creates them with record (the server records every publication)
  wac bench media grant  --data DIR --room ROOM --user USER [--ttl 1h]
      print a room grant signed with the cluster secret of the store in DIR

--url is the Janus WebSocket (ours: ws://HOST:PORT/janus; Janus: ws://HOST:8188).
Against our server, grants are signed with the cluster secret read from the
store (--data/--config, as for wac serve); --janus sends none. With --pid the
server process's CPU is measured from /proc. Results: docs/benchmarks.md.
`

func (e Env) benchMedia(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stdout, benchMediaUsage)
		return nil
	}
	switch args[0] {
	case "grant":
		return e.benchMediaGrant(ctx, args[1:], stdout)
	case "fanout", "rooms":
		return e.benchMediaLoad(ctx, args[0], args[1:], stdout)
	}
	return e.Usage(fmt.Sprintf("bench media: unknown load %q", args[0]), benchMediaUsage)
}

func (e Env) benchMediaGrant(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench media grant", flag.ContinueOnError)
	clusterSecret := e.StoreFlags(fs)
	room := fs.String("room", "", "room id (the QSS uuid, or the number)")
	user := fs.String("user", "bench", "user id")
	ttl := fs.Duration("ttl", time.Hour, "validity")
	if err := e.Parse(fs, args); err != nil {
		return err
	}
	if *room == "" {
		return e.usagef("bench media grant: --room is required")
	}
	secret, err := clusterSecret(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, grant.Sign(secret, grant.Grant{Room: *room, User: *user, Publish: true, Subscribe: true,
		Expires: time.Now().Add(*ttl).Unix()}))
	return nil
}

type mediaLoad struct {
	url       string
	janus     bool
	secret    []byte
	kbps, fps int
	warmup    time.Duration
	window    time.Duration
	pid       int
	api       *webrtc.API
	out       io.Writer
	maxLoss   float64
	record    bool // rooms are created with record
}

func (e Env) benchMediaLoad(ctx context.Context, kind string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench media "+kind, flag.ContinueOnError)
	clusterSecret := e.StoreFlags(fs)
	l := &mediaLoad{out: stdout, maxLoss: 0.01}
	fs.StringVar(&l.url, "url", "ws://127.0.0.1:8000/janus", "Janus WebSocket URL")
	fs.BoolVar(&l.janus, "janus", false, "the target is a Janus server (no grants)")
	fs.IntVar(&l.kbps, "video-kbps", 1000, "video bitrate of each publisher")
	fs.IntVar(&l.fps, "fps", 30, "video frames per second")
	fs.DurationVar(&l.warmup, "warmup", 30*time.Second, "settling time after each step (past a fresh server's first heap growth; shorter for a quick check)")
	fs.DurationVar(&l.window, "duration", 10*time.Second, "measuring window of each step")
	fs.IntVar(&l.pid, "pid", 0, "server process id, to measure its CPU from /proc")
	steps := fs.String("subscribers", "10,25,50,100,150,200", "fanout: subscriber counts to step through")
	rooms := fs.String("rooms", "1,2,4,6,8", "rooms: numbers of 4-party rooms to step through")
	all := fs.Bool("all", false, "run every step even after the loss limit is passed")
	fs.BoolVar(&l.record, "record", false, "create the rooms with record: the server records every publication (our server; recording.enabled)")
	anyIface := fs.Bool("any-interface", false, "let the peers use every local address (default: loopback only; use inside a test network namespace)")
	if err := e.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return e.usagef("bench media %s: unexpected argument %q", kind, fs.Arg(0))
	}
	list := *steps
	if kind == "rooms" {
		list = *rooms
	}
	var counts []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return e.usagef("bench media %s: bad step %q", kind, s)
		}
		counts = append(counts, n)
	}
	if !l.janus {
		var err error
		if l.secret, err = clusterSecret(ctx); err != nil {
			return fmt.Errorf("grants for our server need the store (--data or --config), or pass --janus: %w", err)
		}
	}
	var err error
	if l.api, err = peer.NewAPI(peer.APIOptions{AnyInterface: *anyIface}); err != nil {
		return err
	}
	target := "openwac"
	if l.janus {
		target = "janus"
	}
	fmt.Fprintf(stdout, "media %s against %s at %s: video %d kbps at %d fps + opus, load tool on %d cores%s%s, window %v\n",
		kind, target, l.url, l.kbps, l.fps, runtime.NumCPU(), serverCPUs(l.pid), serverQuota(l.pid), l.window)
	fmt.Fprintf(stdout, "%-9s %7s %10s %10s %7s %8s %10s %11s %9s\n", "step", "streams", "sent pkt/s", "recv pkt/s", "loss%", "srv cpu%", "pkt/s/core", "cpu%/stream", "tool cpu%")
	if kind == "fanout" {
		return l.fanout(ctx, counts, *all)
	}
	return l.rooms(ctx, counts, *all)
}

// participant is one participant of the load: a Janus connection, its publisher
// and subscriptions.
type participant struct {
	c    *janus.Client
	pub  *peer.Publisher
	subs []*peer.Subscriber
}

func (p *participant) close() {
	for _, s := range p.subs {
		s.Close()
	}
	if p.pub != nil {
		p.pub.Close()
	}
	p.c.Close()
}

func (l *mediaLoad) token(room int64) string {
	if l.janus {
		return ""
	}
	return grant.Sign(l.secret, grant.Grant{Room: strconv.FormatInt(room, 10), User: "bench", Publish: true, Subscribe: true,
		Expires: time.Now().Add(24 * time.Hour).Unix()})
}

// handle opens a connection, a session and a VideoRoom handle.
func (l *mediaLoad) handle(ctx context.Context) (*janus.Client, *janus.Handle, error) {
	c, err := janus.Dial(ctx, l.url)
	if err != nil {
		return nil, nil, err
	}
	s, err := c.CreateSession(ctx)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	h, err := s.Attach(ctx, janus.VideoRoom)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, h, nil
}

// createRoom creates a numbered room through the VideoRoom API.
func (l *mediaLoad) createRoom(ctx context.Context, h *janus.Handle) (int64, error) {
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<40))
	room := n.Int64() + 1000
	body := map[string]any{"request": "create", "room": room, "publishers": 16, "bitrate": 4000000}
	if l.record {
		body["record"] = true
	}
	if t := l.token(room); t != "" {
		body["token"] = t
	}
	if _, _, err := h.Request(ctx, body, nil, false); err != nil {
		return 0, fmt.Errorf("create room: %w", err)
	}
	return room, nil
}

// publisher joins room and publishes.
func (l *mediaLoad) publisher(ctx context.Context, room int64, h *janus.Handle, c *janus.Client) (*participant, uint64, error) {
	j, err := peer.JoinPublisher(ctx, h, room, l.token(room), "bench")
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	pub, err := peer.Publish(ctx, l.api, h, "vp8", nil, false)
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	if err := peer.Connected(ctx, pub.PC); err != nil {
		pub.Close()
		c.Close()
		return nil, 0, err
	}
	pub.Send(ctx, l.kbps, l.fps)
	return &participant{c: c, pub: pub}, j.ID, nil
}

// subscribe adds a subscription to feeds on a new handle of p's connection.
func (l *mediaLoad) subscribe(ctx context.Context, p *participant, room int64, feeds []uint64) error {
	var s *janus.Session
	var err error
	if s, err = p.c.CreateSession(ctx); err != nil {
		return err
	}
	h, err := s.Attach(ctx, janus.VideoRoom)
	if err != nil {
		return err
	}
	sub, err := peer.Subscribe(ctx, l.api, h, room, l.token(room), feeds, nil, false)
	if err != nil {
		return err
	}
	p.subs = append(p.subs, sub)
	go drainEvents(h)
	return peer.Connected(ctx, sub.PC)
}

// drainEvents answers renegotiations and keeps the handle's events moving.
func drainEvents(h *janus.Handle) {
	for range h.Events() {
	}
}

func (l *mediaLoad) fanout(ctx context.Context, counts []int, all bool) error {
	c, h, err := l.handle(ctx)
	if err != nil {
		return err
	}
	room, err := l.createRoom(ctx, h)
	if err != nil {
		c.Close()
		return err
	}
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	pub, feed, err := l.publisher(sendCtx, room, h, c)
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	peers := []*participant{pub}
	defer func() {
		stop()
		closeAll(peers)
	}()
	var subs []*participant
	best := 0
	for _, n := range counts {
		for len(subs) < n {
			// The subscriber's connection only: subscribe makes the
			// session, which shows the room's grant when it joins (a
			// session that never does is refused past
			// media.maxPendingSessionsPerAddress).
			sc, err := janus.Dial(ctx, l.url)
			if err != nil {
				return fmt.Errorf("subscriber %d: %w", len(subs)+1, err)
			}
			p := &participant{c: sc}
			peers = append(peers, p)
			if err := l.subscribe(ctx, p, room, []uint64{feed}); err != nil {
				return fmt.Errorf("subscriber %d: %w", len(subs)+1, err)
			}
			subs = append(subs, p)
		}
		m, err := l.measure(ctx, subs, 2*n, func() uint64 { return sent(pub) * uint64(n) })
		if err != nil {
			return err
		}
		l.row(fmt.Sprintf("N=%d", n), m)
		if m.loss < l.maxLoss {
			best = n
		} else if !all {
			break
		}
	}
	fmt.Fprintf(l.out, "largest N with < %.0f%% loss: %d\n", l.maxLoss*100, best)
	return nil
}

func (l *mediaLoad) rooms(ctx context.Context, counts []int, all bool) error {
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	var peers []*participant
	defer func() {
		stop()
		closeAll(peers)
	}()
	best, made := 0, 0
	for _, k := range counts {
		for made < k {
			var room int64
			var members []*participant
			var feeds []uint64
			for i := 0; i < 4; i++ {
				c, h, err := l.handle(ctx)
				if err != nil {
					return err
				}
				if i == 0 {
					if room, err = l.createRoom(ctx, h); err != nil {
						c.Close()
						return err
					}
				}
				p, feed, err := l.publisher(sendCtx, room, h, c)
				if err != nil {
					return fmt.Errorf("room %d publisher %d: %w", made+1, i+1, err)
				}
				peers = append(peers, p)
				members = append(members, p)
				feeds = append(feeds, feed)
			}
			for i, p := range members {
				var others []uint64
				for j, f := range feeds {
					if j != i {
						others = append(others, f)
					}
				}
				if err := l.subscribe(ctx, p, room, others); err != nil {
					return fmt.Errorf("room %d subscription %d: %w", made+1, i+1, err)
				}
			}
			made++
		}
		m, err := l.measure(ctx, peers, k*4*3*2, func() uint64 {
			var total uint64
			for _, p := range peers {
				total += 3 * sent(p)
			}
			return total
		})
		if err != nil {
			return err
		}
		l.row(fmt.Sprintf("rooms=%d", k), m)
		if m.loss < l.maxLoss {
			best = k
		} else if !all {
			break
		}
	}
	fmt.Fprintf(l.out, "largest number of 4-party rooms with < %.0f%% loss: %d (%d participants)\n", l.maxLoss*100, best, best*4)
	return nil
}

func closeAll(peers []*participant) {
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.close()
		}()
	}
	wg.Wait()
}

// sent counts the packets a participant's publisher has sent.
func sent(p *participant) uint64 {
	if p.pub == nil {
		return 0
	}
	return p.pub.SentVideo.Load() + p.pub.SentAudio.Load()
}

type measurement struct {
	streams  int
	pps      float64
	expected float64 // packets a second the subscriptions should get
	loss     float64
	srvCores float64 // server CPU in cores (1 = one core busy); -1 unknown
	tool     float64
}

// measure waits out the warm-up, then counts what the subscriptions
// receive and lose over the window, and the CPU the server and this tool
// use.
// The loss is what the subscriptions did not receive of what their
// publishers sent (packets in flight at the window's edges aside).
func (l *mediaLoad) measure(ctx context.Context, peers []*participant, streams int, expected func() uint64) (measurement, error) {
	select {
	case <-time.After(l.warmup):
	case <-ctx.Done():
		return measurement{}, ctx.Err()
	}
	snap := func() (pk uint64) {
		for _, p := range peers {
			for _, s := range p.subs {
				for _, t := range s.Tracks() {
					pk += t.Packets.Load()
				}
			}
		}
		return pk
	}
	pk0 := snap()
	exp0 := expected()
	srv0, srvErr := cpuTicks(l.pid)
	self0, _ := cpuTicks(os.Getpid())
	start := time.Now()
	select {
	case <-time.After(l.window):
	case <-ctx.Done():
		return measurement{}, ctx.Err()
	}
	pk1 := snap()
	exp1 := expected()
	srv1, _ := cpuTicks(l.pid)
	self1, _ := cpuTicks(os.Getpid())
	wall := time.Since(start).Seconds()
	m := measurement{streams: streams, pps: float64(pk1-pk0) / wall, expected: float64(exp1-exp0) / wall, srvCores: -1}
	if m.expected > 0 {
		m.loss = max(0, 1-m.pps/m.expected)
	}
	if l.pid > 0 && srvErr == nil {
		m.srvCores = float64(srv1-srv0) / clockTicks / wall
	}
	m.tool = float64(self1-self0) / clockTicks / wall
	return m, nil
}

func (l *mediaLoad) row(step string, m measurement) {
	srv, perCore, perStream := "n/a", "n/a", "n/a"
	if m.srvCores >= 0 {
		srv = fmt.Sprintf("%.0f", m.srvCores*100)
		if m.srvCores > 0 {
			perCore = fmt.Sprintf("%.0f", m.pps/m.srvCores)
			perStream = fmt.Sprintf("%.3f", m.srvCores*100/float64(m.streams))
		}
	}
	fmt.Fprintf(l.out, "%-9s %7d %10.0f %10.0f %7.2f %8s %10s %11s %9.0f\n", step, m.streams, m.expected, m.pps, m.loss*100, srv, perCore, perStream, m.tool*100)
}

// clockTicks is the kernel's USER_HZ, the unit of /proc CPU times; it is
// 100 on Linux on every architecture Go supports.
const clockTicks = 100

// serverCPUs names the CPUs the server process may run on (its
// Cpus_allowed_list in /proc), or "" without a readable pid.
func serverCPUs(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return ", server on CPUs " + strings.TrimSpace(v)
		}
	}
	return ""
}

// serverQuota names the CPU time the server's cgroup allows it, as
// ", at most 0.50 core", or "" when it has no quota or it cannot be read.
func serverQuota(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	if cores, ok := cgroupQuota(string(b), "/sys/fs/cgroup"); ok {
		return fmt.Sprintf(", at most %.2f core", cores)
	}
	return ""
}

// cgroupQuota reads the CPU quota, in cores, of the cgroup a process's
// /proc/PID/cgroup names, under the cgroup file system at root: v1's cpu
// controller (cpu.cfs_quota_us over cpu.cfs_period_us, -1 for none) when
// it is mounted, else v2's cpu.max ("max" for none).
func cgroupQuota(procCgroup, root string) (float64, bool) {
	var v2 string
	for line := range strings.Lines(procCgroup) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			v2 = f[2]
			continue
		}
		if slices.Contains(strings.Split(f[1], ","), "cpu") {
			dir := filepath.Join(root, f[1], f[2])
			quota, err1 := os.ReadFile(filepath.Join(dir, "cpu.cfs_quota_us"))
			period, err2 := os.ReadFile(filepath.Join(dir, "cpu.cfs_period_us"))
			if err1 != nil || err2 != nil {
				return 0, false
			}
			return quotaCores(string(quota), string(period))
		}
	}
	if v2 == "" {
		return 0, false
	}
	b, err := os.ReadFile(filepath.Join(root, v2, "cpu.max"))
	if err != nil {
		return 0, false
	}
	quota, period, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	if !ok {
		return 0, false
	}
	return quotaCores(quota, period)
}

// quotaCores is a CFS quota over its period, in cores; false when the
// quota is none (-1 in v1, "max" in v2) or either does not parse.
func quotaCores(quota, period string) (float64, bool) {
	q, err1 := strconv.ParseInt(strings.TrimSpace(quota), 10, 64)
	p, err2 := strconv.ParseInt(strings.TrimSpace(period), 10, 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0, false
	}
	return float64(q) / float64(p), true
}

// cpuTicks returns user+system CPU ticks of a process from /proc.
func cpuTicks(pid int) (uint64, error) {
	if pid <= 0 {
		return 0, errors.New("no pid")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	return u + st, nil
}
