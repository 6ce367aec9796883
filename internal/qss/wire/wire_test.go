package wire

import (
	"errors"
	"strings"
	"testing"
)

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"request":"createRoom","requestID":"zoyhQtp_rbHP_u7TX58GN","payload":{}}`,
		`{"request":"invitation","requestID":"r","to":"bob","payload":{"room":"x","mediatypes":{"audio":true},"context":{"contextInfo":{}}}}`,
		`{"answer":"invitation","requestID":"6b0376bf53174748ac74c93d"}`,
		`{"cancel":"invitation","requestID":"x","error":603}`,
		`{"type":"request","payload":{"endpoint":"close","payload":{"medium":"sipcall"},"id":"zMcZeXFM-g9wXKHgZ94ub"}}`,
		`{"type":"request","payload":{"endpoint":"close","id":""}}`, `{"type":"request","payload":[]}`,
		`{"request":5}`, `[]`, `{"payload":[]}`, `{"request":"a","requestID":"b","payload":null}`, "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := DecodeFrame(data)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code == 0 || pe.Message == "" {
				t.Fatalf("error without a code and message: %v", err)
			}
			return
		}
		n := 0
		for _, s := range []string{fr.Request, fr.Answer, fr.Cancel} {
			if s != "" {
				n++
			}
		}
		if n != 1 || fr.RequestID == "" || len(fr.RequestID) > 128 {
			t.Fatalf("accepted a frame without one kind and a requestID: %q", data)
		}
		if len(fr.Payload) > 0 && fr.Payload[0] != '{' {
			t.Fatalf("accepted a payload that is not an object: %q", data)
		}
		var v struct {
			Room string `json:"room"`
		}
		_ = fr.DecodePayload(&v) // must not panic
	})
}

// The seeds' enveloped request (their close of an unanswered call) reads as
// the request it names.
func TestDecodeEnvelopedRequest(t *testing.T) {
	f, err := DecodeFrame([]byte(`{"type":"request","payload":{"endpoint":"close","payload":{"medium":"sipcall"},"id":"zMcZeXFM-g9wXKHgZ94ub"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind() != "request" || f.Request != "close" || f.RequestID != "zMcZeXFM-g9wXKHgZ94ub" || string(f.Payload) != `{"medium":"sipcall"}` {
		t.Fatalf("decoded %+v", f)
	}
	for _, tc := range []struct {
		raw, name, reqID, words string
	}{
		{`{"type":"request"}`, "", "", `"endpoint"`},
		{`{"type":"request","payload":{"id":"x"}}`, "", "x", `"endpoint"`},
		{`{"type":"request","payload":{"endpoint":"close"}}`, "close", "", `"id"`},
		{`{"type":"request","payload":{"endpoint":"close","id":"x","payload":[]}}`, "close", "x", `"payload"`},
		{`{"type":"request","payload":{"endpoint":7,"id":"x"}}`, "", "", `"endpoint"`},
	} {
		_, err := DecodeFrame([]byte(tc.raw))
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.Code != 400 || pe.Name != tc.name || pe.ReqID != tc.reqID || !strings.Contains(pe.Message, tc.words) {
			t.Errorf("%s: %+v, want 400 for %q %q naming %s", tc.raw, pe, tc.name, tc.reqID, tc.words)
		}
	}
}
