package videoroom_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
)

// A publisher's VP8 and Opus reach every subscriber.
func TestPublisherReachesEverySubscriber(t *testing.T) {
	checkGoroutines(t)
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	room, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	api := testAPI(t)

	_, j, pub := n.publishAlice(ctx, t, api, id, "vp8", nil, false)
	defer pub.Close()
	sendCtx, stopSend := context.WithCancel(ctx)
	defer stopSend()
	pub.Send(sendCtx, 400, 20)

	var subs []*peer.Subscriber
	for i, user := range []string{"bob", "carol", "dave"} {
		_, hs := n.client(ctx, t)
		// The second subscriber addresses the room by its number.
		var ref any = id
		if i == 1 {
			ref = room.Number
		}
		s, err := peer.Subscribe(ctx, api, hs, ref, token(id, user, false, true), []uint64{j.ID}, nil, false)
		if err != nil {
			t.Fatalf("%s subscribes: %v", user, err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	for i, s := range subs {
		waitUntil(t, 15*time.Second, "video and audio at the subscriber", func() bool {
			v, a := s.Track("video"), s.Track("audio")
			return v != nil && a != nil && v.Packets.Load() > 40 && a.Packets.Load() > 40
		})
		v, a := s.Track("video"), s.Track("audio")
		if !strings.EqualFold(v.Codec, "video/VP8") || !strings.EqualFold(a.Codec, "audio/opus") {
			t.Errorf("subscriber %d got codecs %s and %s", i, v.Codec, a.Codec)
		}
		if v.Keyframes.Load() == 0 {
			t.Errorf("subscriber %d saw no keyframe", i)
		}
	}
	stopSend()
	pub.Close()
	for _, s := range subs {
		s.Close()
	}
}

// The "attached" event describes the subscribed streams as Janus does.
func TestAttachedDescribesStreams(t *testing.T) {
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	api := testAPI(t)
	_, j, pub := n.publishAlice(ctx, t, api, id, "vp8", nil, false)
	defer pub.Close()
	_, hs := n.client(ctx, t)
	s, err := peer.Subscribe(ctx, api, hs, id, token(id, "bob", false, true), []uint64{j.ID}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Streams) != 2 {
		t.Fatalf("attached lists %d streams, want 2", len(s.Streams))
	}
	var st struct {
		Type   string `json:"type"`
		FeedID uint64 `json:"feed_id"`
		Mid    string `json:"mid"`
	}
	json.Unmarshal(s.Streams[1], &st)
	if st.FeedID != j.ID || st.Type == "" || st.Mid == "" {
		t.Errorf("stream entry %s", s.Streams[1])
	}
	_ = janus.VideoRoom
}

// Without a single media port, each peer connection takes a port of the
// configured range (the seeds' webRtcStartPort-webRtcEndPort).
func TestPortRange(t *testing.T) {
	cfg := testMediaConfig(t)
	cfg.UDPPort = 0
	base := 40000 + int(time.Now().UnixNano()%10000)
	cfg.WebRTCStartPort, cfg.WebRTCEndPort = base, base+100
	n := startSFU(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, sub, _ := callWith(t, ctx, n, testAPI(t), testAPI(t))
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	pub.Send(sendCtx, 200, 10)
	waitUntil(t, 10*time.Second, "media", func() bool { v := sub.Track("video"); return v != nil && v.Packets.Load() > 5 })
	for _, pc := range []*webrtc.PeerConnection{pub.PC, sub.PC} {
		// Parse a copy: Unmarshal caches its result in the description,
		// which the peer connection's own goroutines read.
		remote := webrtc.SessionDescription{Type: pc.RemoteDescription().Type, SDP: pc.RemoteDescription().SDP}
		d, err := remote.Unmarshal()
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, m := range d.MediaDescriptions {
			for _, a := range m.Attributes {
				if a.Key != "candidate" {
					continue
				}
				f := strings.Fields(a.Value)
				port, _ := strconv.Atoi(f[5])
				if port < base || port > base+100 {
					t.Fatalf("candidate %s outside %d-%d", a.Value, base, base+100)
				}
				found++
			}
		}
		if found == 0 {
			t.Fatal("no candidate in the server's SDP")
		}
	}
}

// A deployment with codec h264 forwards H.264 (and offers subscribers the
// publisher's profile).
func TestH264Deployment(t *testing.T) {
	cfg := testMediaConfig(t)
	cfg.Codec = "h264"
	n := startSFU(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	api, err := peer.NewAPI(peer.APIOptions{Codec: "h264"})
	if err != nil {
		t.Fatal(err)
	}
	_, j, pub := n.publishAlice(ctx, t, api, id, "h264", nil, false)
	defer pub.Close()
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	pub.Send(sendCtx, 300, 15)
	_, hs := n.client(ctx, t)
	sub, err := peer.Subscribe(ctx, api, hs, id, token(id, "bob", false, true), []uint64{j.ID}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	waitUntil(t, 10*time.Second, "H.264 at the subscriber", func() bool {
		v := sub.Track("video")
		return v != nil && v.Packets.Load() > 20
	})
	if c := sub.Track("video").Codec; !strings.EqualFold(c, "video/H264") {
		t.Fatalf("subscriber got %s", c)
	}
}
