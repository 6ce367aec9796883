package videoroom_test

import (
	"context"
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// The node survives garbage on its media port (random bytes, fake STUN,
// DTLS and RTP from strangers), malformed RTCP from a subscriber and
// malformed payloads from a publisher: the call goes on, and feedback
// still flows.
func TestSurvivesMalformedMedia(t *testing.T) {
	checkGoroutines(t)
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, sub, _ := callWith(t, ctx, n, testAPI(t), testAPI(t))
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	pub.Send(sendCtx, 300, 20)
	waitUntil(t, 10*time.Second, "media", func() bool { v := sub.Track("video"); return v != nil && v.Packets.Load() > 10 })

	// Strangers spray the UDP mux port.
	raddr, err := net.ResolveUDPAddr("udp4", n.sfu.UDPAddr())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp4", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	junk := func(prefix []byte, size int) []byte {
		b := make([]byte, size)
		rand.Read(b)
		return append(prefix, b...)
	}
	for i := 0; i < 300; i++ {
		for _, d := range [][]byte{
			junk(nil, 1+i%200),
			junk([]byte{0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42}, 12+i%40),        // STUN binding
			junk([]byte{0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00}, 20+i%100), // DTLS handshake
			junk([]byte{0x17, 0xfe, 0xfd}, 40),                                           // DTLS application data
			junk([]byte{0x80, 0x60}, 100+i%1000),                                         // RTP
			junk([]byte{0x81, 0xc8}, 30),                                                 // RTCP SR
		} {
			conn.Write(d)
		}
	}

	// The subscriber sends RTCP that does not parse, then a valid PLI.
	for i := 0; i < 50; i++ {
		sub.PC.WriteRTCP([]rtcp.Packet{&rtcp.RawPacket{0x8f, 0xce, 0xff, 0xff, byte(i)}})
	}
	// The publisher sends payloads that are no valid VP8.
	pub.Corrupt(100)

	before := sub.Track("video").Packets.Load()
	waitUntil(t, 10*time.Second, "media after the garbage", func() bool {
		return sub.Track("video").Packets.Load() > before+20 && sub.Track("audio").Packets.Load() > 20
	})
	var ssrc uint32
	for _, tr := range sub.PC.GetTransceivers() {
		if ts := tr.Receiver().Tracks(); len(ts) > 0 && ts[0].Kind().String() == "video" {
			ssrc = uint32(ts[0].SSRC())
		}
	}
	time.Sleep(600 * time.Millisecond) // past the keyframe request interval
	plis := pub.PLIs.Load()
	if err := sub.PC.WriteRTCP(pliFor(ssrc)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "a keyframe request through after the bad RTCP", func() bool { return pub.PLIs.Load() > plis })
	stop()
}
