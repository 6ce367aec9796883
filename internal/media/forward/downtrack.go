package forward

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// DownTrack is what a subscriber's m-line sends: the packets of one
// Stream (one simulcast layer of it at a time), with sequence numbers and
// timestamps rewritten so that a change of layer or of source (Switch)
// stays one continuous RTP stream. It is a Pion TrackLocal and a Sink of
// its source.
type DownTrack struct {
	id, streamID string
	fwd          *Forwarder
	kind         webrtc.RTPCodecType
	codec        webrtc.RTPCodecCapability

	mu       sync.Mutex
	writer   webrtc.TrackLocalWriter
	ssrc     uint32
	pt       uint8
	src      *Stream
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

// NewDownTrack returns a track of src with the given track and stream
// ids. It is not src's sink yet: AddSink makes it one.
func NewDownTrack(src *Stream, id, streamID string) *DownTrack {
	kind := webrtc.RTPCodecTypeAudio
	if src.kind == "video" {
		kind = webrtc.RTPCodecTypeVideo
	}
	d := &DownTrack{id: id, streamID: streamID, fwd: src.fwd, kind: kind, codec: src.codec.RTPCodecCapability,
		src: src, layer: -1, want: 2, target: 2, resync: true}
	d.loss.Store(-1)
	if !src.simulcast {
		d.want, d.target = 0, 0
	}
	return d
}

// Bind implements webrtc.TrackLocal: it picks the negotiated codec that
// matches the source's.
func (d *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, c := range ctx.CodecParameters() {
		if SameCodec(c.RTPCodecCapability, d.codec) {
			d.mu.Lock()
			d.writer, d.ssrc, d.pt = ctx.WriteStream(), uint32(ctx.SSRC()), uint8(c.PayloadType)
			d.mu.Unlock()
			return c, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind implements webrtc.TrackLocal.
func (d *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	d.mu.Lock()
	d.writer = nil
	d.mu.Unlock()
	return nil
}

// ID, RID, StreamID and Kind implement webrtc.TrackLocal.
func (d *DownTrack) ID() string                { return d.id }
func (d *DownTrack) RID() string               { return "" }
func (d *DownTrack) StreamID() string          { return d.streamID }
func (d *DownTrack) Kind() webrtc.RTPCodecType { return d.kind }

// Fits reports whether src can feed the track: same kind and codec.
func (d *DownTrack) Fits(src *Stream) bool {
	return src.kind == d.kind.String() && SameCodec(src.codec.RTPCodecCapability, d.codec)
}

// Switch points the track at another stream: it leaves its source's
// sinks for src's, and asks src for keyframes of its highest and lowest
// layers.
func (d *DownTrack) Switch(src *Stream) {
	if old := d.Source(); old != nil {
		old.RemoveSink(d)
	}
	d.setSource(src)
	src.AddSink(d)
	src.RequestKeyframe(2)
	src.RequestKeyframe(0)
}

// setSource points the track at another stream.
func (d *DownTrack) setSource(src *Stream) {
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

// RequestKeyframe asks the source for a keyframe of the layer the track
// waits for.
func (d *DownTrack) RequestKeyframe() {
	d.mu.Lock()
	src, want := d.src, d.want
	d.mu.Unlock()
	if src != nil {
		src.RequestKeyframe(want)
	}
}

// Source is the stream the track sends.
func (d *DownTrack) Source() *Stream {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.src
}

// SetPaused stops or resumes sending; a resumed track starts a new run of
// sequence numbers and timestamps.
func (d *DownTrack) SetPaused(p bool) {
	d.mu.Lock()
	if d.paused && !p {
		d.resync = true
	}
	d.paused = p
	d.mu.Unlock()
}

// SetTarget sets the highest simulcast layer wanted (configure substream).
func (d *DownTrack) SetTarget(layer int) {
	d.mu.Lock()
	d.target = max(0, min(2, layer))
	d.mu.Unlock()
}

// WriteRTP implements Sink: it sends one packet of the source, and
// reports whether it was sent.
func (d *DownTrack) WriteRTP(p *Packet) bool {
	h, idx, key, now := p.Header, p.Layer, p.Keyframe, p.Arrival
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

	out := p.CopyHeader()
	out.SSRC, out.PayloadType, out.SequenceNumber, out.Timestamp = ssrc, pt, seq, ts
	out.Extension, out.Extensions, out.ExtensionProfile = false, nil, 0
	if _, err := w.WriteRTP(out, p.Payload); err != nil {
		return false
	}
	d.packets.Add(1)
	return true
}

// ReadRTCP reads the subscriber's RTCP for the track from its sender
// until the sender closes.
func (d *DownTrack) ReadRTCP(sender *webrtc.RTPSender) {
	readLoop(sender.Read, d.handleRTCPBytes)
}

// handleRTCPBytes parses a compound RTCP packet from the subscriber;
// what does not parse is dropped.
func (d *DownTrack) handleRTCPBytes(b []byte) {
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
func (d *DownTrack) handleRTCP(pkts []rtcp.Packet) {
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
				src.RequestKeyframe(layer)
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

func (d *DownTrack) ssrcOf() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ssrc
}

// LossFraction is the last loss the subscriber reported for this track.
func (d *DownTrack) LossFraction() (float64, bool) {
	l := d.loss.Load()
	if l < 0 {
		return 0, false
	}
	return float64(l) / 256, true
}

// Tick is the track's per-second upkeep: the simulcast layer choice, and
// the count of NACKs. When the subscriber's last reported loss reached
// LossPercent it returns that loss and true, once per report.
func (d *DownTrack) Tick(now time.Time) (loss float64, slow bool) {
	d.PickLayer(now)
	n := d.nacks.Load()
	d.fwd.stats.NACKsReceived.Add(n - d.prevNack)
	d.prevNack = n
	if f, ok := d.LossFraction(); ok && f >= d.fwd.lossThreshold() {
		d.loss.Store(-1)
		return f, true
	}
	return 0, false
}

// PickLayer chooses the simulcast layer to send: the highest active layer
// within the subscriber's target and its bandwidth estimate (REMB), else
// the lowest active one. It asks for a keyframe when the choice changes.
func (d *DownTrack) PickLayer(now time.Time) {
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
			src.RequestKeyframe(want)
		}
		return
	}
	d.mu.Lock()
	d.want = best
	d.mu.Unlock()
	src.RequestKeyframe(best)
}
