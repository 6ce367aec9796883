package node_test

import (
	"context"
	"encoding/json"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/media/g711"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
)

// g711API is a Pion API that speaks PCMU only, as a browser that offers it.
func g711API(t *testing.T) *webrtc.API {
	return audioAPI(t, webrtc.RTPCodecParameters{PayloadType: 0,
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}})
}

// opusAPI is a Pion API that speaks Opus only, as a browser's default.
func opusAPI(t *testing.T) *webrtc.API {
	return audioAPI(t, webrtc.RTPCodecParameters{PayloadType: 111,
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"}})
}

func audioAPI(t *testing.T, c webrtc.RTPCodecParameters) *webrtc.API {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me))
}

// A real call with audio both ways: alice (a Pion peer publishing a 440 Hz
// tone through the media server, DTLS-SRTP as a browser) calls
// tel:+34986999888; the trunk (SIPp) answers and echoes the RTP it gets;
// the phone's audio comes back into the room, and alice hears the tone
// again from the phone's feed. alice publishes PCMU (passed through to the
// trunk) or Opus, a browser's default (transcoded to the trunk's PCMU).
// The room is on the sip node's own media server, so the phone's media is
// handed over in process.
func TestSIPMediaBothWays(t *testing.T) {
	for _, codec := range []string{"PCMU", "opus"} {
		t.Run(codec, func(t *testing.T) { testSIPMediaBothWays(t, newSIPRig(t, nil), "", codec, "in_process") })
	}
}

// The same call in a cluster: the sip node runs no media role and the
// room is on a media node elsewhere, whose media server the phone joins
// as a WebRTC participant.
func TestSIPMediaAcrossNodes(t *testing.T) {
	dir, cluster := natsCluster(t)
	r := newSIPRig(t, cluster("api", "signaling"))
	_, mediaURL := startNodeWith(t, dir, cluster("api", "media"))
	testSIPMediaBothWays(t, r, janusURL(mediaURL), "opus", "webrtc")
}

// createRoomOn has conn create rooms until one is on the media server wss
// ("" = any): in a cluster, the signaling node knows the media node from
// its first heartbeat on (until then rooms go elsewhere, or have no media).
func createRoomOn(ctx context.Context, t *testing.T, conn *client.Conn, wss string) roomObject {
	t.Helper()
	var obj roomObject
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		f, err := conn.Request(ctx, "createRoom", map[string]any{}, nil)
		if err == nil {
			obj = roomObject{}
			if err := json.Unmarshal(f.Payload, &obj); err != nil {
				t.Fatalf("createRoom: %s", f.Payload)
			}
			if obj.Number != "" && (wss == "" || obj.Server.WSS == wss) {
				return obj
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rooms on %q (last error %v), never on the media node %s", obj.Server.WSS, err, wss)
		}
	}
}

// testSIPMediaBothWays makes the call on r's node, in a room on the media
// server wss ("" = any), and checks the phone's media took path.
func testSIPMediaBothWays(t *testing.T, r *sipRig, wss, codec, path string) {
	trunk := r.trunk("uas_answer.xml", map[string]string{"FORMATS": "0"}, "-rtp_echo")
	alice := r.connect(r.alice)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	obj := createRoomOn(ctx, t, alice, wss)
	// alice joins and publishes the tone.
	js, ph := publishTone(ctx, t, alice, obj.Room, "alice", codec, 440)
	f, err := alice.Request(ctx, "getRoom", map[string]any{"room": obj.Room}, nil)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(f.Payload, &obj)
	api := g711API(t)

	// alice calls the phone; the trunk answers.
	_, answer, err := alice.Start(ctx, "invitation", map[string]any{"room": obj.Room}, map[string]any{"to": "tel:+34986999888"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Await(ctx, answer); err != nil {
		t.Fatal(err)
	}
	// The phone's feed appears on alice's publisher handle.
	feed := phoneFeed(ctx, t, ph, peer.Joined{}, "+34986999888")
	sh, err := js.Attach(ctx, "janus.plugin.videoroom")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var got, loud atomic.Int64
	sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			var sum float64
			for _, b := range p.Payload {
				v := float64(g711.ULawSample(b))
				sum += v * v
			}
			if len(p.Payload) > 0 && math.Sqrt(sum/float64(len(p.Payload))) > 2000 {
				loud.Add(1)
			}
			got.Add(1)
		}
	})
	negotiate(ctx, t, sh, sub, map[string]any{"request": "join", "ptype": "subscriber", "room": obj.Room, "token": obj.Token,
		"streams": []map[string]any{{"feed": feed}}}, false)
	for got.Load() < 50 || loud.Load() < 50 {
		select {
		case <-ctx.Done():
			t.Fatalf("alice heard %d packets from the phone, %d with the tone", got.Load(), loud.Load())
		case <-time.After(50 * time.Millisecond):
		}
	}
	reg := r.node.Metrics.Registry
	other := map[string]string{"in_process": "webrtc", "webrtc": "in_process"}[path]
	if got, not := counterValue(t, reg, "wac_sip_phone_media_total", "path", path), counterValue(t, reg, "wac_sip_phone_media_total", "path", other); got != 1 || not != 0 {
		t.Errorf("phones joined %s: %v, %s: %v; want 1 and 0", path, got, other, not)
	}
	toTrunk := map[string]string{"PCMU": "to_trunk", "opus": "transcoded"}[codec]
	if got := counterValue(t, reg, "wac_sip_media_packets_total", "kind", toTrunk); got < 50 {
		t.Errorf("%v packets %s, want the call's audio", got, toTrunk)
	}
	// alice hangs up: the trunk gets its BYE, the port goes back.
	if _, err := alice.Request(ctx, "leaveRoom", map[string]any{"room": obj.Room}, nil); err != nil {
		t.Fatal(err)
	}
	r.await(trunk)
	r.settled()
}

// negotiate runs one offer/answer with the media server: publish (we
// offer) or a subscriber's join (it offers, we start).
func negotiate(ctx context.Context, t *testing.T, h *janus.Handle, pc *webrtc.PeerConnection, body map[string]any, offer bool) {
	t.Helper()
	noTrickle := false
	if offer {
		o, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		g := webrtc.GatheringCompletePromise(pc)
		pc.SetLocalDescription(o)
		<-g
		_, ans, err := h.Request(ctx, body, &janus.JSEP{Type: "offer", SDP: pc.LocalDescription().SDP, Trickle: &noTrickle}, true)
		if err != nil || ans == nil {
			t.Fatalf("publish: %v", err)
		}
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
			t.Fatal(err)
		}
		return
	}
	_, o, err := h.Request(ctx, body, nil, true)
	if err != nil || o == nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: o.SDP}); err != nil {
		t.Fatal(err)
	}
	a, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(a)
	<-g
	if _, _, err := h.Request(ctx, map[string]any{"request": "start"}, &janus.JSEP{Type: "answer", SDP: pc.LocalDescription().SDP, Trickle: &noTrickle}, true); err != nil {
		t.Fatal(err)
	}
}
