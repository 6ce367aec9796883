package sip

import (
	"strings"
	"testing"
)

// Refer-To is read as name-addr or addr-spec, sip, sips or tel, with its
// user part unescaped; an attended transfer (Replaces) is told apart.
func TestParseReferTo(t *testing.T) {
	for in, want := range map[string]referTarget{
		"<sip:205@pbx.example.com>":                           {Scheme: "sip", User: "205", Host: "pbx.example.com"},
		`"Alice" <sip:alice@10.0.0.1:5060;transport=udp>;x=y`: {Scheme: "sip", User: "alice", Host: "10.0.0.1:5060"},
		"sip:%2B34986111222@pbx;user=phone":                   {Scheme: "sip", User: "+34986111222", Host: "pbx"},
		"<tel:+34986111222;phone-context=example.com>":        {Scheme: "tel", User: "+34986111222"},
		"<sips:206:secret@pbx>":                               {Scheme: "sips", User: "206", Host: "pbx"},
		"<sip:206@pbx?Replaces=abc%40host%3Bto-tag%3D1>":      {Scheme: "sip", User: "206", Host: "pbx", Replaces: true},
	} {
		got, err := parseReferTo(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "<sip:205@pbx", "205", "<mailto:a@b>", "<sip:pbx.example.com>", "<sip:@pbx>",
		"<sip:a b@pbx>", "<sip:205@>", "<sip:%zz@pbx>", "<sip:" + strings.Repeat("1", 65) + "@pbx>", strings.Repeat("x", 600)} {
		if got, err := parseReferTo(bad); err == nil {
			t.Errorf("%q was read as %+v", bad, got)
		}
	}
}

// A sipfrag's status line gives the code and reason of the REFER's call.
func TestParseSipfrag(t *testing.T) {
	for in, want := range map[string]int{
		"SIP/2.0 200 OK\r\n": 200, "SIP/2.0 100 Trying": 100, "SIP/2.0 486 Busy Here\r\nVia: x\r\n": 486, "sip/2.0 603 Decline": 603,
	} {
		if code, reason, err := parseSipfrag([]byte(in)); err != nil || code != want || reason == "" {
			t.Errorf("%q: %d %q %v", in, code, reason, err)
		}
	}
	for _, bad := range []string{"", "HTTP/1.1 200 OK", "SIP/2.0 2000 OK", "SIP/2.0 099 x", "SIP/2.0 abc", "SIP/2.0 700 x", "SIP/2.0"} {
		if code, _, err := parseSipfrag([]byte(bad)); err == nil {
			t.Errorf("%q was read as %d", bad, code)
		}
	}
}

func FuzzParseReferTo(f *testing.F) {
	f.Add("<sip:205@pbx.example.com>")
	f.Add(`"A" <sip:%2B34@h:5060;transport=tcp?Replaces=x>;p=1`)
	f.Add("tel:+34986111222")
	f.Fuzz(func(t *testing.T, v string) {
		rt, err := parseReferTo(v)
		if err != nil {
			return
		}
		if !validReferUser(rt.User) || (rt.Scheme != "tel" && rt.Scheme != "sip" && rt.Scheme != "sips") {
			t.Fatalf("%q gave %+v", v, rt)
		}
		if rt.Scheme != "tel" && rt.Host == "" {
			t.Fatalf("%q gave a SIP URI without host", v)
		}
	})
}

func FuzzParseSipfrag(f *testing.F) {
	f.Add([]byte("SIP/2.0 200 OK\r\n"))
	f.Add([]byte("SIP/2.0 486 Busy Here\r\nContent-Length: 0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		code, reason, err := parseSipfrag(b)
		if err == nil && (code < 100 || code > 699 || len(reason) > 80) {
			t.Fatalf("%q gave %d %q", b, code, reason)
		}
	})
}

func FuzzSDPDirection(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		switch d := sdpDirection(b); d {
		case dirSendRecv, dirSendOnly, dirRecvOnly, dirInactive:
		default:
			t.Fatalf("%q gave %q", b, d)
		}
	})
}
