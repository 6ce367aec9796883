package sip

import (
	"errors"
	"strings"
	"testing"
)

var (
	g711     = []Codec{codecsByName["pcmu"], codecsByName["pcma"]}
	withOpus = []Codec{codecsByName["pcmu"], codecsByName["pcma"], codecsByName["opus"]}
)

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
	if m, err := parseSDP(buildSDP("127.0.0.1", 30000, g711, eventTypes(g711, DefaultEventPT)), g711); err != nil || m.Addr.Port != 30000 || m.Codec.Name != "PCMU" || m.Events != DefaultEventPT {
		t.Fatalf("our offer: %+v %v", m, err)
	}
}

// Opus is taken by its rtpmap (opus/48000/2, any dynamic payload type,
// never a bare 111) in the offer's order, with the telephone-event of its
// 48 kHz clock, or telephone-event/8000 when that is all there is; G.711
// of the same offer keeps telephone-event/8000.
func TestParseSDPOpus(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
	const both = "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\na=rtpmap:101 telephone-event/8000\r\n" +
		"a=rtpmap:102 telephone-event/48000\r\n"
	for _, tc := range []struct {
		name, media string
		ours        []Codec
		codec       string
		pt, events  uint8
		clock       uint32
	}{
		{"opus first", "m=audio 4000 RTP/AVP 96 0 101 102\r\n" + both, withOpus, "opus", 96, 102, 48000},
		{"G.711 first", "m=audio 4000 RTP/AVP 0 96 101 102\r\n" + both, withOpus, "PCMU", 0, 101, 8000},
		{"events listed first", "m=audio 4000 RTP/AVP 102 101 96 0\r\n" + both, withOpus, "opus", 96, 102, 48000},
		{"opus not ours", "m=audio 4000 RTP/AVP 96 0 101 102\r\n" + both, g711, "PCMU", 0, 101, 8000},
		{"opus, events at 8 kHz only (baresip 1.0)", "m=audio 4000 RTP/AVP 96 101\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n", withOpus, "opus", 96, 101, 8000},
		{"opus, events at 16 kHz", "m=audio 4000 RTP/AVP 96 101\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/16000\r\n", withOpus, "opus", 96, 0, 0},
		{"opus without channels", "m=audio 4000 RTP/AVP 109\r\na=rtpmap:109 OPUS/48000\r\n", withOpus, "opus", 109, 0, 0},
	} {
		m, err := parseSDP([]byte(head+tc.media), tc.ours)
		if err != nil || m.Codec.Name != tc.codec || m.Codec.PayloadType != tc.pt || m.Events != tc.events || m.EventClock != tc.clock {
			t.Errorf("%s: %+v %v, want %s/%d events %d/%d", tc.name, m, err, tc.codec, tc.pt, tc.events, tc.clock)
			continue
		}
		if tc.codec == "opus" && (m.Codec.ClockRate != 48000 || m.Codec.Channels != 2 || m.Codec.Fmtp != codecsByName["opus"].Fmtp) {
			t.Errorf("%s: codec %+v", tc.name, m.Codec)
		}
	}
	for name, media := range map[string]string{
		"111 without rtpmap": "m=audio 4000 RTP/AVP 111\r\n",
		"opus mono":          "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/1\r\n",
		"opus at 16 kHz":     "m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/16000/2\r\n",
		"opus as type 0":     "m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 opus/48000/2\r\n",
	} {
		if m, err := parseSDP([]byte(head+media), withOpus); !errors.Is(err, errNoCodec) {
			t.Errorf("%s: %+v %v", name, m, err)
		}
	}
}

// Our offer lists the codecs in trunk.codecs' order with a telephone-event
// per clock rate (8 kHz for G.711 at 101, 48 kHz for Opus at 102), Opus
// with its channels and fmtp; an answer has the one codec and its events.
func TestBuildSDPOpus(t *testing.T) {
	offer := string(buildSDP("127.0.0.1", 30000, withOpus, eventTypes(withOpus, DefaultEventPT)))
	for _, want := range []string{"m=audio 30000 RTP/AVP 0 8 111 101 102\r\n", "a=rtpmap:111 opus/48000/2\r\n",
		"a=fmtp:111 minptime=10;useinbandfec=1\r\n", "a=rtpmap:101 telephone-event/8000\r\n", "a=fmtp:101 0-15\r\n",
		"a=rtpmap:102 telephone-event/48000\r\n", "a=fmtp:102 0-15\r\n"} {
		if !strings.Contains(offer, want) {
			t.Errorf("the offer has no %q:\n%s", want, offer)
		}
	}
	if m, err := parseSDP([]byte(offer), []Codec{codecsByName["opus"]}); err != nil || m.Codec.PayloadType != 111 || m.Events != 102 {
		t.Errorf("our offer read for Opus: %+v %v", m, err)
	}
	opusFirst := []Codec{codecsByName["opus"], codecsByName["pcmu"]}
	first := string(buildSDP("127.0.0.1", 30000, opusFirst, eventTypes(opusFirst, DefaultEventPT)))
	if !strings.Contains(first, "m=audio 30000 RTP/AVP 111 0 101 102\r\n") || !strings.Contains(first, "a=rtpmap:101 telephone-event/48000\r\n") ||
		!strings.Contains(first, "a=rtpmap:102 telephone-event/8000\r\n") {
		t.Errorf("an offer of Opus first:\n%s", first)
	}
	opus := codecsByName["opus"]
	opus.PayloadType = 96
	answer := string(buildSDP("127.0.0.1", 30000, []Codec{opus}, []eventType{{97, 48000}}))
	if !strings.Contains(answer, "m=audio 30000 RTP/AVP 96 97\r\n") || !strings.Contains(answer, "a=rtpmap:96 opus/48000/2\r\n") ||
		!strings.Contains(answer, "a=rtpmap:97 telephone-event/48000\r\n") || strings.Contains(answer, "/8000") {
		t.Errorf("an answer of Opus:\n%s", answer)
	}
	// A type of the codecs is never an event's.
	clash := []Codec{codecsByName["pcmu"], {Name: "opus", PayloadType: 102, ClockRate: 48000, Channels: 2}}
	if got := eventTypes(clash, 101); len(got) != 2 || got[0] != (eventType{101, 8000}) || got[1] != (eventType{103, 48000}) {
		t.Errorf("events of %+v: %+v", clash, got)
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
	f.Add(buildSDP("::1", 5004, g711, nil))
	f.Add(buildSDP("192.0.2.1", 5004, withOpus, eventTypes(withOpus, DefaultEventPT)))
	f.Add([]byte("v=0\r\nm=audio 0 RTP/AVP 0\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 96 101\r\n" +
		"a=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/48000\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseSDP(body, withOpus)
		if err != nil {
			return
		}
		if m.Addr == nil || m.Addr.Port < 1 || m.Addr.Port > 65535 || m.Addr.IP == nil {
			t.Fatalf("accepted a bad address: %+v", m)
		}
		want, ok := codecsByName[strings.ToLower(m.Codec.Name)]
		if !ok || m.Codec.ClockRate != want.ClockRate || m.Codec.Fmtp != want.Fmtp {
			t.Fatalf("accepted codec %+v", m.Codec)
		}
		if m.Codec.Name == "opus" && m.Codec.PayloadType < 96 {
			t.Fatalf("Opus at static payload type %d", m.Codec.PayloadType)
		}
		if m.Events != 0 && (m.Events < 96 || m.Events > 127 || m.Events == m.Codec.PayloadType ||
			(m.EventClock != m.Codec.ClockRate && m.EventClock != 8000)) {
			t.Fatalf("events at payload type %d clock %d, codec %+v", m.Events, m.EventClock, m.Codec)
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
