package mixer

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thesyncim/gopus"

	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/tone"
)

// source encodes a tone in a codec, 20 ms at a time.
type source struct {
	gen *tone.Generator
	enc audiocodec.Encoder
	pcm [audiocodec.FrameSamples]int16
	buf [audiocodec.MaxPayload]byte
	seq uint16
}

func newSource(t testing.TB, c audiocodec.Codec, freq, amp float64) *source {
	return newSourceOpt(t, c, freq, amp, audiocodec.EncoderOptions{})
}

func newSourceOpt(t testing.TB, c audiocodec.Codec, freq, amp float64, opt audiocodec.EncoderOptions) *source {
	enc, err := c.NewEncoder(opt)
	if err != nil {
		t.Fatal(err)
	}
	return &source{gen: tone.NewGenerator(freq, audiocodec.Rate, amp), enc: enc, seq: 1000}
}

func (s *source) next(t testing.TB) (uint16, []byte) {
	s.gen.Fill(s.pcm[:])
	n, err := s.enc.Encode(s.pcm[:], s.buf[:])
	if err != nil {
		t.Fatal(err)
	}
	s.seq++
	return s.seq, s.buf[:n]
}

// sink decodes what a leg is sent.
type sink struct {
	mu  sync.Mutex
	dec audiocodec.Decoder
	pcm []int16
	buf [audiocodec.MaxFrameSamples]int16
	err error
}

func newSink(t testing.TB, c audiocodec.Codec) *sink {
	dec, err := c.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	return &sink{dec: dec}
}

func (s *sink) send(payload []byte, clock int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.dec.Decode(payload, s.buf[:])
	if err != nil {
		s.err = err
		return
	}
	s.pcm = append(s.pcm, s.buf[:n]...)
}

func (s *sink) samples() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.pcm...)
}

type party struct {
	codec audiocodec.Codec
	freq  float64
	src   *source
	out   *sink
	leg   *Leg
}

const amp = 6000

// TestEachHearsTheOthers mixes three legs in three codecs, each sending a
// tone of its own, and checks each hears the two other tones and not its
// own; three legs that only listen (two sharing one Opus encoding) hear
// all three.
func TestEachHearsTheOthers(t *testing.T) {
	m := newMixer(Config{})
	parties := []*party{
		{codec: audiocodec.PCMU(), freq: 450},
		{codec: audiocodec.PCMA(), freq: 1050},
		{codec: audiocodec.Opus(), freq: 1650},
		{codec: audiocodec.Opus()},
		{codec: audiocodec.Opus()},
		{codec: audiocodec.PCMA()},
		{codec: audiocodec.PCMA(), freq: -1}, // sends silence, as phones do
	}
	for _, p := range parties {
		switch {
		case p.freq > 0:
			p.src = newSource(t, p.codec, p.freq, amp)
		case p.freq < 0:
			p.src = newSource(t, p.codec, 1000, 0)
		}
		p.out = newSink(t, p.codec)
		leg, err := m.Join(LegConfig{Name: p.codec.Name, Codec: p.codec, Send: p.out.send})
		if err != nil {
			t.Fatal(err)
		}
		p.leg = leg
	}
	for range 100 {
		for _, p := range parties {
			if p.src != nil {
				p.leg.Write(p.src.next(t))
			}
		}
		m.mix()
	}
	checkHearing(t, parties, 20*audiocodec.FrameSamples)
	// The two Opus listeners got the same payloads: one encoding shared;
	// so did the PCMA listener and the PCMA leg that sends silence.
	if a, b := parties[3].out.samples(), parties[4].out.samples(); !slices.Equal(a, b) {
		t.Error("the two Opus listeners heard different streams")
	}
	if a, b := parties[5].out.samples(), parties[6].out.samples(); !slices.Equal(a, b) {
		t.Error("the PCMA listener and the silent PCMA leg heard different streams")
	}
	for _, p := range parties {
		st := p.leg.Stats()
		received := uint64(100)
		if p.src == nil {
			received = 0
		}
		if st.Received != received || st.Sent != 100 || st.Concealed != 0 || st.Late != 0 {
			t.Errorf("%s: %+v", p.codec.Name, st)
		}
	}
}

// checkHearing asserts each party's output, past skip samples, holds the
// others' tones near their level and its own far below.
func checkHearing(t *testing.T, parties []*party, skip int) {
	t.Helper()
	full := float64(amp) * amp / 2
	for _, p := range parties {
		out := p.out.samples()
		if p.out.err != nil {
			t.Fatalf("%s: decoding its mix: %v", p.codec.Name, p.out.err)
		}
		if len(out) < skip+10*audiocodec.FrameSamples {
			t.Fatalf("%s got %d samples", p.codec.Name, len(out))
		}
		out = out[skip:]
		for _, q := range parties {
			if q.freq <= 0 {
				continue
			}
			db := tone.DB(tone.Power(out, q.freq, audiocodec.Rate), full)
			if q == p && db > -30 {
				t.Errorf("%s hears itself (%v Hz) at %.1f dB", p.codec.Name, q.freq, db)
			}
			if q != p && (db < -3 || db > 2) {
				t.Errorf("%s hears %s (%v Hz) at %.1f dB", p.codec.Name, q.codec.Name, q.freq, db)
			}
		}
	}
}

// TestSaturates puts two loud legs in phase: their sum is beyond 16 bits
// and a third leg must hear it clipped, not wrapped around (a wrapped sum
// flips sign at each peak and loses most of the tone). The two are
// sources only (no Send): nothing is encoded for them.
func TestSaturates(t *testing.T) {
	m := newMixer(Config{})
	a := newSource(t, audiocodec.PCMU(), 500, 25000)
	b := newSource(t, audiocodec.PCMU(), 500, 25000)
	listener := newSink(t, audiocodec.PCMU())
	la, _ := m.Join(LegConfig{Name: "a", Codec: audiocodec.PCMU()})
	lb, _ := m.Join(LegConfig{Name: "b", Codec: audiocodec.PCMU()})
	if _, err := m.Join(LegConfig{Name: "listener", Codec: audiocodec.PCMU(), Send: listener.send}); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		la.Write(a.next(t))
		lb.Write(b.next(t))
		m.mix()
	}
	out := listener.samples()[10*audiocodec.FrameSamples:]
	// A sine of 50000 clipped at 32767 keeps a fundamental above 32767.
	if db := tone.DB(tone.Power(out, 500, audiocodec.Rate), 32767.0*32767/2); db < -0.5 {
		t.Errorf("the clipped sum's 500 Hz is %.1f dB of full scale", db)
	}
	if sa, sb := la.Stats(), lb.Stats(); sa.Sent != 0 || sb.Sent != 0 || sa.Received != 50 {
		t.Errorf("sources only: %+v %+v", sa, sb)
	}
	if saturate(70000) != 32767 || saturate(-70000) != -32768 || saturate(-5) != -5 {
		t.Error("saturate")
	}
}

// TestConcealsLossAndDropsLate sends with gaps, repeats and late packets.
func TestConcealsLossAndDropsLate(t *testing.T) {
	m := newMixer(Config{})
	src := newSource(t, audiocodec.Opus(), 700, amp)
	leg, _ := m.Join(LegConfig{Name: "lossy", Codec: audiocodec.Opus(), Send: func([]byte, int) {}})
	listener := newSink(t, audiocodec.PCMA())
	if _, err := m.Join(LegConfig{Name: "listener", Codec: audiocodec.PCMA(), Send: listener.send}); err != nil {
		t.Fatal(err)
	}
	var held []byte
	var heldSeq uint16
	for i := range 100 {
		seq, p := src.next(t)
		switch {
		case i%10 == 3: // lost
		case i%10 == 5: // held back, sent after its turn
			heldSeq, held = seq, append([]byte(nil), p...)
		case i%10 == 8:
			leg.Write(seq, p)
			leg.Write(seq, p) // duplicate
			leg.Write(heldSeq, held)
		default:
			leg.Write(seq, p)
		}
		m.mix()
	}
	// Each tenth packet is lost and another arrives after its turn (the
	// buffer plays 20 ms behind the newest packet): 20 frames concealed.
	st := leg.Stats()
	if st.Received != 100 || st.Concealed != 20 || st.Late != 10 || st.Duplicate != 10 || st.Sent != 100 {
		t.Errorf("stats %+v", st)
	}
	out := listener.samples()[20*audiocodec.FrameSamples:]
	// A fifth of the frames are concealed: the tone fades in them.
	if db := tone.DB(tone.Power(out, 700, audiocodec.Rate), amp*amp/2); db < -7 {
		t.Errorf("the listener hears the lossy leg at %.1f dB", db)
	}
}

// TestJoinLeaveWhileRunning runs the real clock with legs joining,
// writing and leaving from several goroutines, then closes: Send is never
// called after Leave returned, and no goroutine is left.
func TestJoinLeaveWhileRunning(t *testing.T) {
	before := runtime.NumGoroutine()
	m := New(context.Background(), Config{})
	var wg sync.WaitGroup
	var afterLeave atomic.Int64
	var sent atomic.Int64
	for g := range 4 {
		wg.Go(func() {
			codec := []audiocodec.Codec{audiocodec.PCMU(), audiocodec.PCMA(), audiocodec.Opus()}[g%3]
			src := newSource(t, codec, float64(300+200*g), amp)
			for range 5 {
				var left atomic.Bool
				leg, err := m.Join(LegConfig{Name: "g", Codec: codec, Send: func([]byte, int) {
					if left.Load() {
						afterLeave.Add(1)
					}
					sent.Add(1)
				}})
				if err != nil {
					t.Error(err)
					return
				}
				for range 5 {
					leg.Write(src.next(t))
					time.Sleep(Frame)
				}
				leg.Leave()
				left.Store(true)
				leg.Leave()
			}
		})
	}
	wg.Wait()
	if n := m.Len(); n != 0 {
		t.Errorf("%d legs left", n)
	}
	m.Close()
	m.Close()
	if _, err := m.Join(LegConfig{Name: "late", Codec: audiocodec.PCMU(), Send: func([]byte, int) {}}); err != ErrClosed {
		t.Errorf("join after close: %v", err)
	}
	if afterLeave.Load() != 0 {
		t.Errorf("Send called %d times after Leave", afterLeave.Load())
	}
	if sent.Load() == 0 {
		t.Error("nothing sent")
	}
	waitGoroutines(t, before)
}

func TestCloseByContext(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	m := New(ctx, Config{})
	cancel()
	<-m.done
	if _, err := m.Join(LegConfig{Name: "x", Codec: audiocodec.PCMU(), Send: func([]byte, int) {}}); err != ErrClosed {
		t.Errorf("join after the context ended: %v", err)
	}
	m.Close()
	waitGoroutines(t, before)
}

func TestJoinRefuses(t *testing.T) {
	m := newMixer(Config{MaxLegs: 1})
	if _, err := m.Join(LegConfig{Name: "g729", Codec: audiocodec.Codec{Name: "G729"}, Send: func([]byte, int) {}}); err == nil {
		t.Error("a leg of an unknown codec joined")
	}
	if _, err := m.Join(LegConfig{Name: "one", Codec: audiocodec.PCMU(), Send: func([]byte, int) {}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Join(LegConfig{Name: "two", Codec: audiocodec.PCMU(), Send: func([]byte, int) {}}); err == nil {
		t.Error("a leg past MaxLegs joined")
	}
	leg := m.legs[0]
	leg.Write(1, nil)
	leg.Write(2, make([]byte, audiocodec.MaxPayload+1))
	if st := leg.Stats(); st.Invalid != 2 {
		t.Errorf("%+v", st)
	}
}

// waitGoroutines waits for the goroutines to come back to n (those of the
// test runner may take a moment to end).
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPacketTimes mixes G.711 legs that send 10 ms and 30 ms packets: the
// listener hears both tones at their level, without gaps.
func TestPacketTimes(t *testing.T) {
	m := newMixer(Config{})
	listener := newSink(t, audiocodec.PCMA())
	if _, err := m.Join(LegConfig{Name: "listener", Codec: audiocodec.PCMA(), Send: listener.send}); err != nil {
		t.Fatal(err)
	}
	type chopped struct {
		leg   *Leg
		src   *source
		bytes []byte // encoded, not yet sent
		size  int
		seq   uint16
	}
	var legs []*chopped
	for _, c := range []struct {
		freq float64
		size int
	}{{600, 80}, {1400, 240}} {
		leg, err := m.Join(LegConfig{Name: "ptime", Codec: audiocodec.PCMU(), Send: func([]byte, int) {}})
		if err != nil {
			t.Fatal(err)
		}
		legs = append(legs, &chopped{leg: leg, src: newSource(t, audiocodec.PCMU(), c.freq, amp), size: c.size})
	}
	for range 150 {
		for _, c := range legs {
			// 20 ms of audio arrives each frame, in packets of its size.
			_, p := c.src.next(t)
			c.bytes = append(c.bytes, p...)
			for len(c.bytes) >= c.size {
				c.seq++
				c.leg.Write(c.seq, c.bytes[:c.size])
				c.bytes = c.bytes[c.size:]
			}
		}
		m.mix()
	}
	out := listener.samples()[20*audiocodec.FrameSamples:]
	full := float64(amp) * amp / 2
	for _, f := range []float64{600, 1400} {
		if db := tone.DB(tone.Power(out, f, audiocodec.Rate), full); db < -2 || db > 1 {
			t.Errorf("%v Hz heard at %.1f dB", f, db)
		}
	}
	// No gap: every 10 ms of the output holds both tones.
	for i := 0; i+480 <= len(out); i += 480 {
		for _, f := range []float64{600, 1400} {
			if db := tone.DB(tone.Power(out[i:i+480], f, audiocodec.Rate), full); db < -6 {
				t.Fatalf("%v Hz at %.1f dB at sample %d", f, db, i)
			}
		}
	}
	for _, c := range legs {
		if st := c.leg.Stats(); st.Concealed != 0 || st.Late != 0 || st.Dropped != 0 {
			t.Errorf("%d-byte packets: %+v", c.size, st)
		}
	}
}

// TestRecoversWithFEC loses every tenth packet of an Opus leg whose
// encoder adds in-band FEC (as browsers do): each lost packet whose next
// packet carries FEC data (the encoder adds it to the frames its voice
// detector finds active) is rebuilt from it, the others concealed.
func TestRecoversWithFEC(t *testing.T) {
	m := newMixer(Config{})
	src := newSourceOpt(t, audiocodec.Opus(), 700, amp, audiocodec.EncoderOptions{FEC: true})
	leg, _ := m.Join(LegConfig{Name: "fec", Codec: audiocodec.Opus(), Send: func([]byte, int) {}})
	listener := newSink(t, audiocodec.PCMU())
	if _, err := m.Join(LegConfig{Name: "listener", Codec: audiocodec.PCMU(), Send: listener.send}); err != nil {
		t.Fatal(err)
	}
	var want uint64
	for i := range 100 {
		seq, p := src.next(t)
		switch {
		case i%10 == 3:
		case i%10 == 4 && gopus.PacketHasLBRR(p):
			want++
			fallthrough
		default:
			leg.Write(seq, p)
		}
		m.mix()
	}
	st := leg.Stats()
	if want == 0 || st.Recovered != want || st.Concealed != 10-want {
		t.Errorf("%d lost packets followed by FEC data; stats %+v", want, st)
	}
	out := listener.samples()[20*audiocodec.FrameSamples:]
	if db := tone.DB(tone.Power(out, 700, audiocodec.Rate), amp*amp/2); db < -2 {
		t.Errorf("the listener hears the leg at %.1f dB", db)
	}
}
