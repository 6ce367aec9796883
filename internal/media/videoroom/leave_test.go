package videoroom_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
)

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// pluginEvent matches plugin events whose data has key (with value, when
// value is not nil).
func pluginEvent(key string, value any) func(janus.Message) bool {
	return func(m janus.Message) bool {
		if m.PluginData == nil {
			return false
		}
		var d map[string]any
		if json.Unmarshal(m.PluginData.Data, &d) != nil {
			return false
		}
		v, ok := d[key]
		if !ok {
			return false
		}
		if value == nil {
			return true
		}
		b1, _ := json.Marshal(v)
		b2, _ := json.Marshal(value)
		return string(b1) == string(b2)
	}
}

// A publisher that unpublishes and leaves is seen by the others: its new
// publication is announced, then "unpublished" and "leaving" arrive, and
// the subscription is renegotiated without its streams.
func TestPublisherLeavingIsSeen(t *testing.T) {
	checkGoroutines(t)
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	api := testAPI(t)

	// Bob is in the room first (publisher-type handle, not publishing).
	_, hb := n.client(ctx, t)
	if _, err := peer.JoinPublisher(ctx, hb, id, token(id, "bob", true, true), "Bob"); err != nil {
		t.Fatal(err)
	}
	_, ha := n.client(ctx, t)
	j, err := peer.JoinPublisher(ctx, ha, id, token(id, "alice", true, true), "Alice")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := peer.Publish(ctx, api, ha, "vp8", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	pub.Send(sendCtx, 300, 15)

	ev, err := hb.WaitEvent(ctx, pluginEvent("publishers", nil))
	if err != nil {
		t.Fatalf("bob never heard of alice's publication: %v", err)
	}
	var pubs struct {
		Publishers []struct {
			ID      uint64 `json:"id"`
			Display string `json:"display"`
			Streams []struct {
				Type, Codec, Mid string
			} `json:"streams"`
		} `json:"publishers"`
		Room string `json:"room"`
	}
	json.Unmarshal(ev.PluginData.Data, &pubs)
	if len(pubs.Publishers) != 1 || pubs.Publishers[0].ID != j.ID || pubs.Publishers[0].Display != "Alice" ||
		len(pubs.Publishers[0].Streams) != 2 || pubs.Room != id {
		t.Fatalf("publishers event: %s", ev.PluginData.Data)
	}

	_, hs := n.client(ctx, t)
	sub, err := peer.Subscribe(ctx, api, hs, id, token(id, "bob", true, true), []uint64{j.ID}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	waitUntil(t, 10*time.Second, "media at bob's subscription", func() bool {
		v := sub.Track("video")
		return v != nil && v.Packets.Load() > 10
	})

	// Alice unpublishes: bob's participant handle hears it, the
	// subscription gets an offer without alice's streams, and alice's
	// handle gets hangup.
	if data, _, err := ha.Request(ctx, map[string]any{"request": "unpublish"}, nil, true); err != nil ||
		!pluginEvent("unpublished", "ok")(janus.Message{PluginData: &janus.PluginData{Data: data}}) {
		t.Fatalf("unpublish: %s %v", data, err)
	}
	if _, err := hb.WaitEvent(ctx, pluginEvent("unpublished", j.ID)); err != nil {
		t.Fatalf("bob did not see alice unpublish: %v", err)
	}
	up, err := hs.WaitEvent(ctx, pluginEvent("videoroom", "updated"))
	if err != nil || up.JSEP == nil || up.JSEP.Type != "offer" {
		t.Fatalf("subscription not renegotiated: %+v %v", up, err)
	}
	if err := sub.Renegotiate(ctx, up.JSEP.SDP); err != nil {
		t.Fatalf("answer the renegotiation: %v", err)
	}
	if _, err := ha.WaitEvent(ctx, func(m janus.Message) bool { return m.Janus == "hangup" }); err != nil {
		t.Fatalf("alice's handle got no hangup: %v", err)
	}

	// Alice leaves: bob hears "leaving".
	if data, _, err := ha.Request(ctx, map[string]any{"request": "leave"}, nil, true); err != nil ||
		!pluginEvent("leaving", "ok")(janus.Message{PluginData: &janus.PluginData{Data: data}}) {
		t.Fatalf("leave: %s %v", data, err)
	}
	if _, err := hb.WaitEvent(ctx, pluginEvent("leaving", j.ID)); err != nil {
		t.Fatalf("bob did not see alice leave: %v", err)
	}
	stop()
	pub.Close()
	sub.Close()
}

// A publisher whose connection closes (the tab goes away) is unpublished
// for the others too.
func TestPublisherDisconnectIsSeen(t *testing.T) {
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	api := testAPI(t)
	_, hb := n.client(ctx, t)
	if _, err := peer.JoinPublisher(ctx, hb, id, token(id, "bob", true, true), "Bob"); err != nil {
		t.Fatal(err)
	}
	ca, ha := n.client(ctx, t)
	j, err := peer.JoinPublisher(ctx, ha, id, token(id, "alice", true, true), "Alice")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := peer.Publish(ctx, api, ha, "vp8", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if _, err := hb.WaitEvent(ctx, pluginEvent("publishers", nil)); err != nil {
		t.Fatal(err)
	}
	ca.Close() // the WebSocket goes: Janus destroys the session
	pub.Close()
	if _, err := hb.WaitEvent(ctx, pluginEvent("unpublished", j.ID)); err != nil {
		t.Fatalf("no unpublished after alice's connection closed: %v", err)
	}
	if _, err := hb.WaitEvent(ctx, pluginEvent("leaving", j.ID)); err != nil {
		t.Fatalf("no leaving after alice's connection closed: %v", err)
	}
}
