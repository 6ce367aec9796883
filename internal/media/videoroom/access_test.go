package videoroom_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openwac/wac/internal/grant"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
)

// A user without the room's grant can neither subscribe nor publish.
func TestWithoutGrantRefused(t *testing.T) {
	checkGoroutines(t)
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, other := roomID(t), roomID(t)+"b"
	for _, r := range []string{id, other} {
		if _, err := n.sfu.CreateRoom(r, 0, placement.RoomOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	api := testAPI(t)
	_, j, pub := n.publishAlice(ctx, t, api, id, "vp8", nil, false)
	defer pub.Close()

	expired := grant.Sign(testSecret, grant.Grant{Room: id, User: "eve", Subscribe: true, Expires: time.Now().Add(-time.Minute).Unix()})
	forged := grant.Sign([]byte("another cluster's secret........"), grant.Grant{Room: id, User: "eve", Subscribe: true,
		Publish: true, Expires: time.Now().Add(time.Hour).Unix()})
	for _, c := range []struct {
		name, token, reason string
	}{
		{"no token", "", "Unauthorized (a room token is required)"},
		{"another room's token", token(other, "eve", true, true), "Unauthorized (not in the room's ACL)"},
		{"expired token", expired, "Unauthorized (room token expired)"},
		{"forged token", forged, "Unauthorized (invalid room token)"},
		{"publish-only token", token(id, "eve", true, false), "Unauthorized (the room token does not allow subscribing)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, hs := n.client(ctx, t)
			_, err := peer.Subscribe(ctx, api, hs, id, c.token, []uint64{j.ID}, nil, false)
			var pe *janus.PluginError
			if !errors.As(err, &pe) || pe.Code != janus.VRErrUnauthorized || pe.Reason != c.reason {
				t.Fatalf("subscribe with %s: %v, want 433 %q", c.name, err, c.reason)
			}
			_, err = peer.JoinPublisher(ctx, hs, id, c.token, "Eve")
			if c.name == "publish-only token" {
				if err != nil {
					t.Fatalf("a publish grant joins as publisher: %v", err)
				}
				return
			}
			if !errors.As(err, &pe) || pe.Code != janus.VRErrUnauthorized {
				t.Fatalf("join as publisher with %s: %v, want 433", c.name, err)
			}
		})
	}

	// A subscribe-only grant joins as a participant but may not publish.
	_, hw := n.client(ctx, t)
	if _, err := peer.JoinPublisher(ctx, hw, id, token(id, "watcher", false, true), "W"); err != nil {
		t.Fatal(err)
	}
	_, err := peer.Publish(ctx, api, hw, "vp8", nil, false)
	var pe *janus.PluginError
	if !errors.As(err, &pe) || pe.Code != janus.VRErrUnauthorized {
		t.Fatalf("publish with a subscribe-only grant: %v, want 433", err)
	}

	// A token given at the core level (as janus.js does with token auth)
	// is taken for the join.
	c, err := janus.Dial(ctx, n.ws)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(ctx, janus.Message{Janus: "create", Token: token(id, "frank", false, true)}, false)
	if err != nil {
		t.Fatal(err)
	}
	_ = r
	sess, err := c.CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hf, err := sess.Attach(ctx, janus.VideoRoom)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := hf.Request(ctx, map[string]any{"request": "join", "ptype": "publisher", "room": id}, nil, true); err == nil {
		t.Fatal("join without any token succeeded")
	}
	body := map[string]any{"request": "join", "ptype": "subscriber", "room": id, "streams": []map[string]any{{"feed": j.ID}}}
	m, err := c.Do(ctx, janus.Message{Janus: "message", SessionID: sess.ID, HandleID: hf.ID, Token: token(id, "frank", false, true),
		Body: mustJSON(body)}, true)
	if err != nil || m.JSEP == nil {
		t.Fatalf("join with a core-level token: %v %+v", err, m)
	}
}
