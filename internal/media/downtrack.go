package media

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// downTrack is what a subscriber's m-line sends: the packets of one
// publisher stream (one simulcast layer of it at a time), with sequence
// numbers and timestamps rewritten so that a change of layer or of feed
// (switch) stays one continuous RTP stream. It is a Pion TrackLocal.
type downTrack struct {
	id, streamID string
	kind         webrtc.RTPCodecType
	codec        webrtc.RTPCodecCapability

	mu       sync.Mutex
	writer   webrtc.TrackLocalWriter
	ssrc     uint32
	pt       uint8
	src      *pubStream
	paused   bool
	layer    int // layer being sent, -1 = none yet
	want     int // layer to switch to at its next keyframe
	target   int // highest layer the subscriber asked for (configure substream)
	resync   bool
	started  bool
	gateSeq  uint16 // first input sequence number after a resync
	lastIn   uint16 // newest input sequence number
	lastSeq  uint16
	lastTS   uint32
	lastWall int64
	seqOff   uint16
	tsOff    uint32

	packets  atomic.Uint64
	loss     atomic.Int32 // fraction lost from receiver reports, 0-255; -1 = none yet
	remb     atomic.Uint64
	nacks    atomic.Uint64
	prevNack uint64
}

// maxSeqJump is the largest change of a source's sequence numbers taken as
// the same run (about 8 s of 1 Mbps video lost).
const maxSeqJump = 1000

func newDownTrack(src *pubStream, id string) *downTrack {
	kind := webrtc.RTPCodecTypeAudio
	if src.kind == "video" {
		kind = webrtc.RTPCodecTypeVideo
	}
	d := &downTrack{id: id, streamID: fmt.Sprintf("janus%d", src.owner.id), kind: kind, codec: src.codec.RTPCodecCapability,
		src: src, layer: -1, want: 2, target: 2, resync: true}
	d.loss.Store(-1)
	if !src.simulcast {
		d.want, d.target = 0, 0
	}
	return d
}

// Bind implements webrtc.TrackLocal: it picks the negotiated codec that
// matches the source's.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if sameCodec(c.RTPCodecCapability, d.codec) {
			d.mu.Lock()
			d.writer, d.ssrc, d.pt = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType)
			d.mu.Unlock()
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind implements webrtc.TrackLocal.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.writer = nil
	d.mu.Unlock()
	return nil
}

func (d *downTrack) ID() string                { return d.id }
func (d *downTrack) RID() string               { return "" }
func (d *downTrack) StreamID() string          { return d.streamID }
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.kind }

// sameCodec compares codecs the way an SFU must: same format and, for
// H.264, same profile and packetization mode; for VP9, same profile.
func sameCodec(a, b webrtc.RTPCodecCapability) bool {
	if !strings.EqualFold(a.MimeType, b.MimeType) || a.ClockRate != b.ClockRate {
		return false
	}
	switch {
	case strings.EqualFold(a.MimeType, webrtc.MimeTypeH264):
		pa, pb := fmtpValue(a.SDPFmtpLine, "profile-level-id", "42001f"), fmtpValue(b.SDPFmtpLine, "profile-level-id", "42001f")
		if len(pa) >= 4 && len(pb) >= 4 {
			pa, pb = pa[:4], pb[:4] // profile and constraints; the level may differ
		}
		return strings.EqualFold(pa, pb) &&
			fmtpValue(a.SDPFmtpLine, "packetization-mode", "0") == fmtpValue(b.SDPFmtpLine, "packetization-mode", "0")
	case strings.EqualFold(a.MimeType, webrtc.MimeTypeVP9):
		return fmtpValue(a.SDPFmtpLine, "profile-id", "0") == fmtpValue(b.SDPFmtpLine, "profile-id", "0")
	}
	return true
}

// fmtpValue returns the value of key in an fmtp line, or def.
func fmtpValue(fmtp, key, def string) string {
	for _, kv := range strings.Split(fmtp, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return def
}

// setSource points the track at another publisher stream (switch).
func (d *downTrack) setSource(src *pubStream) {
	d.mu.Lock()
	d.src = src
	d.layer = -1
	d.resync = true
	if !src.simulcast {
		d.want, d.target = 0, 0
	} else if d.target == 0 && d.want == 0 {
		d.want, d.target = 2, 2
	}
	d.mu.Unlock()
}

func (d *downTrack) wanted() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.want
}

func (d *downTrack) source() *pubStream {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.src
}

func (d *downTrack) setPaused(p bool) {
	d.mu.Lock()
	if d.paused && !p {
		d.resync = true
	}
	d.paused = p
	d.mu.Unlock()
}

// setTarget sets the highest simulcast layer wanted (configure substream).
func (d *downTrack) setTarget(layer int) {
	d.mu.Lock()
	d.target = max(0, min(2, layer))
	d.mu.Unlock()
}

// write forwards one packet of layer idx of the source, received at now
// (unix nanoseconds), and reports whether it was sent.
func (d *downTrack) write(h *rtp.Header, payload []byte, idx int, key bool, now int64, mem *slab) bool {
	d.mu.Lock()
	if d.writer == nil || d.paused {
		d.mu.Unlock()
		return false
	}
	if idx != d.layer {
		// A simulcast source switches layers only on a keyframe of the
		// wanted one (or of any layer while nothing is sent yet).
		if d.src.simulcast && (!key || (idx != d.want && d.layer >= 0)) {
			d.mu.Unlock()
			return false
		}
		d.layer = idx
		d.resync = true
	}
	if !d.resync && d.started {
		// A wild jump of the source's sequence numbers (a broken or hostile
		// publisher) would break the subscriber's SRTP rollover counting:
		// start a new base instead, as for a switch.
		if j := int16(h.SequenceNumber - d.lastIn); j > maxSeqJump || j < -maxSeqJump {
			d.resync = true
		}
	}
	if d.resync {
		d.resync = false
		if d.started {
			elapsed := max(now-d.lastWall, int64(time.Millisecond))
			step := uint32(uint64(elapsed) * uint64(d.codec.ClockRate) / uint64(time.Second))
			d.seqOff = d.lastSeq + 1 - h.SequenceNumber
			d.tsOff = d.lastTS + max(step, 1) - h.Timestamp
		}
		d.gateSeq, d.lastIn = h.SequenceNumber, h.SequenceNumber
		d.started = true
	} else if int16(h.SequenceNumber-d.gateSeq) < 0 {
		d.mu.Unlock()
		return false // older than the switch point: its number is taken
	}
	if int16(h.SequenceNumber-d.lastIn) > 0 {
		d.lastIn = h.SequenceNumber
	}
	seq, ts := h.SequenceNumber+d.seqOff, h.Timestamp+d.tsOff
	if int16(seq-d.lastSeq) > 0 || d.lastWall == 0 {
		d.lastSeq, d.lastTS = seq, ts
	}
	d.lastWall = now
	w, ssrc, pt := d.writer, d.ssrc, d.pt
	d.mu.Unlock()

	out := mem.header()
	*out = *h
	out.SSRC, out.PayloadType, out.SequenceNumber, out.Timestamp = ssrc, pt, seq, ts
	out.Extension, out.Extensions, out.ExtensionProfile = false, nil, 0
	if _, err := w.WriteRTP(out, payload); err != nil {
		return false
	}
	d.packets.Add(1)
	return true
}

// handleRTCPBytes parses a compound RTCP packet from the subscriber;
// what does not parse is dropped.
func (d *downTrack) handleRTCPBytes(b []byte) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return
	}
	d.handleRTCP(pkts)
}

// handleRTCP takes the subscriber's feedback for this track: keyframe
// requests go to the publisher (rate limited there), REMB and receiver
// reports feed layer choice and bitrate control. NACKs were answered by
// the NACK responder before this point.
func (d *downTrack) handleRTCP(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			d.mu.Lock()
			src, layer := d.src, d.layer
			if layer < 0 {
				layer = d.want
			}
			d.mu.Unlock()
			if src != nil {
				src.requestKeyframe(layer)
			}
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			d.remb.Store(uint64(p.Bitrate))
		case *rtcp.ReceiverReport:
			for _, r := range p.Reports {
				if r.SSRC == d.ssrcOf() {
					d.loss.Store(int32(r.FractionLost))
				}
			}
		case *rtcp.TransportLayerNack:
			d.nacks.Add(1)
		}
	}
}

func (d *downTrack) ssrcOf() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ssrc
}

// lossFraction is the last loss the subscriber reported for this track.
func (d *downTrack) lossFraction() (float64, bool) {
	l := d.loss.Load()
	if l < 0 {
		return 0, false
	}
	return float64(l) / 256, true
}

// pickLayer chooses the simulcast layer to send: the highest active layer
// within the subscriber's target and its bandwidth estimate (REMB), else
// the lowest active one. It asks for a keyframe when the choice changes.
func (d *downTrack) pickLayer(now time.Time) {
	d.mu.Lock()
	src, target, cur, want := d.src, d.target, d.layer, d.want
	d.mu.Unlock()
	if src == nil || !src.simulcast {
		return
	}
	remb := d.remb.Load()
	best, lowest := -1, -1
	for i := 0; i <= 2; i++ {
		l := &src.layers[i]
		if l.ssrc.Load() == 0 || !l.active(now) {
			continue
		}
		if lowest < 0 {
			lowest = i
		}
		if i > target {
			continue
		}
		if remb > 0 && i > 0 && uint64(l.bitrate) > remb {
			continue
		}
		best = i
	}
	if best < 0 {
		best = lowest
	}
	if best < 0 || best == want {
		if cur != want && want >= 0 {
			src.requestKeyframe(want)
		}
		return
	}
	d.mu.Lock()
	d.want = best
	d.mu.Unlock()
	src.requestKeyframe(best)
}
