package sip

import (
	"errors"
	"strings"
	"testing"
)

var g711 = []Codec{codecsByName["pcmu"], codecsByName["pcma"]}

// parseSDP picks the trunk's address and the first of our codecs in its
// order, by rtpmap or static payload type, and refuses what it cannot use.
func TestParseSDP(t *testing.T) {
	offer := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" +
		"m=audio 4000 RTP/AVP 111 8 0 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
	m, err := parseSDP([]byte(offer), g711)
	if err != nil || m.Addr.String() != "192.0.2.1:4000" || m.Codec.Name != "PCMA" || m.Codec.PayloadType != 8 || m.Events != 101 {
		t.Fatalf("%+v %v", m, err)
	}
	// The trunk's telephone-event payload type is kept; events at another
	// clock rate, or a static type named so, are not ours.
	for sdpText, want := range map[string]uint8{
		"m=audio 4000 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\n":  96,
		"m=audio 4000 RTP/AVP 0 97\r\na=rtpmap:97 telephone-event/16000\r\n": 0,
		"m=audio 4000 RTP/AVP 0 13\r\na=rtpmap:13 telephone-event/8000\r\n":  0,
		"m=audio 4000 RTP/AVP 0\r\n":                                         0,
	} {
		full := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" + sdpText
		if m, err := parseSDP([]byte(full), g711); err != nil || m.Events != want || m.Codec.Name != "PCMU" {
			t.Errorf("%q: %+v %v, want events %d", sdpText, m, err, want)
		}
	}
	// A dynamic payload type named PCMU is PCMU.
	dyn := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 96\r\nc=IN IP4 192.0.2.9\r\na=rtpmap:96 PCMU/8000\r\n"
	if m, err = parseSDP([]byte(dyn), g711); err != nil || m.Codec.PayloadType != 96 || m.Addr.IP.String() != "192.0.2.9" {
		t.Fatalf("%+v %v", m, err)
	}
	for name, bad := range map[string]string{
		"opus only": "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n",
		"srtp":      "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\n",
		"no audio":  "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n",
	} {
		if _, err := parseSDP([]byte(bad), g711); !errors.Is(err, errNoCodec) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, bad := range map[string]string{
		"empty":       "",
		"garbage":     "hello",
		"no address":  "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
		"a host name": "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 pbx.example\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
	} {
		if m, err := parseSDP([]byte(bad), g711); err == nil {
			t.Errorf("%s: accepted %+v", name, m)
		}
	}
	// Our own offer reads back.
	if m, err := parseSDP(buildSDP("127.0.0.1", 30000, g711, DefaultEventPT), g711); err != nil || m.Addr.Port != 30000 || m.Codec.Name != "PCMU" || m.Events != DefaultEventPT {
		t.Fatalf("our offer: %+v %v", m, err)
	}
}

func TestNumberOf(t *testing.T) {
	for to, want := range map[string]string{"tel:+34986999888": "+34986999888", "tel:+34-986-99-98-88": "+34986999888",
		"sip:205@pbx.example;user=phone": "205", "tel:*21#": "*21#"} {
		if got, err := numberOf(to); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", to, got, err, want)
		}
	}
	for _, bad := range []string{"tel:", "tel:alice", "tel:+34\r\nVia: x", "tel:" + string(make([]byte, 40))} {
		if n, err := numberOf(bad); err == nil {
			t.Errorf("%q accepted as %q", bad, n)
		}
	}
}

// The SDP of the trunk (network input) never panics and, when accepted,
// names a usable address and one of our codecs.
func FuzzParseSDP(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n"))
	f.Add(buildSDP("::1", 5004, g711, 0))
	f.Add([]byte("v=0\r\nm=audio 0 RTP/AVP 0\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseSDP(body, g711)
		if err != nil {
			return
		}
		if m.Addr == nil || m.Addr.Port < 1 || m.Addr.Port > 65535 || m.Addr.IP == nil {
			t.Fatalf("accepted a bad address: %+v", m)
		}
		if m.Codec.Name != "PCMU" && m.Codec.Name != "PCMA" {
			t.Fatalf("accepted codec %+v", m.Codec)
		}
	})
}

// What an invitation dials (network input from apps) never panics and is
// only digits, *, # and a leading +.
func FuzzNumberOf(f *testing.F) {
	f.Add("tel:+34986999888")
	f.Add("sip:205@pbx;user=phone")
	f.Fuzz(func(t *testing.T, to string) {
		n, err := numberOf(to)
		if err == nil && !validNumber.MatchString(n) {
			t.Fatalf("%q gave %q", to, n)
		}
	})
}

// The INVITE limiter lets a burst through, then refuses, per source.
func TestSourceLimiter(t *testing.T) {
	l := newSourceLimiter(0.001, 3)
	for i := range 3 {
		if !l.allow("192.0.2.1") {
			t.Fatalf("INVITE %d of the burst refused", i)
		}
	}
	if l.allow("192.0.2.1") {
		t.Fatal("the burst was exceeded")
	}
	if !l.allow("192.0.2.2") {
		t.Fatal("another source was refused")
	}
}

func TestCapText(t *testing.T) {
	if got := capText("ñññ", 3); got != "ñ" {
		t.Fatalf("cut inside a character: %q", got)
	}
	if got := capText("205", 64); got != "205" {
		t.Fatalf("%q", got)
	}
}

func TestParseDTMFInfo(t *testing.T) {
	for _, c := range []struct {
		ct, body string
		want     rune
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5'},
		{"Application/DTMF-Relay; charset=utf-8", "signal = #\nDuration=100", '#'},
		{"application/dtmf-relay", "Duration=160\r\nSignal=*\r\n", '*'},
		{"application/dtmf", " d\r\n", 'D'},
	} {
		if d, err := parseDTMFInfo(c.ct, []byte(c.body)); err != nil || d != c.want {
			t.Errorf("%s %q: %q %v, want %q", c.ct, c.body, d, err, c.want)
		}
	}
	for _, c := range []struct{ ct, body string }{
		{"application/dtmf-relay", "Signal=12\r\n"},
		{"application/dtmf-relay", "Signal=x"},
		{"application/dtmf-relay", "Duration=160"},
		{"application/dtmf", ""},
		{"application/dtmf-relay", "Signal=1\r\n" + strings.Repeat("x", maxInfoBody)},
	} {
		if d, err := parseDTMFInfo(c.ct, []byte(c.body)); err == nil || errors.Is(err, errInfoType) {
			t.Errorf("%s %q: %q %v, want a bad digit", c.ct, c.body, d, err)
		}
	}
	if _, err := parseDTMFInfo("text/plain", []byte("Signal=1")); !errors.Is(err, errInfoType) {
		t.Errorf("text/plain: %v", err)
	}
}

func FuzzParseDTMFInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		d, err := parseDTMFInfo(ct, body)
		if err != nil {
			return
		}
		if !strings.ContainsRune("0123456789*#ABCD", d) {
			t.Fatalf("digit %q from %q %q", d, ct, body)
		}
	})
}
