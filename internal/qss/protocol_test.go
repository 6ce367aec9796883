package qss_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/qss"
)

// recorder keeps every frame the scenario's connections sent and received,
// by "<client|server> <request|answer|cancel|event> <name>".
type recorder struct {
	mu     sync.Mutex
	frames map[string][]json.RawMessage
}

// frameKey is the key of a frame ("" for what is no JSON object). The seeds'
// enveloped request is "request <endpoint>".
func frameKey(sent bool, data []byte) string {
	var f struct {
		Request, Answer, Cancel, Type string
		Payload                       struct {
			EventName string `json:"eventName"`
			Endpoint  string `json:"endpoint"`
		}
	}
	if json.Unmarshal(data, &f) != nil {
		return ""
	}
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
	case f.Type == "request":
		return dir + " request " + f.Payload.Endpoint
	}
	return dir + " unknown"
}

func (r *recorder) trace(sent bool, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := frameKey(sent, data)
	if k == "" {
		return
	}
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

// The people of docs/protocol.md's examples, by their ids there; the
// scenario's users of the same names stand for them, and the doc's domain
// for the test's.
var docPeople = map[string]string{
	"5da6e65772aa8c46876107d6": "alice",
	"5f21f8239797901f01535828": "bob",
	"6b0376bfffee1d6c23e259b1": "carol",
	"6b0376c0a1f7e2c4b95d3e80": "dave",
}

const docDomain = "quobis"

var (
	hex24Re    = regexp.MustCompile(`^[0-9a-f]{24}$`)
	hex64Re    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	digitsRe   = regexp.MustCompile(`^[0-9]+$`)
	turnUserRe = regexp.MustCompile(`^[0-9]+:([0-9a-f]{24})$`)
	nodeRe     = regexp.MustCompile(`^n[0-9a-f]{6,}$`)
)

// valueChecker compares the values a doc example states with a frame the
// server sent. Values that each run makes anew match any value of their
// kind: ids (24 hex) and room uuids (64 hex) other than the doc's people,
// node ids, room numbers, tokens, timestamps, TURN credentials, and a
// requestID the doc gives (an empty one must be empty). The scenario runs without a media
// node, so a room's serverUuid and server URLs are empty on the wire (a
// media node's are checked in internal/node).
type valueChecker struct {
	people map[string]string // doc id → scenario id
	domain string            // the scenario's domain
}

// diff appends to out where got differs from the doc value want at path.
func (c valueChecker) diff(path, key string, want, got any, out *[]string) {
	bad := func() { *out = append(*out, fmt.Sprintf("%s: doc %v, server %v", path, jsonOf(want), jsonOf(got))) }
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			bad()
			return
		}
		for k, v := range w {
			gv, ok := g[k]
			if !ok {
				*out = append(*out, fmt.Sprintf("%s.%s: missing on the wire", path, k))
				continue
			}
			c.diff(path+"."+k, k, v, gv, out)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			bad()
			return
		}
		for i := range w {
			c.diff(fmt.Sprintf("%s[%d]", path, i), key, w[i], g[i], out)
		}
	case string:
		g, ok := got.(string)
		if !ok || !c.sameString(key, w, g) {
			bad()
		}
	case float64:
		g, ok := got.(float64)
		if !ok || g != w && !(w >= 1e12 && g >= 1e12) { // timestamps
			bad()
		}
	default:
		if !reflect.DeepEqual(want, got) {
			bad()
		}
	}
}

func (c valueChecker) sameString(key, want, got string) bool {
	switch {
	case key == "requestID" && want != "", key == "closed", key == "credential":
		return got != ""
	case key == "serverUuid" && got == "":
		return true
	case (key == "https" || key == "wss") && got == "":
		return true
	}
	if id, ok := c.people[want]; ok {
		return got == id
	}
	if m := turnUserRe.FindStringSubmatch(want); m != nil {
		g := turnUserRe.FindStringSubmatch(got)
		return g != nil && (c.people[m[1]] == "" || g[1] == c.people[m[1]])
	}
	switch {
	case hex24Re.MatchString(want):
		return hex24Re.MatchString(got)
	case hex64Re.MatchString(want):
		return hex64Re.MatchString(got)
	case nodeRe.MatchString(want):
		return nodeRe.MatchString(got)
	case digitsRe.MatchString(want) && len(want) >= 6:
		return digitsRe.MatchString(got)
	case strings.HasPrefix(want, "eyJ"):
		return strings.HasPrefix(got, "eyJ")
	}
	return got == strings.ReplaceAll(want, docDomain, c.domain)
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
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
// checks that every frame the server sent is documented field for field,
// every documented example was seen with those fields and types, and every
// example of the server states values the server sent (see valueChecker).
func TestProtocolDocMatchesServer(t *testing.T) {
	examples := readProtocolDoc(t)
	byKey := map[string][]docExample{}
	for _, e := range examples {
		byKey[e.key] = append(byKey[e.key], e)
	}
	rec := &recorder{frames: map[string][]json.RawMessage{}}
	people := runProtocolScenario(t, rec, func(key string, fill map[string]any) map[string]any {
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
		json.Unmarshal(bytes.ReplaceAll(list[i].body, []byte("@"+docDomain), []byte("@wac")), &m)
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
	// Every example the server sends states values the server sent: some
	// frame of its key has them all.
	vc := valueChecker{people: map[string]string{}, domain: "wac"}
	for id, name := range docPeople {
		vc.people[id] = people[name]
	}
	for key, docs := range byKey {
		if !strings.HasPrefix(key, "server ") || !seen[key] {
			continue
		}
		for _, d := range docs {
			var want any
			json.Unmarshal(d.body, &want)
			var best []string
			var bestFrame json.RawMessage
			for _, f := range recorded[key] {
				var got any
				json.Unmarshal(f, &got)
				var diffs []string
				vc.diff("", "", want, got, &diffs)
				if best == nil || len(diffs) < len(best) {
					best, bestFrame = diffs, f
				}
				if len(diffs) == 0 {
					break
				}
			}
			if len(best) > 0 {
				t.Errorf("docs/protocol.md:%d (%s): no frame of the server has the example's values; the closest, %s, differs in:\n\t%s",
					d.line, key, bestFrame, strings.Join(best, "\n\t"))
			}
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

// runProtocolScenario exercises every request and returns its users' ids by
// name. ex returns the documented example of a key with fields filled in.
// The story is the doc's: alice calls bob and carol, transfers carol to
// dave, and so on, so that the doc's examples show what the server sent.
func runProtocolScenario(t *testing.T, rec *recorder, ex func(key string, fill map[string]any) map[string]any) map[string]string {
	c := newCluster(t, 1, func(cfg *config.Config) {
		cfg.Watchdog.Invites.Period, cfg.Watchdog.Invites.Expiration = 100*time.Millisecond, 800*time.Millisecond
		cfg.TURN.STUNServers = []string{"stun:stun.example.org:3478"}
		cfg.TURN.Host = "turn.example.org"
		// Rooms are left at once when a connection drops; a dropped device
		// stays rung (the session event's removeAfter is the larger).
		cfg.Rooms.RemoveAfter, cfg.Invites.Basic.RemoveAfter = 0, 10*time.Second
	})
	ctx := tctx(t)
	alice, au := c.user(0, "alice")
	bob, bu := c.user(0, "bob")
	carol, cu := c.user(0, "carol")
	open := func(cl *client.Client) *client.Conn {
		conn, err := cl.Connect(ctx, client.ConnectOptions{Trace: rec.trace, Platform: "web", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"})
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
	// traced waits until the server sent a frame of key that mentions about.
	traced := func(key, about string) json.RawMessage {
		t.Helper()
		var found json.RawMessage
		waitFor(t, func() bool {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, f := range rec.frames[key] {
				if strings.Contains(string(f), about) {
					found = f
					return true
				}
			}
			return false
		})
		return found
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
	mustAnswer(do(a, "client request updateRoom", map[string]any{"payload.room": room}), "updateRoom")
	mustAnswer(do(b, "client request joinRoom", map[string]any{"payload.room": room}), "joinRoom")
	// The newcomer gets the room's participants too.
	if _, err := b.WaitEvent(ctx, "remoteParticipants"); err != nil {
		t.Fatal(err)
	}
	mustAnswer(do(a, "client request startRecording", map[string]any{"payload.room": room}), "startRecording")
	traced("server event recordingStarted", room)
	mustAnswer(do(b, "client request stopRecording", map[string]any{"payload.room": room}), "stopRecording")
	traced("server event recordingStopped", room)
	mustAnswer(do(cc, "client request joinRoom", map[string]any{"payload.room": room}), "joinRoom")
	mustAnswer(do(b, "client request hold", map[string]any{"payload.room": room}), "hold")
	mustAnswer(do(b, "client request getRoom", map[string]any{"payload.room": room}), "getRoom")
	mustAnswer(do(b, "client request unhold", map[string]any{"payload.room": room}), "unhold")
	mustAnswer(do(a, "client request mute", map[string]any{"payload.room": room, "payload.participant": "bob"}), "mute")
	// A phone in the room presses a key: the sip role tells the room.
	hub := c.nodes[0].Hub()
	phone := qss.PhoneUser("+34986999888", "", au.Domain, "")
	if err := hub.Admit(ctx, room, qss.User{ID: au.ID}, phone, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.JoinPhone(ctx, room, phone, "sip-doc"); err != nil {
		t.Fatal(err)
	}
	if err := hub.PhoneDTMF(ctx, room, phone, "5"); err != nil {
		t.Fatal(err)
	}
	traced("server event dtmf", room)
	// An app sends digits to the phone (the sip role's keypad; here one
	// that keeps them).
	keys := &keptDigits{}
	hub.SetKeypad(keys)
	mustAnswer(do(a, "client request sendDTMF", map[string]any{"payload.room": room}), "sendDTMF")
	if got := keys.get(); got != room+" 1234# 120ms" {
		t.Fatalf("the keypad got %q", got)
	}
	if err := hub.LeavePhone(ctx, room, phone, "sip-doc", 200, "the phone hung up"); err != nil {
		t.Fatal(err)
	}
	mustAnswer(do(a, "client request expel", map[string]any{"payload.room": room, "payload.participant": "carol"}), "expel")
	mustAnswer(do(b, "client request leaveRoom", map[string]any{"payload.room": room}), "leaveRoom")
	do(a, "client request unknownThing", nil)
	// A frame the server cannot read at all (not traced: it is no JSON).
	a.SendRaw(ctx, []byte(`{"request":"createRoom",`))
	traced("server cancel unknown", "malformed")

	// Invitations: accepted (bob has a second device), declined, cancelled,
	// unanswered, closed.
	b2 := open(bob)
	mustAnswer(do(a, "client request updateRoom", map[string]any{"payload.room": room, "payload.acl": []string{}}), "updateRoom")
	_, ch := start(a, "client request invitation", map[string]any{"to": "bob", "payload.room": room})
	req := ring(t, b)
	ring(t, b2)
	reply(b, "client answer invitation", req, nil)
	mustAnswer(outcome(t, ch), "invitation")
	b2.WaitIncoming(ctx, "invitation") // answered elsewhere
	b2.Close()
	mustAnswer(do(b, "client request joinRoom", map[string]any{"payload.room": room}), "joinRoom")
	a.WaitEvent(ctx, "inviteCompleted")
	if _, err := b.WaitEvent(ctx, "inviteCompleted"); err != nil { // the one who joined is told too
		t.Fatal(err)
	}

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
	// The ringing device asks what rings it.
	cur := do(cc, "client request getCurrentInvitations", nil)
	if !strings.Contains(string(cur.Payload), au.ID) {
		t.Fatalf("getCurrentInvitations: %s", cur.Raw)
	}
	if f := outcome(t, ch); f.Error != 408 {
		t.Fatalf("unanswered: %s", f.Raw)
	}
	cc.WaitIncoming(ctx, "invitation")
	// The seeds' close of an unanswered call.
	_, ch = start(a, "client request invitation", map[string]any{"to": "carol", "payload.room": room})
	ring(t, cc)
	a.Send(ctx, ex("client request close", nil))
	if f := outcome(t, ch); f.Error != 408 {
		t.Fatalf("closed: %s", f.Raw)
	}
	traced("server answer close", `"closed"`)
	cc.WaitIncoming(ctx, "invitation")

	// inviteRequest, answered with bob's room.
	_, ch = start(cc, "client request inviteRequest", map[string]any{"to": "bob"})
	req, _ = b.WaitIncoming(ctx, "inviteRequest")
	reply(b, "client answer inviteRequest", req, map[string]any{"payload.room": room})
	mustAnswer(outcome(t, ch), "inviteRequest")
	mustAnswer(do(cc, "client request joinRoom", map[string]any{"payload.room": room}), "joinRoom")

	// Blind transfer of carol to dave.
	dave, du := c.user(0, "dave")
	d := open(dave)
	_, ch = start(a, "client request transfer", map[string]any{"payload.room": room})
	reply(d, "client answer invitation", ring(t, d), nil)
	mustAnswer(outcome(t, ch), "transfer")
	b.WaitEvent(ctx, "transferCompleted")
	mustAnswer(do(d, "client request joinRoom", map[string]any{"payload.room": room}), "joinRoom")
	// A transfer that fails: bob transfers dave to alice, who declines.
	_, ch = start(b, "client request transfer", map[string]any{"payload.room": room, "payload.participant": "dave", "payload.to": "alice"})
	a.Decline(ctx, ring(t, a), 603)
	outcome(t, ch)
	b.WaitEvent(ctx, "transferError")

	// Attended transfer: bob (in the room with dave and carol) consults
	// alice in room 2, then hands dave over to it.
	f = do(b, "client request createRoom", map[string]any{"payload.acl": []string{"alice"}})
	room2 := decodeRoom(t, f).Room
	do(b, "client request joinRoom", map[string]any{"payload.room": room2})
	do(a, "client request joinRoom", map[string]any{"payload.room": room2})
	_, ch = start(b, "client request transfer#2", map[string]any{"payload.room": room, "payload.targetRoom": room2})
	req, _ = d.WaitIncoming(ctx, "transferring-attended-transfer")
	reply(d, "client answer transferring-attended-transfer", req, nil)
	mustAnswer(outcome(t, ch), "transfer")
	mustAnswer(do(d, "client request joinRoom", map[string]any{"payload.room": room2}), "joinRoom")

	// Quick conference; carol joins it and her connection drops.
	mustAnswer(do(a, "client request quickConference", nil), "quickConference")
	mustAnswer(do(cc, "client request quickConference", nil), "quickConference")
	cc.Drop()
	traced("server event participantRemoved", "connection lost")
	mustAnswer(do(b, "client request destroyRoom", map[string]any{"payload.room": room2}), "destroyRoom")
	d.WaitEvent(ctx, "destroyed")

	// A meeting of alice's, open now: she enters its room.
	var meeting struct{ URI string }
	now := time.Now().UnixMilli()
	if err := alice.API(ctx, "POST", "/sapi/meetings", map[string]any{"name": "Review", "validSince": now - 1000,
		"validUntil": now + 3600000}, &meeting); err != nil {
		t.Fatal(err)
	}
	mustAnswer(do(a, "client request joinMeeting", map[string]any{"payload.meetingUri": meeting.URI}), "joinMeeting")

	// An admin ends bob's session.
	c.admin.API(ctx, "DELETE", "/sapi/sessions/"+b.Session, nil, nil)
	b.WaitEvent(ctx, "sessionEnded")
	time.Sleep(300 * time.Millisecond)
	return map[string]string{"alice": au.ID, "bob": bu.ID, "carol": cu.ID, "dave": du.ID}
}

// keptDigits is a keypad (qss.Keypad) that keeps what it was asked to send.
type keptDigits struct {
	mu   sync.Mutex
	sent []string
}

func (k *keptDigits) SendDTMF(room, digits string, d time.Duration) error {
	k.mu.Lock()
	k.sent = append(k.sent, fmt.Sprintf("%s %s %v", room, digits, d))
	k.mu.Unlock()
	return nil
}

func (k *keptDigits) get() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return strings.Join(k.sent, "; ")
}
