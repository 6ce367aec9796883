package sip

import (
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/tone"
)

// The dial-in's prompts reach the phone in its codec (G.711, or Opus at
// 48 kHz) with their frequency, one stream (consecutive sequence numbers,
// 20 ms of the codec's clock apart: 160 or 960), the marker on the first
// packet, and last as long as they should.
func TestPromptTones(t *testing.T) {
	for _, tc := range []struct {
		codec Codec
		p     promptSpec
		other float64
	}{
		{codecsByName["pcmu"], promptTone, 300},
		{codecsByName["pcma"], errorTone, 440},
		{codecsByName["opus"], promptTone, 300},
		{codecsByName["opus"], errorTone, 440},
	} {
		phone, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer phone.Close()
		leg, err := newRTPLeg(newPortPool("127.0.0.1", 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		leg.setRemote(&remoteMedia{Addr: phone.LocalAddr().(*net.UDPAddr), Codec: tc.codec})
		c := &call{media: leg}
		go func() {
			c.play(tc.p)
			leg.close()
		}()
		dec, err := audiocodec.Lookup(tc.codec.Name)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := dec.NewDecoder()
		want := tc.p.beeps * int((tc.p.beep+tc.p.silence)/(20*time.Millisecond))
		var loud, packets int
		var last rtp.Packet
		buf := make([]byte, 1500)
		pcm := make([]int16, audiocodec.MaxFrameSamples)
		for packets < want {
			phone.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := phone.Read(buf)
			if err != nil {
				t.Fatalf("%s: %d packets of %d: %v", tc.codec.Name, packets, want, err)
			}
			var p rtp.Packet
			if err := p.Unmarshal(buf[:n]); err != nil {
				t.Fatal(err)
			}
			if p.PayloadType != tc.codec.PayloadType || (packets == 0) != p.Marker {
				t.Fatalf("packet %d: payload type %d marker %v", packets, p.PayloadType, p.Marker)
			}
			if packets > 0 && (p.SequenceNumber != last.SequenceNumber+1 || p.Timestamp != last.Timestamp+tc.codec.ClockRate/50 || p.SSRC != last.SSRC) {
				t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", packets, p.SequenceNumber, p.Timestamp, last.SequenceNumber, last.Timestamp)
			}
			last = p
			packets++
			k, err := d.Decode(p.Payload, pcm)
			if err != nil {
				t.Fatal(err)
			}
			// The decoder gives 48 kHz.
			if on, off := tone.Power(pcm[:k], tc.p.freq, audiocodec.Rate), tone.Power(pcm[:k], tc.other, audiocodec.Rate); on > 1e5 && off < on/100 {
				loud++
			}
		}
		// Opus delays what it encodes by its look-ahead (6.5 ms): each beep
		// ends in the packet after its last, which the tone then fills
		// enough to be heard.
		late := 0
		if tc.codec.Name == "opus" {
			late = tc.p.beeps
		}
		if wantLoud := tc.p.beeps * int(tc.p.beep/(20*time.Millisecond)); loud < wantLoud-tc.p.beeps || loud > wantLoud+late {
			t.Fatalf("%s: %d packets with the %v Hz tone, want %d", tc.codec.Name, loud, tc.p.freq, wantLoud)
		}
	}
}

// Room numbers, the parallel SIP form and the meetings' number in its
// spellings are told apart from other numbers.
func TestDialTargetOf(t *testing.T) {
	cfg := config.Default()
	s := &Server{cfg: &cfg}
	s.cfg.Meetings.PSTNExtension = "+34 999-999-999"
	for user, want := range map[string]dialTarget{
		"88812345678":          {room: "12345678"},
		"77788865432112345678": {room: "12345678"},
		"+34999999999":         {meeting: true},
		"0034999999999":        {meeting: true},
	} {
		if got, ok := s.dialTargetOf(user); !ok || got != want {
			t.Errorf("%s: %+v %v, want %+v", user, got, ok, want)
		}
	}
	for _, user := range []string{"", "888", "8881234567", "888123456789", "7778881234567", "66688812345612345678", "34999999999", "205"} {
		if got, ok := s.dialTargetOf(user); ok {
			t.Errorf("%s: %+v, want no dial-in", user, got)
		}
	}
}
