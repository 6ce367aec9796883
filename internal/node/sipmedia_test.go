package node_test

import (
	"context"
	"encoding/json"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

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
func TestSIPMediaBothWays(t *testing.T) {
	for _, codec := range []string{"PCMU", "opus"} {
		t.Run(codec, func(t *testing.T) { testSIPMediaBothWays(t, codec) })
	}
}

func testSIPMediaBothWays(t *testing.T, codec string) {
	r := newSIPRig(t, nil)
	trunk := r.trunk("uas_answer.xml", map[string]string{"FORMATS": "0"}, "-rtp_echo")
	alice := r.connect(r.alice)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	f, err := alice.Request(ctx, "createRoom", map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obj roomObject
	if err := json.Unmarshal(f.Payload, &obj); err != nil {
		t.Fatal(err)
	}
	// alice joins and publishes the tone.
	js, ph := publishTone(ctx, t, alice, obj.Room, "alice", codec, 440)
	if f, err = alice.Request(ctx, "getRoom", map[string]any{"room": obj.Room}, nil); err != nil {
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
