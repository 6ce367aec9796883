package qss_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
)

// recorder keeps every frame the scenario's connections sent and received,
// by "<client|server> <request|answer|cancel|event> <name>".
type recorder struct {
	mu     sync.Mutex
	frames map[string][]json.RawMessage
}

func frameKey(sent bool, data []byte) string {
	var f struct {
		Request, Answer, Cancel, Type string
		Payload                       struct {
			EventName string `json:"eventName"`
		}
	}
	json.Unmarshal(data, &f)
	dir := "server"
	if sent {
		dir = "client"
	}
	switch {
	case f.Request != "":
		return dir + " request " + f.Request
	case f.Answer != "":
		return dir + " answer " + f.Answer
	case f.Cancel != "":
		return dir + " cancel " + f.Cancel
	case f.Type == "event":
		return dir + " event " + f.Payload.EventName
	}
	return dir + " unknown"
}

func (r *recorder) trace(sent bool, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := frameKey(sent, data)
	r.frames[k] = append(r.frames[k], append(json.RawMessage{}, data...))
}

// docExample is one JSON example of docs/protocol.md.
type docExample struct {
	key  string
	body json.RawMessage
	line int
}

var fenceRe = regexp.MustCompile("(?m)^```json (client|server) (request|answer|cancel|event) (\\S+)\\s*$")

func readProtocolDoc(t *testing.T) []docExample {
	t.Helper()
	data, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []docExample
	for _, m := range fenceRe.FindAllSubmatchIndex(data, -1) {
		start := m[1] + 1
		end := bytes.Index(data[start:], []byte("\n```"))
		if end < 0 {
			t.Fatalf("unterminated example at byte %d", m[0])
		}
		body := data[start : start+end]
		line := bytes.Count(data[:m[0]], []byte("\n")) + 1
		if !json.Valid(body) {
			t.Fatalf("docs/protocol.md:%d: the example is not valid JSON", line)
		}
		key := string(data[m[2]:m[3]]) + " " + string(data[m[4]:m[5]]) + " " + string(data[m[6]:m[7]])
		out = append(out, docExample{key: key, body: body, line: line})
	}
	return out
}

// shape lists the JSON paths of v with their types.
func shape(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if prefix != "" {
			out[prefix] = "object"
		}
		for k, val := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			shape(p, val, out)
		}
	case []any:
		out[prefix] = "array"
		for _, e := range x {
			shape(prefix+"[]", e, out)
		}
	case string:
		out[prefix] = "string"
	case float64:
		out[prefix] = "number"
	case bool:
		out[prefix] = "boolean"
	case nil:
		out[prefix] = "null"
	}
}

func shapeOf(raw json.RawMessage) map[string]string {
	var v any
	json.Unmarshal(raw, &v)
	out := map[string]string{}
	shape("", v, out)
	return out
}

// TestProtocolDocMatchesServer runs a scenario that uses every request of
// the protocol, sending the requests as docs/protocol.md shows them, and
// checks that every frame the server sent is documented field for field
// and every documented example was seen with those fields and types.
func TestProtocolDocMatchesServer(t *testing.T) {
	examples := readProtocolDoc(t)
	byKey := map[string][]docExample{}
	for _, e := range examples {
		byKey[e.key] = append(byKey[e.key], e)
	}
	rec := &recorder{frames: map[string][]json.RawMessage{}}
	runProtocolScenario(t, rec, func(key string, fill map[string]any) map[string]any {
		// "key#2" is the key's second example.
		key, nth, _ := strings.Cut(key, "#")
		i := 0
		if nth != "" {
			fmt.Sscan(nth, &i)
			i--
		}
		list := byKey[key]
		if len(list) <= i {
			t.Fatalf("docs/protocol.md has no example %q number %d", key, i+1)
		}
		var m map[string]any
		json.Unmarshal(list[i].body, &m)
		for k, v := range fill {
			setPath(m, k, v)
		}
		return m
	})
	// Late frames (events after the scenario's last step) may still be
	// traced: compare a copy.
	rec.mu.Lock()
	recorded := map[string][]json.RawMessage{}
	for k, v := range rec.frames {
		recorded[k] = append([]json.RawMessage(nil), v...)
	}
	rec.mu.Unlock()
	seen := map[string]bool{}
	for key, frames := range recorded {
		seen[key] = true
		docs := byKey[key]
		if len(docs) == 0 {
			t.Errorf("the server exchanged %q, which docs/protocol.md does not show, e.g. %s", key, frames[0])
			continue
		}
		observed := map[string]string{}
		for _, f := range frames {
			for p, typ := range shapeOf(f) {
				observed[p] = typ
			}
		}
		documented := map[string]string{}
		for _, d := range docs {
			for p, typ := range shapeOf(d.body) {
				documented[p] = typ
				if o, ok := observed[p]; !ok {
					t.Errorf("docs/protocol.md:%d (%s): field %s was never seen; the server sent e.g. %s", d.line, key, p, frames[0])
				} else if typ != o && typ != "null" && o != "null" {
					t.Errorf("docs/protocol.md:%d (%s): field %s is %s in the doc but %s on the wire", d.line, key, p, typ, o)
				}
			}
		}
		for p := range observed {
			if _, ok := documented[p]; !ok {
				t.Errorf("%s: the server's field %s is not in any example of docs/protocol.md; e.g. %s", key, p, frames[0])
			}
		}
	}
	for key, docs := range byKey {
		if !seen[key] {
			t.Errorf("docs/protocol.md:%d shows %q, which the scenario never saw", docs[0].line, key)
		}
	}
	if os.Getenv("QSS_DUMP") != "" {
		keys := make([]string, 0, len(recorded))
		for k := range recorded {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf("```json %s\n%s\n```\n\n", k, indent(recorded[k][0]))
		}
	}
}

func indent(raw json.RawMessage) string {
	var b bytes.Buffer
	json.Indent(&b, raw, "", "  ")
	return b.String()
}

// setPath sets a dotted path of m.
func setPath(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// runProtocolScenario exercises every request. ex returns the documented
// example of a key with fields filled in.
func runProtocolScenario(t *testing.T, rec *recorder, ex func(key string, fill map[string]any) map[string]any) {
	c := newCluster(t, 1, func(cfg *config.Config) {
		cfg.Watchdog.Invites.Period, cfg.Watchdog.Invites.Expiration = 100, 800
		cfg.TURN.STUNServers = []string{"stun:stun.example.org:3478"}
	})
	ctx := tctx(t)
	alice, au := c.user(0, "alice")
	bob, bu := c.user(0, "bob")
	carol, cu := c.user(0, "carol")
	open := func(cl *client.Client) *client.Conn {
		conn, err := cl.Connect(ctx, client.ConnectOptions{Trace: rec.trace, Platform: "web"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.Close)
		return conn
	}
	a, b, cc := open(alice), open(bob), open(carol)
	n := 0
	// start sends the documented request key with fields filled in.
	start := func(conn *client.Conn, key string, fill map[string]any) (string, <-chan *client.Frame) {
		t.Helper()
		n++
		m := ex(key, fill)
		id := fmt.Sprintf("doc-%d", n)
		m["requestID"] = id
		ch, err := conn.StartMessage(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return id, ch
	}
	do := func(conn *client.Conn, key string, fill map[string]any) *client.Frame {
		t.Helper()
		_, ch := start(conn, key, fill)
		f, _ := conn.Await(ctx, ch)
		if f == nil {
			t.Fatalf("%s: no answer", key)
		}
		return f
	}
	reply := func(conn *client.Conn, key string, req *client.Frame, fill map[string]any) {
		t.Helper()
		m := ex(key, fill)
		m["requestID"] = req.RequestID
		if err := conn.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	mustAnswer := func(f *client.Frame, name string) {
		t.Helper()
		if f.Answer != name || f.Error != 0 {
			t.Fatalf("%s: %s", name, f.Raw)
		}
	}

	do(a, "client request updateSession", nil)
	f := do(a, "client request createRoom", nil)
	mustAnswer(f, "createRoom")
	room := decodeRoom(t, f).Room
	mustAnswer(do(a, "client request joinRoom", map[string]any{"payload.room": room}), "joinRoom")
	// A cancel: bob is not in the ACL yet.
	if f := do(b, "client request joinRoom", map[string]any{"payload.room": room}); f.Error != 403 {
		t.Fatalf("join outside the ACL: %s", f.Raw)
	}
	mustAnswer(do(a, "client request updateRoom", map[string]any{"payload.room": room, "payload.acl": []string{"bob", "carol"}}), "updateRoom")
	mustAnswer(do(b, "client request joinRoom", map[string]any{"payload.room": room}), "joinRoom")
	mustAnswer(do(cc, "client request joinRoom", map[string]any{"payload.room": room}), "joinRoom")
	mustAnswer(do(b, "client request getRoom", map[string]any{"payload.room": room}), "getRoom")
	mustAnswer(do(b, "client request hold", map[string]any{"payload.room": room}), "hold")
	mustAnswer(do(b, "client request unhold", map[string]any{"payload.room": room}), "unhold")
	mustAnswer(do(a, "client request mute", map[string]any{"payload.room": room, "payload.participant": "bob"}), "mute")
	mustAnswer(do(a, "client request expel", map[string]any{"payload.room": room, "payload.participant": "carol"}), "expel")
	mustAnswer(do(b, "client request leaveRoom", map[string]any{"payload.room": room}), "leaveRoom")
	do(a, "client request unknownThing", nil)

	// Invitations: accepted, declined, cancelled, unanswered.
	mustAnswer(do(a, "client request updateRoom", map[string]any{"payload.room": room, "payload.acl": []string{}}), "updateRoom")
	_, ch := start(a, "client request invitation", map[string]any{"to": "bob", "payload.room": room})
	req := ring(t, b)
	reply(b, "client answer invitation", req, nil)
	mustAnswer(outcome(t, ch), "invitation")
	mustAnswer(do(b, "client request joinRoom", map[string]any{"payload.room": room}), "joinRoom")
	a.WaitEvent(ctx, "inviteCompleted")

	_, ch = start(a, "client request invitation", map[string]any{"to": cu.ID, "payload.room": room})
	reply(cc, "client cancel invitation", ring(t, cc), map[string]any{"error": 603})
	if f := outcome(t, ch); f.Error != 603 {
		t.Fatalf("declined: %s", f.Raw)
	}
	id, ch := start(a, "client request invitation", map[string]any{"to": "carol", "payload.room": room})
	ring(t, cc)
	m := ex("client cancel invitation", map[string]any{"requestID": id})
	delete(m, "error")
	a.Send(ctx, m)
	outcome(t, ch)
	cc.WaitIncoming(ctx, "invitation")
	_, ch = start(a, "client request invitation", map[string]any{"to": "carol", "payload.room": room})
	ring(t, cc)
	if f := outcome(t, ch); f.Error != 408 {
		t.Fatalf("unanswered: %s", f.Raw)
	}

	// inviteRequest, answered with bob's room.
	_, ch = start(cc, "client request inviteRequest", map[string]any{"to": "bob"})
	req, _ = b.WaitIncoming(ctx, "inviteRequest")
	reply(b, "client answer inviteRequest", req, map[string]any{"payload.room": room})
	mustAnswer(outcome(t, ch), "inviteRequest")
	mustAnswer(do(cc, "client request joinRoom", map[string]any{"payload.room": room}), "joinRoom")

	// Blind transfer of carol to... bob is in; transfer carol to a new user dave.
	dave, _ := c.user(0, "dave")
	d := open(dave)
	_, ch = start(a, "client request transfer", map[string]any{"payload.room": room, "payload.participant": "carol", "payload.to": "dave"})
	reply(d, "client answer invitation", ring(t, d), nil)
	mustAnswer(outcome(t, ch), "transfer")
	b.WaitEvent(ctx, "transferCompleted")
	mustAnswer(do(d, "client request joinRoom", map[string]any{"payload.room": room}), "joinRoom")
	// A transfer that fails.
	_, ch = start(b, "client request transfer", map[string]any{"payload.room": room, "payload.participant": "dave", "payload.to": "alice"})
	a.Decline(ctx, ring(t, a), 486)
	outcome(t, ch)
	b.WaitEvent(ctx, "transferError")

	// Attended transfer: bob (in room with dave, carol) consults alice in room 2.
	f = do(b, "client request createRoom", map[string]any{"payload.acl": []string{"alice"}})
	room2 := decodeRoom(t, f).Room
	do(b, "client request joinRoom", map[string]any{"payload.room": room2})
	do(a, "client request joinRoom", map[string]any{"payload.room": room2})
	_, ch = start(b, "client request transfer#2", map[string]any{"payload.room": room, "payload.participant": "dave",
		"payload.targetRoom": room2})
	req, _ = d.WaitIncoming(ctx, "transferring-attended-transfer")
	reply(d, "client answer transferring-attended-transfer", req, nil)
	mustAnswer(outcome(t, ch), "transfer")
	mustAnswer(do(d, "client request joinRoom", map[string]any{"payload.room": room2}), "joinRoom")

	// Quick conference, owner change on leave, destroy.
	mustAnswer(do(a, "client request quickConference", map[string]any{"payload.conferenceUri": "wac-conf00000000000000000001"}), "quickConference")
	mustAnswer(do(b, "client request destroyRoom", map[string]any{"payload.room": room2}), "destroyRoom")
	d.WaitEvent(ctx, "destroyed")

	// An admin ends bob's session.
	c.admin.API(ctx, "DELETE", "/sapi/sessions/"+b.Session, nil, nil)
	b.WaitEvent(ctx, "sessionEnded")
	time.Sleep(300 * time.Millisecond)
	_, _, _ = au, bu, cu
}
