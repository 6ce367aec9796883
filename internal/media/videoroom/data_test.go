package videoroom_test

import (
	"context"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
)

// A publisher's data channel messages reach its subscribers.
func TestDataChannelRelay(t *testing.T) {
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	api := testAPI(t)
	_, h := n.client(ctx, t)
	j, err := peer.JoinPublisher(ctx, h, id, token(id, "alice", true, true), "Alice")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dc, err := pc.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	_, answer, err := h.Request(ctx, map[string]any{"request": "publish"}, &janus.JSEP{Type: "offer", SDP: pc.LocalDescription().SDP}, true)
	if err != nil || answer == nil {
		t.Fatalf("publish data: %v", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		t.Fatal(err)
	}
	if err := peer.Connected(ctx, pc); err != nil {
		t.Fatal(err)
	}

	_, hs := n.client(ctx, t)
	got := make(chan string, 10)
	sub, err := peer.Subscribe(ctx, api, hs, id, token(id, "bob", false, true), []uint64{j.ID}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	select {
	case d := <-sub.Data:
		d.OnMessage(func(m webrtc.DataChannelMessage) { got <- string(m.Data) })
	case <-ctx.Done():
		t.Fatal("the server opened no data channel to the subscriber")
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case m := <-got:
			if m != "hello room" {
				t.Fatalf("subscriber got %q", m)
			}
			return
		case <-tick.C:
			if dc.ReadyState() == webrtc.DataChannelStateOpen {
				dc.SendText("hello room")
			}
		case <-ctx.Done():
			t.Fatal("no data channel message reached the subscriber")
		}
	}
}
