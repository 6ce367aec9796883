package node_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/g711"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/tone"
)

// publishTone joins conn's user to the room's media as display and
// publishes a tone of freq Hz in codec (PCMU or opus) until ctx ends. It
// returns the publisher's handle (its events name the room's publishers).
func publishTone(ctx context.Context, t *testing.T, conn *client.Conn, rm, display, codec string, freq float64) (*janus.Session, *janus.Handle) {
	t.Helper()
	f, err := conn.Request(ctx, "joinRoom", map[string]any{"room": rm}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obj roomObject
	if err := json.Unmarshal(f.Payload, &obj); err != nil {
		t.Fatal(err)
	}
	jc, err := janus.Dial(ctx, obj.Server.WSS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jc.Close() })
	js, err := jc.CreateSessionToken(ctx, obj.Token)
	if err != nil {
		t.Fatal(err)
	}
	ph, err := js.Attach(ctx, "janus.plugin.videoroom")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.JoinPublisher(ctx, ph, obj.Room, obj.Token, display); err != nil {
		t.Fatal(err)
	}
	api, mime, clock, pt := g711API(t), webrtc.MimeTypePCMU, uint32(8000), uint8(0)
	if codec == "opus" {
		api, mime, clock, pt = opusAPI(t), webrtc.MimeTypeOpus, 48000, 111
	}
	pub, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: mime, ClockRate: clock}, "audio", display)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	negotiate(ctx, t, ph, pub, map[string]any{"request": "publish"}, true)
	ac, err := audiocodec.Lookup(codec)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := ac.NewEncoder(audiocodec.EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		var seq uint16
		var ts uint32
		gen := tone.NewGenerator(freq, audiocodec.Rate, 6000)
		pcm := make([]int16, audiocodec.FrameSamples)
		payload := make([]byte, audiocodec.MaxPayload)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			gen.Fill(pcm)
			n, err := enc.Encode(pcm, payload)
			if err != nil {
				return
			}
			seq++
			ts += uint32(ac.FrameClock)
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: uint32(freq)}, Payload: payload[:n]})
		}
	}()
	return js, ph
}

// A phone in a room with two publishers hears them mixed: alice sends
// 440 Hz in Opus, bob 660 Hz in PCMU, the phone (SIPp, which echoes what
// it hears) dials the room's number, and what comes back from the phone's
// feed has both tones in the same packets. Packets of each in turn (no
// mix) have one tone each and fail.
func TestSIPPhoneHearsTheMix(t *testing.T) {
	testPhoneHears(t, true)
}

// A phone dialling into a room with one publisher hears it (its packets,
// transcoded from Opus), and the room hears the phone.
func TestSIPDialInHearsOnePublisher(t *testing.T) {
	testPhoneHears(t, false)
}

func testPhoneHears(t *testing.T, two bool) {
	r := newSIPRig(t, nil)
	alice, bob := r.connect(r.alice), r.connect(r.bob)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	f, err := alice.Request(ctx, "createRoom", map[string]any{"acl": []string{r.bobID}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obj roomObject
	if err := json.Unmarshal(f.Payload, &obj); err != nil || obj.Number == "" {
		t.Fatalf("createRoom: %s", f.Payload)
	}
	js, ph := publishTone(ctx, t, alice, obj.Room, "alice", "opus", 440)
	if two {
		publishTone(ctx, t, bob, obj.Room, "bob", "PCMU", 660)
	}
	done := r.sipp("uac_dtmf.xml", map[string]string{"PAUSE": "10000"}, "-s", "888"+obj.Number,
		"-p", strconv.Itoa(freeUDPPort(t)), "-rtp_echo", "127.0.0.1:"+strconv.Itoa(r.node.SIP().Addr().Port))

	feed := phoneFeed(ctx, t, ph, peer.Joined{}, "+34986999888")
	f, err = alice.Request(ctx, "getRoom", map[string]any{"room": obj.Room}, nil)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(f.Payload, &obj)
	sh, err := js.Attach(ctx, "janus.plugin.videoroom")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := g711API(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var got, both atomic.Int64
	sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		pcm := make([]int16, 0, 160)
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			pcm = pcm[:0]
			for _, b := range p.Payload {
				pcm = append(pcm, g711.ULawSample(b))
			}
			all := tone.RMSPower(pcm)
			if all > 1e5 && tone.Power(pcm, 440, 8000) > all/8 && (!two || tone.Power(pcm, 660, 8000) > all/8) {
				both.Add(1)
			}
			got.Add(1)
		}
	})
	negotiate(ctx, t, sh, sub, map[string]any{"request": "join", "ptype": "subscriber", "room": obj.Room, "token": obj.Token,
		"streams": []map[string]any{{"feed": feed}}}, false)
	for both.Load() < 50 {
		select {
		case <-ctx.Done():
			t.Fatalf("alice heard %d packets from the phone, %d with both tones", got.Load(), both.Load())
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.await(done)
	r.settled()
}
