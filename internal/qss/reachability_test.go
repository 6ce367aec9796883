package qss_test

import (
	"testing"

	"github.com/openwac/wac/client"
)

// The reachability of a user and of a group, across nodes: live sessions,
// push tokens, and which tokens' devices have no session.
func TestReachability(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		bob, bu := c.user(1, "bob")     // has the token fcm-bob on device phone-bob
		carol, cu := c.user(0, "carol") // fcm-carol on phone-carol
		_, du := c.user(1, "dave")
		r := c.nodes[0].Hub().Reachability()
		// Without a push service the tokens are not transports.
		a, err := r.User(ctx, bu.ID)
		if err != nil || len(a.Users) != 1 || a.Users[0].Reachable || len(a.Users[0].PushTokens) != 0 {
			t.Fatalf("no push service: %+v %v", a, err)
		}
		r.Push = true
		defer func() { r.Push = false }()
		a, _ = r.User(ctx, bu.ID)
		if u := a.Users[0]; u.Online || !u.Reachable || len(u.PushTokens) != 1 || len(u.Offline()) != 1 {
			t.Fatalf("bob offline: %+v", u)
		}
		// Bob's phone connects: its token is online, nothing to push.
		if _, err := bob.Connect(ctx, client.ConnectOptions{Platform: "ios", DeviceID: "phone-bob"}); err != nil {
			t.Fatal(err)
		}
		// Carol's desktop connects: her phone still needs a push.
		if _, err := carol.Connect(ctx, client.ConnectOptions{Platform: "web", DeviceID: "desktop"}); err != nil {
			t.Fatal(err)
		}
		var g struct{ ID string }
		if err := c.admin.API(ctx, "POST", "/sapi/usersGroup", map[string]any{"name": "team", "participants": []string{bu.ID, cu.ID, du.ID}}, &g); err != nil {
			t.Fatal(err)
		}
		// Dave's token goes: he is reachable by nothing.
		if _, err := c.nodes[0].Store.DeletePushTokenValue(ctx, "fcm", "fcm-dave"); err != nil {
			t.Fatal(err)
		}
		a, err = r.Group(ctx, g.ID)
		if err != nil || a.Type != "group" || len(a.Users) != 3 {
			t.Fatalf("group: %+v %v", a, err)
		}
		by := map[string]int{}
		for i, u := range a.Users {
			by[u.ID] = i
		}
		b, cr, d := a.Users[by[bu.ID]], a.Users[by[cu.ID]], a.Users[by[du.ID]]
		if !b.Online || len(b.Sessions) != 1 || b.Sessions[0].DeviceID != "phone-bob" || len(b.Offline()) != 0 || !b.PushTokens[0].Online {
			t.Errorf("bob: %+v", b)
		}
		if !cr.Online || len(cr.Offline()) != 1 || cr.PushTokens[0].Online {
			t.Errorf("carol: %+v", cr)
		}
		if d.Online || d.Reachable || len(d.PushTokens) != 0 {
			t.Errorf("dave: %+v", d)
		}
	})
}
