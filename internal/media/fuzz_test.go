package media

import (
	"encoding/json"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/placement"
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
	cfg := config.Default().Media
	s := &SFU{cfg: cfg}
	r := newRoom(s, "r", 1, placement.RoomOptions{})
	p := &participant{room: r}
	src := &pubStream{owner: p, kind: "video", simulcast: true}
	src.layers[0].ssrc.Store(1)
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDownTrack(src, "t")
		d.ssrc = 1
		d.handleRTCPBytes(data)
		if l := d.loss.Load(); l < -1 || l > 255 {
			t.Fatalf("loss %d", l)
		}
	})
}

// VideoRoom bodies are read without panics, whatever their shape.
func FuzzVideoRoomBody(f *testing.F) {
	f.Add([]byte(`{"request":"join","ptype":"publisher","room":1234,"id":5,"display":"x","token":"t"}`))
	f.Add([]byte(`{"request":"join","ptype":"subscriber","room":"abc","streams":[{"feed":1,"mid":"0","substream":2}]}`))
	f.Add([]byte(`{"request":"switch","streams":[{"feed":"12","mid":"1","sub_mid":"0"}]}`))
	f.Add([]byte(`{"request":"configure","bitrate":-1,"send":"yes","substream":9,"descriptions":[{"mid":1}]}`))
	f.Add([]byte(`{"room":1e400,"feed":[],"streams":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var b body
		if json.Unmarshal(data, &b) != nil {
			return
		}
		b.str("request", true)
		b.str("display", false)
		b.boolean("send")
		b.integer("bitrate")
		b.id("id", false)
		ref, e := b.room(false)
		if e == nil && ref.num < 0 {
			t.Fatalf("negative room %d", ref.num)
		}
		streamRequests(b, "streams")
		if reqs, e := streamRequests(b, "subscribe"); e == nil {
			for _, q := range reqs {
				if len(q.Feed) > 0 {
					parseID("feed", q.Feed)
				}
			}
		}
	})
}

// The REST transport's decoding (the path after /janus, then the body)
// survives any input, and what it accepts is a request at its place: the
// session and handle of the path, create at /janus, handle requests at
// /janus/<session>/<handle>.
func FuzzRESTRequest(f *testing.F) {
	f.Add("", []byte(`{"janus":"create","transaction":"a"}`))
	f.Add("/123", []byte(`{"janus":"attach","transaction":"b","plugin":"janus.plugin.videoroom"}`))
	f.Add("/1/2", []byte(`{"janus":"message","transaction":"c","session_id":9,"body":{"request":"list"}}`))
	f.Add("/1/2", []byte(`{"janus":"trickle","transaction":"d","candidate":{"completed":true}}`))
	f.Add("/info", []byte(`{"janus":"info","transaction":"e"}`))
	f.Add("//5//", []byte(`{"janus":"keepalive","transaction":"f"}`))
	f.Add("/1/2/3", []byte(`{"janus":"detach","transaction":"g"}`))
	f.Add("/18446744073709551616", []byte(`{}`))
	f.Add("/-1/x", []byte(`[`))
	f.Fuzz(func(t *testing.T, rest string, data []byte) {
		path, ok := parseRESTPath(rest)
		if !ok {
			return
		}
		if path.depth() > 2 || (path.info && len(path.ids) > 0) {
			t.Fatalf("path %q read as %+v", rest, path)
		}
		req, e := decodeREST(path, data)
		if e != nil {
			if e.Code < 400 || e.Code > 499 || e.Reason == "" {
				t.Fatalf("error %+v", e)
			}
			return
		}
		if len(path.ids) >= 1 && req.SessionID != path.ids[0] || len(path.ids) == 2 && req.HandleID != path.ids[1] {
			t.Fatalf("path %q, request for session %d handle %d", rest, req.SessionID, req.HandleID)
		}
		switch req.Janus {
		case "create":
			if path.depth() != 0 {
				t.Fatalf("create accepted at %q", rest)
			}
		case "message", "trickle", "detach", "hangup":
			if path.depth() != 2 {
				t.Fatalf("%s accepted at %q", req.Janus, rest)
			}
		}
	})
}
