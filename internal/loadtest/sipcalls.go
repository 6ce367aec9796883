package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/g711"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/tone"
)

const benchSIPCallsUsage = `wac bench sipcalls: concurrent bridged phone calls with audio (the sip role), and Janus's SIP plugin under the same load

  wac bench sipcalls --url URL --trunk 127.0.0.1:5070 [--calls 50] [--codec pcmu|opus]
                     [--warmup 10s] [--duration 20s] [--pid PID]
                     [--janus ws://IP:8188 --janus-pid PID] [--runs 1]

The tool plays both ends of each call. The WebRTC side: an app user per call
(created by --admin, with a SIP mapping for its From) logs in over REST and
QSS, creates a room, joins it, publishes a 440 Hz tone (PCMU: passed through
to the trunk; opus: transcoded to PCMU by the server) as a Pion peer through
the room's Janus API, invites tel:+<number>, and subscribes to the phone's
feed once answered. The SIP side: the tool is the trunk, a SIP UAS on
--trunk (start wac serve with trunk.address and trunk.port there) that
answers every INVITE with PCMU and sends each call a PCMU tone at 50
packets/s, counting what it receives; the calls' RTP shares one port of the
tool (as a media gateway's may), sent and received in batches.

Once every call is up and --warmup has passed, it counts over --duration the
packets sent and received each way (loss: the packets a side sent in the
window that the other did not receive) and the CPU time of the server
process --pid from /proc: the figure is CPU-seconds per call per minute
(the server's; the tool's own CPU is shown apart, as it shares the machine).
The counts are read at the window's edges, when up to a packet per call may
be in flight each way: keep the window long (at 60s that is 0.03%). The
sequence gaps are shown too, but our server renumbers what it sends to the
trunk (one stream per call), so a packet lost before its leg is no gap there.
Repeats are not counted as received: at the apps a sequence number already
passed, at the trunk a timestamp already passed (a retransmission the
server relayed again, which it renumbers).

With --janus the same calls are placed through Janus's SIP plugin
(janus.plugin.sip over its WebSocket API: register as a guest, call
sip:+<number>@<trunk>) to the same trunk, and --janus-pid is measured the
same way; --runs R alternates the two R times and prints the median and the
range. Janus's SIP plugin does not transcode: --codec opus with --janus
offers Opus to the trunk, which refuses it, so the comparison is PCMU only.
Janus gathers no ICE candidates on loopback; run it and this tool in a
network namespace with a veth (test/janus/sipbench.sh).

The password of --admin is read from WAC_BENCH_PASSWORD.
Results: docs/benchmarks.md.
`

type sipCallsLoad struct {
	out        io.Writer
	log        *slog.Logger
	base       string
	admin      string
	password   string
	prefix     string
	calls      int
	codec      string
	warmup     time.Duration
	window     time.Duration
	pid        int
	janusURL   string
	janusPID   int
	runs       int
	parallel   int
	setupLimit time.Duration
	anyIface   bool

	trunk                    *trunk
	pubAPI, subAPI, janusAPI *webrtc.API
	payloads                 [][]byte // the tone the apps send, 20 ms a packet, looped
	clockStep                uint32
	payloadType              uint8
	mime                     string
	users                    []*client.Conn
	numbers                  []string
	numberBase               int
	setupMu                  sync.Mutex
	lastSetupErr             error
	setupErrors              atomic.Int64
}

func (e Env) benchSIPCalls(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, benchSIPCallsUsage)
		return nil
	}
	fs := flag.NewFlagSet("bench sipcalls", flag.ContinueOnError)
	l := &sipCallsLoad{out: stdout, log: slog.New(slog.DiscardHandler)}
	fs.StringVar(&l.base, "url", "http://127.0.0.1:8000", "server base URL (REST and QSS)")
	fs.StringVar(&l.admin, "admin", "admin@wac", "admin who creates the load's users and SIP mappings (password from WAC_BENCH_PASSWORD)")
	fs.StringVar(&l.prefix, "prefix", "sipbench", "name prefix of the load's users")
	trunkAddr := fs.String("trunk", "127.0.0.1:5070", "where the tool listens as the SIP trunk (UDP): the server's trunk.address and trunk.port")
	fs.IntVar(&l.calls, "calls", 50, "concurrent calls")
	fs.StringVar(&l.codec, "codec", "pcmu", "what the apps publish: pcmu (passed through to the trunk) or opus (transcoded)")
	fs.DurationVar(&l.warmup, "warmup", 10*time.Second, "settling time once every call is up")
	fs.DurationVar(&l.window, "duration", 20*time.Second, "measuring window")
	fs.IntVar(&l.pid, "pid", 0, "our server's process id, to measure its CPU from /proc")
	fs.StringVar(&l.janusURL, "janus", "", "also load this Janus WebSocket API (ws://IP:8188) through its SIP plugin")
	fs.IntVar(&l.janusPID, "janus-pid", 0, "Janus's process id, to measure its CPU from /proc")
	fs.IntVar(&l.runs, "runs", 1, "runs (alternated between our server and Janus with --janus)")
	fs.IntVar(&l.parallel, "parallel", 8, "calls set up at once")
	fs.IntVar(&l.numberBase, "number", 15550000, "first number dialled (tel:+<number>, one more per call)")
	fs.BoolVar(&l.anyIface, "any-interface", false, "let the peers towards our server use every local address (default: loopback only; peers towards Janus always use every address but loopback)")
	if err := e.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return e.usagef("bench sipcalls: unexpected argument %q", fs.Arg(0))
	}
	switch l.codec = strings.ToLower(l.codec); {
	case l.calls < 1:
		return e.usagef("bench sipcalls: --calls must be at least 1")
	case l.codec != "pcmu" && l.codec != "opus":
		return e.usagef("bench sipcalls: --codec %q is not pcmu or opus", l.codec)
	case l.runs < 1 || l.parallel < 1:
		return e.usagef("bench sipcalls: --runs and --parallel must be at least 1")
	case l.window <= 0:
		return e.usagef("bench sipcalls: --duration must be positive")
	case l.janusURL != "" && l.codec != "pcmu":
		return e.usagef("bench sipcalls: Janus's SIP plugin does not transcode: --janus needs --codec pcmu")
	}
	pw, err := benchPassword()
	if err != nil {
		return err
	}
	l.password = pw
	l.base = strings.TrimSuffix(l.base, "/")
	if err := l.prepareMedia(); err != nil {
		return err
	}
	if l.trunk, err = startTrunk(*trunkAddr, l.log); err != nil {
		return err
	}
	defer l.trunk.close()
	defer func() {
		for _, c := range l.users {
			if c != nil {
				c.Close()
			}
		}
	}()
	fmt.Fprintf(stdout, "sipcalls: %d calls, %s, trunk %s, warmup %v, window %v, load tool on %d cores%s\n",
		l.calls, l.codec, l.trunk.Addr(), l.warmup, l.window, runtime.NumCPU(), serverCPUs(l.pid))
	if err := l.login(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-4s %-8s %6s %5s %11s %11s %9s %14s %10s\n", "run", "target", "calls", "up", "to sip %", "from sip %", "srv cpu%", "cpu-s/call/min", "tool cpu%")
	results := map[string][]sipResult{}
	for run := 1; run <= l.runs; run++ {
		targets := []string{"openwac"}
		if l.janusURL != "" {
			targets = append(targets, "janus")
		}
		for _, target := range targets {
			r, err := l.run(ctx, target)
			if err != nil {
				return fmt.Errorf("run %d against %s: %w", run, target, err)
			}
			l.row(run, target, r)
			results[target] = append(results[target], r)
		}
	}
	l.summary(results)
	return nil
}

// prepareMedia makes the peers' APIs and the tone the apps publish.
func (l *sipCallsLoad) prepareMedia() error {
	pcmu := webrtc.RTPCodecParameters{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}}
	opus := webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1"}}
	pub := pcmu
	l.mime, l.payloadType, l.clockStep = webrtc.MimeTypePCMU, 0, 160
	if l.codec == "opus" {
		pub = opus
		l.mime, l.payloadType, l.clockStep = webrtc.MimeTypeOpus, 111, 960
	}
	var err error
	if l.pubAPI, err = audioOnlyAPI(l.anyIface, pub); err != nil {
		return err
	}
	if l.subAPI, err = audioOnlyAPI(l.anyIface, pcmu, opus); err != nil {
		return err
	}
	if l.janusAPI, err = audioOnlyAPI(true, pcmu); err != nil {
		return err
	}
	// A second of the tone, encoded once and looped: encoding Opus for
	// every call would take the tool's CPU from the server.
	c, err := audiocodec.Lookup(l.codec)
	if err != nil {
		return err
	}
	gen := tone.NewGenerator(440, audiocodec.Rate, 8000)
	pcm := make([]int16, audiocodec.FrameSamples)
	if l.codec == "pcmu" {
		gen = tone.NewGenerator(440, 8000, 8000)
		pcm = make([]int16, 160)
	}
	enc, err := c.NewEncoder(audiocodec.EncoderOptions{})
	if err != nil {
		return err
	}
	buf := make([]byte, audiocodec.MaxPayload)
	for range 50 {
		gen.Fill(pcm)
		if l.codec == "pcmu" {
			l.payloads = append(l.payloads, g711.EncodeULaw(make([]byte, len(pcm)), pcm))
			continue
		}
		n, err := enc.Encode(pcm, buf)
		if err != nil {
			return fmt.Errorf("encode the tone: %w", err)
		}
		l.payloads = append(l.payloads, slices.Clone(buf[:n]))
	}
	return nil
}

// audioOnlyAPI is a Pion API with only the audio codecs given, on
// loopback (or every other interface with anyIface).
func audioOnlyAPI(anyIface bool, codecs ...webrtc.RTPCodecParameters) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range codecs {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if !anyIface {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// login makes the load's users (each with a SIP mapping: the From of its
// calls) and opens a QSS session for each.
func (l *sipCallsLoad) login(ctx context.Context) error {
	admin, err := client.Login(ctx, l.base, l.admin, l.password)
	if err != nil {
		return fmt.Errorf("log in as %s: %w", l.admin, err)
	}
	l.users = make([]*client.Conn, l.calls)
	l.numbers = make([]string, l.calls)
	start := time.Now()
	err = l.parallelDo(ctx, l.calls, func(ctx context.Context, i int) error {
		name := fmt.Sprintf("%s%d", l.prefix, i)
		l.numbers[i] = "+" + strconv.Itoa(l.numberBase+i)
		var u struct {
			ID string `json:"id"`
		}
		err := admin.API(ctx, "POST", "/sapi/users", map[string]any{"username": name, "password": "bench-password-1"}, &u)
		var ae *client.APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusConflict:
			// Made by an earlier run, with its mapping.
		case err != nil:
			return fmt.Errorf("create user %s: %w", name, err)
		default:
			err := admin.API(ctx, "POST", "/sapi/sipMappings", map[string]any{"ownerUri": "wac-user:" + u.ID,
				"credential": map[string]any{"username": fmt.Sprintf("%s-%d", l.prefix, i)}}, nil)
			if err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusConflict) {
				return fmt.Errorf("SIP mapping of %s: %w", name, err)
			}
		}
		cl, err := loginPatiently(ctx, l.base, name+"@wac", "bench-password-1")
		if err != nil {
			return fmt.Errorf("log in as %s: %w", name, err)
		}
		conn, err := cl.Connect(ctx, client.ConnectOptions{Platform: "bench", OnEvent: discardEvent})
		if err != nil {
			return fmt.Errorf("QSS session of %s: %w", name, err)
		}
		l.users[i] = conn
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(l.out, "%d users with SIP mappings logged in (%.1fs)\n", l.calls, time.Since(start).Seconds())
	return nil
}

// loginPatiently logs in, waiting and trying again (up to 10 times, a
// second apart) while the server refuses with 429: its login guard counts
// the logins in flight from one address as failures until they succeed,
// and the tool logs its users in many at once.
func loginPatiently(ctx context.Context, base, user, password string) (*client.Client, error) {
	for try := 1; ; try++ {
		cl, err := client.Login(ctx, base, user, password)
		var ae *client.APIError
		if err == nil || try == 10 || !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests {
			return cl, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// parallelDo runs fn for 0..n-1, l.parallel at once; the first error
// stops it.
func (l *sipCallsLoad) parallelDo(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, l.parallel)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// sipCall is one call of the load, either target.
type sipCall struct {
	number string
	conn   *client.Conn // ours: the app's QSS session
	room   string
	jc     *janus.Client
	handle *janus.Handle // Janus: the SIP plugin handle
	pub    *webrtc.PeerConnection
	track  *webrtc.TrackLocalStaticRTP
	sub    *webrtc.PeerConnection // ours: the subscription to the phone
	ep     *rtpEndpoint           // the trunk's side
	ready  *webrtc.TrackLocalStaticRTP

	seq      uint16
	ts       uint32
	sent     atomic.Uint64 // RTP packets the app side sent
	received atomic.Uint64 // RTP packets the app side received from the phone, in order (no repeats)
	gaps     atomic.Uint64
	wg       sync.WaitGroup
}

type sipResult struct {
	calls, up        int
	toLoss, fromLoss float64 // fractions
	toGaps, fromGaps uint64
	toRepeats        uint64 // packets at the trunk that repeat an earlier timestamp
	// Packets in the window: sent by the apps and received by the trunk
	// (to SIP), sent by the trunk and received by the apps (from SIP).
	toSent, toRecv, fromSent, fromRecv uint64
	srvCores                           float64 // -1 unknown
	cpuPerCallMin                      float64 // CPU-seconds per call per minute; -1 unknown
	tool                               float64
	setupErrors                        int64
	lastErr                            error
}

// run sets up the calls against target, measures and hangs up.
func (l *sipCallsLoad) run(ctx context.Context, target string) (sipResult, error) {
	calls := make([]*sipCall, l.calls)
	l.setupErrors.Store(0)
	l.lastSetupErr = nil
	sendCtx, stopSending := context.WithCancel(ctx)
	var senders sync.WaitGroup
	defer func() {
		stopSending()
		senders.Wait()
		l.hangUp(calls, target)
	}()
	start := time.Now()
	_ = l.parallelDo(ctx, l.calls, func(ctx context.Context, i int) error {
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		c := &sipCall{number: l.numbers[i]}
		var err error
		if target == "janus" {
			err = l.setUpJanus(cctx, c)
		} else {
			c.conn = l.users[i]
			err = l.setUpOurs(cctx, c)
		}
		calls[i] = c
		if err != nil {
			l.setupErrors.Add(1)
			l.setupMu.Lock()
			l.lastSetupErr = fmt.Errorf("call %d (%s): %w", i, c.number, err)
			l.setupMu.Unlock()
		}
		return nil // a failed call is counted, the others go on
	})
	if ctx.Err() != nil {
		return sipResult{}, ctx.Err()
	}
	var up []*sipCall
	for _, c := range calls {
		if c != nil && c.ep != nil && c.track != nil && (c.sub != nil || target == "janus") {
			up = append(up, c)
		}
	}
	fmt.Fprintf(l.out, "  %s: %d of %d calls up in %.1fs\n", target, len(up), l.calls, time.Since(start).Seconds())
	// The apps' tone, from a few goroutines (one per core), each call a
	// packet every 20 ms.
	shards := max(1, runtime.NumCPU())
	for s := range shards {
		senders.Add(1)
		go func() {
			defer senders.Done()
			l.sendTone(sendCtx, up, s, shards)
		}()
	}
	r := sipResult{calls: l.calls, up: len(up), srvCores: -1, cpuPerCallMin: -1, setupErrors: l.setupErrors.Load(), lastErr: l.lastSetupErr}
	if len(up) == 0 {
		return r, nil
	}
	select {
	case <-time.After(l.warmup):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	pid := l.pid
	if target == "janus" {
		pid = l.janusPID
	}
	type snap struct{ appSent, appRecv, trunkSent, trunkRecv, appGaps, trunkGaps, trunkRepeats uint64 }
	take := func() (s snap) {
		for _, c := range up {
			s.appSent += c.sent.Load()
			s.appRecv += c.received.Load()
			s.appGaps += c.gaps.Load()
			s.trunkSent += c.ep.Sent.Load()
			s.trunkRecv += c.ep.Received.Load()
			s.trunkGaps += c.ep.Gaps.Load()
			s.trunkRepeats += c.ep.Repeats.Load()
		}
		return s
	}
	s0 := take()
	srv0, srvErr := cpuTicks(pid)
	self0, _ := cpuTicks(os.Getpid())
	t0 := time.Now()
	select {
	case <-time.After(l.window):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	s1 := take()
	srv1, srvErr1 := cpuTicks(pid)
	self1, _ := cpuTicks(os.Getpid())
	wall := time.Since(t0).Seconds()
	loss := func(sent, recv uint64) float64 {
		if sent == 0 {
			return 1
		}
		return max(0, 1-float64(recv)/float64(sent))
	}
	r.toLoss = loss(s1.appSent-s0.appSent, s1.trunkRecv-s0.trunkRecv)
	r.fromLoss = loss(s1.trunkSent-s0.trunkSent, s1.appRecv-s0.appRecv)
	r.toGaps, r.fromGaps = s1.trunkGaps-s0.trunkGaps, s1.appGaps-s0.appGaps
	r.toRepeats = s1.trunkRepeats - s0.trunkRepeats
	// What the trunk got again under a new number (our leg renumbers)
	// is not audio received.
	r.toSent, r.toRecv = s1.appSent-s0.appSent, s1.trunkRecv-s0.trunkRecv-r.toRepeats
	r.fromSent, r.fromRecv = s1.trunkSent-s0.trunkSent, s1.appRecv-s0.appRecv
	if srvErr == nil && srvErr1 == nil {
		cpu := float64(srv1-srv0) / clockTicks
		r.srvCores = cpu / wall
		r.cpuPerCallMin = cpu / float64(len(up)) / (wall / 60)
	}
	r.tool = float64(self1-self0) / clockTicks / wall
	return r, nil
}

// sendTone sends the tone of every shards-th call of up, from shard.
func (l *sipCallsLoad) sendTone(ctx context.Context, up []*sipCall, shard, shards int) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var pkt rtp.Packet
	pkt.Version, pkt.PayloadType = 2, l.payloadType
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pkt.Payload = l.payloads[i%len(l.payloads)]
		for j := shard; j < len(up); j += shards {
			c := up[j]
			c.seq++
			c.ts += l.clockStep
			pkt.SequenceNumber, pkt.Timestamp = c.seq, c.ts
			if c.track.WriteRTP(&pkt) == nil {
				c.sent.Add(1)
			}
		}
	}
}

// count counts the RTP packets of a remote track and their sequence gaps.
func (c *sipCall) count(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	var last uint16
	first := true
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		// Only packets past the last one count: a repeat (a server's
		// retransmission) would hide a loss.
		seq := uint16(buf[2])<<8 | uint16(buf[3])
		if first {
			first, last = false, seq
			c.received.Add(1)
		} else if d := int16(seq - last); d > 0 {
			c.gaps.Add(uint64(d - 1))
			last = seq
			c.received.Add(1)
		}
	}
}

// newPublisher makes the app's peer connection with its audio track:
// sendonly towards our server (a subscription receives the phone),
// sendrecv towards Janus's SIP plugin (one peer connection per call).
func (l *sipCallsLoad) newPublisher(api *webrtc.API, dir webrtc.RTPTransceiverDirection, c *sipCall) error {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	c.pub = pc
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: l.mime}, "audio", "bench")
	if err != nil {
		return err
	}
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: dir})
	if err != nil {
		return err
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Sender().Read(buf); err != nil {
				return
			}
		}
	}()
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { c.count(t) })
	c.ready = track // c.track once the call is up
	return nil
}

// offer makes the local offer with every candidate.
func offer(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	o, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

type roomObj struct {
	Room   string `json:"room"`
	Token  string `json:"token"`
	Server struct {
		WSS string `json:"wss"`
	} `json:"server"`
}

// setUpOurs places one call through our server, as an app does.
func (l *sipCallsLoad) setUpOurs(ctx context.Context, c *sipCall) error {
	f, err := c.conn.Request(ctx, "createRoom", map[string]any{}, nil)
	if err != nil {
		return fmt.Errorf("createRoom: %w", err)
	}
	var obj roomObj
	if err := json.Unmarshal(f.Payload, &obj); err != nil || obj.Room == "" {
		return fmt.Errorf("createRoom answer: %s", f.Payload)
	}
	c.room = obj.Room
	if f, err = c.conn.Request(ctx, "joinRoom", map[string]any{"room": obj.Room}, nil); err != nil {
		return fmt.Errorf("joinRoom: %w", err)
	}
	if err := json.Unmarshal(f.Payload, &obj); err != nil || obj.Server.WSS == "" || obj.Token == "" {
		return fmt.Errorf("joinRoom answer without media server or token: %s", f.Payload)
	}
	if c.jc, err = janus.Dial(ctx, obj.Server.WSS); err != nil {
		return fmt.Errorf("media server: %w", err)
	}
	js, err := c.jc.CreateSession(ctx)
	if err != nil {
		return fmt.Errorf("media session: %w", err)
	}
	ph, err := js.Attach(ctx, janus.VideoRoom)
	if err != nil {
		return err
	}
	if _, _, err := ph.Request(ctx, map[string]any{"request": "join", "ptype": "publisher", "room": obj.Room, "token": obj.Token, "display": "bench"}, nil, true); err != nil {
		return fmt.Errorf("join as publisher: %w", err)
	}
	if err := l.newPublisher(l.pubAPI, webrtc.RTPTransceiverDirectionSendonly, c); err != nil {
		return err
	}
	sdp, err := offer(ctx, c.pub)
	if err != nil {
		return err
	}
	_, ans, err := ph.Request(ctx, map[string]any{"request": "publish"}, &janus.JSEP{Type: "offer", SDP: sdp, Trickle: &noTrickleSDP}, true)
	if err != nil || ans == nil {
		return fmt.Errorf("publish: %v (answer %v)", err, ans != nil)
	}
	if err := c.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		return err
	}
	// The call.
	epCh := l.trunk.expect(strings.TrimPrefix(c.number, "tel:"))
	_, answer, err := c.conn.Start(ctx, "invitation", map[string]any{"room": obj.Room}, map[string]any{"to": "tel:" + c.number})
	if err != nil {
		return fmt.Errorf("invitation: %w", err)
	}
	if _, err := c.conn.Await(ctx, answer); err != nil {
		return fmt.Errorf("invitation to tel:%s: %w", c.number, err)
	}
	select {
	case c.ep = <-epCh:
	case <-ctx.Done():
		return errors.New("answered, but the trunk never saw the INVITE")
	}
	// The phone's feed, then a subscription to it.
	var feed uint64
	for feed == 0 {
		m, err := ph.WaitEvent(ctx, func(m janus.Message) bool { return m.PluginData != nil })
		if err != nil {
			return fmt.Errorf("the phone never published: %w", err)
		}
		var ev struct {
			Publishers []struct {
				ID      uint64 `json:"id"`
				Display string `json:"display"`
			} `json:"publishers"`
		}
		json.Unmarshal(m.PluginData.Data, &ev)
		for _, p := range ev.Publishers {
			if strings.Contains(p.Display, strings.TrimPrefix(c.number, "+")) {
				feed = p.ID
			}
		}
	}
	c.drain(ph)
	sh, err := js.Attach(ctx, janus.VideoRoom)
	if err != nil {
		return err
	}
	_, o, err := sh.Request(ctx, map[string]any{"request": "join", "ptype": "subscriber", "room": obj.Room, "token": obj.Token,
		"streams": []map[string]any{{"feed": feed}}}, nil, true)
	if err != nil || o == nil {
		return fmt.Errorf("subscribe to the phone: %v", err)
	}
	c.drain(sh)
	sub, err := l.subAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	c.sub = sub
	sub.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { c.count(t) })
	if err := sub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.SDP}); err != nil {
		return err
	}
	a, err := sub.CreateAnswer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(sub)
	if err := sub.SetLocalDescription(a); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	if _, _, err := sh.Request(ctx, map[string]any{"request": "start"}, &janus.JSEP{Type: "answer", SDP: sub.LocalDescription().SDP, Trickle: &noTrickleSDP}, true); err != nil {
		return fmt.Errorf("start the subscription: %w", err)
	}
	if err := waitConnected(ctx, c.pub); err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	if err := waitConnected(ctx, sub); err != nil {
		return fmt.Errorf("subscription: %w", err)
	}
	c.track = c.ready
	return nil
}

// setUpJanus places one call through Janus's SIP plugin.
func (l *sipCallsLoad) setUpJanus(ctx context.Context, c *sipCall) error {
	var err error
	if c.jc, err = janus.Dial(ctx, l.janusURL); err != nil {
		return fmt.Errorf("janus: %w", err)
	}
	js, err := c.jc.CreateSession(ctx)
	if err != nil {
		return fmt.Errorf("janus session: %w", err)
	}
	h, err := js.Attach(ctx, "janus.plugin.sip")
	if err != nil {
		return fmt.Errorf("attach the SIP plugin: %w", err)
	}
	c.handle = h
	trunk := l.trunk.Addr()
	data, _, err := h.Request(ctx, map[string]any{"request": "register", "type": "guest",
		"username": "sip:" + strings.TrimPrefix(c.number, "+") + "@" + trunk.IP.String()}, nil, true)
	if err != nil {
		return fmt.Errorf("register as a guest: %w", err)
	}
	if ev := sipEvent(data); ev != "registered" {
		return fmt.Errorf("register as a guest: %s", data)
	}
	if err := l.newPublisher(l.janusAPI, webrtc.RTPTransceiverDirectionSendrecv, c); err != nil {
		return err
	}
	sdp, err := offer(ctx, c.pub)
	if err != nil {
		return err
	}
	epCh := l.trunk.expect(c.number)
	data, _, err = h.Request(ctx, map[string]any{"request": "call", "uri": "sip:" + c.number + "@" + trunk.String()},
		&janus.JSEP{Type: "offer", SDP: sdp, Trickle: &noTrickleSDP}, true)
	if err != nil {
		return fmt.Errorf("call: %w", err)
	}
	if ev := sipEvent(data); ev != "calling" && ev != "accepted" {
		return fmt.Errorf("call: %s", data)
	}
	m, err := h.WaitEvent(ctx, func(m janus.Message) bool {
		if m.PluginData == nil {
			return m.Janus == "hangup"
		}
		ev := sipEvent(m.PluginData.Data)
		return ev == "accepted" || ev == "hangup" || strings.Contains(string(m.PluginData.Data), "error_code")
	})
	if err != nil {
		return fmt.Errorf("no answer: %w", err)
	}
	if m.PluginData == nil || sipEvent(m.PluginData.Data) != "accepted" || m.JSEP == nil {
		var data json.RawMessage
		if m.PluginData != nil {
			data = m.PluginData.Data
		}
		return fmt.Errorf("call not accepted: %s %s %s", m.Janus, m.Reason, data)
	}
	c.drain(h)
	if err := c.pub.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.JSEP.SDP}); err != nil {
		return err
	}
	select {
	case c.ep = <-epCh:
	case <-ctx.Done():
		return errors.New("accepted, but the trunk never saw the INVITE")
	}
	if err := waitConnected(ctx, c.pub); err != nil {
		return err
	}
	c.track = c.ready
	return nil
}

// sipEvent is result.event of a SIP plugin answer.
func sipEvent(data json.RawMessage) string {
	var d struct {
		Result struct {
			Event string `json:"event"`
		} `json:"result"`
	}
	json.Unmarshal(data, &d)
	return d.Result.Event
}

var noTrickleSDP = false

func waitConnected(ctx context.Context, pc *webrtc.PeerConnection) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		switch s := pc.ConnectionState(); s {
		case webrtc.PeerConnectionStateConnected:
			return nil
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			return fmt.Errorf("peer connection %s", s)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("peer connection still %s: %w", pc.ConnectionState(), ctx.Err())
		case <-t.C:
		}
	}
}

// drain keeps a handle's events moving (drainEvents) until the call's
// Janus client closes; hangUp waits for it.
func (c *sipCall) drain(h *janus.Handle) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		drainEvents(h)
	}()
}

// hangUp ends every call: ours by leaving the room (the server sends
// BYE), Janus's with the plugin's hangup; then waits for the trunk to
// have had every BYE.
func (l *sipCallsLoad) hangUp(calls []*sipCall, target string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_ = l.parallelDo(ctx, len(calls), func(ctx context.Context, i int) error {
		c := calls[i]
		if c == nil {
			return nil
		}
		switch {
		case target == "janus" && c.handle != nil:
			_, _, _ = c.handle.Request(ctx, map[string]any{"request": "hangup"}, nil, false)
		case c.room != "":
			_, _ = c.conn.Request(ctx, "leaveRoom", map[string]any{"room": c.room}, nil)
		}
		if c.pub != nil {
			c.pub.Close()
		}
		if c.sub != nil {
			c.sub.Close()
		}
		if c.jc != nil {
			c.jc.Close()
		}
		c.wg.Wait()
		return nil
	})
	wait, cancelWait := context.WithTimeout(ctx, 15*time.Second)
	defer cancelWait()
	for l.trunk.calls() > 0 && wait.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	// Calls the other end never hung up stop sending now: their RTP would
	// go on to ports the server may give to other sockets.
	if n := l.trunk.dropAll(); n > 0 {
		fmt.Fprintf(l.out, "  %s: %d calls without a BYE at the trunk 15s after hanging up (their media stopped)\n", target, n)
	}
}

func (l *sipCallsLoad) row(run int, target string, r sipResult) {
	srv, perCall := "n/a", "n/a"
	if r.srvCores >= 0 {
		srv = fmt.Sprintf("%.1f", r.srvCores*100)
		perCall = fmt.Sprintf("%.4f", r.cpuPerCallMin)
	}
	fmt.Fprintf(l.out, "%-4d %-8s %6d %5d %11.3f %11.3f %9s %14s %10.1f\n", run, target, r.calls, r.up, r.toLoss*100, r.fromLoss*100, srv, perCall, r.tool*100)
	fmt.Fprintf(l.out, "     packets: to SIP %d received of %d sent, from SIP %d received of %d sent", r.toRecv, r.toSent, r.fromRecv, r.fromSent)
	if r.up > 0 {
		// Below 50 the load tool (starved of CPU) does not send what it should.
		w := float64(r.up) * l.window.Seconds()
		fmt.Fprintf(l.out, "; sent per call %.1f/s by the apps, %.1f/s by the trunk (50 due)", float64(r.toSent)/w, float64(r.fromSent)/w)
	}
	fmt.Fprintln(l.out)
	if r.toRepeats > 0 {
		fmt.Fprintf(l.out, "     %d packets at the trunk repeat an earlier timestamp (sent again, or late)\n", r.toRepeats)
	}
	if r.toGaps+r.fromGaps > 0 {
		fmt.Fprintf(l.out, "     sequence gaps seen: %d at the trunk, %d at the apps\n", r.toGaps, r.fromGaps)
	}
	if r.setupErrors > 0 {
		fmt.Fprintf(l.out, "     %d calls failed to set up; last: %v\n", r.setupErrors, r.lastErr)
	}
}

// summary prints each target's median and range, and the CPU ratio.
func (l *sipCallsLoad) summary(results map[string][]sipResult) {
	medianOf := func(rs []sipResult, f func(sipResult) float64) (med, lo, hi float64) {
		v := make([]float64, 0, len(rs))
		for _, r := range rs {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[len(v)/2], v[0], v[len(v)-1]
	}
	fmt.Fprintf(l.out, "median of %d run(s) [min-max]:\n", l.runs)
	for _, target := range []string{"openwac", "janus"} {
		rs := results[target]
		if len(rs) == 0 {
			continue
		}
		up, upLo, _ := medianOf(rs, func(r sipResult) float64 { return float64(r.up) })
		to, toLo, toHi := medianOf(rs, func(r sipResult) float64 { return r.toLoss * 100 })
		from, fromLo, fromHi := medianOf(rs, func(r sipResult) float64 { return r.fromLoss * 100 })
		cpu, cpuLo, cpuHi := medianOf(rs, func(r sipResult) float64 { return r.cpuPerCallMin })
		srv, srvLo, srvHi := medianOf(rs, func(r sipResult) float64 { return r.srvCores * 100 })
		fmt.Fprintf(l.out, "%s: calls up %.0f (min %.0f) of %d; loss to SIP %.3f%% [%.3f-%.3f], from SIP %.3f%% [%.3f-%.3f]; server %.1f%% of a core [%.1f-%.1f]; %.4f CPU-s per call per minute [%.4f-%.4f]\n",
			target, up, upLo, l.calls, to, toLo, toHi, from, fromLo, fromHi, srv, srvLo, srvHi, cpu, cpuLo, cpuHi)
	}
	ours, theirs := results["openwac"], results["janus"]
	if len(ours) > 0 && len(theirs) == len(ours) && ours[0].cpuPerCallMin > 0 {
		// A server that drops packets (starved of CPU, or past its
		// capacity) also spends less on each call: runs with 1% loss or
		// more either way are left out of the ratio.
		var ratios []float64
		lossy := 0
		for i := range ours {
			if max(ours[i].toLoss, ours[i].fromLoss, theirs[i].toLoss, theirs[i].fromLoss) >= 0.01 {
				lossy++
				continue
			}
			if ours[i].cpuPerCallMin > 0 && theirs[i].cpuPerCallMin >= 0 {
				ratios = append(ratios, theirs[i].cpuPerCallMin/ours[i].cpuPerCallMin)
			}
		}
		if len(ratios) > 0 {
			slices.Sort(ratios)
			fmt.Fprintf(l.out, "janus / openwac CPU per call: %.2fx [%.2f-%.2f] over %d run(s)", ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1], len(ratios))
		} else {
			fmt.Fprint(l.out, "janus / openwac CPU per call: n/a")
		}
		if lossy > 0 {
			fmt.Fprintf(l.out, "; %d run(s) with 1%% loss or more left out", lossy)
		}
		fmt.Fprintln(l.out)
	}
}
