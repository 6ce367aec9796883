package rtpleg

import (
	"context"
	"net/netip"
	"testing"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/dtmf"
	"github.com/openwac/wac/internal/media/mixer"
)

// FuzzHandle feeds arbitrary datagrams from the remote to a leg: no panic,
// and each is counted exactly once, as audio, a digit or a drop.
func FuzzHandle(f *testing.F) {
	audio, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: 7}, Payload: make([]byte, 160)}).Marshal()
	event, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, Timestamp: 9}, Payload: []byte{11, 0x8a, 3, 32}}).Marshal()
	f.Add(audio)
	f.Add(event)
	f.Add([]byte{0x80, 200, 0, 1})
	f.Add([]byte{0x90, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff})
	m := mixer.New(context.Background(), mixer.Config{})
	f.Cleanup(m.Close)
	remote := netip.MustParseAddrPort("127.0.0.1:4000")
	l, err := Open(context.Background(), Config{Name: "fuzz", IP: loopback, PortMin: 20000, PortMax: 40000, Remote: remote,
		Codec: audiocodec.PCMA(), EventPayloadType: 101, OnDigit: func(rune) {}}, m)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		var p rtp.Packet
		var events dtmf.Receiver
		before := l.Stats()
		l.handle(remote, b, &p, &events)
		after := l.Stats()
		count := func(s Stats) uint64 {
			return s.Mixer.Received + s.Digits + s.WrongSource + s.RTCP + s.Malformed + s.OtherPayload + s.Held
		}
		// An event packet that starts no new digit counts nowhere.
		n := count(after) - count(before)
		if n > 1 {
			t.Fatalf("%x counted %d times: %+v", b, n, after)
		}
	})
}
