package qss_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// room is the seeds' room object.
type room struct {
	ID         string `json:"id"`
	UUID       string `json:"uuid"`
	Owner      string `json:"owner"`
	Record     bool   `json:"record"`
	Number     string `json:"number"`
	SipURI     string `json:"sipUri"`
	Bitrate    int    `json:"bitrate"`
	ServerUUID string `json:"serverUuid"`
	Server     struct {
		HTTPS string `json:"https"`
		WSS   string `json:"wss"`
	} `json:"server"`
	Timestamp         int64             `json:"timestamp"`
	ParticipantsLimit int               `json:"participantsLimit"`
	ICE               []json.RawMessage `json:"ice"`
	Room              string            `json:"room"`
	Token             string            `json:"token"`
	Participants      []string          `json:"participants"`
	Joined            []string          `json:"joined"`
}

func decodeRoom(t *testing.T, f *client.Frame) room {
	t.Helper()
	var r room
	if err := json.Unmarshal(f.Payload, &r); err != nil {
		t.Fatalf("room object %s: %v", f.Payload, err)
	}
	return r
}

func cancelCode(err error) int {
	var ce *client.CancelError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func TestSessions(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, au := c.user(0, "alice")
		bob, _ := c.user(1, "bob")
		// A bad token is refused before the upgrade.
		for _, u := range c.urls {
			_, resp, err := websocket.Dial(ctx, strings.Replace(u, "http", "ws", 1)+"/qss?token=nope", nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("bad token: %v %v", err, resp)
			}
			_, resp, _ = websocket.Dial(ctx, strings.Replace(u, "http", "ws", 1)+"/qss", nil)
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("no token: %v", resp)
			}
		}
		a1 := connect(t, alice)
		a2, err := alice.Connect(ctx, client.ConnectOptions{Platform: "ios", DeviceID: "phone-1", PushToken: "tok"})
		if err != nil {
			t.Fatal(err)
		}
		defer a2.Close()
		connect(t, bob)
		if a1.Session == "" || a1.Session == a2.Session {
			t.Fatalf("sessions %q %q", a1.Session, a2.Session)
		}
		// Alice lists her two devices; the admin sees everyone's.
		var mine []map[string]any
		if err := alice.API(ctx, "GET", "/sapi/sessions", nil, &mine); err != nil {
			t.Fatal(err)
		}
		if len(mine) != 2 {
			t.Fatalf("alice has %d sessions listed", len(mine))
		}
		found := false
		for _, s := range mine {
			if s["id"] == a2.Session && s["platform"] == "ios" && s["deviceId"] == "phone-1" && s["user"] == au.ID {
				found = true
			}
		}
		if !found {
			t.Fatalf("the phone's device context is missing: %+v", mine)
		}
		var all []map[string]any
		c.admin.API(ctx, "GET", "/sapi/sessions", nil, &all)
		if len(all) != 3 {
			t.Fatalf("admin lists %d sessions, want 3", len(all))
		}
		// updateSession records device context.
		if _, err := a1.Request(ctx, "updateSession", map[string]any{"language": "gl", "location": "Vigo"}, nil); err != nil {
			t.Fatal(err)
		}
		// Ending a session through the API tells it why and closes it.
		if err := c.admin.API(ctx, "DELETE", "/sapi/sessions/"+a2.Session, nil, nil); err != nil {
			t.Fatal(err)
		}
		ev, err := a2.WaitEvent(ctx, "sessionEnded")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ev.Payload), "ended by") {
			t.Fatalf("sessionEnded %s", ev.Payload)
		}
		select {
		case <-a2.Done():
		case <-ctx.Done():
			t.Fatal("the ended session stayed open")
		}
		waitFor(t, func() bool {
			alice.API(ctx, "GET", "/sapi/sessions", nil, &mine)
			return len(mine) == 1
		})
	})
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWireErrors(t *testing.T) {
	modes(t, func(c *config.Config) { c.QSS.MaxFrameBytes = 2048; c.QSS.RequestRate = 50 }, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, _ := c.user(0, "alice")
		a := connect(t, alice)
		cases := []struct {
			raw   string
			code  int
			words string
		}{
			{`{"request":"createRoom",`, 400, "malformed JSON"},
			{`[1,2,3]`, 400, "JSON object"},
			{`{"request":"createRoom"}`, 400, "requestID"},
			{`{"request":"createRoom","requestID":5}`, 400, "requestID"},
			{`{"request":"frobnicate","requestID":"r1"}`, 405, "frobnicate"},
			{`{"request":"joinRoom","requestID":"r2","payload":{"room":7}}`, 400, `"room"`},
			{`{"request":"joinRoom","requestID":"r3","payload":"x"}`, 400, "payload"},
			{`{"request":"joinRoom","requestID":"r4","payload":{}}`, 400, `"room"`},
			{`{"request":"createRoom","answer":"x","requestID":"r5"}`, 400, "exactly one"},
			{`{"answer":"invitation","requestID":"nothing"}`, 481, "nothing"},
			{`{"request":"createRoom","requestID":"r6","payload":{"acl":["` + strings.Repeat("x", 3000) + `"]}}`, 413, "2048"},
		}
		for _, cs := range cases {
			if err := a.SendRaw(ctx, []byte(cs.raw)); err != nil {
				t.Fatal(err)
			}
			f := nextCancel(t, a)
			if f.Error != cs.code || !strings.Contains(f.Message, cs.words) {
				t.Fatalf("%s: got %d %q, want %d mentioning %s", cs.raw[:min(len(cs.raw), 60)], f.Error, f.Message, cs.code, cs.words)
			}
		}
		// A flood gets 429, each refusal naming the request it refuses so
		// that the client can match it, and the connection survives it.
		go func() {
			for i := range 150 {
				a.Send(ctx, map[string]any{"request": "getRoom", "requestID": fmt.Sprintf("flood-%d", i), "payload": map[string]any{"room": "r"}})
			}
		}()
		for {
			f := nextCancel(t, a)
			if f.Error != 429 {
				continue
			}
			if f.Cancel != "getRoom" || !strings.HasPrefix(f.RequestID, "flood-") {
				t.Fatalf("a 429 names %q %q, not the refused getRoom request", f.Cancel, f.RequestID)
			}
			break
		}
		time.Sleep(1500 * time.Millisecond)
		if _, err := a.Request(ctx, "createRoom", map[string]any{}, nil); err != nil {
			t.Fatalf("the connection did not survive bad input: %v", err)
		}
	})
}

// waitEventAbout returns the next event called name that mentions about.
func waitEventAbout(t *testing.T, a *client.Conn, name, about string) client.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := a.WaitEvent(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(ev.Payload), about) {
			return ev
		}
	}
}

// nextCancel returns the next cancel frame the server sent.
func nextCancel(t *testing.T, a *client.Conn) *client.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		select {
		case f := <-a.Incoming():
			if f.Cancel != "" {
				return f
			}
		case <-ctx.Done():
			t.Fatal("no cancel arrived")
		}
	}
}

func TestRooms(t *testing.T) {
	modes(t, func(c *config.Config) { c.Rooms.ParticipantsLimit = 3 }, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, au := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		carol, cu := c.user(0, "carol")
		dave, _ := c.user(1, "dave")
		eve, eu := c.user(0, "eve")
		a, b, cc, d, e := connect(t, alice), connect(t, bob), connect(t, carol), connect(t, dave), connect(t, eve)

		f, err := a.Request(ctx, "createRoom", map[string]any{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Every field of the seeds' room object.
		var fields map[string]json.RawMessage
		json.Unmarshal(f.Payload, &fields)
		for _, k := range []string{"id", "uuid", "owner", "record", "number", "sipUri", "bitrate", "serverUuid", "server",
			"timestamp", "participantsLimit", "ice", "room", "token", "participants"} {
			if _, ok := fields[k]; !ok {
				t.Fatalf("createRoom answer lacks %q: %s", k, f.Payload)
			}
		}
		r := decodeRoom(t, f)
		if f.Answer != "createRoom" || len(r.UUID) != 64 || r.Room != r.UUID || len(r.ID) != 24 || r.Owner != au.ID ||
			len(r.Number) != 8 || r.ParticipantsLimit != 3 || r.Bitrate != 1024 || len(r.Participants) != 1 || r.Participants[0] != au.ID || r.Token == "" {
			t.Fatalf("room object %+v", r)
		}
		if _, err := a.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil); err != nil {
			t.Fatal(err)
		}
		// Bob is not in the ACL: the seeds' 403.
		_, err = b.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil)
		var ce *client.CancelError
		if !errors.As(err, &ce) || ce.Code != 403 || ce.Message != "user not included into ACL" || ce.Frame.Cancel != "joinRoom" {
			t.Fatalf("join outside the ACL: %v", err)
		}
		// The owner lets bob, carol and dave in (by name, in her domain).
		f, err = a.Request(ctx, "updateRoom", map[string]any{"room": r.Room, "acl": []string{"bob", "carol@wac", "wac-user:" + cu.ID, "dave"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeRoom(t, f); len(got.Participants) != 4 {
			t.Fatalf("after updateRoom the ACL is %v", got.Participants)
		}
		if _, err := b.Request(ctx, "updateRoom", map[string]any{"room": r.Room, "record": true}, nil); cancelCode(err) != 403 {
			t.Fatalf("a non-owner updated the room: %v", err)
		}
		f, err = b.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if br := decodeRoom(t, f); br.Token == r.Token || len(br.Joined) != 2 {
			t.Fatalf("bob's room object %+v", br)
		}
		ev, err := a.WaitEvent(ctx, "participantAdded")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ev.Payload), bu.ID) {
			t.Fatalf("participantAdded %s", ev.Payload)
		}
		ev, _ = a.WaitEvent(ctx, "remoteParticipants")
		var rp struct {
			Participants []struct{ ID string } `json:"participants"`
		}
		ev.Decode(&rp)
		if len(rp.Participants) != 2 {
			t.Fatalf("remoteParticipants %s", ev.Payload)
		}
		if _, err := cc.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil); err != nil {
			t.Fatal(err)
		}
		// participantsLimit 3: dave is in the ACL but the room is full.
		if _, err := d.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil); cancelCode(err) != 486 {
			t.Fatalf("joining a full room: %v", err)
		}
		// getRoom shows who is in.
		f, err = b.Request(ctx, "getRoom", map[string]any{"room": r.Room}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(f.Payload), "participantsDetails") || len(decodeRoom(t, f).Joined) != 3 {
			t.Fatalf("getRoom %s", f.Payload)
		}
		if _, err := e.Request(ctx, "getRoom", map[string]any{"room": r.Room}, nil); cancelCode(err) != 403 {
			t.Fatalf("eve reads a room she is not in: %v", err)
		}
		// Hold, and a mute request.
		if _, err := b.Request(ctx, "hold", map[string]any{"room": r.Room}, nil); err != nil {
			t.Fatal(err)
		}
		ev, _ = a.WaitEvent(ctx, "participantHold")
		if !strings.Contains(string(ev.Payload), bu.ID) {
			t.Fatalf("participantHold %s", ev.Payload)
		}
		b.Request(ctx, "unhold", map[string]any{"room": r.Room}, nil)
		if _, err := a.WaitEvent(ctx, "participantUnhold"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Request(ctx, "mute", map[string]any{"room": r.Room, "participant": "bob", "mediatypes": map[string]bool{"audio": true}}, nil); err != nil {
			t.Fatal(err)
		}
		ev, _ = b.WaitEvent(ctx, "mute-request")
		if !strings.Contains(string(ev.Payload), au.ID) {
			t.Fatalf("mute-request %s", ev.Payload)
		}
		// Expel: carol leaves the room and its ACL.
		if _, err := b.Request(ctx, "expel", map[string]any{"room": r.Room, "participant": "carol"}, nil); cancelCode(err) != 403 {
			t.Fatalf("a non-owner expelled: %v", err)
		}
		if _, err := a.Request(ctx, "expel", map[string]any{"room": r.Room, "participant": "carol"}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := cc.WaitEvent(ctx, "expelled"); err != nil {
			t.Fatal(err)
		}
		if _, err := cc.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil); cancelCode(err) != 403 {
			t.Fatalf("an expelled user rejoined: %v", err)
		}
		// Bob leaves with a code: success, then the seeds' 403 for a second leave.
		if _, err := b.Request(ctx, "leaveRoom", map[string]any{"room": r.Room, "code": 486}, nil); err != nil {
			t.Fatal(err)
		}
		ev = waitEventAbout(t, a, "participantRemoved", bu.ID)
		if !strings.Contains(string(ev.Payload), `"code":486`) {
			t.Fatalf("participantRemoved %s", ev.Payload)
		}
		_, err = b.Request(ctx, "leaveRoom", map[string]any{"room": r.Room}, nil)
		if !errors.As(err, &ce) || ce.Code != 403 || ce.Message != "user not included into ACL" {
			t.Fatalf("second leave: %v", err)
		}
		// The owner who leaves stays in the ACL and may come back.
		if _, err := a.Request(ctx, "leaveRoom", map[string]any{"room": r.Room}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Request(ctx, "leaveRoom", map[string]any{"room": r.Room}, nil); cancelCode(err) != 403 {
			t.Fatalf("the owner left twice: %v", err)
		}
		if _, err := a.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil); err != nil {
			t.Fatalf("the owner could not come back: %v", err)
		}
		// Only the owner destroys; everyone in the room is told.
		d.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil)
		if _, err := d.Request(ctx, "destroyRoom", map[string]any{"room": r.Room}, nil); cancelCode(err) != 403 {
			t.Fatalf("a non-owner destroyed the room: %v", err)
		}
		if _, err := a.Request(ctx, "destroyRoom", map[string]any{"room": r.Room}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := d.WaitEvent(ctx, "destroyed"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil); cancelCode(err) != 404 {
			t.Fatalf("join a destroyed room: %v", err)
		}
		// The call record lists who was in and when.
		var calls []struct {
			ID           string
			Finished     int64
			Participants []struct {
				User         string
				Joined, Left int64
				Code         int
			}
		}
		waitFor(t, func() bool {
			alice.API(ctx, "GET", "/sapi/calls", nil, &calls)
			return len(calls) == 1 && calls[0].Finished > 0
		})
		if calls[0].ID != r.ID || len(calls[0].Participants) != 5 { // alice twice: she left and came back
			t.Fatalf("call record %+v", calls[0])
		}
		for _, p := range calls[0].Participants {
			if p.User == bu.ID && p.Code != 486 || p.Left < p.Joined {
				t.Fatalf("participant record %+v", p)
			}
		}
		var evesCalls []any
		eve.API(ctx, "GET", "/sapi/calls", nil, &evesCalls)
		if len(evesCalls) != 0 {
			t.Fatalf("eve sees calls she was not in: %v", evesCalls)
		}
		_ = eu
	})
}

func TestRemoveAfterAndResume(t *testing.T) {
	modes(t, func(c *config.Config) {
		c.Rooms.RemoveAfter = 1500 * time.Millisecond
		c.Invites.Basic.RemoveAfter = 1500 * time.Millisecond
	}, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, _ := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		a, b := connect(t, alice), connect(t, bob)
		f, _ := a.Request(ctx, "createRoom", map[string]any{"acl": []string{"bob"}}, nil)
		r := decodeRoom(t, f)
		a.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil)
		b.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil)
		// Bob's network drops; he comes back within removeAfter and resumes.
		session := b.Session
		b.Drop()
		b2, err := bob.Connect(ctx, client.ConnectOptions{Resume: session})
		if err != nil {
			t.Fatal(err)
		}
		defer b2.Close()
		if b2.Session != session {
			t.Fatalf("resumed as %s, want %s", b2.Session, session)
		}
		time.Sleep(2 * time.Second)
		f, err = a.Request(ctx, "getRoom", map[string]any{"room": r.Room}, nil)
		if err != nil || len(decodeRoom(t, f).Joined) != 2 {
			t.Fatalf("after a resume bob left the room: %v %s", err, f.Payload)
		}
		// His phone changes network again and resumes before the server
		// noticed the old connection die: the session moves to the new one.
		b3, err := bob.Connect(ctx, client.ConnectOptions{Resume: session})
		if err != nil {
			t.Fatal(err)
		}
		if b3.Session != session {
			t.Fatalf("resumed over a live connection as %s, want %s", b3.Session, session)
		}
		select {
		case <-b2.Done():
		case <-ctx.Done():
			t.Fatal("the connection the session moved away from stayed open")
		}
		f, err = a.Request(ctx, "getRoom", map[string]any{"room": r.Room}, nil)
		if err != nil || len(decodeRoom(t, f).Joined) != 2 {
			t.Fatalf("after a resume over a live connection bob left the room: %v %s", err, f.Payload)
		}
		// Now he drops for good: after removeAfter he leaves the room.
		b3.Drop()
		ev, err := a.WaitEvent(ctx, "participantRemoved")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ev.Payload), bu.ID) || !strings.Contains(string(ev.Payload), `"code":480`) {
			t.Fatalf("participantRemoved %s", ev.Payload)
		}
	})
}

func TestExclusiveLoginEndsOlderSessions(t *testing.T) {
	modes(t, func(c *config.Config) { c.Login.Exclusive = true }, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		bob, _ := c.user(0, "bob")
		b := connect(t, bob)
		c.login(1, "bob") // logs in elsewhere
		ev, err := b.WaitEvent(ctx, "sessionEnded")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ev.Payload), "exclusive login") {
			t.Fatalf("sessionEnded %s", ev.Payload)
		}
		select {
		case <-b.Done():
		case <-ctx.Done():
			t.Fatal("the older session stayed open")
		}
	})
}

// The call records of a node that is gone (it died with its rooms, or was an
// earlier run of this deployment) are finished by the nodes still up; the
// calls of live nodes stay open.
func TestCallsOfAGoneNodeAreFinished(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, au := c.user(1, "alice")
		a := connect(t, alice)
		f, err := a.Request(ctx, "createRoom", map[string]any{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		live := decodeRoom(t, f)
		a.Request(ctx, "joinRoom", map[string]any{"room": live.Room}, nil)
		gone := &store.Call{ID: store.NewID(), Room: "room-of-a-dead-node", OwnerID: au.ID, Node: "node-that-died",
			Created: time.Now().Add(-time.Hour).UnixMilli()}
		if err := c.nodes[0].Store.SaveCall(ctx, gone, map[string]string{au.ID: au.Domain}); err != nil {
			t.Fatal(err)
		}
		type call struct {
			ID       string
			Room     string
			Finished int64
		}
		var calls []call
		waitFor(t, func() bool { // the live call's record is written within half a second
			alice.API(ctx, "GET", "/sapi/calls", nil, &calls)
			return len(calls) == 2
		})
		c.nodes[0].Hub().Upkeep()
		if err := alice.API(ctx, "GET", "/sapi/calls", nil, &calls); err != nil {
			t.Fatal(err)
		}
		for _, cl := range calls {
			switch {
			case cl.ID == gone.ID && cl.Finished == 0:
				t.Error("the call of the node that died is still going on")
			case cl.ID != gone.ID && cl.Finished != 0:
				t.Errorf("a live call (room %s) was finished", cl.Room)
			}
		}
	})
}

// A participant whose connection drops leaves with 480 and the reason
// "connection lost", whether it leaves at once (both removeAfter 0) or
// after rooms.removeAfter.
func TestConnectionLostReason(t *testing.T) {
	for _, after := range []time.Duration{0, 200 * time.Millisecond} {
		t.Run(fmt.Sprintf("removeAfter=%s", after), func(t *testing.T) {
			modes(t, func(c *config.Config) { c.Rooms.RemoveAfter = after; c.Invites.Basic.RemoveAfter = after }, func(t *testing.T, c *cluster) {
				ctx := tctx(t)
				alice, _ := c.user(0, "alice")
				bob, bu := c.user(1, "bob")
				a, b := connect(t, alice), connect(t, bob)
				f, _ := a.Request(ctx, "createRoom", map[string]any{"acl": []string{"bob"}}, nil)
				r := decodeRoom(t, f)
				a.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil)
				b.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil)
				b.Drop()
				ev := waitEventAbout(t, a, "participantRemoved", bu.ID)
				var p struct {
					Code   int    `json:"code"`
					Reason string `json:"reason"`
				}
				ev.Decode(&p)
				if p.Code != 480 || p.Reason != "connection lost" {
					t.Fatalf("participantRemoved %s", ev.Payload)
				}
			})
		})
	}
}

// A call record names who started the call, also when rooms have no owner
// (rooms.setOwner false) and for quick conferences, which never have one:
// the history tells a conference one started from one that one joined.
func TestCallRecordNamesCreator(t *testing.T) {
	modes(t, func(c *config.Config) { c.Rooms.SetOwner = false }, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, au := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		a, b := connect(t, alice), connect(t, bob)
		f, err := a.Request(ctx, "createRoom", map[string]any{"acl": []string{"bob"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		basic := decodeRoom(t, f)
		f, err = b.Request(ctx, "quickConference", map[string]any{"conferenceUri": "wac-conf12345678901234567890"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		quick := decodeRoom(t, f)
		if _, err := a.Request(ctx, "quickConference", map[string]any{"conferenceUri": "wac-conf12345678901234567890"}, nil); err != nil {
			t.Fatal(err)
		}
		type record struct{ ID, Owner, Creator string }
		want := map[string]string{basic.ID: au.ID, quick.ID: bu.ID}
		var calls []record
		waitFor(t, func() bool {
			calls = nil
			if err := c.admin.API(ctx, "GET", "/sapi/calls", nil, &calls); err != nil {
				t.Fatal(err)
			}
			return len(calls) == 2
		})
		for _, rec := range calls {
			if rec.Owner != "" || rec.Creator != want[rec.ID] {
				t.Fatalf("call record %+v: want no owner and creator %s", rec, want[rec.ID])
			}
		}
	})
}
