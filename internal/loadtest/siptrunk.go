package loadtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"golang.org/x/net/ipv4"

	"github.com/openwac/wac/internal/media/g711"
	"github.com/openwac/wac/internal/media/tone"
)

// trunk plays the SIP trunk of the SIP call load: a SIP UAS on a UDP port
// (the server's trunk.address and trunk.port point at it, or Janus's SIP
// plugin calls a URI there) that answers every INVITE with PCMU, and the
// calls' media: to the address of each offer a 440 Hz PCMU tone at 50
// packets a second, and a count of what comes back.
//
// The calls' RTP shares one port, as a media gateway's may: every answer
// gives it, the packets of a call are told apart by the address they come
// from (the server's port for that call, its offer's), and the 20 ms of
// every call leave, and arrive, in batches (sendmmsg, recvmmsg). With a
// socket and a goroutine per call the tool took more of the machine than
// the server it measures, and every packet the server sent woke one of
// the tool's threads, a cost the kernel counts to the sender.
type trunk struct {
	log   *slog.Logger
	conn  net.PacketConn
	rtp   *net.UDPConn     // every call's RTP
	batch *ipv4.PacketConn // rtp, in batches
	ua    *sipgo.UserAgent
	srv   *sipgo.Server
	cli   *sipgo.Client
	cache *sipgo.DialogServerCache
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	frame [][]byte // the tone, 20 ms PCMU frames, looped

	mu       sync.Mutex
	byNumber map[string]*rtpEndpoint // calls answered, by the number dialled
	byCallID map[string]*rtpEndpoint
	byRemote map[netip.AddrPort]*rtpEndpoint // by the far end's media address
	waiting  map[string]chan *rtpEndpoint
}

// rtpEndpoint is the trunk's side of one call's media.
type rtpEndpoint struct {
	remote   netip.AddrPort // the far end's media (its offer's address)
	remoteTo *net.UDPAddr   // remote, to send to
	// Sent and Received count RTP packets; Gaps the sequence numbers
	// skipped in what was received.
	Sent, Received, Gaps atomic.Uint64
	// Repeats counts packets whose RTP timestamp is not past the last
	// one's: audio the far end sent again (or late) under a new number.
	Repeats atomic.Uint64
	seq     uint16 // of what the trunk sends (its sending goroutine's)
	ts      uint32
	ssrc    uint32
	closed  atomic.Bool
	// What was received last (its receiving goroutine's).
	last   uint16
	lastTS uint32
	seen   bool
}

// startTrunk listens for SIP on addr (UDP; port 0 picks one).
func startTrunk(addr string, log *slog.Logger) (*trunk, error) {
	conn, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return nil, fmt.Errorf("trunk: listen on %s: %w", addr, err)
	}
	local := conn.LocalAddr().(*net.UDPAddr)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("wac-bench-trunk"), sipgo.WithUserAgentHostname(local.IP.String()))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("trunk: user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, fmt.Errorf("trunk: server: %w", err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(log), sipgo.WithClientConnectionAddr(local.String()))
	if err != nil {
		ua.Close()
		conn.Close()
		return nil, fmt.Errorf("trunk: client: %w", err)
	}
	rtpConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: local.IP})
	if err != nil {
		cli.Close()
		ua.Close()
		conn.Close()
		return nil, fmt.Errorf("trunk: RTP port: %w", err)
	}
	// Every call's packets queue in this one socket: room for a second of
	// 500 calls (as far as net.core.rmem_max allows).
	_ = rtpConn.SetReadBuffer(8 << 20)
	_ = rtpConn.SetWriteBuffer(8 << 20)
	ctx, stop := context.WithCancel(context.Background())
	t := &trunk{log: log, conn: conn, rtp: rtpConn, batch: ipv4.NewPacketConn(rtpConn), ua: ua, srv: srv, cli: cli, ctx: ctx, stop: stop,
		cache:    sipgo.NewDialogServerCache(cli, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "trunk", Host: local.IP.String(), Port: local.Port}}),
		byNumber: map[string]*rtpEndpoint{}, byCallID: map[string]*rtpEndpoint{}, byRemote: map[netip.AddrPort]*rtpEndpoint{},
		waiting: map[string]chan *rtpEndpoint{}}
	gen := tone.NewGenerator(440, 8000, 8000)
	pcm := make([]int16, 160)
	for range 50 {
		gen.Fill(pcm)
		t.frame = append(t.frame, g711.EncodeULaw(make([]byte, len(pcm)), pcm))
	}
	srv.OnInvite(t.onInvite)
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = t.cache.ReadAck(req, tx) })
	srv.OnBye(t.onBye)
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	t.wg.Add(3)
	go func() { defer t.wg.Done(); _ = srv.ServeUDP(conn) }()
	go func() { defer t.wg.Done(); t.send() }()
	go func() { defer t.wg.Done(); t.receive() }()
	return t, nil
}

// Addr is the trunk's SIP address.
func (t *trunk) Addr() *net.UDPAddr { return t.conn.LocalAddr().(*net.UDPAddr) }

// expect returns what delivers the endpoint of the call to number once
// the trunk has answered it.
func (t *trunk) expect(number string) <-chan *rtpEndpoint {
	ch := make(chan *rtpEndpoint, 1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if ep := t.byNumber[number]; ep != nil {
		ch <- ep
		return ch
	}
	t.waiting[number] = ch
	return ch
}

func (t *trunk) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	dlg, err := t.cache.ReadInvite(req, tx)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil))
		return
	}
	number := req.Recipient.User
	remote, err := sdpAudioAddr(req.Body())
	if err != nil {
		_ = dlg.Respond(488, "Not Acceptable Here", nil)
		dlg.Close()
		return
	}
	ep := newRTPEndpoint(remote)
	_ = dlg.Respond(180, "Ringing", nil)
	if err := dlg.RespondSDP(pcmuAnswer(t.rtp.LocalAddr().(*net.UDPAddr))); err != nil {
		t.log.Warn("trunk: answer", "err", err)
		dlg.Close()
		return
	}
	callID := ""
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	t.mu.Lock()
	t.byNumber[number] = ep
	t.byCallID[callID] = ep
	t.byRemote[ep.remote] = ep
	ch := t.waiting[number]
	delete(t.waiting, number)
	t.mu.Unlock()
	if ch != nil {
		ch <- ep
	}
}

func (t *trunk) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := t.cache.ReadBye(req, tx); err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
	}
	callID := ""
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	t.mu.Lock()
	ep := t.byCallID[callID]
	delete(t.byCallID, callID)
	for n, e := range t.byNumber {
		if e == ep {
			delete(t.byNumber, n)
		}
	}
	if ep != nil && t.byRemote[ep.remote] == ep {
		delete(t.byRemote, ep.remote)
	}
	t.mu.Unlock()
	if ep != nil {
		ep.close()
	}
}

// send sends every call's tone, a packet every 20 ms, all of them in
// batches.
func (t *trunk) send() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var (
		eps  []*rtpEndpoint
		bufs [][]byte
		msgs []ipv4.Message
	)
	for i := 0; ; i++ {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
		eps = eps[:0]
		t.mu.Lock()
		for _, ep := range t.byCallID {
			eps = append(eps, ep)
		}
		t.mu.Unlock()
		payload := t.frame[i%len(t.frame)]
		msgs = msgs[:0]
		live := eps[:0] // the endpoints of msgs, in order
		for _, ep := range eps {
			if ep.closed.Load() {
				continue
			}
			if len(bufs) <= len(msgs) {
				bufs = append(bufs, make([]byte, 12+len(payload)))
			}
			b := bufs[len(msgs)]
			msgs = append(msgs, ipv4.Message{Buffers: [][]byte{b[:ep.frame(b, payload)]}, Addr: ep.remoteTo})
			live = append(live, ep)
		}
		for off := 0; off < len(msgs); {
			n, err := t.batch.WriteBatch(msgs[off:min(off+sendBatch, len(msgs))], 0)
			if err != nil {
				if t.ctx.Err() == nil {
					t.log.Warn("trunk: send RTP", "err", err)
				}
				break
			}
			for _, ep := range live[off : off+n] {
				ep.Sent.Add(1)
			}
			off += n
		}
	}
}

// sendBatch and recvBatch are the most packets one system call sends or
// receives.
const sendBatch, recvBatch = 64, 64

// receive counts the RTP packets of every call until the trunk closes.
func (t *trunk) receive() {
	msgs := make([]ipv4.Message, recvBatch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	for {
		n, err := t.batch.ReadBatch(msgs, 0)
		if err != nil {
			return
		}
		t.mu.Lock()
		for _, m := range msgs[:n] {
			from, ok := m.Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			ap := from.AddrPort()
			if ep := t.byRemote[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())]; ep != nil {
				ep.count(m.Buffers[0][:m.N])
			}
		}
		t.mu.Unlock()
	}
}

// close hangs up nothing (the calls' other ends send BYE); it stops the
// SIP listener and every endpoint left.
func (t *trunk) close() {
	t.stop()
	t.dropAll()
	t.srv.Close()
	t.cli.Close()
	t.ua.Close()
	t.conn.Close()
	t.rtp.Close()
	t.wg.Wait()
}

// dropAll forgets every call the trunk holds and stops its media, and
// returns how many there were.
func (t *trunk) dropAll() int {
	t.mu.Lock()
	var eps []*rtpEndpoint
	for _, ep := range t.byCallID {
		eps = append(eps, ep)
	}
	t.byCallID, t.byNumber, t.byRemote = map[string]*rtpEndpoint{}, map[string]*rtpEndpoint{}, map[netip.AddrPort]*rtpEndpoint{}
	t.mu.Unlock()
	for _, ep := range eps {
		ep.close()
	}
	return len(eps)
}

// calls is the number of calls the trunk holds (answered, no BYE yet).
func (t *trunk) calls() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byCallID)
}

// newRTPEndpoint is the trunk's side of a call whose media is at remote.
func newRTPEndpoint(remote *net.UDPAddr) *rtpEndpoint {
	ap := remote.AddrPort()
	ep := &rtpEndpoint{remote: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), remoteTo: remote}
	ep.ssrc = uint32(time.Now().UnixNano()) ^ uint32(remote.Port)<<16
	return ep
}

// frame writes the call's next PCMU packet into buf and returns its
// length.
func (ep *rtpEndpoint) frame(buf, payload []byte) int {
	ep.seq++
	ep.ts += 160
	buf[0], buf[1] = 0x80, 0 // version 2, PCMU
	buf[2], buf[3] = byte(ep.seq>>8), byte(ep.seq)
	buf[4], buf[5], buf[6], buf[7] = byte(ep.ts>>24), byte(ep.ts>>16), byte(ep.ts>>8), byte(ep.ts)
	buf[8], buf[9], buf[10], buf[11] = byte(ep.ssrc>>24), byte(ep.ssrc>>16), byte(ep.ssrc>>8), byte(ep.ssrc)
	return 12 + copy(buf[12:], payload)
}

// count counts one packet received from the call's far end (RTP of any
// SSRC: the far end may change it; RTCP and what is not RTP are not
// counted).
func (ep *rtpEndpoint) count(pkt []byte) {
	if len(pkt) < 12 || pkt[0]>>6 != 2 || pkt[1]&0x7f >= 72 && pkt[1]&0x7f <= 76 || ep.closed.Load() {
		return
	}
	ep.Received.Add(1)
	seq := uint16(pkt[2])<<8 | uint16(pkt[3])
	ts := uint32(pkt[4])<<24 | uint32(pkt[5])<<16 | uint32(pkt[6])<<8 | uint32(pkt[7])
	if !ep.seen {
		ep.seen, ep.last, ep.lastTS = true, seq, ts
		return
	}
	if d := int16(seq - ep.last); d > 0 {
		ep.Gaps.Add(uint64(d - 1))
		ep.last = seq
	}
	if int32(ts-ep.lastTS) <= 0 {
		ep.Repeats.Add(1)
	} else {
		ep.lastTS = ts
	}
}

func (ep *rtpEndpoint) close() { ep.closed.Store(true) }

// sdpAudioAddr is the address of the first audio stream of an SDP offer.
func sdpAudioAddr(body []byte) (*net.UDPAddr, error) {
	var ip net.IP
	port := 0
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "c=IN IP4 "); ok && (ip == nil || port == 0) {
			ip = net.ParseIP(strings.Fields(v)[0])
		}
		if v, ok := strings.CutPrefix(line, "m=audio "); ok && port == 0 {
			f := strings.Fields(v)
			if len(f) < 3 {
				return nil, errors.New("sdp: short m=audio line")
			}
			p, err := strconv.Atoi(f[0])
			if err != nil || p <= 0 || p > 65535 {
				return nil, fmt.Errorf("sdp: bad audio port %q", f[0])
			}
			if !strings.Contains(" "+strings.Join(f[2:], " ")+" ", " 0 ") {
				return nil, errors.New("sdp: the offer has no PCMU")
			}
			port = p
		}
	}
	if ip == nil || port == 0 {
		return nil, errors.New("sdp: no IPv4 audio stream")
	}
	return &net.UDPAddr{IP: ip, Port: port}, nil
}

// pcmuAnswer is the trunk's answer: PCMU at addr.
func pcmuAnswer(addr *net.UDPAddr) []byte {
	id := strconv.FormatInt(time.Now().UnixNano()/1000, 10)
	return []byte("v=0\r\no=trunk " + id + " " + id + " IN IP4 " + addr.IP.String() + "\r\ns=bench\r\nc=IN IP4 " + addr.IP.String() +
		"\r\nt=0 0\r\nm=audio " + strconv.Itoa(addr.Port) + " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n")
}
