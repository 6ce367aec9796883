package forward

import (
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// The RTP path of the forwarding loop survives any datagram.
func FuzzParseRTP(f *testing.F) {
	vp8Key := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1}, Payload: []byte{0x10, 0x00, 0x9d, 0x01, 0x2a}})
	withLevel := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111}, Payload: []byte{1, 2, 3}}
	withLevel.Header.SetExtension(1, []byte{0x85})
	h264 := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 102}, Payload: []byte{24, 0, 2, 0x67, 0x42, 0, 2, 0x65, 0x88}}
	padded := &rtp.Packet{Header: rtp.Header{Version: 2, Padding: true, PaddingSize: 4}, Payload: []byte{0x90, 0xe0, 0x80, 0x01}}
	for _, p := range []*rtp.Packet{vp8Key, withLevel, h264, padded} {
		b, _ := p.Marshal()
		f.Add(b)
	}
	f.Add([]byte{0x80})
	f.Add([]byte{0xa0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var pkt rtp.Packet
		for _, ck := range []codecKind{codecOther, codecVP8, codecVP9, codecH264, codecAV1} {
			key, level, ok := parseRTP(&pkt, data, ck, 1)
			if !ok && (key || level != -1) {
				t.Fatalf("a malformed packet has key=%v level=%d", key, level)
			}
			if level > 127 {
				t.Fatalf("audio level %d", level)
			}
		}
		for _, ck := range []codecKind{codecVP8, codecVP9, codecH264, codecAV1} {
			isKeyframe(ck, data)
		}
	})
}

// The subscriber feedback path survives any RTCP.
func FuzzRTCP(f *testing.F) {
	for _, pkts := range [][]rtcp.Packet{
		{&rtcp.PictureLossIndication{MediaSSRC: 1}},
		{&rtcp.ReceiverReport{SSRC: 2, Reports: []rtcp.ReceptionReport{{SSRC: 1, FractionLost: 40}}}},
		{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 1e6, SSRCs: []uint32{1}}},
		{&rtcp.TransportLayerNack{MediaSSRC: 1, Nacks: []rtcp.NackPair{{PacketID: 5}}}},
		{&rtcp.FullIntraRequest{MediaSSRC: 1, FIR: []rtcp.FIREntry{{SSRC: 1}}}},
	} {
		b, _ := rtcp.Marshal(pkts)
		f.Add(b)
	}
	f.Add([]byte{0x81, 0xc9, 0x00, 0x07})
	f.Add([]byte{0x8f, 0xce, 0xff, 0xff, 1, 2, 3})
	src := New(Options{}).NewStream(StreamConfig{Kind: "video", RIDs: map[string]int{"q": 0, "h": 1, "f": 2}})
	src.layers[0].ssrc.Store(1)
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDownTrack(src, "t", "s")
		d.ssrc = 1
		d.handleRTCPBytes(data)
		if l := d.loss.Load(); l < -1 || l > 255 {
			t.Fatalf("loss %d", l)
		}
	})
}
