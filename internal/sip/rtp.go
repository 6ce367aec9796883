package sip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/dtmf"
)

// portPool hands out the UDP ports of the calls' RTP sockets from
// trunk.rtpPortMin..rtpPortMax; a port goes back when its call ends.
type portPool struct {
	ip       net.IP
	min, max int

	mu   sync.Mutex
	next int
	used map[int]bool
}

func newPortPool(ip string, min, max int) *portPool {
	return &portPool{ip: net.ParseIP(ip), min: min, max: max, next: min, used: map[int]bool{}}
}

// errNoPorts says every RTP port is taken (503).
var errNoPorts = errors.New("no free RTP port")

// listen opens a UDP socket on a free port of the range.
func (p *portPool) listen() (*net.UDPConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	span := p.max - p.min + 1
	for range span {
		port := p.next
		p.next++
		if p.next > p.max {
			p.next = p.min
		}
		if p.used[port] {
			continue
		}
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: p.ip, Port: port})
		if err != nil {
			continue // taken by another program
		}
		p.used[port] = true
		return conn, nil
	}
	return nil, errNoPorts
}

// release gives back the port of conn and closes it.
func (p *portPool) release(conn *net.UDPConn) {
	port := conn.LocalAddr().(*net.UDPAddr).Port
	conn.Close()
	p.mu.Lock()
	delete(p.used, port)
	p.mu.Unlock()
}

// taken lists the ports taken, sorted.
func (p *portPool) taken() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int, 0, len(p.used))
	for port := range p.used {
		out = append(out, port)
	}
	sort.Ints(out)
	return out
}

// inUse counts the ports taken.
func (p *portPool) inUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.used)
}

// rtpLeg is the RTP socket of one call with the trunk: what arrives goes
// to the WebRTC side (sink), what the WebRTC side writes goes to the
// trunk's address from its SDP.
type rtpLeg struct {
	pool   *portPool
	conn   *net.UDPConn
	remote atomic.Pointer[netip.AddrPort] // the trunk's media address (IPv4 unmapped); nil = none yet
	codec  atomic.Pointer[Codec]
	// events is the payload type of the trunk's telephone-events; 0 =
	// none agreed. eventClock is their clock rate.
	events, eventClock atomic.Uint32

	// raw is conn's, for the poller's reads; detach (under mu) takes
	// conn out of the poller (nil when the leg reads conn itself).
	raw    syscall.RawConn
	detach func()
	// raw4 is conn's when it is an IPv4 socket in the poller: sends to
	// the trunk go through it without blocking (poller_linux.go).
	raw4 atomic.Pointer[syscall.RawConn]

	lastRecv atomic.Int64 // unix ns of the last packet from the trunk; 0 = none yet
	started  atomic.Int64 // unix ns the media started (answer)
	recv     atomic.Uint64
	sent     atomic.Uint64

	// The call's hold (hold.go): by the phone (its re-INVITE with
	// sendonly or inactive) or by us (the room's apps hold). While either
	// holds, nothing is sent and the trunk's silence is no timeout.
	heldByPhone, heldByUs atomic.Bool

	mu      sync.Mutex
	sink    func(pkt []byte) // where the trunk's packets go; nil = dropped
	onDigit func(d rune)     // where the trunk's DTMF digits go; nil = dropped
	digits  dtmf.Receiver

	// What goes to the trunk: one stream (out, under outMu) of the room's
	// audio and the apps' events (dtmfQueue, under mu).
	outMu     sync.Mutex
	out       *outStream
	outBuf    [maxRTP]byte // the packet being sent (under outMu)
	dtmfQueue []dtmfJob
	dtmfWake  chan struct{}
	done      chan struct{}
	once      sync.Once
}

func newRTPLeg(pool *portPool) (*rtpLeg, error) {
	conn, err := pool.listen()
	if err != nil {
		return nil, err
	}
	return &rtpLeg{pool: pool, conn: conn, done: make(chan struct{}), out: newOutStream(8000), dtmfWake: make(chan struct{}, 1)}, nil
}

// port is the local RTP port.
func (l *rtpLeg) port() int { return l.conn.LocalAddr().(*net.UDPAddr).Port }

// setRemote sets where RTP goes and the codec agreed; the stream to the
// trunk takes the codec's clock.
func (l *rtpLeg) setRemote(m *remoteMedia) {
	l.setAddr(m.Addr)
	c := m.Codec
	l.codec.Store(&c)
	l.events.Store(uint32(m.Events))
	l.eventClock.Store(m.EventClock)
	l.outMu.Lock()
	l.out.setClock(c.ClockRate)
	l.outMu.Unlock()
}

// setAddr sets where RTP goes (an SDP's address), and so the IP address
// RTP is taken from.
func (l *rtpLeg) setAddr(a *net.UDPAddr) {
	ap := a.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	l.remote.Store(&ap)
}

// eventTypes are the telephone-events agreed, for an SDP of the call's.
func (l *rtpLeg) eventTypes() []eventType {
	pt := l.events.Load()
	if pt == 0 {
		return nil
	}
	return []eventType{{pt: uint8(pt), clock: l.eventClock.Load()}}
}

// setOnDigit sets where the trunk's DTMF digits (RFC 4733) go.
func (l *rtpLeg) setOnDigit(fn func(d rune)) {
	l.mu.Lock()
	l.onDigit = fn
	l.mu.Unlock()
}

// setSink sets where the trunk's packets go.
func (l *rtpLeg) setSink(fn func(pkt []byte)) {
	l.mu.Lock()
	l.sink = fn
	l.mu.Unlock()
}

// maxRTP bounds one RTP packet read from the trunk.
const maxRTP = 1500

// run reads the trunk's RTP until the leg closes; it starts the media
// clock (for the no-RTP timeout).
func (l *rtpLeg) run() {
	l.started.Store(time.Now().UnixNano())
	buf := make([]byte, maxRTP)
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		l.handle(buf[:n], from)
	}
}

// handle takes one datagram the leg's socket received.
func (l *rtpLeg) handle(pkt []byte, from netip.AddrPort) {
	if r := l.remote.Load(); r != nil && r.Addr() != from.Addr().Unmap() {
		return // only the trunk's media address may send
	}
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		return // not RTP (version 2, 12-byte header)
	}
	l.recv.Add(1)
	l.lastRecv.Store(time.Now().UnixNano())
	if ev := l.events.Load(); ev != 0 && uint32(pkt[1]&0x7F) == ev {
		// A telephone-event is the phone's keypad, not its voice: the
		// digit goes to the room's apps, the packet nowhere.
		l.receiveEvent(pkt)
		return
	}
	l.mu.Lock()
	sink := l.sink
	l.mu.Unlock()
	if sink != nil {
		sink(pkt)
	}
}

// digit gives onDigit a digit the phone sent otherwise (SIP INFO).
func (l *rtpLeg) digit(d rune) {
	l.mu.Lock()
	fn := l.onDigit
	l.mu.Unlock()
	if fn != nil {
		fn(d)
	}
}

// receiveEvent reads one telephone-event packet; a digit seen for the
// first time goes to onDigit.
func (l *rtpLeg) receiveEvent(pkt []byte) {
	var p rtp.Packet
	if p.Unmarshal(pkt) != nil {
		return
	}
	l.mu.Lock()
	d, ok, err := l.digits.Receive(p.Timestamp, p.Payload)
	fn := l.onDigit
	l.mu.Unlock()
	if err == nil && ok && fn != nil {
		fn(d)
	}
}

// write sends one RTP packet of the room's audio to the trunk, renumbered
// into the leg's stream (outStream); none while an event is being sent.
// Only the fixed header's sequence number, timestamp and SSRC change, so
// the packet is copied and those rewritten in place.
func (l *rtpLeg) write(pkt []byte) error {
	if len(pkt) < 12 || len(pkt) > len(l.outBuf) || pkt[0]>>6 != 2 {
		return fmt.Errorf("the room's RTP: not an RTP packet (%d bytes)", len(pkt))
	}
	l.outMu.Lock()
	defer l.outMu.Unlock()
	seq, ts, ok := l.out.audio(binary.BigEndian.Uint32(pkt[8:12]), binary.BigEndian.Uint32(pkt[4:8]))
	if !ok {
		return nil
	}
	b := l.outBuf[:len(pkt)]
	copy(b, pkt)
	binary.BigEndian.PutUint16(b[2:4], seq)
	binary.BigEndian.PutUint32(b[4:8], ts)
	binary.BigEndian.PutUint32(b[8:12], l.out.ssrc)
	return l.send(b)
}

// send sends one RTP packet to the trunk as it is.
func (l *rtpLeg) send(pkt []byte) error {
	r := l.remote.Load()
	if r == nil || !r.Addr().IsValid() || r.Addr().IsUnspecified() || l.held() {
		return nil // on hold, or no address yet
	}
	if raw := l.raw4.Load(); raw != nil && r.Addr().Is4() {
		if err := sendTo4(*raw, pkt, *r); err != nil {
			return fmt.Errorf("send RTP to the trunk: %w", err)
		}
	} else if _, err := l.conn.WriteToUDPAddrPort(pkt, *r); err != nil {
		return fmt.Errorf("send RTP to the trunk: %w", err)
	}
	l.sent.Add(1)
	return nil
}

// silentFor is how long the trunk has sent no RTP since the media started.
func (l *rtpLeg) silentFor(now time.Time) time.Duration {
	if l.held() {
		return 0 // a held phone may well send nothing
	}
	last := l.lastRecv.Load()
	if last == 0 {
		last = l.started.Load()
	}
	if last == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, last))
}

// held says whether the call is on hold, by either side.
func (l *rtpLeg) held() bool { return l.heldByPhone.Load() || l.heldByUs.Load() }

// setHeldByPhone records the phone's hold and returns what it was.
func (l *rtpLeg) setHeldByPhone(hold bool) bool {
	was := l.heldByPhone.Swap(hold)
	l.resumed(was && !hold)
	return was
}

// setHeldByUs records our hold of the phone.
func (l *rtpLeg) setHeldByUs(hold bool) {
	was := l.heldByUs.Swap(hold)
	l.resumed(was && !hold)
}

// resumed restarts the no-RTP clock when a hold ends (off is true): the
// phone's silence while held does not count.
func (l *rtpLeg) resumed(off bool) {
	if off && !l.held() && l.started.Load() != 0 {
		l.lastRecv.Store(time.Now().UnixNano())
	}
}

// close releases the socket and its port; run returns, or the poller
// stops reading it.
func (l *rtpLeg) close() {
	l.once.Do(func() {
		l.mu.Lock()
		detach := l.detach
		l.detach = nil
		l.mu.Unlock()
		if detach != nil {
			detach()
		}
		l.pool.release(l.conn)
		close(l.done)
	})
}
