package rtpleg

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/dtmf"
	"github.com/openwac/wac/internal/media/mixer"
	"github.com/openwac/wac/internal/media/tone"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// phone is the other end of a leg: a plain UDP socket that sends RTP of a
// tone every 20 ms and decodes what it receives.
type phone struct {
	t     *testing.T
	conn  *net.UDPConn
	codec audiocodec.Codec
	pt    uint8
	freq  float64

	mu     sync.Mutex
	pcm    []int16
	events []rtp.Packet
	ssrcs  map[uint32]bool
	bad    error
}

func newPhone(t *testing.T, c audiocodec.Codec, pt uint8, freq float64) *phone {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &phone{t: t, conn: conn, codec: c, pt: pt, freq: freq, ssrcs: map[uint32]bool{}}
}

func (p *phone) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// receive decodes the leg's packets until the socket closes.
func (p *phone) receive(eventPT uint8) {
	dec, err := p.codec.NewDecoder()
	if err != nil {
		p.t.Error(err)
		return
	}
	buf := make([]byte, 1500)
	out := make([]int16, audiocodec.MaxFrameSamples)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			return
		}
		var pk rtp.Packet
		if err := pk.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			p.mu.Lock()
			p.bad = err
			p.mu.Unlock()
			continue
		}
		p.mu.Lock()
		p.ssrcs[pk.SSRC] = true
		switch pk.PayloadType {
		case p.pt:
			m, err := dec.Decode(pk.Payload, out)
			if err != nil {
				p.bad = err
			}
			p.pcm = append(p.pcm, out[:m]...)
		case eventPT:
			p.events = append(p.events, pk)
		}
		p.mu.Unlock()
	}
}

// send sends frames of its tone to the leg, one every 20 ms.
func (p *phone) send(ctx context.Context, to netip.AddrPort, frames int) {
	enc, err := p.codec.NewEncoder(audiocodec.EncoderOptions{})
	if err != nil {
		p.t.Error(err)
		return
	}
	g := tone.NewGenerator(p.freq, audiocodec.Rate, 6000)
	pcm := make([]int16, audiocodec.FrameSamples)
	payload := make([]byte, audiocodec.MaxPayload)
	pk := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: p.pt, SSRC: 0x1234, SequenceNumber: 65500, Timestamp: 1}}
	tick := time.NewTicker(mixer.Frame)
	defer tick.Stop()
	for range frames {
		g.Fill(pcm)
		n, err := enc.Encode(pcm, payload)
		if err != nil {
			p.t.Error(err)
			return
		}
		pk.Payload = payload[:n]
		b, _ := pk.Marshal()
		if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
			p.t.Error(err)
			return
		}
		pk.SequenceNumber++
		pk.Timestamp += uint32(p.codec.FrameClock)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// TestTonesOverRTP connects three phones (PCMU, PCMA, Opus) to a mixer
// through real UDP sockets: each sends its tone and must hear the other
// two, not its own.
func TestTonesOverRTP(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx := context.Background()
	m := mixer.New(ctx, mixer.Config{})
	phones := []*phone{
		newPhone(t, audiocodec.PCMU(), 0, 400),
		newPhone(t, audiocodec.PCMA(), 8, 1000),
		newPhone(t, audiocodec.Opus(), 96, 1600), // a dynamic type other than the usual 111
	}
	var legs []*Leg
	for _, p := range phones {
		leg, err := Open(ctx, Config{Name: p.codec.Name, IP: loopback, PortMin: 20000, PortMax: 40000,
			Remote: p.addr(), Codec: p.codec, PayloadType: p.pt, EventPayloadType: 101}, m)
		if err != nil {
			t.Fatal(err)
		}
		legs = append(legs, leg)
		if leg.LocalAddr().Port()%2 != 0 || leg.LocalAddr().Addr() != loopback {
			t.Errorf("local address %v: want 127.0.0.1 and an even port", leg.LocalAddr())
		}
	}
	var wg sync.WaitGroup
	for i, p := range phones {
		wg.Go(func() { p.receive(101) })
		wg.Go(func() { p.send(ctx, legs[i].LocalAddr(), 75) })
	}
	// Wait for the senders: the receivers end when the sockets close.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if legs[0].Stats().Mixer.Received >= 75 && legs[1].Stats().Mixer.Received >= 75 && legs[2].Stats().Mixer.Received >= 75 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	for _, l := range legs {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	}
	m.Close()
	for _, p := range phones {
		p.conn.Close()
	}
	wg.Wait()

	full := 6000.0 * 6000 / 2
	for i, p := range phones {
		st := legs[i].Stats()
		t.Logf("%s: %+v", p.codec.Name, st)
		if p.bad != nil {
			t.Errorf("%s: %v", p.codec.Name, p.bad)
		}
		if len(p.ssrcs) != 1 {
			t.Errorf("%s received %d SSRCs", p.codec.Name, len(p.ssrcs))
		}
		// Find the second of audio where the others are loudest: the
		// phones start within a few ms of each other.
		if len(p.pcm) < 60*audiocodec.FrameSamples {
			t.Fatalf("%s received %d samples", p.codec.Name, len(p.pcm))
		}
		body := p.pcm[10*audiocodec.FrameSamples : 60*audiocodec.FrameSamples]
		for _, q := range phones {
			db := tone.DB(tone.Power(body, q.freq, audiocodec.Rate), full)
			switch {
			case q == p && db > -25:
				t.Errorf("%s hears itself (%v Hz) at %.1f dB", p.codec.Name, q.freq, db)
			case q != p && db < -6:
				t.Errorf("%s hears %s (%v Hz) at %.1f dB", p.codec.Name, q.codec.Name, q.freq, db)
			default:
				t.Logf("%s hears %v Hz at %.1f dB", p.codec.Name, q.freq, db)
			}
		}
	}
	waitGoroutines(t, before)
}

// TestDTMFBothWays sends digits from a phone as RFC 4733 events (each
// repeated as a real phone does) and from the leg to the phone.
func TestDTMFBothWays(t *testing.T) {
	ctx := context.Background()
	m := mixer.New(ctx, mixer.Config{})
	defer m.Close()
	p := newPhone(t, audiocodec.PCMU(), 0, 400)
	digits := make(chan rune, 10)
	leg, err := Open(ctx, Config{Name: "dtmf", IP: loopback, PortMin: 20000, PortMax: 40000, Remote: p.addr(),
		Codec: audiocodec.PCMU(), EventPayloadType: 101, OnDigit: func(d rune) { digits <- d }}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	go p.receive(101)

	// Phone to leg: "1#", each event 100 ms, end sent three times.
	seq, ts := uint16(1), uint32(8000)
	for _, d := range "1#" {
		s, err := dtmf.NewSender(d, 800, 160, 10)
		if err != nil {
			t.Fatal(err)
		}
		for ev, first, ok := s.Next(); ok; ev, first, ok = s.Next() {
			pk := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Marker: first, SequenceNumber: seq, Timestamp: ts, SSRC: 9},
				Payload: ev.Append(nil)}
			b, _ := pk.Marshal()
			if _, err := p.conn.WriteToUDPAddrPort(b, leg.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			seq++
		}
		ts += 1600
	}
	var got []rune
	timeout := time.After(5 * time.Second)
	for len(got) < 2 {
		select {
		case d := <-digits:
			got = append(got, d)
		case <-timeout:
			t.Fatalf("received %q", string(got))
		}
	}
	if string(got) != "1#" {
		t.Errorf("received %q", string(got))
	}

	// Leg to phone.
	if err := leg.SendDigit('7', 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := leg.SendDigit('x', 100*time.Millisecond); err == nil {
		t.Error("'x' accepted")
	}
	if err := leg.SendDigit('1', 10*time.Millisecond); err == nil {
		t.Error("a 10 ms digit accepted")
	}
	var events []rtp.Packet
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.mu.Lock()
		events = append(events[:0], p.events...)
		p.mu.Unlock()
		if len(events) >= 5+dtmf.EndRepeats-1 {
			break
		}
	}
	// 100 ms at 8 kHz in 20 ms steps: durations 160..800, the end three
	// times, one timestamp, the marker on the first.
	if len(events) != 7 {
		t.Fatalf("%d event packets", len(events))
	}
	var r dtmf.Receiver
	var heard []rune
	for i, pk := range events {
		ev, err := dtmf.Parse(pk.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if pk.Timestamp != events[0].Timestamp || pk.Marker != (i == 0) || ev.End != (i >= 4) || ev.Code != 7 {
			t.Errorf("event packet %d: marker %v ts %d %+v", i, pk.Marker, pk.Timestamp, ev)
		}
		if i > 0 && pk.SequenceNumber != events[i-1].SequenceNumber+1 {
			t.Errorf("event packet %d: sequence %d after %d", i, pk.SequenceNumber, events[i-1].SequenceNumber)
		}
		if d, ok, _ := r.Receive(pk.Timestamp, pk.Payload); ok {
			heard = append(heard, d)
		}
	}
	if string(heard) != "7" {
		t.Errorf("the phone heard %q", string(heard))
	}
	if st := leg.Stats(); st.Digits != 2 {
		t.Errorf("%+v", st)
	}
}

// TestReadsOnlyTheRemote checks packets from another address, RTCP,
// garbage and unknown payload types are counted and not mixed.
func TestReadsOnlyTheRemote(t *testing.T) {
	ctx := context.Background()
	m := mixer.New(ctx, mixer.Config{})
	defer m.Close()
	p := newPhone(t, audiocodec.PCMU(), 0, 400)
	leg, err := Open(ctx, Config{Name: "strict", IP: loopback, PortMin: 20000, PortMax: 40000,
		Remote: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), 4000), Codec: audiocodec.PCMU()}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	audio, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1}, Payload: make([]byte, 160)}).Marshal()
	send := func(b []byte) {
		if _, err := p.conn.WriteToUDPAddrPort(b, leg.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	send(audio) // from 127.0.0.1: not the remote
	wait := func(what string, cond func(Stats) bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(leg.Stats()); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v", what, leg.Stats())
			}
		}
	}
	wait("wrong source", func(s Stats) bool { return s.WrongSource == 1 })
	if !leg.LastPacket().IsZero() {
		t.Error("a stranger's packet counts as the remote's")
	}
	leg.SetRemote(p.addr())
	send([]byte{0x80, 200, 0, 1, 0, 0, 0, 0}) // an RTCP sender report's start
	send([]byte{1, 2, 3})
	other, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 18, SequenceNumber: 2}, Payload: []byte{1}}).Marshal()
	send(other)
	event, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: 3}, Payload: []byte{1, 0, 0, 160}}).Marshal()
	send(event) // no telephone-event negotiated
	send(audio)
	wait("filtered", func(s Stats) bool {
		return s.RTCP == 1 && s.Malformed == 1 && s.OtherPayload == 2 && s.Mixer.Received == 1
	})
	if err := leg.SendDigit('1', time.Second); err == nil {
		t.Error("a digit without telephone-event accepted")
	}
	if since := time.Since(leg.LastPacket()); since < 0 || since > time.Minute {
		t.Errorf("last packet %v ago", since)
	}
}

// TestLatch checks a leg with Latch sends to the port the phone sends
// from, not the one its SDP named, and one without does not.
func TestLatch(t *testing.T) {
	ctx := context.Background()
	m := mixer.New(ctx, mixer.Config{})
	defer m.Close()
	for _, latch := range []bool{true, false} {
		p := newPhone(t, audiocodec.PCMU(), 0, 400)
		sdpPort := newPhone(t, audiocodec.PCMU(), 0, 400) // the port the SDP names, silent
		leg, err := Open(ctx, Config{Name: "nat", IP: loopback, PortMin: 20000, PortMax: 40000,
			Remote: sdpPort.addr(), Codec: audiocodec.PCMU(), Latch: latch}, m)
		if err != nil {
			t.Fatal(err)
		}
		go p.receive(101)
		go sdpPort.receive(101)
		pk, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1}, Payload: make([]byte, 160)}).Marshal()
		if _, err := p.conn.WriteToUDPAddrPort(pk, leg.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		// The mix flows every 20 ms: wait for 10 packets at one of them.
		got := func(ph *phone) int {
			ph.mu.Lock()
			defer ph.mu.Unlock()
			return len(ph.pcm)
		}
		deadline := time.Now().Add(5 * time.Second)
		for got(p)+got(sdpPort) < 10*audiocodec.FrameSamples && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		leg.Close()
		before := got(sdpPort)
		if latch && got(p) == 0 {
			t.Error("latched leg: nothing reached the port the phone sends from")
		}
		if !latch && (got(p) != 0 || before == 0) {
			t.Errorf("without latching: %d samples to the sender's port, %d to the SDP's", got(p), before)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	m := mixer.New(ctx, mixer.Config{})
	defer m.Close()
	base := Config{Name: "x", IP: loopback, PortMin: 30000, PortMax: 30001, Codec: audiocodec.PCMU()}
	for _, c := range []func(*Config){
		func(c *Config) { c.IP = netip.Addr{} },
		func(c *Config) { c.PortMin, c.PortMax = 5000, 4000 },
		func(c *Config) { c.PortMax = 70000 },
		func(c *Config) { c.PortMin, c.PortMax = 30001, 30001 }, // no even port
		func(c *Config) { c.EventPayloadType = 0; c.PayloadType = 200 },
		func(c *Config) { c.Codec = audiocodec.Codec{Name: "G729"} },
	} {
		cfg := base
		c(&cfg)
		if l, err := Open(ctx, cfg, m); err == nil {
			l.Close()
			t.Errorf("%+v opened", cfg)
		}
	}
	// The range's one even port taken: the next leg finds none.
	l, err := Open(ctx, base, m)
	if err != nil {
		t.Fatal(err)
	}
	if l.LocalAddr().Port() != 30000 {
		t.Errorf("port %v", l.LocalAddr())
	}
	if l2, err := Open(ctx, base, m); err == nil {
		l2.Close()
		t.Error("two legs on one port")
	}
	l.Close()
	// A context that ends closes the socket and stops the reader.
	cctx, cancel := context.WithCancel(ctx)
	l, err = Open(cctx, base, m)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader outlived its context")
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
}

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

// TestHold checks the directions: recvonly sends nothing, sendonly reads
// nothing, sendrecv again both.
func TestHold(t *testing.T) {
	ctx := context.Background()
	m := mixer.New(ctx, mixer.Config{})
	defer m.Close()
	p := newPhone(t, audiocodec.PCMU(), 0, 400)
	leg, err := Open(ctx, Config{Name: "hold", IP: loopback, PortMin: 20000, PortMax: 40000, Remote: p.addr(), Codec: audiocodec.PCMU()}, m)
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	if err := leg.SetDirection("sideways"); err == nil {
		t.Error("a direction of nonsense accepted")
	}
	if err := leg.SetDirection("recvonly"); err != nil {
		t.Fatal(err)
	}
	go p.receive(101)
	audio := func(seq uint16) {
		pk, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq}, Payload: make([]byte, 160)}).Marshal()
		if _, err := p.conn.WriteToUDPAddrPort(pk, leg.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(what string, cond func(Stats) bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(leg.Stats()); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v", what, leg.Stats())
			}
		}
	}
	audio(1)
	wait("recvonly reads", func(s Stats) bool { return s.Mixer.Received == 1 })
	time.Sleep(5 * mixer.Frame)
	if st := leg.Stats(); st.Sent != 0 {
		t.Errorf("recvonly sent %d packets", st.Sent)
	}
	if err := leg.SetDirection("sendonly"); err != nil {
		t.Fatal(err)
	}
	audio(2)
	wait("sendonly holds", func(s Stats) bool { return s.Held == 1 && s.Sent > 0 && s.Mixer.Received == 1 })
	if err := leg.SetDirection("sendrecv"); err != nil {
		t.Fatal(err)
	}
	audio(3)
	wait("sendrecv", func(s Stats) bool { return s.Mixer.Received == 2 })
}
