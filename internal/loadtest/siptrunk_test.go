package loadtest

import (
	"strings"
	"testing"
)

// The trunk of the SIP call load answers an offer's first audio stream
// with PCMU, and refuses (488) offers it cannot: no PCMU, no address, a
// bad port.
func TestSDPAudioAddr(t *testing.T) {
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
	got, err := sdpAudioAddr([]byte(offer))
	if err != nil || got.String() != "127.0.0.1:40000" {
		t.Fatalf("sdpAudioAddr = %v, %v; want 127.0.0.1:40000", got, err)
	}
	for _, c := range []struct{ name, sdp, want string }{
		{"no PCMU", strings.Replace(offer, "RTP/AVP 0 8 101", "RTP/AVP 8 101", 1), "no PCMU"},
		{"bad port", strings.Replace(offer, "40000", "99999", 1), "bad audio port"},
		{"short m line", strings.Replace(offer, "40000 RTP/AVP 0 8 101", "40000", 1), "short m=audio"},
		{"no connection", strings.Replace(offer, "c=IN IP4 127.0.0.1\r\n", "", 1), "no IPv4 audio stream"},
		{"no audio", strings.Replace(offer, "m=audio", "m=video", 1), "no IPv4 audio stream"},
		{"garbage", "not an sdp", "no IPv4 audio stream"},
	} {
		if _, err := sdpAudioAddr([]byte(c.sdp)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}
