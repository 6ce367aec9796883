package forward

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Forwarder is what the streams of a media node share: the keyframe
// rate limit, the bitrate rule, the shared UDP port's batching and the
// counters. New makes one; its streams come from NewStream.
type Forwarder struct {
	opts  Options
	stats Counters
}

// Options are a Forwarder's settings.
type Options struct {
	// KeyframeInterval is the least time between two keyframe requests
	// to one layer of a source (media.keyframeInterval).
	KeyframeInterval time.Duration
	// LossPercent, LossTime and RecoverTime are the bitrate rule of
	// published videos (media.lossPercent, media.lossSeconds,
	// media.recoverSeconds; see bitrate.go, which counts whole seconds).
	// LossPercent is also the loss at which a stream or a down track
	// reports a slow link.
	LossPercent           int
	LossTime, RecoverTime time.Duration
	// Batch, when set, is corked around the writes of one packet to a
	// stream's sinks, so that the copies leave together.
	Batch Batcher
}

// Batcher is a media port that holds back what is written between Cork
// and Uncork and sends it in one system call (the shared UDP port on
// Linux: package udpport).
type Batcher interface {
	Cork()
	Uncork()
}

// Counters are a Forwarder's hot-path counters (atomics, read by
// metrics).
type Counters struct {
	ForwardedPackets atomic.Uint64 // RTP packets sinks sent on
	ForwardedBytes   atomic.Uint64 // their payload bytes
	ReceivedPackets  atomic.Uint64 // RTP packets read from sources
	KeyframeRequests atomic.Uint64 // PLIs sent to sources
	NACKsReceived    atomic.Uint64 // NACK messages from down tracks' receivers
	BitrateCuts      atomic.Uint64 // video caps cut for sustained loss
}

// New returns a Forwarder.
func New(opts Options) *Forwarder { return &Forwarder{opts: opts} }

// Counters are the forwarder's counters.
func (f *Forwarder) Counters() *Counters { return &f.stats }

// lossThreshold is LossPercent as a fraction.
func (f *Forwarder) lossThreshold() float64 { return float64(f.opts.LossPercent) / 100 }

// StreamConfig describes a source for NewStream.
type StreamConfig struct {
	// Kind is "audio" or "video"; Codec the negotiated codec.
	Kind  string
	Codec webrtc.RTPCodecParameters
	// RIDs maps the rids of a simulcast source to layers, 0 the lowest;
	// with fewer than two the source is one RTP stream.
	RIDs map[string]int
	// LevelExt is the id of the ssrc-audio-level header extension, 0 =
	// none; OnLevel, when set, gets each packet's level (0 loudest, 127
	// silence) on the reading goroutine.
	LevelExt uint8
	OnLevel  func(level int)
	// WriteRTCP sends feedback to the source: keyframe requests (nil:
	// none are sent).
	WriteRTCP func([]rtcp.Packet) error
	// Cap is a video's initial cap in bits per second (see Tick).
	Cap int
}

// Stream is one source of media: the RTP of one published audio or
// video, one RTP stream or up to three simulcast layers. Forward reads
// it; every packet goes to each Sink.
type Stream struct {
	fwd       *Forwarder
	kind      string
	codec     webrtc.RTPCodecParameters
	ck        codecKind
	simulcast bool
	rids      map[string]int
	levelExt  uint8
	onLevel   func(int)
	writeRTCP func([]rtcp.Packet) error

	forwarding atomic.Bool // packets go to the sinks (SetForwarding)
	layers     [3]layer

	sinksMu sync.Mutex
	sinks   atomic.Pointer[[]Sink]

	ctrl   *bitrateControl // video only; used by Tick only
	capBps atomic.Int64    // ctrl's current cap, for readers
}

// NewStream returns a stream of the forwarder, forwarding.
func (f *Forwarder) NewStream(c StreamConfig) *Stream {
	s := &Stream{fwd: f, kind: c.Kind, codec: c.Codec, ck: codecKindOf(c.Codec.MimeType), levelExt: c.LevelExt,
		onLevel: c.OnLevel, writeRTCP: c.WriteRTCP}
	if len(c.RIDs) > 1 {
		s.simulcast, s.rids = true, c.RIDs
	}
	s.forwarding.Store(true)
	if c.Kind == "video" {
		s.ctrl = newBitrateControl(c.Cap, f.opts.LossPercent, wholeSeconds(f.opts.LossTime), wholeSeconds(f.opts.RecoverTime))
	}
	return s
}

// Kind is "audio" or "video".
func (s *Stream) Kind() string { return s.kind }

// Codec is the source's codec.
func (s *Stream) Codec() webrtc.RTPCodecParameters { return s.codec }

// Simulcast reports whether the source sends simulcast layers.
func (s *Stream) Simulcast() bool { return s.simulcast }

// Layers is the number of RTP streams of the source: its simulcast
// layers, or 1.
func (s *Stream) Layers() int {
	if s.simulcast {
		return len(s.rids)
	}
	return 1
}

// SetForwarding turns the writing of packets to the sinks on or off;
// packets are still read and counted.
func (s *Stream) SetForwarding(on bool) { s.forwarding.Store(on) }

// Cap is the current cap of a video in bits per second (0 for audio and
// before the first Tick).
func (s *Stream) Cap() int { return int(s.capBps.Load()) }

// layer is one incoming RTP stream of a Stream.
type layer struct {
	ssrc     atomic.Uint32
	packets  atomic.Uint64
	bytes    atomic.Uint64
	lastSeen atomic.Int64 // unix nanoseconds
	highest  atomic.Uint64
	lastPLI  atomic.Int64
	// pliDeferred is set while a keyframe request waits for the end of
	// the rate limit's interval.
	pliDeferred atomic.Bool

	// read by Tick only
	prevHighest uint64
	prevPackets uint64
	prevBytes   uint64
	bitrate     int // bps over the last second
}

func (l *layer) active(now time.Time) bool {
	return now.UnixNano()-l.lastSeen.Load() < int64(time.Second)
}

// Sink takes the packets of a Stream: a subscriber's DownTrack, and the
// consumers of coming features (a mixer, a recorder). WriteRTP is called
// on the stream's reading goroutine for every packet while the stream
// forwards, so it must not block; it reports whether it sent the packet
// on (counted as forwarded).
type Sink interface {
	WriteRTP(p *Packet) bool
}

// Packet is one RTP packet of a Stream, as its sinks get it. It is valid
// during WriteRTP only, and Header is reused for the next packet;
// Payload is never reused, so a sink may keep it.
type Packet struct {
	Header   *rtp.Header
	Payload  []byte
	Layer    int   // simulcast layer, 0 the lowest (0 without simulcast)
	Keyframe bool  // the packet starts a video keyframe
	Arrival  int64 // unix nanoseconds
	mem      *slab
}

// CopyHeader returns a copy of Header in memory that is never reused,
// for a sink that keeps the header past the call (as a down track's
// retransmission buffer does).
func (p *Packet) CopyHeader() *rtp.Header {
	h := p.mem.header()
	*h = *p.Header
	return h
}

// lossReporter is a sink that hears its receiver's loss reports (a
// DownTrack).
type lossReporter interface {
	LossFraction() (float64, bool)
}

// AddSink and RemoveSink keep the copy-on-write list of sinks the
// forwarding loop reads without locking.
func (s *Stream) AddSink(d Sink) {
	s.sinksMu.Lock()
	defer s.sinksMu.Unlock()
	var next []Sink
	if cur := s.sinks.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, d)
	s.sinks.Store(&next)
}

// RemoveSink removes a sink AddSink added.
func (s *Stream) RemoveSink(d Sink) {
	s.sinksMu.Lock()
	defer s.sinksMu.Unlock()
	cur := s.sinks.Load()
	if cur == nil {
		return
	}
	next := make([]Sink, 0, len(*cur))
	for _, x := range *cur {
		if x != d {
			next = append(next, x)
		}
	}
	s.sinks.Store(&next)
}

// RequestKeyframe sends a PLI for a layer, at most once per
// KeyframeInterval, so that many subscribers cannot storm the
// publisher. A request inside the interval is not dropped but sent when
// the interval ends (one at most): a subscriber that connected just after
// the last keyframe would otherwise wait for the publisher's next one.
func (s *Stream) RequestKeyframe(layerIdx int) {
	if s.kind != "video" || layerIdx < 0 || layerIdx > 2 {
		return
	}
	l := &s.layers[layerIdx]
	ssrc := l.ssrc.Load()
	if ssrc == 0 {
		return
	}
	now := time.Now().UnixNano()
	min := int64(s.fwd.opts.KeyframeInterval)
	last := l.lastPLI.Load()
	if wait := min - (now - last); wait > 0 {
		if l.pliDeferred.CompareAndSwap(false, true) {
			time.AfterFunc(time.Duration(wait), func() {
				l.pliDeferred.Store(false)
				s.RequestKeyframe(layerIdx)
			})
		}
		return
	}
	if !l.lastPLI.CompareAndSwap(last, now) {
		return
	}
	if s.writeRTCP == nil {
		return
	}
	if err := s.writeRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err == nil {
		s.fwd.stats.KeyframeRequests.Add(1)
	}
}

// RequestKeyframes asks for a keyframe of every layer.
func (s *Stream) RequestKeyframes() {
	for i := range s.layers {
		s.RequestKeyframe(i)
	}
}

// Track is one incoming RTP stream of a source: a Pion TrackRemote, or
// any reader of RTP packets with an SSRC (and a rid for a simulcast
// layer).
type Track interface {
	Read(b []byte) (int, interceptor.Attributes, error)
	SSRC() webrtc.SSRC
	RID() string
}

// Forward reads the track, one RTP stream of the source (a simulcast
// layer by its rid), and writes every packet to the sinks until the
// track ends. It first asks for a keyframe of that layer. A track of a
// rid the source did not announce is not read.
func (s *Stream) Forward(t Track) {
	idx := 0
	if s.simulcast {
		i, ok := s.rids[t.RID()]
		if !ok {
			return
		}
		idx = i
	}
	s.layers[idx].ssrc.Store(uint32(t.SSRC()))
	s.RequestKeyframe(idx)
	s.forward(t, idx)
}

// slab hands out packet buffers carved from large blocks, so that reading
// a packet does not allocate; a block is freed once no retransmission
// buffer refers to its packets any more. Packets are read straight into
// it (room), then kept (take).
type slab struct {
	buf  []byte
	hdrs []rtp.Header
}

const slabSize = 64 << 10

// room returns at least n free bytes at the current position.
func (s *slab) room(n int) []byte {
	if len(s.buf) < n {
		s.buf = make([]byte, slabSize)
	}
	return s.buf
}

// take keeps the first n bytes of what room returned.
func (s *slab) take(n int) []byte {
	b := s.buf[:n:n]
	s.buf = s.buf[n:]
	return b
}

func (s *slab) header() *rtp.Header {
	if len(s.hdrs) == 0 {
		s.hdrs = make([]rtp.Header, 128)
	}
	h := &s.hdrs[0]
	s.hdrs = s.hdrs[1:]
	return h
}

// forward reads one incoming RTP stream and writes every packet to the
// sinks, until the track ends. Packets are read straight into slab
// memory, where the retransmission buffers keep them.
func (s *Stream) forward(t Track, idx int) {
	in := s.newIntake(idx)
	readLoopInto(t.Read, func() []byte { return in.mem.room(receiveMTU)[:receiveMTU] }, func(n int) {
		in.handle(in.mem.take(n))
	})
}

// intake is the receiving end of one RTP stream of a source: it counts
// and numbers the stream's packets and hands them to the sinks. It is
// used by one goroutine at a time.
type intake struct {
	s      *Stream
	l      *layer
	mem    slab
	pkt    rtp.Packet
	p      Packet
	cycles uint64
	last   uint16
	first  bool
}

func (s *Stream) newIntake(idx int) *intake {
	in := &intake{s: s, l: &s.layers[idx], first: true}
	in.p = Packet{Header: &in.pkt.Header, Layer: idx, mem: &in.mem}
	return in
}

// handle takes one packet, in slab memory that is its own from now on.
func (in *intake) handle(buf []byte) {
	s, l, pkt, p := in.s, in.l, &in.pkt, &in.p
	stats, batch := &s.fwd.stats, s.fwd.opts.Batch
	key, level, ok := parseRTP(pkt, buf, s.ck, s.levelExt)
	if !ok {
		return // malformed RTP: dropped
	}
	now := time.Now().UnixNano()
	l.lastSeen.Store(now)
	l.packets.Add(1)
	l.bytes.Add(uint64(len(pkt.Payload)))
	stats.ReceivedPackets.Add(1)
	seq := pkt.SequenceNumber
	if in.first {
		in.first, in.last = false, seq
	} else if int16(seq-in.last) > 0 {
		if seq < in.last {
			in.cycles += 1 << 16
		}
		in.last = seq
	}
	if ext := in.cycles | uint64(in.last); ext > l.highest.Load() {
		l.highest.Store(ext)
	}
	if level >= 0 && s.onLevel != nil {
		s.onLevel(level)
	}
	if !s.forwarding.Load() {
		return
	}
	sinks := s.sinks.Load()
	if sinks == nil || len(*sinks) == 0 {
		return
	}
	p.Payload, p.Keyframe, p.Arrival = pkt.Payload, key, now
	// The copies for every subscriber leave together (one sendmmsg
	// on the shared UDP port).
	if batch != nil {
		batch.Cork()
	}
	var sent uint64
	for _, d := range *sinks {
		if d.WriteRTP(p) {
			sent++
		}
	}
	if batch != nil {
		batch.Uncork()
	}
	if sent > 0 {
		stats.ForwardedPackets.Add(sent)
		stats.ForwardedBytes.Add(sent * uint64(len(pkt.Payload)))
	}
}

// Writer is a source's RTP handed over in process rather than read from
// a Track: what a SIP leg of this node receives from the trunk. Each
// WriteRTP goes to the stream's sinks on the caller's goroutine, as
// Forward's packets go on its reading goroutine, so the caller must not
// hold locks a sink could want. A Writer is for one RTP stream (no
// simulcast) and safe for concurrent use.
type Writer struct {
	mu sync.Mutex
	in *intake
}

// NewWriter returns the in-process entry of a stream that is one RTP
// stream; nil for a simulcast stream.
func (s *Stream) NewWriter() *Writer {
	if s.simulcast {
		return nil
	}
	return &Writer{in: s.newIntake(0)}
}

// WriteRTP forwards one RTP packet (copied: b stays the caller's). The
// first packet's SSRC becomes the stream's.
func (w *Writer) WriteRTP(b []byte) {
	if len(b) > receiveMTU {
		return // larger than any packet read from a peer: dropped
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	in := w.in
	if in.first && len(b) >= 12 {
		in.l.ssrc.Store(binary.BigEndian.Uint32(b[8:12]))
	}
	buf := in.mem.room(len(b))
	copy(buf, b)
	in.handle(in.mem.take(len(b)))
}

// receiveMTU is the room a packet is read into (what readLoop reads into).
const receiveMTU = 1600

// parseRTP parses an incoming packet into pkt: whether it starts a
// keyframe, and its audio level (-1 = none). ok is false for malformed
// packets.
func parseRTP(pkt *rtp.Packet, buf []byte, ck codecKind, levelExt uint8) (key bool, level int, ok bool) {
	if err := pkt.Unmarshal(buf); err != nil {
		return false, -1, false
	}
	level = -1
	if levelExt != 0 {
		if lv, ok := audioLevel(pkt.GetExtension(levelExt)); ok {
			level = int(lv)
		}
	}
	return ck != codecOther && isKeyframe(ck, pkt.Payload), level, true
}

// readLoop reads packets with read and hands them to handle until the
// stream ends. Errors that do not end the stream (a packet an interceptor
// could not parse) skip the packet; a long run of them ends the loop.
func readLoop(read func([]byte) (int, interceptor.Attributes, error), handle func([]byte)) {
	buf := make([]byte, 1600)
	readLoopInto(read, func() []byte { return buf }, func(n int) { handle(buf[:n]) })
}

// readLoopInto is readLoop reading into the buffer next returns each time;
// handle gets the length read.
func readLoopInto(read func([]byte) (int, interceptor.Attributes, error), next func() []byte, handle func(n int)) {
	fails := 0
	for {
		n, _, err := read(next())
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) {
				return
			}
			if fails++; fails > 1000 {
				return
			}
			continue
		}
		fails = 0
		handle(n)
	}
}

// Report is what Tick measured of a stream over the last second.
type Report struct {
	// Receiving: a packet arrived on some layer within the last second.
	Receiving bool
	// Lost packets upstream, of Expected (from sequence numbers).
	Lost, Expected uint64
	// SSRCs are a video's layers seen so far, for its REMB.
	SSRCs []uint32
	// Slow: a video's upstream loss reached LossPercent.
	Slow bool
	// Cap is a video's cap after this second, in bits per second; Changed
	// says it changed, Loss is the loss the change answered (the larger
	// of the upstream loss and the mean loss its down tracks report).
	Cap     int
	Changed bool
	Loss    float64
}

// Tick is the stream's per-second upkeep, called by one goroutine: it
// measures the layers (loss, bitrate) and, for a video, runs the
// bitrate rule under capBps, the cap the video may use.
func (s *Stream) Tick(now time.Time, capBps int) Report {
	var r Report
	for i := range s.layers {
		l := &s.layers[i]
		if l.ssrc.Load() == 0 {
			continue
		}
		if l.active(now) {
			r.Receiving = true
		}
		hi, pk, by := l.highest.Load(), l.packets.Load(), l.bytes.Load()
		if l.prevHighest != 0 && hi > l.prevHighest {
			exp := hi - l.prevHighest
			got := pk - l.prevPackets
			r.Expected += exp
			if got < exp {
				r.Lost += exp - got
			}
		}
		l.bitrate = int((by - l.prevBytes) * 8)
		l.prevHighest, l.prevPackets, l.prevBytes = hi, pk, by
		if s.kind == "video" {
			r.SSRCs = append(r.SSRCs, l.ssrc.Load())
		}
	}
	if s.ctrl == nil {
		return r
	}
	uplink := 0.0
	if r.Expected > 0 {
		uplink = float64(r.Lost) / float64(r.Expected)
	}
	r.Loss = max(uplink, s.downlinkLoss())
	s.ctrl.setInitial(capBps)
	if r.Changed = s.ctrl.tick(r.Loss); r.Changed && s.ctrl.current < s.ctrl.initial {
		s.fwd.stats.BitrateCuts.Add(1)
	}
	r.Slow = uplink >= s.fwd.lossThreshold()
	s.capBps.Store(int64(s.ctrl.current))
	r.Cap = s.ctrl.current
	return r
}

// downlinkLoss is the mean loss the receivers of the stream's down
// tracks report.
func (s *Stream) downlinkLoss() float64 {
	sinks := s.sinks.Load()
	if sinks == nil || len(*sinks) == 0 {
		return 0
	}
	sum, n := 0.0, 0
	for _, d := range *sinks {
		if lr, ok := d.(lossReporter); ok {
			if f, ok := lr.LossFraction(); ok {
				sum += f
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
