package sip

import (
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/dtmf"
)

// The trunk's telephone-events become digits, each once, and never reach
// the room as audio; its audio does. With Opus the events' packets step
// at 48 kHz (960 a packet) and carry the trunk's dynamic types.
func TestRTPLegEvents(t *testing.T) {
	opus := codecsByName["opus"]
	opus.PayloadType = 96
	for _, c := range []struct {
		codec  Codec
		events uint8
		clock  uint32
	}{{codecsByName["pcmu"], 101, 8000}, {opus, 102, 48000}} {
		t.Run(c.codec.Name, func(t *testing.T) { testRTPLegEvents(t, c.codec, c.events, c.clock) })
	}
}

func testRTPLegEvents(t *testing.T, codec Codec, events uint8, clock uint32) {
	leg, err := newRTPLeg(newPortPool("127.0.0.1", 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.close()
	trunk, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer trunk.Close()
	leg.setRemote(&remoteMedia{Addr: trunk.LocalAddr().(*net.UDPAddr), Codec: codec, Events: events, EventClock: clock})
	audio := make(chan uint8, 100)
	digits := make(chan rune, 100)
	leg.setSink(func(pkt []byte) { audio <- pkt[1] & 0x7F })
	leg.setOnDigit(func(d rune) { digits <- d })
	go leg.run()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: leg.port()}
	send := func(pt uint8, seq uint16, ts uint32, payload []byte) {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: 7}, Payload: payload}
		b, _ := p.Marshal()
		if _, err := trunk.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
	}
	seq := uint16(0)
	for i, d := range "7#7" {
		step := int(clock / 50)
		s, err := dtmf.NewSender(d, 3*step, step, 10)
		if err != nil {
			t.Fatal(err)
		}
		for {
			ev, _, ok := s.Next()
			if !ok {
				break
			}
			seq++
			send(events, seq, uint32(1000*(i+1))*clock/8000, ev.Append(nil))
		}
		seq++
		send(codec.PayloadType, seq, uint32(1000*(i+1)+500)*clock/8000, make([]byte, 160))
	}
	var got string
	for len(got) < 3 {
		select {
		case d := <-digits:
			got += string(d)
		case <-time.After(5 * time.Second):
			t.Fatalf("digits %q", got)
		}
	}
	if got != "7#7" {
		t.Fatalf("digits %q, want 7#7", got)
	}
	for range 3 {
		select {
		case pt := <-audio:
			if pt != codec.PayloadType {
				t.Fatalf("payload type %d reached the room", pt)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the audio did not reach the room")
		}
	}
	select {
	case pt := <-audio:
		t.Fatalf("an extra packet (payload type %d) reached the room", pt)
	case d := <-digits:
		t.Fatalf("an extra digit %q", d)
	case <-time.After(100 * time.Millisecond):
	}
}
