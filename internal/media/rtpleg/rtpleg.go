// Package rtpleg is a plain RTP endpoint for a mixer leg: the media of a
// SIP call with a phone or a trunk (no DTLS, no ICE). It binds a UDP port
// from a range, reads the remote party's RTP into its mixer.Leg, sends the
// leg's mix back with its own SSRC, sequence numbers and timestamps, and
// carries DTMF both ways as RFC 4733 telephone-events.
//
// Only packets from the remote address's IP are read (anyone else's are
// counted and dropped), so the remote is set from the SDP answer before
// media flows (SetRemote when a re-INVITE moves it).
package rtpleg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/dtmf"
	"github.com/openwac/wac/internal/media/mixer"
)

// Config configures a leg.
type Config struct {
	Name   string // for logs
	Logger *slog.Logger
	// IP is the local address to bind; PortMin-PortMax the range of the
	// RTP port (an even port is chosen, RTCP being muxed or ignored).
	IP               netip.Addr
	PortMin, PortMax int
	// Remote is where the mix goes and whose packets are read; it may be
	// set later (SetRemote).
	Remote netip.AddrPort
	// Latch sends to the port the remote's packets come from once the
	// first one arrived (symmetric RTP, for a phone behind NAT whose SDP
	// names a port it does not send from); the IP must still be the
	// remote's.
	Latch bool
	Codec audiocodec.Codec
	// PayloadType is the codec's payload type in the SDP; 0 takes the
	// codec's own (PCMU's is 0 already).
	PayloadType uint8
	// EventPayloadType is telephone-event's payload type; 0 is none: no
	// DTMF is sent or read.
	EventPayloadType uint8
	// OnDigit gets each DTMF digit the remote sends, once; it runs on the
	// reading goroutine and must not block.
	OnDigit func(digit rune)
	// Encoder tunes the encoder of the leg's mix.
	Encoder audiocodec.EncoderOptions
}

// MaxPendingDigits bounds the digits queued to send.
const MaxPendingDigits = 32

// Leg is a running RTP endpoint joined to a mixer.
type Leg struct {
	cfg    Config
	log    *slog.Logger
	conn   *net.UDPConn
	local  netip.AddrPort
	remote atomic.Pointer[netip.AddrPort]
	leg    *mixer.Leg
	done   chan struct{}
	stop   func() bool
	close  sync.Once

	mu      sync.Mutex // guards pending
	pending []*dtmf.Sender

	// The sending side's, on the mixer's goroutine.
	ssrc    uint32
	seq     uint16
	ts      uint32
	event   *dtmf.Sender
	eventTS uint32
	packet  rtp.Packet
	wbuf    [12 + audiocodec.MaxPayload]byte

	latched atomic.Bool
	noSend  atomic.Bool  // the direction has no send: hold
	noRecv  atomic.Bool  // the direction has no receive
	last    atomic.Int64 // unix nanoseconds of the last RTP packet read
	stats   counters
}

// Open binds a port, joins m and starts reading. The leg reads until ctx
// ends or Close.
func Open(ctx context.Context, cfg Config, m *mixer.Mixer) (*Leg, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.IP.IsValid() {
		return nil, fmt.Errorf("rtpleg %s: no local IP", cfg.Name)
	}
	if cfg.PortMin <= 0 || cfg.PortMax > 65535 || cfg.PortMin > cfg.PortMax {
		return nil, fmt.Errorf("rtpleg %s: port range %d-%d is not within 1-65535", cfg.Name, cfg.PortMin, cfg.PortMax)
	}
	if cfg.PayloadType == 0 {
		cfg.PayloadType = cfg.Codec.PayloadType
	}
	if cfg.PayloadType > 127 || cfg.EventPayloadType > 127 || (cfg.EventPayloadType != 0 && cfg.EventPayloadType == cfg.PayloadType) {
		return nil, fmt.Errorf("rtpleg %s: payload types %d and %d", cfg.Name, cfg.PayloadType, cfg.EventPayloadType)
	}
	conn, err := bind(cfg.IP, cfg.PortMin, cfg.PortMax)
	if err != nil {
		return nil, fmt.Errorf("rtpleg %s: %w", cfg.Name, err)
	}
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	l := &Leg{
		cfg: cfg, log: cfg.Logger.With("leg", cfg.Name), conn: conn,
		local: netip.AddrPortFrom(local.Addr().Unmap(), local.Port()),
		done:  make(chan struct{}),
		ssrc:  rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32(),
	}
	if cfg.Remote.IsValid() {
		l.SetRemote(cfg.Remote)
	}
	l.leg, err = m.Join(mixer.LegConfig{Name: cfg.Name, Codec: cfg.Codec, Encoder: cfg.Encoder, Send: l.send})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("rtpleg %s: %w", cfg.Name, err)
	}
	l.stop = context.AfterFunc(ctx, func() { l.conn.Close() })
	go l.read()
	return l, nil
}

// bind takes an even port of the range, starting at a random one.
func bind(ip netip.Addr, lo, hi int) (*net.UDPConn, error) {
	first := lo + lo%2
	if first > hi {
		return nil, fmt.Errorf("no even port in %d-%d", lo, hi)
	}
	n := (hi-first)/2 + 1
	start := rand.IntN(n)
	for i := range n {
		port := first + 2*((start+i)%n)
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err == nil {
			return conn, nil
		}
	}
	return nil, fmt.Errorf("no free even UDP port on %s in %d-%d", ip, lo, hi)
}

// LocalAddr is the bound address, for the SDP.
func (l *Leg) LocalAddr() netip.AddrPort { return l.local }

// LastPacket is when the last RTP packet from the remote was read (zero
// before the first): a SIP layer ends a call whose media stopped.
func (l *Leg) LastPacket() time.Time {
	n := l.last.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// SetRemote sets where the mix goes and whose packets are read.
func (l *Leg) SetRemote(a netip.AddrPort) {
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	l.remote.Store(&a)
}

// SendDigit queues a DTMF digit lasting d (40 ms to 8 s at 8 kHz; the
// events of one digit go out every 20 ms instead of the mix).
func (l *Leg) SendDigit(digit rune, d time.Duration) error {
	if l.cfg.EventPayloadType == 0 {
		return fmt.Errorf("rtpleg %s: the remote took no telephone-event", l.cfg.Name)
	}
	if d < 40*time.Millisecond {
		return fmt.Errorf("rtpleg %s: DTMF duration %v under 40ms", l.cfg.Name, d)
	}
	samples := int(d * time.Duration(l.cfg.Codec.ClockRate) / time.Second)
	s, err := dtmf.NewSender(digit, samples, l.cfg.Codec.FrameClock, 10)
	if err != nil {
		return fmt.Errorf("rtpleg %s: %w", l.cfg.Name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) >= MaxPendingDigits {
		return fmt.Errorf("rtpleg %s: %d digits already queued", l.cfg.Name, MaxPendingDigits)
	}
	l.pending = append(l.pending, s)
	return nil
}

// SetDirection applies an SDP direction, as this side says it:
// "sendrecv" (the default), "sendonly" (the remote put on hold: its audio
// is not mixed), "recvonly" (we are on hold: no mix is sent) or
// "inactive". Timestamps keep running while nothing is sent.
func (l *Leg) SetDirection(dir string) error {
	var send, recv bool
	switch dir {
	case "sendrecv":
		send, recv = true, true
	case "sendonly":
		send = true
	case "recvonly":
		recv = true
	case "inactive":
	default:
		return fmt.Errorf("rtpleg %s: direction %q (sendrecv, sendonly, recvonly, inactive)", l.cfg.Name, dir)
	}
	l.noSend.Store(!send)
	l.noRecv.Store(!recv)
	return nil
}

// send writes one frame of the mix, or the next event packet of a digit
// in its place; it is the mixer leg's Send.
func (l *Leg) send(payload []byte, clock int) {
	remote := l.remote.Load()
	ts := l.ts
	l.ts += uint32(clock)
	if remote == nil || l.noSend.Load() {
		return
	}
	if l.event == nil {
		l.mu.Lock()
		if len(l.pending) > 0 {
			l.event, l.eventTS = l.pending[0], ts
			l.pending = l.pending[1:]
		}
		l.mu.Unlock()
	}
	h := &l.packet.Header
	*h = rtp.Header{Version: 2, PayloadType: l.cfg.PayloadType, SequenceNumber: l.seq, Timestamp: ts, SSRC: l.ssrc}
	if l.event != nil {
		if e, first, ok := l.event.Next(); ok {
			h.PayloadType, h.Timestamp, h.Marker = l.cfg.EventPayloadType, l.eventTS, first
			var b [dtmf.PayloadSize]byte
			payload = e.Append(b[:0])
		} else {
			l.event = nil // its end went out: the mix again
		}
	}
	l.seq++
	l.packet.Payload = payload
	n, err := l.packet.MarshalTo(l.wbuf[:])
	if err != nil {
		l.stats.sendErrors.Add(1)
		return
	}
	if _, err := l.conn.WriteToUDPAddrPort(l.wbuf[:n], *remote); err != nil {
		if l.stats.sendErrors.Add(1) == 1 {
			l.log.Warn("rtpleg: send failed", "remote", *remote, "err", err)
		}
		return
	}
	l.stats.sent.Add(1)
}

// read reads the remote's packets until the socket closes.
func (l *Leg) read() {
	defer close(l.done)
	buf := make([]byte, 1500)
	var p rtp.Packet
	var events dtmf.Receiver
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				l.log.Warn("rtpleg: read failed", "err", err)
			}
			return
		}
		l.handle(from, buf[:n], &p, &events)
	}
}

// handle reads one datagram from the socket.
func (l *Leg) handle(from netip.AddrPort, b []byte, p *rtp.Packet, events *dtmf.Receiver) {
	remote := l.remote.Load()
	if remote == nil || from.Addr().Unmap() != remote.Addr() {
		l.stats.wrongSource.Add(1)
		return
	}
	// RTCP on the same port (rtcp-mux): payload types 200-204 with the
	// marker bit, 72-76 without; not read.
	if len(b) >= 2 && b[1] >= 192 && b[1] <= 223 {
		l.stats.rtcp.Add(1)
		return
	}
	if err := p.Unmarshal(b); err != nil || p.Version != 2 {
		l.stats.malformed.Add(1)
		return
	}
	l.last.Store(time.Now().UnixNano())
	if l.cfg.Latch && from.Port() != remote.Port() && !l.latched.Load() {
		l.latched.Store(true)
		l.SetRemote(from)
		l.log.Debug("rtpleg: latched", "remote", from)
	}
	if l.noRecv.Load() {
		l.stats.held.Add(1)
		return
	}
	switch {
	case p.PayloadType == l.cfg.PayloadType:
		l.leg.Write(p.SequenceNumber, p.Payload)
	case p.PayloadType == l.cfg.EventPayloadType && l.cfg.EventPayloadType != 0:
		d, ok, err := events.Receive(p.Timestamp, p.Payload)
		if err != nil {
			l.stats.malformed.Add(1)
			return
		}
		if ok {
			l.stats.digits.Add(1)
			if l.cfg.OnDigit != nil {
				l.cfg.OnDigit(d)
			}
		}
	default:
		l.stats.otherPayload.Add(1)
	}
}

// Close leaves the mixer, closes the socket and waits for the reader.
func (l *Leg) Close() error {
	var err error
	l.close.Do(func() {
		l.leg.Leave()
		l.stop()
		err = l.conn.Close()
		<-l.done
		if errors.Is(err, net.ErrClosed) { // the context closed it first
			err = nil
		}
	})
	return err
}

// Stats counts a leg's packets.
type Stats struct {
	Mixer        mixer.Stats // the mixer's view of the audio written to it
	Sent         uint64      // RTP packets sent
	SendErrors   uint64
	WrongSource  uint64 // packets from another address than the remote's
	RTCP         uint64 // RTCP packets, not read
	Malformed    uint64 // not RTP, or a bad event payload
	OtherPayload uint64 // payload types neither the codec's nor telephone-event's
	Digits       uint64 // DTMF digits received
	Held         uint64 // packets not read for the direction (hold)
}

type counters struct {
	sent, sendErrors, wrongSource, rtcp, malformed, otherPayload, digits, held atomic.Uint64
}

// Stats returns the leg's counters.
func (l *Leg) Stats() Stats {
	c := &l.stats
	return Stats{
		Mixer: l.leg.Stats(), Sent: c.sent.Load(), SendErrors: c.sendErrors.Load(),
		WrongSource: c.wrongSource.Load(), RTCP: c.rtcp.Load(), Malformed: c.malformed.Load(),
		OtherPayload: c.otherPayload.Load(), Digits: c.digits.Load(), Held: c.held.Load(),
	}
}
