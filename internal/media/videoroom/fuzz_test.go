package videoroom

import (
	"encoding/json"
	"testing"
)

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
