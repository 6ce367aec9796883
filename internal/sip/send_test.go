package sip

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// The trunk's stream is one: the room's packets from two publishers and
// an event between them share one SSRC, consecutive sequence numbers and
// timestamps that follow the audio's steps, jump to a new event and resume
// after its duration; audio during the event waits.
func TestOutStream(t *testing.T) {
	o := newOutStream()
	var got []rtp.Header
	audio := func(ssrc uint32, seq uint16, ts uint32) bool {
		p := rtp.Packet{Header: rtp.Header{SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}}
		ok := o.audio(&p)
		if ok {
			got = append(got, p.Header)
		}
		return ok
	}
	event := func(first, last bool, d uint16) {
		p := rtp.Packet{}
		o.event(&p, first, last, d)
		got = append(got, p.Header)
	}
	audio(1, 500, 9000)
	audio(1, 501, 9160)
	audio(1, 503, 9480) // one lost: two steps
	event(true, false, 160)
	if audio(1, 504, 9640) {
		t.Fatal("audio went out during an event")
	}
	event(false, false, 320)
	event(false, true, 320)
	audio(2, 7, 123456) // another publisher
	audio(2, 8, 123616)
	base := got[0].Timestamp
	wantTS := []uint32{0, 160, 480, 640, 640, 640, 960, 1120}
	for i, h := range got {
		if h.SSRC != got[0].SSRC || h.SequenceNumber != got[0].SequenceNumber+uint16(i) {
			t.Fatalf("packet %d: SSRC %x seq %d, first SSRC %x seq %d", i, h.SSRC, h.SequenceNumber, got[0].SSRC, got[0].SequenceNumber)
		}
		if h.Timestamp-base != wantTS[i] {
			t.Fatalf("packet %d: timestamp +%d, want +%d", i, h.Timestamp-base, wantTS[i])
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
