package sip

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/dtmf"
)

// The trunk's stream is one: the room's packets from two publishers and
// an event between them share one SSRC, consecutive sequence numbers and
// timestamps that follow the audio's steps, jump to a new event and resume
// after its duration; audio during the event waits. The steps are the
// codec's: 20 ms is 160 at G.711's 8 kHz, 960 at Opus's 48 kHz, and a
// publisher's step of over a second is a new source.
func TestOutStream(t *testing.T) {
	for _, clock := range []uint32{8000, 48000} {
		t.Run(strconv.Itoa(int(clock)), func(t *testing.T) { testOutStream(t, clock) })
	}
}

func testOutStream(t *testing.T, clock uint32) {
	o := newOutStream(8000)
	o.setClock(clock) // as when the trunk answers
	k := clock / 8000 // the steps below are 8 kHz's
	var got []rtp.Header
	audio := func(ssrc uint32, _ uint16, ts uint32) bool {
		seq, ts, ok := o.audio(ssrc, ts)
		if ok {
			got = append(got, rtp.Header{SSRC: o.ssrc, SequenceNumber: seq, Timestamp: ts})
		}
		return ok
	}
	event := func(first, last bool, d uint32) {
		p := rtp.Packet{}
		o.event(&p, first, last, d)
		got = append(got, p.Header)
	}
	audio(1, 500, 9000*k)
	audio(1, 501, 9160*k)
	audio(1, 503, 9480*k) // one lost: two steps
	event(true, false, 160*k)
	if audio(1, 504, 9640*k) {
		t.Fatal("audio went out during an event")
	}
	event(false, false, 320*k)
	event(false, true, 320*k)
	audio(2, 7, 123456) // another publisher
	audio(2, 8, 123456+160*k)
	audio(2, 9, 123456+160*k+clock+1) // a jump of over a second: 20 ms on
	base := got[0].Timestamp
	wantTS := []uint32{0, 160, 480, 640, 640, 640, 960, 1120, 1280}
	for i, h := range got {
		if h.SSRC != got[0].SSRC || h.SequenceNumber != got[0].SequenceNumber+uint16(i) {
			t.Fatalf("packet %d: SSRC %x seq %d, first SSRC %x seq %d", i, h.SSRC, h.SequenceNumber, got[0].SSRC, got[0].SequenceNumber)
		}
		if h.Timestamp-base != wantTS[i]*k {
			t.Fatalf("packet %d: timestamp +%d, want +%d", i, h.Timestamp-base, wantTS[i]*k)
		}
		if h.Marker != (i == 3) {
			t.Fatalf("packet %d: marker %v", i, h.Marker)
		}
	}
}

// A call whose trunk did not agree telephone-events takes no digits; a
// call takes at most maxQueuedDTMF waiting ones, and only DTMF digits.
func TestQueueDTMFRefusals(t *testing.T) {
	leg, err := newRTPLeg(newPortPool("127.0.0.1", 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.close()
	if err := leg.queueDTMF("1", 100*time.Millisecond); !errors.Is(err, ErrNoEvents) {
		t.Fatalf("without events: %v", err)
	}
	leg.setRemote(&remoteMedia{Addr: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}, Codec: codecsByName["pcmu"], Events: 101})
	if err := leg.queueDTMF("1x", 100*time.Millisecond); err == nil {
		t.Fatal("x taken as a digit")
	}
	if err := leg.queueDTMF(strings.Repeat("1", maxQueuedDTMF), 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := leg.queueDTMF("2", 100*time.Millisecond); !errors.Is(err, ErrDTMFBusy) {
		t.Fatalf("over the queue: %v", err)
	}
}

// With Opus the apps' digits go out at the events' clock (RFC 4733): at
// 48 kHz with telephone-event/48000, a packet every 20 ms whose duration
// grows by 960 samples, one timestamp for the whole event, the end packet
// three times with the key's length (100 ms: 4800 samples), in the
// trunk's payload type; at 8 kHz (160 a packet, 800 in all) for a phone
// that offered telephone-event/8000 next to Opus. Either way the audio
// after the event resumes 100 ms of the 48 kHz stream later.
func TestSendDTMFWithOpus(t *testing.T) {
	for _, clock := range []uint32{48000, 8000} {
		t.Run(strconv.Itoa(int(clock)), func(t *testing.T) { testSendDTMFWithOpus(t, clock) })
	}
}

func testSendDTMFWithOpus(t *testing.T, evClock uint32) {
	trunk, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer trunk.Close()
	leg, err := newRTPLeg(newPortPool("127.0.0.1", 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.close()
	opus := codecsByName["opus"]
	opus.PayloadType = 96 // the trunk's
	leg.setRemote(&remoteMedia{Addr: trunk.LocalAddr().(*net.UDPAddr), Codec: opus, Events: 102, EventClock: evClock})
	go leg.sendEvents()
	if err := leg.queueDTMF("5", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	read := func() rtp.Packet {
		t.Helper()
		buf := make([]byte, 1500)
		_ = trunk.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := trunk.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var durations []uint16
	var first rtp.Packet
	for i := 0; ; i++ {
		p := read()
		ev, err := dtmf.Parse(p.Payload)
		if err != nil || p.PayloadType != 102 || ev.Code != 5 {
			t.Fatalf("packet %d: payload type %d, %+v %v", i, p.PayloadType, ev, err)
		}
		if i == 0 {
			first = p
		} else if p.Timestamp != first.Timestamp || p.SequenceNumber != first.SequenceNumber+uint16(i) || p.Marker {
			t.Fatalf("packet %d: ts %d seq %d marker %v after ts %d seq %d", i, p.Timestamp, p.SequenceNumber, p.Marker, first.Timestamp, first.SequenceNumber)
		}
		durations = append(durations, ev.Duration)
		if ev.End && len(durations) >= 5+dtmf.EndRepeats-1 {
			break
		}
	}
	step := uint16(evClock / 50)
	want := []uint16{step, 2 * step, 3 * step, 4 * step, 5 * step, 5 * step, 5 * step}
	if !first.Marker || fmt.Sprint(durations) != fmt.Sprint(want) {
		t.Fatalf("marker %v, durations %v, want %v", first.Marker, durations, want)
	}
	audio := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: 3, SequenceNumber: 9, Timestamp: 777}, Payload: []byte{1}}
	b, _ := audio.Marshal()
	if err := leg.write(b); err != nil {
		t.Fatal(err)
	}
	if p := read(); p.Timestamp-first.Timestamp != 4800 || p.SequenceNumber != first.SequenceNumber+uint16(len(durations)) {
		t.Fatalf("the audio after the event: ts +%d seq %d, want +4800 seq %d", p.Timestamp-first.Timestamp, p.SequenceNumber,
			first.SequenceNumber+uint16(len(durations)))
	}
}

// A key's duration in samples of the events' clock, cut at what the
// 16-bit field holds (the longest key, 2 s, fits at 8 kHz, not at 48).
func TestEventSamples(t *testing.T) {
	if got := eventSamples(2*time.Second, 48000); got != dtmf.MaxDuration {
		t.Fatalf("2 s at 48 kHz: %d samples", got)
	}
	if got := eventSamples(2*time.Second, 8000); got != 16000 {
		t.Fatalf("2 s at 8 kHz: %d samples", got)
	}
	if got := eventSamples(100*time.Millisecond, 48000); got != 4800 {
		t.Fatalf("100 ms at 48 kHz: %d samples", got)
	}
}
