// Package mixer mixes the audio of a conference for its phone legs and any
// other leg that needs one stream: each leg sends its packets in (Write),
// and every 20 ms the mixer decodes one frame of each, sums them, and gives
// each leg the sum of everyone else (N-1: nobody hears themselves),
// saturated to 16 bits and encoded in that leg's codec (Send). Legs that
// add nothing to a frame (they send nothing, or silence) all hear the
// whole sum: it is encoded once per codec for all of them.
//
// A leg's packets wait in a small jitter buffer ordered by sequence number
// (40 ms before it starts playing, at most 200 ms); late and duplicate
// packets are dropped and gaps are concealed by the codec. Legs join and
// leave while the mixer runs; Close stops its goroutine and waits for it.
//
// The mixer knows nothing of RTP sockets, SIP or rooms: package rtpleg
// connects a plain RTP endpoint to a leg, and whoever runs a conference
// (the SIP layer, the media role) joins the legs it wants mixed.
package mixer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openwac/wac/internal/media/audiocodec"
)

// Frame is the mixer's period.
const Frame = 20 * time.Millisecond

// Config configures a mixer.
type Config struct {
	Logger *slog.Logger
	// Prebuffer is how many packets a leg buffers before it plays, and
	// again after it ran dry; 0 is 2 (40 ms of 20 ms packets).
	Prebuffer int
	// MaxLegs bounds the legs of one mixer; 0 is 64.
	MaxLegs int
}

// ErrClosed is the error of Join on a closed mixer.
var ErrClosed = errors.New("mixer: closed")

// Mixer mixes its legs every Frame on a goroutine of its own.
type Mixer struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex // guards legs and closed
	legs   []*Leg
	closed bool

	step   sync.Mutex // held while a frame is mixed and sent
	cancel context.CancelFunc
	done   chan struct{}

	// The mixing goroutine's own.
	sum     [audiocodec.FrameSamples]int32
	mixed   [audiocodec.FrameSamples]int16
	all     [audiocodec.FrameSamples]int16 // the whole sum, saturated
	current []*Leg
	shared  map[encoderKey]*sharedEncoder
	frame   uint64
	late    atomic.Uint64
}

// encoderKey tells which legs can share an encoding of the same PCM.
type encoderKey struct {
	codec string
	opt   audiocodec.EncoderOptions
}

// sharedEncoder encodes, once a frame, the whole sum for every leg of its
// codec that added nothing to it (those who listen hear the same thing).
type sharedEncoder struct {
	enc   audiocodec.Encoder
	frame uint64 // the frame out holds
	n     int
	err   error
	out   [audiocodec.MaxPayload]byte
}

// New starts a mixer; it runs until ctx ends or Close.
func New(ctx context.Context, cfg Config) *Mixer {
	m := newMixer(cfg)
	ctx, m.cancel = context.WithCancel(ctx)
	m.done = make(chan struct{})
	go m.run(ctx)
	return m
}

// newMixer makes a mixer without its clock (benchmarks and tests step it).
func newMixer(cfg Config) *Mixer {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Prebuffer <= 0 {
		cfg.Prebuffer = 2
	}
	cfg.Prebuffer = min(cfg.Prebuffer, maxDepth)
	if cfg.MaxLegs <= 0 {
		cfg.MaxLegs = 64
	}
	return &Mixer{cfg: cfg, log: cfg.Logger, shared: map[encoderKey]*sharedEncoder{}}
}

func (m *Mixer) run(ctx context.Context) {
	defer close(m.done)
	next := time.Now().Add(Frame)
	t := time.NewTimer(Frame)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.mu.Lock()
			m.closed = true
			m.legs = nil
			m.mu.Unlock()
			return
		case <-t.C:
		}
		m.mix()
		// Keep to the wall clock: a late frame is followed by a sooner
		// one; far behind (a stalled machine), start again from now.
		next = next.Add(Frame)
		if d := time.Until(next); d > 0 {
			t.Reset(d)
		} else {
			m.late.Add(1)
			if d < -5*Frame {
				next = time.Now()
			}
			t.Reset(0)
		}
	}
}

// Close stops the mixer and waits for its goroutine: no Send is called
// once it returned. The legs need no Leave after it.
func (m *Mixer) Close() {
	m.cancel()
	<-m.done
}

// LateFrames counts the frames the mixer started late (the machine was
// too busy to mix in time).
func (m *Mixer) LateFrames() uint64 { return m.late.Load() }

// Len is the number of legs.
func (m *Mixer) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.legs)
}

// LegConfig configures one leg.
type LegConfig struct {
	Name    string // for logs
	Codec   audiocodec.Codec
	Encoder audiocodec.EncoderOptions
	// Send gets each 20 ms of the leg's mix, encoded, and how far the RTP
	// timestamp moves for it (the codec's FrameClock). The payload is
	// valid only during the call. Send runs on the mixer's goroutine: it
	// must not block, nor call Join, Leave or Close. Nil = the leg is a
	// source only: it adds to the mix and hears nothing (nothing is
	// encoded for it), such as a room's publisher mixed for its phones.
	Send func(payload []byte, clock int)
}

// Join adds a leg.
func (m *Mixer) Join(cfg LegConfig) (*Leg, error) {
	dec, err := cfg.Codec.NewDecoder()
	if err != nil {
		return nil, fmt.Errorf("mixer: leg %q: %w", cfg.Name, err)
	}
	var enc audiocodec.Encoder
	if cfg.Send != nil {
		if enc, err = cfg.Codec.NewEncoder(cfg.Encoder); err != nil {
			return nil, fmt.Errorf("mixer: leg %q: %w", cfg.Name, err)
		}
	}
	l := &Leg{m: m, cfg: cfg, dec: dec, enc: enc}
	l.jb.prebuffer = m.cfg.Prebuffer
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if len(m.legs) >= m.cfg.MaxLegs {
		return nil, fmt.Errorf("mixer: leg %q: the mixer has its %d legs", cfg.Name, m.cfg.MaxLegs)
	}
	m.legs = append(m.legs, l)
	return l, nil
}

// mix makes one frame: every leg's input, then every leg's output.
func (m *Mixer) mix() {
	m.step.Lock()
	defer m.step.Unlock()
	m.mu.Lock()
	m.current = append(m.current[:0], m.legs...)
	m.mu.Unlock()

	clear(m.sum[:])
	for _, l := range m.current {
		l.active = l.pull()
		if l.active {
			for i, s := range l.frame {
				m.sum[i] += int32(s)
			}
		}
	}
	m.frame++
	for i, s := range m.sum {
		m.all[i] = saturate(s)
	}
	for _, l := range m.current {
		if l.cfg.Send == nil {
			continue // a source only
		}
		var payload []byte
		var err error
		if l.active {
			for i, s := range m.sum {
				m.mixed[i] = saturate(s - int32(l.frame[i]))
			}
			var n int
			n, err = l.enc.Encode(m.mixed[:], l.out[:])
			payload = l.out[:n]
		} else {
			payload, err = m.encodeShared(l)
		}
		if err != nil {
			if l.stats.encodeErrors.Add(1) == 1 {
				m.log.Warn("mixer: encode failed", "leg", l.cfg.Name, "err", err)
			}
			continue
		}
		l.stats.sent.Add(1)
		l.cfg.Send(payload, l.cfg.Codec.FrameClock)
	}
	clear(m.current) // keep no leg alive through the scratch slice
}

// encodeShared gives a leg that added nothing to this frame the encoding
// of the whole sum, encoded once for all such legs of its codec. An Opus
// leg that starts talking again goes back to its own encoder: its peer's
// decoder takes the change of stream like a lost packet or two.
func (m *Mixer) encodeShared(l *Leg) ([]byte, error) {
	key := encoderKey{l.cfg.Codec.Name, l.cfg.Encoder}
	s := m.shared[key]
	if s == nil {
		enc, err := l.cfg.Codec.NewEncoder(l.cfg.Encoder)
		if err != nil {
			return nil, err
		}
		s = &sharedEncoder{enc: enc}
		m.shared[key] = s
	}
	if s.frame != m.frame {
		s.frame = m.frame
		s.n, s.err = s.enc.Encode(m.all[:], s.out[:])
	}
	return s.out[:s.n], s.err
}

func saturate(v int32) int16 {
	switch {
	case v > math.MaxInt16:
		return math.MaxInt16
	case v < math.MinInt16:
		return math.MinInt16
	}
	return int16(v)
}

// Leg is one participant of a mixer.
type Leg struct {
	m   *Mixer
	cfg LegConfig
	dec audiocodec.Decoder
	enc audiocodec.Encoder

	mu sync.Mutex // guards jb
	jb jitter

	stats counters

	// The mixing goroutine's own.
	payload [audiocodec.MaxPayload]byte
	next    [audiocodec.MaxPayload]byte           // the packet after a lost one
	pcm     [2 * audiocodec.MaxFrameSamples]int16 // decoded, not yet mixed
	pcmLen  int
	frame   [audiocodec.FrameSamples]int16
	active  bool
	out     [audiocodec.MaxPayload]byte
}

// Write gives the leg a received packet: its RTP sequence number and
// payload (copied; the caller may reuse it). Safe to call from any
// goroutine, while the mixer runs.
func (l *Leg) Write(seq uint16, payload []byte) {
	l.stats.received.Add(1)
	if len(payload) == 0 || len(payload) > audiocodec.MaxPayload {
		l.stats.invalid.Add(1)
		return
	}
	l.mu.Lock()
	r, dropped := l.jb.put(seq, payload)
	l.mu.Unlock()
	switch r {
	case late:
		l.stats.late.Add(1)
	case duplicate:
		l.stats.duplicate.Add(1)
	}
	if dropped > 0 {
		l.stats.dropped.Add(uint64(dropped))
	}
}

// pull fills l.frame with the leg's next 20 ms and tells whether the leg
// has sound in it above silence.
func (l *Leg) pull() bool {
	for l.pcmLen < audiocodec.FrameSamples {
		l.mu.Lock()
		n, r := l.jb.pop(l.payload[:])
		l.mu.Unlock()
		if r == empty {
			break
		}
		dst := l.pcm[l.pcmLen:]
		var got int
		var err error
		if r == popped {
			got, err = l.dec.Decode(l.payload[:n], dst)
			if err != nil {
				l.stats.decodeErrors.Add(1)
			}
		}
		if r == lost && err == nil {
			if n, ok := l.recover(dst); ok {
				l.pcmLen += n
				continue
			}
		}
		if r == lost || err != nil {
			l.stats.concealed.Add(1)
			got, err = l.dec.Conceal(dst)
			if err != nil {
				got = 0
			}
		}
		l.pcmLen += got
	}
	if l.pcmLen == 0 {
		return false
	}
	n := copy(l.frame[:], l.pcm[:l.pcmLen])
	clear(l.frame[n:]) // ran dry within the frame: the rest is silence
	l.pcmLen = copy(l.pcm[:], l.pcm[n:l.pcmLen])
	return !quiet(l.frame[:])
}

// recover rebuilds a lost packet from the FEC data of the next one, when
// the codec has FEC and the next packet is here and carries it.
func (l *Leg) recover(dst []int16) (int, bool) {
	rec, ok := l.dec.(audiocodec.Recoverer)
	if !ok {
		return 0, false
	}
	l.mu.Lock()
	n, ok := l.jb.peek(l.next[:])
	l.mu.Unlock()
	if !ok {
		return 0, false
	}
	got, ok, err := rec.Recover(l.next[:n], dst)
	if err != nil || !ok {
		return 0, false
	}
	l.stats.recovered.Add(1)
	return got, true
}

// silence is the mean power below which a frame is not mixed: about
// -56 dBFS, the idle noise of a phone line. A phone sends packets of
// silence all the time; not mixing them keeps their noise out of the sum
// and lets the phone share the listeners' encoding.
const silence = 50 * 50

func quiet(frame []int16) bool {
	var sum int64
	for _, s := range frame {
		sum += int64(s) * int64(s)
	}
	return sum < silence*int64(len(frame))
}

// Leave removes the leg; once it returns, its Send is not called again.
// It must not be called from Send. Leaving twice is harmless.
func (l *Leg) Leave() {
	m := l.m
	m.mu.Lock()
	for i, x := range m.legs {
		if x == l {
			m.legs = append(m.legs[:i], m.legs[i+1:]...)
			break
		}
	}
	m.mu.Unlock()
	// Wait for a frame being mixed with the leg in it.
	m.step.Lock()
	m.step.Unlock() //nolint:staticcheck // an empty critical section: a barrier
}

// Stats counts what happened to a leg's packets.
type Stats struct {
	Received     uint64 // packets written
	Invalid      uint64 // empty or too long
	Late         uint64 // after their turn to play
	Duplicate    uint64
	Dropped      uint64 // thrown away when the buffer was too deep or started again
	Concealed    uint64 // frames made up for lost packets or undecodable ones
	Recovered    uint64 // lost packets rebuilt from the next one's FEC
	DecodeErrors uint64
	Sent         uint64 // frames given to Send
	EncodeErrors uint64
}

type counters struct {
	received, invalid, late, duplicate, dropped, concealed, recovered, decodeErrors, sent, encodeErrors atomic.Uint64
}

// Stats returns the leg's counters.
func (l *Leg) Stats() Stats {
	c := &l.stats
	return Stats{
		Received: c.received.Load(), Invalid: c.invalid.Load(), Late: c.late.Load(),
		Duplicate: c.duplicate.Load(), Dropped: c.dropped.Load(), Concealed: c.concealed.Load(), Recovered: c.recovered.Load(),
		DecodeErrors: c.decodeErrors.Load(), Sent: c.sent.Load(), EncodeErrors: c.encodeErrors.Load(),
	}
}

// Name is the leg's name.
func (l *Leg) Name() string { return l.cfg.Name }
