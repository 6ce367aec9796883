package janus

import (
	"encoding/json"
	"testing"
)

// Decode never panics, and what it accepts re-encodes.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"janus":"create","transaction":"a"}`,
		`{"janus":"attach","transaction":"b","session_id":1,"plugin":"janus.plugin.videoroom","opaque_id":"x"}`,
		`{"janus":"message","transaction":"c","session_id":1,"handle_id":2,"body":{"request":"join"},"jsep":{"type":"offer","sdp":"v=0\r\n"}}`,
		`{"janus":"trickle","transaction":"d","session_id":1,"handle_id":2,"candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
		`{"janus":"trickle","transaction":"e","session_id":1,"handle_id":2,"candidates":[{"completed":true}]}`,
		`{"janus":"keepalive","transaction":"f","session_id":18446744073709551615,"token":"t"}`,
		`{"janus":"message","transaction":"g","session_id":1,"handle_id":2,"body":{},"jsep":{"type":"answer","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:a\r\na=ice-pwd:b\r\na=fingerprint:sha-256 00\r\n"}}`,
		`[]`, `{`, `null`, `{"janus":"create","transaction":7}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, e := Decode(data)
		if e != nil {
			if e.Code < 400 || e.Code > 499 || e.Reason == "" {
				t.Fatalf("error %+v", e)
			}
			return
		}
		if req.Janus == "" || req.Transaction == "" {
			t.Fatalf("accepted without janus or transaction: %q", data)
		}
		if _, err := json.Marshal(req.Message); err != nil {
			t.Fatalf("accepted message does not encode: %v", err)
		}
	})
}
