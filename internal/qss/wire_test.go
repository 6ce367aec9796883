package qss

import (
	"errors"
	"testing"
)

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"request":"createRoom","requestID":"zoyhQtp_rbHP_u7TX58GN","payload":{}}`,
		`{"request":"invitation","requestID":"r","to":"bob","payload":{"room":"x","mediatypes":{"audio":true},"context":{"contextInfo":{}}}}`,
		`{"answer":"invitation","requestID":"6b0376bf53174748ac74c93d"}`,
		`{"cancel":"invitation","requestID":"x","error":603}`,
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
