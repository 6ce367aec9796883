package qss_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
)

// call is a caller's invitation in progress.
type call struct {
	reqID string
	ch    <-chan *client.Frame
	room  room
}

// dial makes a room as a and invites to into it.
func dial(t *testing.T, a *client.Conn, to string, media map[string]bool) call {
	t.Helper()
	ctx := tctx(t)
	f, err := a.Request(ctx, "createRoom", map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := decodeRoom(t, f)
	if _, err := a.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil); err != nil {
		t.Fatal(err)
	}
	if media == nil {
		media = map[string]bool{"audio": true, "video": true}
	}
	id, ch, err := a.Start(ctx, "invitation", map[string]any{"room": r.Room, "mediatypes": media,
		"context": map[string]any{"contextInfo": map[string]any{"subject": "hello"}}}, map[string]any{"to": to})
	if err != nil {
		t.Fatal(err)
	}
	return call{reqID: id, ch: ch, room: r}
}

// ring waits for the invitation on a callee's session.
func ring(t *testing.T, b *client.Conn) *client.Frame {
	t.Helper()
	f, err := b.WaitIncoming(tctx(t), "invitation")
	if err != nil {
		t.Fatal(err)
	}
	if f.Request != "invitation" {
		t.Fatalf("expected an invitation, got %s", f.Raw)
	}
	return f
}

// outcome waits for the caller's final answer or cancel.
func outcome(t *testing.T, ch <-chan *client.Frame) *client.Frame {
	t.Helper()
	select {
	case f := <-ch:
		return f
	case <-time.After(15 * time.Second):
		t.Fatal("the caller got no outcome")
	}
	return nil
}

// silent checks that nothing arrives on ch for a moment.
func silent(t *testing.T, ch <-chan *client.Frame, d time.Duration) {
	t.Helper()
	select {
	case f := <-ch:
		t.Fatalf("the caller was told something too early: %s", f.Raw)
	case <-time.After(d):
	}
}

func TestInvitationAcceptedOnOneDevice(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, au := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		a := connect(t, alice)
		b1, b2 := connect(t, bob), connect(t, c.login(0, "bob"))
		cl := dial(t, a, "bob", nil)
		r1, r2 := ring(t, b1), ring(t, b2)
		// The seeds' invitation, field for field.
		var inv struct {
			Request     string `json:"request"`
			RequestID   string `json:"requestID"`
			To          string `json:"to"`
			From        string `json:"from"`
			FromType    string `json:"fromType"`
			FromDetails struct {
				ContactName string `json:"contactName"`
				DisplayName string `json:"displayName"`
				Username    string `json:"username"`
			} `json:"fromDetails"`
			Mediatypes map[string]bool `json:"mediatypes"`
			Context    struct {
				ContextInfo map[string]string `json:"contextInfo"`
			} `json:"context"`
			SystemFrom string `json:"systemFrom"`
			Payload    room   `json:"payload"`
		}
		json.Unmarshal(r1.Raw, &inv)
		if inv.To != bu.ID || inv.From != au.ID || inv.SystemFrom != au.ID || inv.FromType != "user" ||
			inv.FromDetails.Username != "alice" || inv.FromDetails.ContactName != "alice@wac" || !inv.Mediatypes["video"] ||
			inv.Context.ContextInfo["subject"] != "hello" || inv.Payload.Room != cl.room.Room || inv.Payload.Token == "" ||
			inv.Payload.Token == cl.room.Token || len(inv.Payload.Participants) != 2 {
			t.Fatalf("invitation %s", r1.Raw)
		}
		ev, _ := a.WaitEvent(ctx, "outgoingInvitation")
		if !strings.Contains(string(ev.Payload), `"state":"ringing"`) {
			t.Fatalf("outgoingInvitation %s", ev.Payload)
		}
		// Bob answers on his second device: the first stops ringing.
		if err := b2.Accept(ctx, r2, nil); err != nil {
			t.Fatal(err)
		}
		f := outcome(t, cl.ch)
		if f.Answer != "invitation" || f.Error != 0 || f.String("from") != bu.ID || f.String("whoAccepted") != bu.ID {
			t.Fatalf("accepted outcome %s", f.Raw)
		}
		stop, err := b1.WaitIncoming(ctx, "invitation")
		if err != nil {
			t.Fatal(err)
		}
		if stop.Cancel != "invitation" || stop.RequestID != r1.RequestID || stop.Error != 200 || !strings.Contains(stop.Message, "elsewhere") {
			t.Fatalf("the other device got %s", stop.Raw)
		}
		// Bob joins; the caller sees the invite complete.
		if _, err := b2.Request(ctx, "joinRoom", map[string]any{"room": cl.room.Room}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := a.WaitEvent(ctx, "inviteCompleted"); err != nil {
			t.Fatal(err)
		}
		// A second answer, and an answer on the device that stopped ringing.
		b2.Accept(ctx, r2, nil)
		if f := nextCancel(t, b2); f.Error != 481 {
			t.Fatalf("a second answer: %s", f.Raw)
		}
		b1.Accept(ctx, r1, nil)
		if f := nextCancel(t, b1); f.Error != 481 {
			t.Fatalf("an answer after answered elsewhere: %s", f.Raw)
		}
		a.Request(ctx, "destroyRoom", map[string]any{"room": cl.room.Room}, nil)
		var calls []struct {
			Invites []struct{ State, By string }
		}
		waitFor(t, func() bool {
			bob.API(ctx, "GET", "/sapi/calls", nil, &calls)
			return len(calls) == 1 && len(calls[0].Invites) == 1 && calls[0].Invites[0].State == "completed"
		})
	})
}

func TestInvitationDeclinedByEveryDevice(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, au := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		a := connect(t, alice)
		b1, b2 := connect(t, bob), connect(t, c.login(0, "bob"))
		cl := dial(t, a, "bob", nil)
		r1, r2 := ring(t, b1), ring(t, b2)
		// An unknown code is refused and the device keeps ringing.
		b1.Decline(ctx, r1, 999)
		if f := nextCancel(t, b1); f.Error != 400 || !strings.Contains(f.Message, "999") {
			t.Fatalf("decline with 999: %s", f.Raw)
		}
		b1.Decline(ctx, r1, 603)
		silent(t, cl.ch, 300*time.Millisecond) // the other device still rings
		b2.Decline(ctx, r2, 603)
		f := outcome(t, cl.ch)
		// The seeds' rejection: an answer with error 603, from the caller
		// (as the seeds' example, and SIP, have it) to the callee.
		if f.Answer != "invitation" || f.Error != 603 || f.String("from") != au.ID || f.String("to") != bu.ID || f.RequestID != cl.reqID {
			t.Fatalf("rejection %s", f.Raw)
		}
		// Bob was let into the ACL by the invitation only: he is out again.
		waitFor(t, func() bool {
			_, err := b1.Request(ctx, "joinRoom", map[string]any{"room": cl.room.Room}, nil)
			return cancelCode(err) == 403
		})
	})
}

func TestInvitationCancelledAndTimedOut(t *testing.T) {
	modes(t, func(c *config.Config) {
		c.Watchdog.Invites.Period = 200 * time.Millisecond
		c.Watchdog.Invites.Expiration = time.Second
	}, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, au := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		a := connect(t, alice)
		b1, b2 := connect(t, bob), connect(t, c.login(0, "bob"))
		// The caller cancels: both devices are told 487, the caller gets its answer.
		cl := dial(t, a, "bob", nil)
		r1, _ := ring(t, b1), ring(t, b2)
		a.CancelRequest(ctx, "invitation", cl.reqID)
		f := outcome(t, cl.ch)
		if f.Cancel != "invitation" || f.Error != 487 {
			t.Fatalf("cancel outcome %s", f.Raw)
		}
		for _, b := range []*client.Conn{b1, b2} {
			if s, _ := b.WaitIncoming(ctx, "invitation"); s.Cancel != "invitation" || s.Error != 487 {
				t.Fatalf("a device after the cancel: %s", s.Raw)
			}
		}
		// An answer after the caller cancelled.
		b1.Accept(ctx, r1, nil)
		if f := nextCancel(t, b1); f.Error != 481 && f.Error != 487 {
			t.Fatalf("answer after cancel: %s", f.Raw)
		}
		// Nobody answers: the watchdog ends it with the seeds' 408.
		cl = dial(t, a, "bob", nil)
		ring(t, b1)
		ring(t, b2)
		f = outcome(t, cl.ch)
		if f.Cancel != "invitation" || f.Error != 408 || f.String("to") != bu.ID || f.String("from") != au.ID {
			t.Fatalf("timeout outcome %s", f.Raw)
		}
		if s, _ := b2.WaitIncoming(ctx, "invitation"); s.Error != 408 {
			t.Fatalf("a device after the timeout: %s", s.Raw)
		}
		ev := waitEventAbout(t, a, "outgoingInvitation", `"state":"timeout"`)
		if !strings.Contains(string(ev.Payload), `"code":408`) {
			t.Fatalf("outgoingInvitation %s", ev.Payload)
		}
	})
}

func TestInvitationRefusals(t *testing.T) {
	modes(t, func(c *config.Config) { c.ConferenceState.AllowInvitesWhileInCall = false }, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, au := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		carol, _ := c.user(0, "carol")
		_, du := c.user(1, "dave") // never connects
		a, b, cc := connect(t, alice), connect(t, bob), connect(t, carol)
		// Refusals before anyone was found are plain cancels; those of a
		// callee found carry from the caller and to the callee's id.
		for _, tc := range []struct {
			to       string
			code     int
			from, id string
		}{{"nobody", 404, "", ""}, {"alice", 400, "", ""}, {"dave", 480, au.ID, du.ID}} {
			cl := dial(t, a, tc.to, nil)
			if f := outcome(t, cl.ch); f.Error != tc.code || f.Cancel != "invitation" || f.String("from") != tc.from || f.String("to") != tc.id {
				t.Fatalf("invitation to %s: %s, want %d from %q to %q", tc.to, f.Raw, tc.code, tc.from, tc.id)
			}
		}
		// Not in the room.
		f, _ := b.Request(ctx, "createRoom", map[string]any{}, nil)
		bobsRoom := decodeRoom(t, f)
		_, err := a.Request(ctx, "invitation", map[string]any{"room": bobsRoom.Room}, map[string]any{"to": "carol"})
		if cancelCode(err) != 403 {
			t.Fatalf("invitation into someone else's room: %v", err)
		}
		if _, err := a.Request(ctx, "invitation", map[string]any{"room": bobsRoom.Room}, nil); cancelCode(err) != 400 {
			t.Fatalf("invitation to nobody: %v", err)
		}
		// receiveCalls disabled: 403, and nobody rings.
		c.admin.API(ctx, "POST", "/sapi/permissions/user/"+bu.ID, map[string]any{"receiveCalls": map[string]bool{"enabled": false}}, nil)
		cl := dial(t, a, "bob", nil)
		if f := outcome(t, cl.ch); f.Error != 403 {
			t.Fatalf("callee without receiveCalls: %s", f.Raw)
		}
		c.admin.API(ctx, "POST", "/sapi/permissions/user/"+bu.ID, map[string]any{"receiveCalls": map[string]bool{"enabled": true}}, nil)
		// allowInvitesWhileInCall false: bob is in a call with carol, so 486.
		f, _ = cc.Request(ctx, "createRoom", map[string]any{"acl": []string{"bob"}}, nil)
		cr := decodeRoom(t, f)
		cc.Request(ctx, "joinRoom", map[string]any{"room": cr.Room}, nil)
		b.Request(ctx, "joinRoom", map[string]any{"room": cr.Room}, nil)
		cl = dial(t, a, "bob", nil)
		if f := outcome(t, cl.ch); f.Error != 486 || f.String("to") != bu.ID || f.String("from") != au.ID {
			t.Fatalf("callee in a call: %s", f.Raw)
		}
		select {
		case f := <-b.Incoming():
			if f.Request == "invitation" {
				t.Fatal("a busy callee was rung")
			}
		case <-time.After(200 * time.Millisecond):
		}
	})
}

func TestInvitationToDeviceReconnectAndDisconnect(t *testing.T) {
	modes(t, func(c *config.Config) {
		c.Invites.Basic.RemoveAfter = 500 * time.Millisecond
		c.Rooms.RemoveAfter = 500 * time.Millisecond
	}, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, _ := c.user(0, "alice")
		bob, _ := c.user(1, "bob")
		a := connect(t, alice)
		b1 := connect(t, bob)
		// username/session rings only that device.
		b2 := connect(t, c.login(0, "bob"))
		cl := dial(t, a, "bob/"+b2.Session, nil)
		r := ring(t, b2)
		select {
		case f := <-b1.Incoming():
			t.Fatalf("the other device rang: %s", f.Raw)
		case <-time.After(200 * time.Millisecond):
		}
		b2.Accept(ctx, r, nil)
		if f := outcome(t, cl.ch); f.Answer != "invitation" {
			t.Fatalf("outcome %s", f.Raw)
		}
		// A device that connects while a call rings, rings too
		// (currentInvitations).
		cl = dial(t, a, "bob", nil)
		ring(t, b1)
		r2 := ring(t, b2)
		b3 := connect(t, c.login(1, "bob"))
		r3 := ring(t, b3)
		b3.Decline(ctx, r3, 603)
		b2.Decline(ctx, r2, 603)
		silent(t, cl.ch, 200*time.Millisecond)
		// The last ringing device loses its network: after removeAfter it is
		// dropped, and as the others declined, the caller gets 603.
		b1.Drop()
		if f := outcome(t, cl.ch); f.Error != 603 {
			t.Fatalf("after the last device dropped: %s", f.Raw)
		}
		// Nobody declined and every device went away: 480.
		b4 := connect(t, c.login(0, "bob"))
		cl = dial(t, a, "bob", nil)
		for _, b := range []*client.Conn{b2, b3, b4} {
			ring(t, b)
		}
		b2.Drop()
		b3.Drop()
		b4.Drop()
		if f := outcome(t, cl.ch); f.Error != 480 || f.Cancel != "invitation" {
			t.Fatalf("after every device dropped: %s", f.Raw)
		}
	})
}

func TestOnlyOneDeviceWithInvitations(t *testing.T) {
	modes(t, func(c *config.Config) { c.Invites.OnlyOneDeviceWithInvitations = true }, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, _ := c.user(0, "alice")
		carol, cu := c.user(0, "carol")
		bob, bu := c.user(1, "bob")
		a, cc := connect(t, alice), connect(t, carol)
		b1, b2 := connect(t, bob), connect(t, c.login(0, "bob"))
		fromAlice := dial(t, a, "bob", nil)
		fromCarol := dial(t, cc, "bob", nil)
		// Each device rings with both calls.
		var aliceOnB1 *client.Frame
		for range 2 {
			f := ring(t, b1)
			if f.String("from") != "" && strings.Contains(string(f.Raw), fromAlice.room.Room) {
				aliceOnB1 = f
			}
			ring(t, b2)
		}
		b1.Accept(ctx, aliceOnB1, nil)
		if f := outcome(t, fromAlice.ch); f.Answer != "invitation" {
			t.Fatalf("alice's call: %s", f.Raw)
		}
		// Carol's call stopped ringing on both of bob's devices: bob is
		// busy, and carol is told so (the seeds' 486), not that he is gone.
		f := outcome(t, fromCarol.ch)
		if f.Cancel != "invitation" || f.Error != 486 || !strings.Contains(f.Message, "answered another call") ||
			f.String("to") != bu.ID || f.String("from") != cu.ID {
			t.Fatalf("carol's call after bob took alice's: %s", f.Raw)
		}
		waitEventAbout(t, cc, "outgoingInvitation", `"code":486`)
	})
}

func TestHuntGroup(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, _ := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		carol, cu := c.user(0, "carol")
		dave, _ := c.user(1, "dave")
		var g struct {
			ID           string
			Participants []string
		}
		// Bob creates the group (he owns it) with carol and dave.
		if err := bob.API(ctx, "POST", "/sapi/usersGroup", map[string]any{"name": "support", "participants": []string{"carol", "dave"}}, &g); err != nil {
			t.Fatal(err)
		}
		if err := bob.API(ctx, "POST", "/sapi/usersGroup/"+g.ID+"/participants", map[string]any{"participants": []string{"bob"}}, &g); err != nil {
			t.Fatal(err)
		}
		if len(g.Participants) != 3 {
			t.Fatalf("group %+v", g)
		}
		// Carol may not manage bob's group.
		var apiErr *client.APIError
		err := carol.API(ctx, "POST", "/sapi/usersGroup/"+g.ID+"/participants", map[string]any{"participants": []string{"alice"}}, nil)
		if !asAPIError(err, &apiErr) || apiErr.Status != 403 || !strings.Contains(apiErr.Message, "not the owner") {
			t.Fatalf("a non-owner added a participant: %v", err)
		}
		if err := bob.API(ctx, "HEAD", "/sapi/usersGroup/"+g.ID+"/participants/"+cu.ID, nil, nil); err != nil {
			t.Fatalf("HEAD membership: %v", err)
		}
		a := connect(t, alice)
		b, cc, d := connect(t, bob), connect(t, carol), connect(t, dave)
		cl := dial(t, a, "support", nil)
		rb, rc, rd := ring(t, b), ring(t, cc), ring(t, d)
		if rb.String("group") != g.ID {
			t.Fatalf("group invitation %s", rb.Raw)
		}
		cc.Accept(ctx, rc, nil)
		if f := outcome(t, cl.ch); f.Answer != "invitation" || f.String("whoAccepted") != cu.ID {
			t.Fatalf("group outcome %s", f.Raw)
		}
		for _, x := range []struct {
			c *client.Conn
			r *client.Frame
		}{{b, rb}, {d, rd}} {
			if s, _ := x.c.WaitIncoming(ctx, "invitation"); s.Error != 200 || s.RequestID != x.r.RequestID {
				t.Fatalf("another group member after carol answered: %s", s.Raw)
			}
		}
		// Carol leaves the group; dave removes himself from every group.
		if err := carol.API(ctx, "DELETE", "/sapi/usersGroup/"+g.ID+"/leave", nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := dave.API(ctx, "DELETE", "/sapi/usersGroup/participations", nil, nil); err != nil {
			t.Fatal(err)
		}
		err = bob.API(ctx, "HEAD", "/sapi/usersGroup/"+g.ID+"/participants/"+cu.ID, nil, nil)
		if !asAPIError(err, &apiErr) || apiErr.Status != 404 {
			t.Fatalf("carol still a member: %v", err)
		}
		bob.API(ctx, "GET", "/sapi/usersGroup/"+g.ID, nil, &g)
		if len(g.Participants) != 1 || g.Participants[0] != bu.ID {
			t.Fatalf("group after leaving %+v", g)
		}
	})
}

func asAPIError(err error, target **client.APIError) bool {
	e, ok := err.(*client.APIError)
	if ok {
		*target = e
	}
	return ok
}

func TestInviteRequest(t *testing.T) {
	modes(t, func(c *config.Config) {}, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		// An anonymous visitor asks bob to invite him into bob's room.
		if err := c.admin.API(ctx, "POST", "/sapi/domains", map[string]any{"domain": "guests", "enableAnonymous": true}, nil); err != nil {
			t.Fatal(err)
		}
		bob, bu := c.user(1, "bob")
		b := connect(t, bob)
		anon, err := client.LoginAnonymous(ctx, c.urls[0], "guests")
		if err != nil {
			t.Fatal(err)
		}
		v := connect(t, anon)
		id, ch, err := v.Start(ctx, "inviteRequest", map[string]any{"mediatypes": map[string]bool{"audio": true}}, map[string]any{"to": "bob@wac"})
		if err != nil {
			t.Fatal(err)
		}
		req, err := b.WaitIncoming(ctx, "inviteRequest")
		if err != nil {
			t.Fatal(err)
		}
		if req.String("fromType") != "anonymous" {
			t.Fatalf("inviteRequest %s", req.Raw)
		}
		f, _ := b.Request(ctx, "createRoom", map[string]any{}, nil)
		r := decodeRoom(t, f)
		b.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil)
		b.Accept(ctx, req, map[string]any{"room": r.Room})
		got := outcome(t, ch)
		if got.Answer != "inviteRequest" || got.RequestID != id || got.String("from") != bu.ID {
			t.Fatalf("inviteRequest outcome %s", got.Raw)
		}
		vr := decodeRoom(t, got)
		if vr.Room != r.Room || vr.Token == "" {
			t.Fatalf("the visitor's room object %s", got.Payload)
		}
		// The visitor may now join bob's room.
		if _, err := v.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil); err != nil {
			t.Fatal(err)
		}
		// A declined request, then one the requester cancels.
		_, ch, _ = v.Start(ctx, "inviteRequest", nil, map[string]any{"to": "bob@wac"})
		req, _ = b.WaitIncoming(ctx, "inviteRequest")
		b.Decline(ctx, req, 603)
		if f := outcome(t, ch); f.Error != 603 {
			t.Fatalf("declined inviteRequest %s", f.Raw)
		}
		id, ch, _ = v.Start(ctx, "inviteRequest", nil, map[string]any{"to": "bob@wac"})
		b.WaitIncoming(ctx, "inviteRequest")
		v.CancelRequest(ctx, "inviteRequest", id)
		if f := outcome(t, ch); f.Error != 487 {
			t.Fatalf("cancelled inviteRequest %s", f.Raw)
		}
		if s, _ := b.WaitIncoming(ctx, "inviteRequest"); s.Cancel != "inviteRequest" || s.Error != 487 {
			t.Fatalf("bob after the cancel: %s", s.Raw)
		}
	})
}

func TestAnonymousCallsFollowCapabilities(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		c.admin.API(ctx, "POST", "/sapi/domains", map[string]any{"domain": "kiosk", "enableAnonymous": true,
			"anonymousCapabilities": []string{"-audio-video-call", "-video-call"}}, nil)
		bob, _ := c.user(1, "bob")
		b := connect(t, bob)
		anon, _ := client.LoginAnonymous(ctx, c.urls[0], "kiosk")
		v := connect(t, anon)
		f, _ := v.Request(ctx, "createRoom", map[string]any{}, nil)
		r := decodeRoom(t, f)
		_, err := v.Request(ctx, "invitation", map[string]any{"room": r.Room, "mediatypes": map[string]bool{"audio": true, "video": true}},
			map[string]any{"to": "bob@wac"})
		if cancelCode(err) != 403 {
			t.Fatalf("an anonymous video call without the capability: %v", err)
		}
		_, ch, _ := v.Start(ctx, "invitation", map[string]any{"room": r.Room, "mediatypes": map[string]bool{"audio": true}},
			map[string]any{"to": "bob@wac"})
		req := ring(t, b)
		if req.String("fromType") != "anonymous" {
			t.Fatalf("fromType %s", req.Raw)
		}
		b.Accept(ctx, req, nil)
		if f := outcome(t, ch); f.Answer != "invitation" {
			t.Fatalf("an anonymous audio call: %s", f.Raw)
		}
	})
}

func TestTransfers(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, au := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		carol, cu := c.user(0, "carol")
		a, b, cc := connect(t, alice), connect(t, bob), connect(t, carol)
		// Alice and bob talk; alice blind-transfers bob to carol.
		cl := dial(t, a, "bob", nil)
		b.Accept(ctx, ring(t, b), nil)
		outcome(t, cl.ch)
		b.Request(ctx, "joinRoom", map[string]any{"room": cl.room.Room}, nil)
		_, tch, err := a.Start(ctx, "transfer", map[string]any{"room": cl.room.Room, "participant": "bob", "to": "carol"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitEventAbout(t, b, "transferCreated", cu.ID)
		inv := ring(t, cc)
		if inv.String("fromType") != "transfer" {
			t.Fatalf("transfer invitation %s", inv.Raw)
		}
		cc.Accept(ctx, inv, nil)
		if f := outcome(t, tch); f.Answer != "transfer" {
			t.Fatalf("transfer outcome %s", f.Raw)
		}
		cc.Request(ctx, "joinRoom", map[string]any{"room": cl.room.Room}, nil)
		waitEventAbout(t, b, "participantRemoved", au.ID) // alice left
		f, err := b.Request(ctx, "getRoom", map[string]any{"room": cl.room.Room}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if j := decodeRoom(t, f).Joined; len(j) != 2 || strings.Contains(strings.Join(j, ","), au.ID) {
			t.Fatalf("after the blind transfer the room has %v", j)
		}
		// Attended: carol talks to bob (room 1) and consults alice (room 2),
		// then hands bob over to room 2.
		cl2 := dial(t, cc, "alice", nil)
		a.Accept(ctx, ring(t, a), nil)
		outcome(t, cl2.ch)
		a.Request(ctx, "joinRoom", map[string]any{"room": cl2.room.Room}, nil)
		_, tch, _ = cc.Start(ctx, "transfer", map[string]any{"room": cl.room.Room, "participant": bu.ID, "targetRoom": cl2.room.Room}, nil)
		req, err := b.WaitIncoming(ctx, "transferring-attended-transfer")
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			Room         room   `json:"room"`
			PreviousRoom string `json:"previousRoom"`
		}
		json.Unmarshal(req.Payload, &p)
		if p.Room.Room != cl2.room.Room || p.Room.Token == "" || p.PreviousRoom != cl.room.Room {
			t.Fatalf("attended transfer request %s", req.Raw)
		}
		b.Accept(ctx, req, nil)
		if f := outcome(t, tch); f.Answer != "transfer" {
			t.Fatalf("attended transfer outcome %s", f.Raw)
		}
		b.Request(ctx, "leaveRoom", map[string]any{"room": cl.room.Room}, nil)
		if _, err := b.Request(ctx, "joinRoom", map[string]any{"room": cl2.room.Room}, nil); err != nil {
			t.Fatalf("bob joins the target room: %v", err)
		}
		// The transferor leaves both rooms once the participant answered
		// (after the transfer's answer: on another node it takes a moment).
		var joined []string
		waitFor(t, func() bool {
			f, _ = a.Request(ctx, "getRoom", map[string]any{"room": cl2.room.Room}, nil)
			joined = decodeRoom(t, f).Joined
			return len(joined) == 2 && !strings.Contains(strings.Join(joined, ","), cu.ID)
		})
		// A transfer that fails tells the transferor.
		_, tch, _ = a.Start(ctx, "transfer", map[string]any{"room": cl2.room.Room, "participant": "bob", "to": "carol"}, nil)
		cc.Decline(ctx, ring(t, cc), 603)
		if f := outcome(t, tch); f.Error != 603 {
			t.Fatalf("failed transfer outcome %s", f.Raw)
		}
		if _, err := a.WaitEvent(ctx, "transferError"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestQuickConference(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, _ := c.user(0, "alice")
		bob, _ := c.user(1, "bob")
		carol, _ := c.user(0, "carol")
		uri := "wac-conf12345678901234567890"
		var rooms []string
		for _, cl := range []*client.Client{alice, bob, carol} {
			conn := connect(t, cl)
			f, err := conn.Request(ctx, "quickConference", map[string]any{"conferenceUri": uri}, nil)
			if err != nil {
				t.Fatal(err)
			}
			rooms = append(rooms, decodeRoom(t, f).Room)
			if len(decodeRoom(t, f).Joined) != len(rooms) {
				t.Fatalf("joined list %v", decodeRoom(t, f).Joined)
			}
		}
		if rooms[0] != rooms[1] || rooms[1] != rooms[2] {
			t.Fatalf("three users got rooms %v", rooms)
		}
		conn := connect(t, alice)
		if _, err := conn.Request(ctx, "quickConference", map[string]any{"conferenceUri": "wac-conf123"}, nil); cancelCode(err) != 400 {
			t.Fatalf("a URI off the pattern: %v", err)
		}
	})
}

var _ = context.Background

// waitAway waits until the server noticed that conn's connection dropped:
// the session is listed, not connected, with the time it dropped.
func waitAway(t *testing.T, cl *client.Client, session string) {
	t.Helper()
	ctx := tctx(t)
	waitFor(t, func() bool {
		var list []struct {
			ID           string `json:"id"`
			Connected    bool   `json:"connected"`
			Disconnected int64  `json:"disconnected"`
		}
		cl.API(ctx, "GET", "/sapi/sessions", nil, &list)
		for _, s := range list {
			if s.ID == session && !s.Connected {
				if s.Disconnected <= 0 || s.Disconnected > time.Now().UnixMilli() {
					t.Fatalf("session %s dropped at %d", session, s.Disconnected)
				}
				return true
			}
		}
		return false
	})
}

// resume reconnects a dropped session.
func resume(t *testing.T, cl *client.Client, session string) *client.Conn {
	t.Helper()
	conn, err := cl.Connect(tctx(t), client.ConnectOptions{Resume: session})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if conn.Session != session {
		t.Fatalf("resumed as %s, want %s", conn.Session, session)
	}
	return conn
}

// roomOf is the room an invitation rings into.
func roomOf(t *testing.T, f *client.Frame) string {
	t.Helper()
	return decodeRoom(t, f).Room
}

// A device that is away within invites.basic.removeAfter is rung: it gets,
// when it resumes, every invitation still ringing for it, in order and
// once, and nothing of those that ended while it was away.
func TestResumedSessionGetsTheInvitationsOfItsAbsence(t *testing.T) {
	modes(t, func(c *config.Config) { c.Rooms.RemoveAfter = time.Minute; c.Invites.Basic.RemoveAfter = time.Minute }, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, au := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		a := connect(t, alice)
		b := connect(t, bob)
		session := b.Session
		b.Drop()
		waitAway(t, bob, session)
		first := dial(t, a, "bob", nil)
		waitEventAbout(t, a, "outgoingInvitation", `"state":"ringing"`)
		cancelled := dial(t, a, "bob", nil)
		waitEventAbout(t, a, "outgoingInvitation", `"state":"ringing"`)
		a.CancelRequest(ctx, "invitation", cancelled.reqID)
		if f := outcome(t, cancelled.ch); f.Error != 487 {
			t.Fatalf("cancelled while bob was away: %s", f.Raw)
		}
		last := dial(t, a, "bob", nil)
		waitEventAbout(t, a, "outgoingInvitation", `"state":"ringing"`)
		b = resume(t, bob, session)
		// The two calls that still ring, in order, and nothing else: no
		// cancel of the call bob never saw, no second copy.
		for _, want := range []call{first, last} {
			select {
			case f := <-b.Incoming():
				if f.Request != "invitation" || roomOf(t, f) != want.room.Room || f.String("to") != bu.ID || f.String("from") != au.ID {
					t.Fatalf("after the resume bob got %s, want the invitation into %s", f.Raw, want.room.Room)
				}
			case <-ctx.Done():
				t.Fatal("the resumed session was not rung")
			}
		}
		select {
		case f := <-b.Incoming():
			t.Fatalf("after the two invitations bob got %s", f.Raw)
		case <-time.After(300 * time.Millisecond):
		}
		// getCurrentInvitations lists both, oldest first, as they rang.
		f, err := b.Request(ctx, "getCurrentInvitations", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var cur struct {
			Invitations []struct {
				Request   string `json:"request"`
				RequestID string `json:"requestID"`
				From      string `json:"from"`
				Payload   room   `json:"payload"`
			} `json:"invitations"`
		}
		if err := json.Unmarshal(f.Payload, &cur); err != nil {
			t.Fatal(err)
		}
		if len(cur.Invitations) != 2 || cur.Invitations[0].Payload.Room != first.room.Room ||
			cur.Invitations[1].Payload.Room != last.room.Room || cur.Invitations[0].Request != "invitation" ||
			cur.Invitations[0].From != au.ID || cur.Invitations[1].Payload.Token == "" {
			t.Fatalf("getCurrentInvitations %s", f.Payload)
		}
		// Bob answers the last one from the list.
		b.Accept(ctx, &client.Frame{Request: "invitation", RequestID: cur.Invitations[1].RequestID}, nil)
		if f := outcome(t, last.ch); f.Answer != "invitation" || f.String("whoAccepted") != bu.ID {
			t.Fatalf("the call answered after the resume: %s", f.Raw)
		}
		f, _ = b.Request(ctx, "getCurrentInvitations", nil, nil)
		if err := json.Unmarshal(f.Payload, &cur); err != nil || len(cur.Invitations) != 1 || cur.Invitations[0].Payload.Room != first.room.Room {
			t.Fatalf("getCurrentInvitations after an answer %s", f.Payload)
		}
		// The caller's own calls are not the callee's: alice has none.
		f, _ = a.Request(ctx, "getCurrentInvitations", nil, nil)
		if string(f.Payload) != `{"invitations":[]}` {
			t.Fatalf("getCurrentInvitations of the caller %s", f.Payload)
		}
		// The caller is away when the call is answered: the outcome waits
		// for her.
		callerSession := a.Session
		a.Drop()
		waitAway(t, alice, callerSession)
		b.Accept(ctx, &client.Frame{Request: "invitation", RequestID: cur.Invitations[0].RequestID}, nil)
		_, frames := resumeTraced(t, alice, callerSession)
		for {
			var got struct {
				Answer, RequestID, WhoAccepted string
			}
			select {
			case raw := <-frames:
				json.Unmarshal(raw, &got)
			case <-ctx.Done():
				t.Fatal("the resumed caller never got the outcome of her call")
			}
			if got.RequestID == first.reqID {
				if got.Answer != "invitation" || got.WhoAccepted != bu.ID {
					t.Fatalf("the outcome after the resume: %+v", got)
				}
				break
			}
		}
	})
}

// resumeTraced reconnects a dropped session and returns every frame the
// server sends it.
func resumeTraced(t *testing.T, cl *client.Client, session string) (*client.Conn, <-chan json.RawMessage) {
	t.Helper()
	frames := make(chan json.RawMessage, 256)
	conn, err := cl.Connect(tctx(t), client.ConnectOptions{Resume: session, Trace: func(sent bool, data []byte) {
		if !sent {
			frames <- append(json.RawMessage(nil), data...)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	if conn.Session != session {
		t.Fatalf("resumed as %s, want %s", conn.Session, session)
	}
	return conn, frames
}

// Only devices that can get an invitation are its candidates: a device away
// longer than invites.basic.removeAfter is not, and with no candidate the
// caller gets 480 at once. Such a device, when it resumes, is rung by the
// calls still ringing, as a new device would be.
func TestInvitationCandidatesAreReachable(t *testing.T) {
	modes(t, func(c *config.Config) { c.Rooms.RemoveAfter = time.Minute; c.Invites.Basic.RemoveAfter = 0 }, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, _ := c.user(0, "alice")
		bob, _ := c.user(1, "bob")
		a := connect(t, alice)
		b := connect(t, bob)
		session := b.Session
		b.Drop()
		waitAway(t, bob, session)
		// The session waits to be resumed (rooms.removeAfter) but is not
		// rung: 480 at once, before any ringing, not when it is removed.
		cl := dial(t, a, "bob", nil)
		f := outcome(t, cl.ch)
		if f.Cancel != "invitation" || f.Error != 480 {
			t.Fatalf("a call to a device away too long: %s", f.Raw)
		}
		for done := time.After(200 * time.Millisecond); ; {
			var ev client.Event
			select {
			case ev = <-a.Events():
			case <-done:
			}
			if ev.Name == "" {
				break
			}
			if ev.Name == "outgoingInvitation" && strings.Contains(string(ev.Payload), `"ringing"`) {
				t.Fatalf("the call rang nobody: %s", ev.Payload)
			}
		}
		// Bob's other device rings; the dropped one resumes and rings too.
		b2 := connect(t, c.login(0, "bob"))
		cl = dial(t, a, "bob", nil)
		ring(t, b2)
		b = resume(t, bob, session)
		r := ring(t, b)
		if roomOf(t, r) != cl.room.Room {
			t.Fatalf("the resumed device got %s", r.Raw)
		}
		b.Accept(ctx, r, nil)
		if f := outcome(t, cl.ch); f.Answer != "invitation" || f.String("session") != session {
			t.Fatalf("answered on the resumed device: %s", f.Raw)
		}
	})
}

// traced connects cl and returns every frame the server sends it.
func traced(t *testing.T, cl *client.Client) (*client.Conn, <-chan json.RawMessage) {
	t.Helper()
	frames := make(chan json.RawMessage, 256)
	conn, err := cl.Connect(tctx(t), client.ConnectOptions{Trace: func(sent bool, data []byte) {
		if !sent {
			frames <- append(json.RawMessage(nil), data...)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn, frames
}

// The seeds' close, in their enveloped form, ends the caller's unanswered
// call as they show it: the caller gets the cancel with 408, from the
// caller to the callee, and the callee's devices stop ringing.
func TestCloseEndsAnUnansweredCall(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, au := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		a, frames := traced(t, alice)
		b := connect(t, bob)
		cl := dial(t, a, "bob", nil)
		r := ring(t, b)
		closeFrame := `{"type":"request","payload":{"endpoint":"close","payload":{"medium":"sipcall"},"id":"zMcZeXFM-g9wXKHgZ94ub"}}`
		if err := a.SendRaw(ctx, []byte(closeFrame)); err != nil {
			t.Fatal(err)
		}
		f := outcome(t, cl.ch)
		if f.Cancel != "invitation" || f.Error != 408 || f.RequestID != cl.reqID || f.String("from") != au.ID || f.String("to") != bu.ID {
			t.Fatalf("the caller after close: %s", f.Raw)
		}
		if s, _ := b.WaitIncoming(ctx, "invitation"); s.Cancel != "invitation" || s.RequestID != r.RequestID || s.Error != 408 {
			t.Fatalf("the callee after close: %s", s.Raw)
		}
		// The close itself is answered with the calls it ended.
		for {
			var got struct {
				Answer    string `json:"answer"`
				Cancel    string `json:"cancel"`
				RequestID string `json:"requestID"`
				Payload   struct {
					Closed []string `json:"closed"`
				} `json:"payload"`
			}
			select {
			case raw := <-frames:
				json.Unmarshal(raw, &got)
			case <-ctx.Done():
				t.Fatal("close was not answered")
			}
			if got.RequestID != "zMcZeXFM-g9wXKHgZ94ub" {
				continue
			}
			if got.Answer != "close" || len(got.Payload.Closed) != 1 || got.Payload.Closed[0] != cl.reqID {
				t.Fatalf("the answer to close: %+v", got)
			}
			break
		}
		waitEventAbout(t, a, "outgoingInvitation", `"state":"timeout"`)
	})
}

// The callee's devices hear why a call stopped ringing: the caller
// cancelled it, the room was destroyed, or the caller went away.
func TestCalleeDevicesHearWhyACallStopped(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, _ := c.user(0, "alice")
		bob, _ := c.user(1, "bob")
		a, b := connect(t, alice), connect(t, bob)
		stopped := func(cl call, want string) {
			t.Helper()
			r := ring(t, b)
			switch want {
			case "cancelled by the caller":
				a.CancelRequest(ctx, "invitation", cl.reqID)
			case "the room was destroyed":
				a.Request(ctx, "destroyRoom", map[string]any{"room": cl.room.Room}, nil)
			case "the caller went away":
				a.Close()
			}
			s, err := b.WaitIncoming(ctx, "invitation")
			if err != nil {
				t.Fatal(err)
			}
			if s.Cancel != "invitation" || s.RequestID != r.RequestID || s.Error != 487 || s.Message != want {
				t.Fatalf("the callee after %q: %s", want, s.Raw)
			}
			if want != "the caller went away" {
				if f := outcome(t, cl.ch); f.Error != 487 || f.Message != want {
					t.Fatalf("the caller after %q: %s", want, f.Raw)
				}
			}
		}
		stopped(dial(t, a, "bob", nil), "cancelled by the caller")
		stopped(dial(t, a, "bob", nil), "the room was destroyed")
		stopped(dial(t, a, "bob", nil), "the caller went away")
	})
}
