package media

import (
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

// pubStream is one published m-line (audio, video or data) and the RTP
// streams it carries (one, or up to three simulcast layers).
type pubStream struct {
	owner       *participant
	mid         string
	mindex      int
	kind        string // audio, video, data
	codec       webrtc.RTPCodecParameters
	ck          codecKind
	description string
	simulcast   bool
	rids        map[string]int // rid -> layer (0 lowest)
	levelExt    uint8          // ssrc-audio-level extension id, 0 = none

	send   atomic.Bool // relayed to subscribers (configure mid/send)
	layers [3]layer

	sinksMu sync.Mutex
	sinks   atomic.Pointer[[]*downTrack]

	ctrl        *bitrateControl // used by the per-second tick only
	capBps      atomic.Int64    // ctrl's current cap, for readers
	receiving   bool            // last reported media state
	levelSum    int
	levelCount  int
	talking     bool
	lastLevel   int
	levelMu     sync.Mutex
	lastPLISent atomic.Int64
}

// layer is one incoming RTP stream of a pubStream.
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

	// read by the per-second tick only
	prevHighest uint64
	prevPackets uint64
	prevBytes   uint64
	bitrate     int // bps over the last second
	loss        float64
}

func (l *layer) active(now time.Time) bool {
	return now.UnixNano()-l.lastSeen.Load() < int64(time.Second)
}

// addSink and removeSink keep the copy-on-write list of down tracks the
// forwarding loop reads without locking.
func (ps *pubStream) addSink(d *downTrack) {
	ps.sinksMu.Lock()
	defer ps.sinksMu.Unlock()
	var next []*downTrack
	if cur := ps.sinks.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, d)
	ps.sinks.Store(&next)
}

func (ps *pubStream) removeSink(d *downTrack) {
	ps.sinksMu.Lock()
	defer ps.sinksMu.Unlock()
	cur := ps.sinks.Load()
	if cur == nil {
		return
	}
	next := make([]*downTrack, 0, len(*cur))
	for _, x := range *cur {
		if x != d {
			next = append(next, x)
		}
	}
	ps.sinks.Store(&next)
}

func (ps *pubStream) sinkCount() int {
	if cur := ps.sinks.Load(); cur != nil {
		return len(*cur)
	}
	return 0
}

// requestKeyframe sends a PLI for a layer, at most once per
// media.keyframeInterval, so that many subscribers cannot storm the
// publisher. A request inside the interval is not dropped but sent when
// the interval ends (one at most): a subscriber that connected just after
// the last keyframe would otherwise wait for the publisher's next one.
func (ps *pubStream) requestKeyframe(layerIdx int) {
	if ps.kind != "video" || layerIdx < 0 || layerIdx > 2 {
		return
	}
	l := &ps.layers[layerIdx]
	ssrc := l.ssrc.Load()
	if ssrc == 0 {
		return
	}
	now := time.Now().UnixNano()
	min := int64(ps.owner.room.sfu.cfg.KeyframeInterval) * int64(time.Millisecond)
	last := l.lastPLI.Load()
	if wait := min - (now - last); wait > 0 {
		if l.pliDeferred.CompareAndSwap(false, true) {
			time.AfterFunc(time.Duration(wait), func() {
				l.pliDeferred.Store(false)
				ps.requestKeyframe(layerIdx)
			})
		}
		return
	}
	if !l.lastPLI.CompareAndSwap(last, now) {
		return
	}
	pc := ps.owner.peer()
	if pc == nil {
		return
	}
	if err := pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err == nil {
		ps.owner.room.sfu.stats.keyframeRequests.Add(1)
	}
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
// subscribers' down tracks, until the track ends. Packets are read
// straight into slab memory, where the retransmission buffers keep them.
func (ps *pubStream) forward(t *webrtc.TrackRemote, idx int) {
	s := ps.owner.room.sfu
	l := &ps.layers[idx]
	var mem slab
	var pkt rtp.Packet
	var cycles uint64
	var last uint16
	first := true
	readLoopInto(t.Read, func() []byte { return mem.room(receiveMTU)[:receiveMTU] }, func(n int) {
		buf := mem.take(n)
		key, level, ok := parseRTP(&pkt, buf, ps.ck, ps.levelExt)
		if !ok {
			return // malformed RTP: dropped
		}
		now := time.Now().UnixNano()
		l.lastSeen.Store(now)
		l.packets.Add(1)
		l.bytes.Add(uint64(len(pkt.Payload)))
		s.stats.receivedPackets.Add(1)
		seq := pkt.SequenceNumber
		if first {
			first, last = false, seq
		} else if int16(seq-last) > 0 {
			if seq < last {
				cycles += 1 << 16
			}
			last = seq
		}
		if ext := cycles | uint64(last); ext > l.highest.Load() {
			l.highest.Store(ext)
		}
		if level >= 0 {
			ps.addLevel(level)
		}
		if !ps.send.Load() {
			return
		}
		sinks := ps.sinks.Load()
		if sinks == nil || len(*sinks) == 0 {
			return
		}
		// The copies for every subscriber leave together (one sendmmsg
		// on the shared UDP port).
		if s.batch != nil {
			s.batch.Cork()
		}
		var sent uint64
		for _, d := range *sinks {
			if d.write(&pkt.Header, pkt.Payload, idx, key, now, &mem) {
				sent++
			}
		}
		if s.batch != nil {
			s.batch.Uncork()
		}
		if sent > 0 {
			s.stats.forwardedPackets.Add(sent)
			s.stats.forwardedBytes.Add(sent * uint64(len(pkt.Payload)))
		}
	})
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

// downlinkLoss is the mean loss the subscribers of the stream report.
func (ps *pubStream) downlinkLoss() float64 {
	sinks := ps.sinks.Load()
	if sinks == nil || len(*sinks) == 0 {
		return 0
	}
	sum, n := 0.0, 0
	for _, d := range *sinks {
		if f, ok := d.lossFraction(); ok {
			sum += f
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
