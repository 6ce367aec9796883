package videoroom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
)

// Bad requests get the Janus error codes, over the WebSocket transport.
func TestCoreErrors(t *testing.T) {
	checkGoroutines(t)
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := janus.Dial(ctx, n.ws)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := sess.Attach(ctx, janus.VideoRoom)
	if err != nil {
		t.Fatal(err)
	}
	raw := func(txn, body string) janus.Message {
		t.Helper()
		wait := c.ReadRaw(txn)
		if err := c.SendRaw(ctx, []byte(body)); err != nil {
			t.Fatal(err)
		}
		m, err := wait(ctx)
		if err != nil {
			t.Fatalf("no answer to %s: %v", body, err)
		}
		return m
	}
	sdpGarbage := "v=0\r\nthis is not an SDP\r\n"
	cases := []struct {
		name string
		body string
		code int
	}{
		{"no transaction", `{"janus":"create"}`, janus.ErrMissingMandatoryElement},
		{"missing request", `{"transaction":"t1"}`, janus.ErrMissingMandatoryElement},
		{"unknown request", `{"janus":"dance","transaction":"t2"}`, janus.ErrUnknownRequest},
		{"wrong type", `{"janus":"keepalive","transaction":"t3","session_id":"x"}`, janus.ErrInvalidElementType},
		{"no such session", `{"janus":"keepalive","transaction":"t4","session_id":42}`, janus.ErrSessionNotFound},
		{"no session id", `{"janus":"attach","transaction":"t5","plugin":"janus.plugin.videoroom"}`, janus.ErrMissingMandatoryElement},
		{"no such plugin", fmt.Sprintf(`{"janus":"attach","transaction":"t6","session_id":%d,"plugin":"janus.plugin.echotest"}`, sess.ID), janus.ErrPluginNotFound},
		{"no such handle", fmt.Sprintf(`{"janus":"message","transaction":"t7","session_id":%d,"handle_id":7,"body":{"request":"list"}}`, sess.ID), janus.ErrHandleNotFound},
		{"body not an object", fmt.Sprintf(`{"janus":"message","transaction":"t8","session_id":%d,"handle_id":%d,"body":[1]}`, sess.ID, h.ID), janus.ErrInvalidJSONObject},
		{"no body", fmt.Sprintf(`{"janus":"message","transaction":"t9","session_id":%d,"handle_id":%d}`, sess.ID, h.ID), janus.ErrMissingMandatoryElement},
		{"garbage SDP", fmt.Sprintf(`{"janus":"message","transaction":"t10","session_id":%d,"handle_id":%d,"body":{"request":"publish"},"jsep":{"type":"offer","sdp":%q}}`, sess.ID, h.ID, sdpGarbage), janus.ErrJSEPInvalidSDP},
		{"unknown JSEP type", fmt.Sprintf(`{"janus":"message","transaction":"t11","session_id":%d,"handle_id":%d,"body":{"request":"publish"},"jsep":{"type":"pranswer","sdp":"v=0"}}`, sess.ID, h.ID), janus.ErrJSEPUnknownType},
		{"bad core token", fmt.Sprintf(`{"janus":"keepalive","transaction":"t12","session_id":%d,"token":"nope"}`, sess.ID), janus.ErrUnauthorized},
		{"bad trickle", fmt.Sprintf(`{"janus":"trickle","transaction":"t13","session_id":%d,"handle_id":%d,"candidate":"x"}`, sess.ID, h.ID), janus.ErrInvalidJSONObject},
	}
	for _, c := range cases {
		var probe struct {
			Transaction string `json:"transaction"`
		}
		json.Unmarshal([]byte(c.body), &probe)
		if probe.Transaction == "" {
			continue // answered without a transaction: checked below
		}
		m := raw(probe.Transaction, c.body)
		if m.Janus != "error" || m.Error == nil || m.Error.Code != c.code {
			t.Errorf("%s: got %+v (error %+v), want error %d", c.name, m, m.Error, c.code)
		}
	}
	// Invalid JSON and a non-object can carry no transaction: the answer
	// comes without one. Send them and check the connection still works.
	for _, body := range []string{`{"janus":`, `[1,2]`, "\xff\xfe", `{"janus":"create"}`} {
		if err := c.SendRaw(ctx, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Do(ctx, janus.Message{Janus: "keepalive", SessionID: sess.ID}, false); err != nil {
		t.Fatalf("connection unusable after bad input: %v", err)
	}
	if _, err := c.Do(ctx, janus.Message{Janus: "ping"}, false); err != nil {
		t.Fatal(err)
	}
}

// The Janus decoder answers the exact codes for malformed messages.
func TestDecodeCodes(t *testing.T) {
	for body, code := range map[string]int{
		`{"janus":`:                     janus.ErrInvalidJSON,
		`[1,2]`:                         janus.ErrInvalidJSONObject,
		`"create"`:                      janus.ErrInvalidJSONObject,
		`null`:                          janus.ErrInvalidJSONObject,
		"\xff":                          janus.ErrInvalidJSON,
		`{"janus":1}`:                   janus.ErrMissingMandatoryElement,
		`{"transaction":"x","janus":1}`: janus.ErrInvalidElementType,
	} {
		_, e := janus.Decode([]byte(body))
		if e == nil || e.Code != code {
			t.Errorf("Decode(%q) = %v, want code %d", body, e, code)
		}
	}
}

// Requests in the wrong state and bad VideoRoom requests get the plugin's
// error codes.
func TestVideoRoomErrors(t *testing.T) {
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	room, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	api := testAPI(t)
	tok := token(id, "alice", true, true)
	_, h := n.client(ctx, t)
	code := func(err error) int {
		var pe *janus.PluginError
		if errors.As(err, &pe) {
			return pe.Code
		}
		var e *janus.Error
		if errors.As(err, &e) {
			return e.Code
		}
		return 0
	}
	req := func(h *janus.Handle, body map[string]any, async bool) error {
		_, _, err := h.Request(ctx, body, nil, async)
		return err
	}
	for _, c := range []struct {
		name  string
		body  map[string]any
		async bool
		want  int
	}{
		{"start before join", map[string]any{"request": "start"}, true, janus.VRErrJoinFirst},
		{"publish before join", map[string]any{"request": "publish"}, true, janus.VRErrJoinFirst},
		{"no request", map[string]any{"room": 1}, false, janus.VRErrMissingElement},
		{"unknown request", map[string]any{"request": "teleport"}, false, janus.VRErrInvalidRequest},
		{"no such room", map[string]any{"request": "join", "ptype": "publisher", "room": 4242, "token": tok}, true, janus.VRErrNoSuchRoom},
		{"bad ptype", map[string]any{"request": "join", "ptype": "ghost", "room": id, "token": tok}, true, janus.VRErrInvalidElement},
		{"no ptype", map[string]any{"request": "join", "room": id, "token": tok}, true, janus.VRErrMissingElement},
		{"bad room", map[string]any{"request": "join", "ptype": "publisher", "room": true, "token": tok}, true, janus.VRErrInvalidElement},
		{"bad token", map[string]any{"request": "join", "ptype": "publisher", "room": id, "token": "garbage"}, true, janus.VRErrUnauthorized},
		{"destroy without admin key", map[string]any{"request": "destroy", "room": id}, false, janus.VRErrUnauthorized},
		{"create without grant", map[string]any{"request": "create", "room": 777}, false, janus.VRErrUnauthorized},
		{"create existing", map[string]any{"request": "create", "room": id, "token": tok}, false, janus.VRErrRoomExists},
	} {
		if got := code(req(h, c.body, c.async)); got != c.want {
			t.Errorf("%s: code %d, want %d", c.name, got, c.want)
		}
	}

	// Publisher handle: join twice, unpublish unpublished, publish without
	// an offer, with an answer, with garbage, twice; an unknown feed.
	j, err := peer.JoinPublisher(ctx, h, room.Number, tok, "Alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		body map[string]any
		jsep *janus.JSEP
		want int
	}{
		{"join twice", map[string]any{"request": "join", "ptype": "publisher", "room": id, "token": tok}, nil, janus.VRErrAlreadyJoined},
		{"unpublish unpublished", map[string]any{"request": "unpublish"}, nil, janus.VRErrNotPublished},
		{"publish without offer", map[string]any{"request": "publish"}, nil, janus.VRErrMissingElement},
		{"start on a publisher", map[string]any{"request": "start"}, nil, janus.VRErrInvalidRequest},
		{"publish an answer", map[string]any{"request": "publish"}, &janus.JSEP{Type: "answer", SDP: validSDP}, janus.VRErrInvalidSDPType},
	} {
		_, _, err := h.Request(ctx, c.body, c.jsep, true)
		if got := code(err); got != c.want {
			t.Errorf("%s: %v, want %d", c.name, err, c.want)
		}
	}
	pub, err := peer.Publish(ctx, api, h, "vp8", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := pub.PC.CreateOffer(nil); err != nil {
		t.Fatal(err)
	}
	_, _, err = h.Request(ctx, map[string]any{"request": "publish"}, &janus.JSEP{Type: "offer", SDP: pub.PC.LocalDescription().SDP}, true)
	if code(err) != janus.VRErrAlreadyPublished {
		t.Errorf("publish twice: %v, want 434", err)
	}
	if err := peer.Active(ctx, h, pub.PC); err != nil {
		t.Fatal(err)
	}

	_, hs := n.client(ctx, t)
	for _, c := range []struct {
		name string
		body map[string]any
		want int
	}{
		{"no such feed", map[string]any{"request": "join", "ptype": "subscriber", "room": id, "token": tok, "streams": []any{map[string]any{"feed": 99}}}, janus.VRErrNoSuchFeed},
		{"no such mid", map[string]any{"request": "join", "ptype": "subscriber", "room": id, "token": tok, "streams": []any{map[string]any{"feed": j.ID, "mid": "z"}}}, janus.VRErrNoSuchFeed},
		{"no streams", map[string]any{"request": "join", "ptype": "subscriber", "room": id, "token": tok}, janus.VRErrMissingElement},
		{"bad streams", map[string]any{"request": "join", "ptype": "subscriber", "room": id, "token": tok, "streams": "all"}, janus.VRErrInvalidElement},
	} {
		if got := code(req(hs, c.body, true)); got != c.want {
			t.Errorf("%s: code %d, want %d", c.name, got, c.want)
		}
	}
	sub, err := peer.Subscribe(ctx, api, hs, id, tok, []uint64{j.ID}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if got := code(req(hs, map[string]any{"request": "join", "ptype": "subscriber", "room": id, "token": tok, "streams": []any{map[string]any{"feed": j.ID}}}, true)); got != janus.VRErrAlreadyJoined {
		t.Errorf("subscriber join twice: %d", got)
	}
	_, _, err = hs.Request(ctx, map[string]any{"request": "start"}, &janus.JSEP{Type: "answer", SDP: "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:x\r\na=ice-pwd:yyyyyyyyyyyyyyyyyyyyyy\r\na=fingerprint:sha-256 00\r\n"}, true)
	if c := code(err); c != janus.VRErrInvalidSDPType && c != janus.VRErrInvalidSDP {
		t.Errorf("unexpected answer: %v", err)
	}
	// After all that the call still works.
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	pub.Send(sendCtx, 200, 20)
	waitUntil(t, 10*time.Second, "media after the bad requests", func() bool {
		v := sub.Track("video")
		return v != nil && v.Packets.Load() > 0
	})
}

const validSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 AA:BB\r\na=rtpmap:111 opus/48000/2\r\n"

// Sessions without keepalive time out, as in Janus.
func TestSessionTimeout(t *testing.T) {
	cfg := testMediaConfig(t)
	cfg.SessionTimeout = time.Second
	n := startSFU(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := janus.Dial(ctx, n.ws)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(ctx, janus.Message{Janus: "create"}, false)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		ID uint64 `json:"id"`
	}
	json.Unmarshal(r.Data, &d)
	time.Sleep(2500 * time.Millisecond)
	_, err = c.Do(ctx, janus.Message{Janus: "keepalive", SessionID: d.ID}, false)
	var e *janus.Error
	if !errors.As(err, &e) || e.Code != janus.ErrSessionNotFound {
		t.Fatalf("keepalive after the timeout: %v, want 458", err)
	}
}

// The REST transport: create, attach, message and long poll.
func TestHTTPTransport(t *testing.T) {
	n := startSFU(t, testMediaConfig(t))
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	post := func(path, body string) janus.Message {
		t.Helper()
		resp, err := http.Post(n.http+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m janus.Message
		b, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("POST %s: %s", path, b)
		}
		return m
	}
	m := post("", `{"janus":"create","transaction":"a"}`)
	var d struct {
		ID uint64 `json:"id"`
	}
	json.Unmarshal(m.Data, &d)
	if m.Janus != "success" || d.ID == 0 {
		t.Fatalf("create: %+v", m)
	}
	sp := fmt.Sprintf("/%d", d.ID)
	m = post(sp, `{"janus":"attach","transaction":"b","plugin":"janus.plugin.videoroom"}`)
	var hd struct {
		ID uint64 `json:"id"`
	}
	json.Unmarshal(m.Data, &hd)
	if m.Janus != "success" || hd.ID == 0 {
		t.Fatalf("attach: %+v", m)
	}
	hp := fmt.Sprintf("%s/%d", sp, hd.ID)
	if m := post(sp, `{"janus":"message","transaction":"c","body":{"request":"list"}}`); m.Error == nil || m.Error.Code != janus.ErrInvalidRequestPath {
		t.Fatalf("message at a session path: %+v", m)
	}
	body := fmt.Sprintf(`{"janus":"message","transaction":"d","body":{"request":"join","ptype":"publisher","room":%q,"token":%q,"display":"Rest"}}`,
		id, token(id, "rest", true, true))
	if m := post(hp, body); m.Janus != "ack" {
		t.Fatalf("async message: %+v", m)
	}
	resp, err := http.Get(n.http + sp + "?maxev=5")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var events []janus.Message
	if err := json.Unmarshal(b, &events); err != nil || len(events) == 0 || events[0].Transaction != "d" ||
		!bytes.Contains(events[0].PluginData.Data, []byte(`"joined"`)) {
		t.Fatalf("long poll: %s", b)
	}
	if m := post(sp, `{"janus":"keepalive","transaction":"e"}`); m.Janus != "ack" {
		t.Fatalf("keepalive: %+v", m)
	}
	resp, err = http.Get(n.http + "/info")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(b, []byte(`"server_info"`)) || !bytes.Contains(b, []byte(janus.VideoRoom)) {
		t.Fatalf("info: %s", b)
	}
	if m := post(sp, `{"janus":"destroy","transaction":"f"}`); m.Janus != "success" {
		t.Fatalf("destroy: %+v", m)
	}
	if m := post(sp, `{"janus":"keepalive","transaction":"g"}`); m.Error == nil || m.Error.Code != janus.ErrSessionNotFound {
		t.Fatalf("keepalive after destroy: %+v", m)
	}
}

// A WebSocket without the janus-protocol subprotocol is refused.
func TestWebSocketNeedsSubprotocol(t *testing.T) {
	n := startSFU(t, testMediaConfig(t))
	req, _ := http.NewRequest("GET", n.http, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols && resp.Header.Get("Sec-WebSocket-Protocol") == janus.Subprotocol {
		t.Fatal("accepted a WebSocket without the subprotocol")
	}
}
