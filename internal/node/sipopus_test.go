package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/tone"
	"github.com/openwac/wac/internal/testenv"
)

// A phone that speaks Opus (baresip with its opus module, taking
// opus/48000/2 alone) on a call with a room where alice publishes 440 Hz:
//
//   - dial-in: the phone dials the room's number offering Opus; the node,
//     whose trunk.codecs has G.711 first and Opus after, answers Opus;
//   - outbound: alice invites the phone's number; the node (trunk.codecs
//     Opus first) offers Opus and G.711 to the trunk, which is baresip
//     answering at once with Opus.
//
// alice in Opus (a browser's default): her packets reach the phone
// untouched (the bridge's ToTrunk counts them, Transcoded nothing); alice
// in PCMU: her audio is transcoded to Opus for the phone. Both ways are
// heard: a second of 440 Hz in baresip's recording of what it decoded,
// and a second of the phone's 400 Hz in alice's subscription to the
// phone's feed, which the bridge publishes as Opus. alice's keys reach
// the phone as telephone-events.
func TestSIPOpusPhone(t *testing.T) {
	for _, c := range []struct {
		name, codec string
		outbound    bool
	}{
		{"dial-in/opus", "opus", false},
		{"dial-in/PCMU", "PCMU", false},
		{"outbound/opus", "opus", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			testenv.NeedPrograms(t, "baresip")
			r := newSIPRig(t, func(cfg *config.Config) { cfg.Trunk.Codecs = opusCodecs(c.outbound) })
			testSIPOpusPhone(t, r, "", c.codec, c.outbound, "in_process")
		})
	}
}

// The Opus call out in a cluster: the sip node runs no media role and the
// room is on a media node elsewhere, whose media server the phone joins
// as a WebRTC participant publishing Opus.
func TestSIPOpusPhoneAcrossNodes(t *testing.T) {
	testenv.NeedPrograms(t, "baresip")
	dir, cluster := natsCluster(t)
	r := newSIPRig(t, func(c *config.Config) {
		cluster("api", "signaling")(c)
		c.Trunk.Codecs = opusCodecs(true)
	})
	_, mediaURL := startNodeWith(t, dir, cluster("api", "media"))
	testSIPOpusPhone(t, r, janusURL(mediaURL), "opus", true, "webrtc")
}

// opusCodecs is the trunk.codecs of the Opus tests: G.711 first for the
// phone's offer of Opus alone (the answer is Opus all the same), Opus
// first for our offers.
func opusCodecs(outbound bool) []string {
	if outbound {
		return []string{"opus", "pcmu"}
	}
	return []string{"pcmu", "pcma", "opus"}
}

// readLog is the text of a log file so far ("" when it cannot be read).
func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// testSIPOpusPhone makes the call on r's node, in a room on the media
// server wss ("" = any), and checks the phone's media took path.
func testSIPOpusPhone(t *testing.T, r *sipRig, wss, codec string, outbound bool, path string) {
	alice := r.connect(r.alice)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	obj := createRoomOn(ctx, t, alice, wss)
	js, ph := publishTone(ctx, t, alice, obj.Room, "alice", codec, 440)
	var rec string
	if outbound {
		rec = startBaresipWith(t, baresipRun{listen: r.trunkPort, freq: 400, codec: "opus"})
		r.udpBound(r.trunkPort)
		_, answer, err := alice.Start(ctx, "invitation", map[string]any{"room": obj.Room}, map[string]any{"to": "tel:+34986999888"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Await(ctx, answer); err != nil {
			t.Fatal(err)
		}
	} else {
		rec = startBaresipWith(t, baresipRun{dial: fmt.Sprintf("sip:888%s@127.0.0.1:%d", obj.Number, r.node.SIP().Addr().Port),
			freq: 400, codec: "opus"})
	}

	feed := phoneFeed(ctx, t, ph, peer.Joined{}, "+34986999888")
	f, err := alice.Request(ctx, "getRoom", map[string]any{"room": obj.Room}, nil)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(f.Payload, &obj)
	sh, err := js.Attach(ctx, "janus.plugin.videoroom")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := opusAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var got, tone400 atomic.Int64
	var mime atomic.Value
	sub.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		mime.Store(tr.Codec().MimeType)
		dec, err := audiocodec.Opus().NewDecoder()
		if err != nil {
			return
		}
		pcm := make([]int16, audiocodec.MaxFrameSamples)
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			got.Add(1)
			n, err := dec.Decode(p.Payload, pcm)
			if err != nil || n == 0 {
				continue
			}
			pw := tone.Power(pcm[:n], 400, audiocodec.Rate)
			if pw > 0.6*tone.RMSPower(pcm[:n]) && pw > 300*300/2 {
				tone400.Add(1)
			}
		}
	})
	negotiate(ctx, t, sh, sub, map[string]any{"request": "join", "ptype": "subscriber", "room": obj.Room, "token": obj.Token,
		"streams": []map[string]any{{"feed": feed}}}, false)
	for tone400.Load() < 50 || wavTone(rec, "dec", 440) < 50 {
		select {
		case <-ctx.Done():
			t.Fatalf("alice heard %d packets from the phone (%v), %d with its 400 Hz; the phone heard %d blocks of alice's 440 Hz",
				got.Load(), mime.Load(), tone400.Load(), wavTone(rec, "dec", 440))
		case <-time.After(100 * time.Millisecond):
		}
	}
	if m, _ := mime.Load().(string); !strings.EqualFold(m, webrtc.MimeTypeOpus) {
		t.Fatalf("the phone's feed is %q", m)
	}
	// baresip speaks Opus on the call, both ways.
	if l := readLog(filepath.Join(filepath.Dir(rec), "baresip.log")); !strings.Contains(l, "Set audio encoder: opus 48000Hz") ||
		!strings.Contains(l, "Set audio decoder: opus 48000Hz") {
		t.Fatalf("baresip's codecs on the call:\n%s", tail(l, 2000))
	}
	reg := r.node.Metrics.Registry
	packets := func(kind string) float64 { return counterValue(t, reg, "wac_sip_media_packets_total", "kind", kind) }
	passed, transcoded, from := packets("to_trunk"), packets("transcoded"), packets("from_trunk")
	if from < 50 {
		t.Errorf("%.0f packets of the phone published", from)
	}
	if codec == "opus" && (passed < 50 || transcoded != 0) {
		t.Errorf("alice's Opus to the Opus phone: %.0f packets passed through, %.0f transcoded; want all passed through", passed, transcoded)
	}
	if codec == "PCMU" && (transcoded < 50 || passed != 0) {
		t.Errorf("alice's PCMU to the Opus phone: %.0f packets passed through, %.0f transcoded; want all transcoded", passed, transcoded)
	}
	if m := packets("mixed"); m != 0 {
		t.Errorf("%.0f packets mixed for a phone that hears one publisher", m)
	}
	if got := counterValue(t, reg, "wac_sip_phone_media_total", "path", path); got != 1 {
		t.Errorf("%.0f phones by %s, want 1", got, path)
	}
	t.Logf("bridge: %.0f packets passed through to the phone, %.0f transcoded, %.0f published from it", passed, transcoded, from)

	// alice's keys reach the phone: baresip 1.0 offers and answers
	// telephone-event/8000 next to Opus, so the events go at 8 kHz in the
	// 48 kHz stream, and baresip reads them.
	if _, err := alice.Request(ctx, "sendDTMF", map[string]any{"room": obj.Room, "digits": "5#"}, nil); err != nil {
		t.Fatal(err)
	}
	for want := range strings.SplitSeq("'5' '#'", " ") {
		for !strings.Contains(readLog(filepath.Join(filepath.Dir(rec), "baresip.log")), "received event: "+want) {
			select {
			case <-ctx.Done():
				t.Fatalf("baresip did not get the key %s", want)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	// The room ends: the phone that dialled into it is hung up.
	if _, err := alice.Request(ctx, "destroyRoom", map[string]any{"room": obj.Room}, nil); err != nil {
		t.Fatal(err)
	}
	r.settled()
}

// A phone speaking Opus dials the meetings' number: the prompt that asks
// for the PIN reaches it Opus-encoded at 48 kHz (its 440 Hz in baresip's
// recording of what it decoded), and the PIN keyed as telephone-events at
// baresip's telephone-event/8000 (the type of its offer, next to Opus)
// joins it to the meeting's room.
func TestSIPOpusDialInMeeting(t *testing.T) {
	testenv.NeedPrograms(t, "baresip")
	r := newSIPRig(t, func(c *config.Config) {
		c.Meetings.PSTNExtension = "+34999999999"
		c.Trunk.Codecs = []string{"pcmu", "pcma", "opus"}
	})
	id := meetingWithPIN(t, r, r.aliceID, "24681357", false)
	alice := r.connect(r.alice)
	ctx := wctx(t)
	rm := joinMeeting(ctx, t, alice, id)
	k := newKeypad(t)
	rec := startBaresipWith(t, baresipRun{dial: fmt.Sprintf("sip:+34999999999@127.0.0.1:%d", r.node.SIP().Addr().Port),
		freq: 400, codec: "opus"})
	// The prompt is one beep of 600 ms: 30 blocks of 20 ms (all 30 are
	// heard; a few may straddle the beep's edges).
	for wavTone(rec, "dec", 440) < 25 {
		select {
		case <-ctx.Done():
			t.Fatalf("baresip heard %d blocks of the prompt's 440 Hz", wavTone(rec, "dec", 440))
		case <-time.After(50 * time.Millisecond):
		}
	}
	if l := readLog(filepath.Join(filepath.Dir(rec), "baresip.log")); !strings.Contains(l, "Set audio decoder: opus 48000Hz") {
		t.Fatalf("baresip's codecs on the call:\n%s", tail(l, 2000))
	}
	k.press(t, callRTPPort(ctx, t, r), 101, "24681357")
	roomJoined(ctx, t, alice, rm, "phone-0034986999888", true)
	if _, err := alice.Request(ctx, "destroyRoom", map[string]any{"room": rm}, nil); err != nil {
		t.Fatal(err)
	}
	r.settled()
}
