package qss_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/store"
)

// Meeting signaling: the participants of a meeting, its domain's users and
// anonymous guests join its one room by wac-meeting:<id> inside its window;
// others are told it does not exist, and the room's ACL is the meeting's
// (joinRoom by the room's id does not let anybody else in).
func TestJoinMeeting(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, _ := c.user(0, "alice")
		bob, bu := c.user(1, "bob")
		carol, _ := c.user(1, "carol")
		wac, err := c.nodes[0].Store.GetDomainByName(ctx, "wac")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.admin.API(ctx, "PUT", "/sapi/domains/"+wac.ID, map[string]any{"domain": "wac", "enableAnonymous": true}, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.admin.API(ctx, "POST", "/sapi/domains", map[string]any{"domain": "other"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.admin.API(ctx, "POST", "/sapi/users", map[string]any{"username": "mallory", "domain": "other", "password": "mallory-password"}, nil); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UnixMilli()
		var m struct{ ID, URI string }
		if err := alice.API(ctx, "POST", "/sapi/meetings", map[string]any{"name": "Standup", "validSince": now - 60000,
			"validUntil": now + 3600000, "participants": []map[string]string{{"user": "bob"}}}, &m); err != nil {
			t.Fatal(err)
		}
		a, b := connect(t, alice), connect(t, bob)
		f, err := a.Request(ctx, "joinMeeting", map[string]any{"meetingUri": m.URI}, nil)
		if err != nil {
			t.Fatal(err)
		}
		first := decodeRoom(t, f)
		f, err = b.Request(ctx, "joinMeeting", map[string]any{"meetingUri": m.URI}, nil)
		if err != nil {
			t.Fatal(err)
		}
		second := decodeRoom(t, f)
		if first.Room != second.Room || second.Token == "" || !slices.Contains(second.Joined, bu.ID) || len(second.Joined) != 2 {
			t.Fatalf("bob's room %+v, alice's %s", second, first.Room)
		}
		// An anonymous guest of the domain, by the seeds' quickConference.
		guest, err := client.LoginAnonymous(ctx, c.urls[len(c.urls)-1], "wac")
		if err != nil {
			t.Fatal(err)
		}
		g := connect(t, guest)
		f, err = g.Request(ctx, "quickConference", map[string]any{"conferenceUri": m.URI}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := decodeRoom(t, f); r.Room != first.Room || len(r.Joined) != 3 {
			t.Fatalf("the guest's room %+v", r)
		}
		// carol (same domain, not through the meeting) cannot use the
		// room's id; through the meeting she can.
		cc := connect(t, carol)
		if _, err := cc.Request(ctx, "joinRoom", map[string]any{"room": first.Room}, nil); cancelCode(err) != 403 {
			t.Fatalf("joinRoom by id outside the meeting: %v, want 403", err)
		}
		// Another tenant's user: the meeting does not exist.
		mallory, err := client.Login(ctx, c.urls[0], "mallory@other", "mallory-password")
		if err != nil {
			t.Fatal(err)
		}
		mc := connect(t, mallory)
		if _, err := mc.Request(ctx, "joinMeeting", map[string]any{"meetingUri": m.URI}, nil); cancelCode(err) != 404 {
			t.Fatalf("another tenant's user: %v, want 404", err)
		}
		for _, bad := range []string{"wac-meeting:nothing", "wac-meeting:" + store.NewID(), ""} {
			if _, err := cc.Request(ctx, "joinMeeting", map[string]any{"meetingUri": bad}, nil); cancelCode(err) != 404 && cancelCode(err) != 400 {
				t.Fatalf("joinMeeting %q: %v, want 404 or 400", bad, err)
			}
		}
		// Outside the window: not yet (403), over (410).
		st := c.nodes[0].Store
		d, err := st.GetDomainByName(ctx, "wac")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []struct {
			since, until int64
			code         int
		}{{now + 3600000, now + 7200000, 403}, {now - 7200000, now - 3600000, 410}} {
			mm := &store.Meeting{DomainID: d.ID, OwnerID: bu.ID, Name: "later", ValidSince: w.since, ValidUntil: w.until, Created: now, Updated: now}
			if err := st.SaveMeeting(context.Background(), mm); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Request(ctx, "joinMeeting", map[string]any{"meetingUri": "wac-meeting:" + mm.ID}, nil); cancelCode(err) != w.code {
				t.Fatalf("meeting %d..%d: %v, want %d", w.since, w.until, err, w.code)
			}
		}
	})
}
