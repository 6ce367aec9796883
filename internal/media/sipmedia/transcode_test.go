package sipmedia

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/tone"
)

// A browser's Opus reaches the trunk as 20 ms PCMU packets of its own
// stream, carrying the same tone; a lost packet is concealed, a late one
// dropped, and the stream's numbering has no holes.
func TestTranscodeOpusToPCMU(t *testing.T) {
	enc, err := audiocodec.Opus().NewEncoder(audiocodec.EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := newTranscoder("audio/opus", "audio/PCMU", 0)
	if err != nil {
		t.Fatal(err)
	}
	gen := tone.NewGenerator(440, audiocodec.Rate, 8000)
	pcm := make([]int16, audiocodec.FrameSamples)
	payload := make([]byte, audiocodec.MaxPayload)
	dec, _ := audiocodec.PCMU().NewDecoder()
	heard := make([]int16, audiocodec.MaxFrameSamples)
	var out []*rtp.Packet
	var decoded []int16
	for i := range 100 {
		gen.Fill(pcm)
		n, err := enc.Encode(pcm, payload)
		if err != nil {
			t.Fatal(err)
		}
		seq := uint16(1000 + i)
		if i == 40 {
			continue // lost
		}
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: uint32(i * 960), SSRC: 7},
			Payload: append([]byte(nil), payload[:n]...)}
		frames, err := tc.push(pkt)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if i == 60 {
			// A late copy of an earlier packet gives nothing.
			late := *pkt
			late.SequenceNumber = seq - 10
			if f, _ := tc.push(&late); len(f) != 0 {
				t.Errorf("a late packet gave %d frames", len(f))
			}
		}
		for _, b := range frames {
			var p rtp.Packet
			if err := p.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			out = append(out, &p)
			m, err := dec.Decode(p.Payload, heard)
			if err != nil {
				t.Fatal(err)
			}
			decoded = append(decoded, heard[:m]...)
		}
	}
	// 100 packets of 20 ms, one lost and concealed: 100 frames out.
	if len(out) != 100 {
		t.Fatalf("%d PCMU packets, want 100", len(out))
	}
	for i, p := range out {
		if p.PayloadType != 0 || len(p.Payload) != 160 || p.SSRC != 7 {
			t.Fatalf("packet %d: pt %d, %d bytes, ssrc %d; want PCMU, 160 bytes, the source's ssrc", i, p.PayloadType, len(p.Payload), p.SSRC)
		}
		if p.Marker != (i == 0) {
			t.Fatalf("packet %d: marker %v, want it on the first packet only", i, p.Marker)
		}
		if i > 0 && (p.SequenceNumber != out[i-1].SequenceNumber+1 || p.Timestamp != out[i-1].Timestamp+160) {
			t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, out[i-1].SequenceNumber, out[i-1].Timestamp)
		}
	}
	// The tone comes through (past the codec's start-up), and little else.
	body := decoded[len(decoded)/2:]
	at, all := tone.Power(body, 440, audiocodec.Rate), tone.RMSPower(body)
	if db := tone.DB(at, 8000*8000/2); db < -3 {
		t.Errorf("440 Hz at %.1f dB of what was sent", db)
	}
	if at < 0.8*all {
		t.Errorf("440 Hz is %.0f%% of the power, want most of it", 100*at/all)
	}
}

// What cannot be decoded is an error for that packet, not a panic, and the
// stream goes on.
func TestTranscodeBadPayload(t *testing.T) {
	tc, err := newTranscoder("audio/opus", "audio/PCMA", 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, payload := range [][]byte{{0xff, 0xff, 0xff}, {}, make([]byte, 2000)} {
		_, _ = tc.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i)}, Payload: payload})
	}
	if _, err := newTranscoder("audio/G722", "audio/PCMU", 0); err == nil {
		t.Error("G.722 accepted")
	}
}

// Passed-through audio goes to the trunk in order: a repeated packet (a
// retransmission the media server sent on the bridge's NACK) or a late
// one is not relayed again as new audio; numbering wraps.
func TestSeqOrder(t *testing.T) {
	var o seqOrder
	for _, c := range []struct {
		seq  uint16
		want bool
	}{
		{65533, true}, {65534, true}, {65534, false}, {65533, false},
		{0, true}, {65535, false}, {3, true}, {1, false}, {2, false}, {4, true},
		{4 + 0x7fff, true}, {4, false},
	} {
		if got := o.fresh(c.seq); got != c.want {
			t.Errorf("fresh(%d) = %v, want %v", c.seq, got, c.want)
		}
	}
}

// A passed-through track reaches the trunk in order, in the trunk's
// payload type; a packet behind one relayed is not relayed, and counted
// as late.
func TestPassThroughCountsLate(t *testing.T) {
	var sent []uint16
	l := &leg{b: &Bridge{}, mime: "audio/PCMU", pt: 0, ctx: context.Background(),
		send: func(p []byte) error {
			if p[1]&0x7f != 0 {
				t.Errorf("sent payload type %d, want the trunk's 0", p[1]&0x7f)
			}
			sent = append(sent, binary.BigEndian.Uint16(p[2:4]))
			return nil
		}}
	h := &hearing{l: l, pass: true, mime: "audio/PCMU"}
	for _, seq := range []uint16{1, 2, 4, 3, 5, 5} {
		h.packet(&rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq}, []byte{0xff, 0xff})
	}
	if !slices.Equal(sent, []uint16{1, 2, 4, 5}) {
		t.Errorf("relayed %v, want 1 2 4 5", sent)
	}
	if got, late := l.b.ToTrunk.Load(), l.b.Late.Load(); got != 4 || late != 2 {
		t.Errorf("to trunk %d, late %d; want 4 and 2", got, late)
	}
}

// An app's G.711 heard by an Opus phone is transcoded to Opus: 20 ms
// packets in the trunk's payload type, 960 samples of the 48 kHz clock
// apart, that decode to the app's tone.
func TestTranscodePCMUToOpus(t *testing.T) {
	tc, err := newTranscoder("audio/PCMU", "audio/opus", 96)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := audiocodec.PCMU().NewEncoder(audiocodec.EncoderOptions{})
	dec, err := audiocodec.Opus().NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	gen := tone.NewGenerator(660, audiocodec.Rate, 8000)
	pcm := make([]int16, audiocodec.FrameSamples)
	payload := make([]byte, audiocodec.MaxPayload)
	heard := make([]int16, audiocodec.MaxFrameSamples)
	var out []rtp.Packet
	var decoded []int16
	for i := range 100 {
		gen.Fill(pcm)
		n, _ := enc.Encode(pcm, payload)
		frames, err := tc.push(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 9},
			Payload: payload[:n]})
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		for _, b := range frames {
			var p rtp.Packet
			if err := p.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			m, err := dec.Decode(p.Payload, heard)
			if err != nil || m != audiocodec.FrameSamples {
				t.Fatalf("Opus packet %d: %d samples, %v", len(out), m, err)
			}
			out = append(out, p)
			decoded = append(decoded, heard[:m]...)
		}
	}
	if len(out) != 100 {
		t.Fatalf("%d Opus packets, want 100", len(out))
	}
	for i, p := range out {
		if p.PayloadType != 96 || p.SSRC != 9 || p.Marker != (i == 0) {
			t.Fatalf("packet %d: pt %d ssrc %d marker %v", i, p.PayloadType, p.SSRC, p.Marker)
		}
		if i > 0 && (p.SequenceNumber != out[i-1].SequenceNumber+1 || p.Timestamp != out[i-1].Timestamp+960) {
			t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, out[i-1].SequenceNumber, out[i-1].Timestamp)
		}
	}
	body := decoded[len(decoded)/2:]
	at, all := tone.Power(body, 660, audiocodec.Rate), tone.RMSPower(body)
	if db := tone.DB(at, 8000*8000/2); db < -3 {
		t.Errorf("660 Hz at %.1f dB of what was sent", db)
	}
	if at < 0.8*all {
		t.Errorf("660 Hz is %.0f%% of the power, want most of it", 100*at/all)
	}
}

// The phone's codec names map to what the bridge publishes: Opus as
// opus/48000/2 (a browser decodes it as it is), G.711 at 8 kHz; and
// the mix of an Opus phone steps 960 per 20 ms.
func TestPhoneCodecs(t *testing.T) {
	for name, want := range map[string]struct {
		mime     string
		clock    uint32
		channels uint16
		frame    int
	}{
		"PCMU": {"audio/PCMU", 8000, 0, 160},
		"pcma": {"audio/PCMA", 8000, 0, 160},
		"opus": {"audio/opus", 48000, 2, 960},
	} {
		mime, err := mimeOf(name)
		if err != nil || mime != want.mime {
			t.Errorf("%s: %q %v", name, mime, err)
			continue
		}
		c := publishedCodec(mime)
		if !strings.EqualFold(c.MimeType, mime) || c.ClockRate != want.clock || c.Channels != want.channels {
			t.Errorf("%s: capability %+v", name, c)
		}
		ac, err := codecOf(mime)
		if err != nil || ac.FrameClock != want.frame {
			t.Errorf("%s: mix codec %+v %v", name, ac, err)
		}
	}
	if _, err := mimeOf("G729"); err == nil {
		t.Error("G729 taken")
	}
}
