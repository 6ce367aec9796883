package videoroom_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/media/forward"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/media/videoroom"
)

var pcmu = webrtc.RTPCodecParameters{PayloadType: 0,
	RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}}

// phone is a test's in-process participant: what it hears, per feed.
type phone struct {
	local *videoroom.Local
	key   string

	mu     sync.Mutex
	codecs map[uint64]string
	heard  map[uint64]*atomic.Int64
	ended  map[uint64]bool
}

func newPhone(t *testing.T, n *testNode) *phone {
	ph := &phone{codecs: map[uint64]string{}, heard: map[uint64]*atomic.Int64{}, ended: map[uint64]bool{}}
	ph.local = &videoroom.Local{Codec: pcmu, Hear: func(feed uint64, c webrtc.RTPCodecParameters) (func(*forward.Packet), func()) {
		if !strings.HasPrefix(c.MimeType, "audio/") {
			return nil, nil // a phone takes audio only
		}
		var count atomic.Int64
		ph.mu.Lock()
		ph.codecs[feed], ph.heard[feed] = c.MimeType, &count
		ph.mu.Unlock()
		return func(p *forward.Packet) {
				if len(p.Payload) > 0 {
					count.Add(1)
				}
			}, func() {
				ph.mu.Lock()
				ph.ended[feed] = true
				ph.mu.Unlock()
			}
	}}
	var remove func()
	ph.key, remove = n.sfu.AddLocal(ph.local)
	t.Cleanup(remove)
	return ph
}

func (ph *phone) count(feed uint64) int64 {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	if c := ph.heard[feed]; c != nil {
		return c.Load()
	}
	return 0
}

func (ph *phone) hasEnded(feed uint64) bool {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	return ph.ended[feed]
}

// talk writes PCMU packets to the phone's Local every 20 ms until ctx
// ends.
func (ph *phone) talk(ctx context.Context) {
	go func() {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x1234}, Payload: make([]byte, 160)}
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			p.SequenceNumber++
			p.Timestamp += 160
			b, _ := p.Marshal()
			ph.local.WriteRTP(b)
		}
	}()
}

// A phone's media handed over in process: it joins and publishes with
// Janus requests naming its Local, a WebRTC subscriber hears what it
// writes, it hears a WebRTC publisher's audio (not her video), and the
// streams end when the publisher goes.
func TestLocalMediaBothWays(t *testing.T) {
	checkGoroutines(t)
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	if !n.sfu.HasRoom(id) || n.sfu.HasRoom("no-such-room") {
		t.Fatal("HasRoom does not tell this node's rooms")
	}
	api := testAPI(t)
	ph := newPhone(t, n)

	// alice publishes Opus and VP8 as a browser does.
	_, aj, pub := n.publishAlice(ctx, t, api, id, "vp8", nil, false)
	defer pub.Close()
	sendCtx, stopSend := context.WithCancel(ctx)
	defer stopSend()
	pub.Send(sendCtx, 300, 20)

	// The phone joins, publishes in process, and talks.
	_, h := n.client(ctx, t)
	pj, err := peer.JoinPublisher(ctx, h, id, token(id, "phone-1", true, true), "+34986999888")
	if err != nil {
		t.Fatal(err)
	}
	data, jsep, err := h.Request(ctx, map[string]any{"request": "publish", "audio": true, "local": ph.key}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	var configured struct {
		Configured string `json:"configured"`
		Streams    []struct {
			Type, Codec string
		} `json:"streams"`
	}
	json.Unmarshal(data, &configured)
	if configured.Configured != "ok" || jsep != nil || len(configured.Streams) != 1 || configured.Streams[0].Codec != "pcmu" {
		t.Fatalf("publish in process answered %s (jsep %v)", data, jsep)
	}
	if !ph.local.Publishing() {
		t.Fatal("the Local does not publish after its publish request")
	}
	ph.talk(ctx)

	// bob hears the phone over WebRTC.
	_, hb := n.client(ctx, t)
	g711, err := peer.NewAPI(peer.APIOptions{G711: true})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := peer.Subscribe(ctx, g711, hb, id, token(id, "bob", false, true), []uint64{pj.ID}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	waitUntil(t, 15*time.Second, "the phone's audio at bob", func() bool {
		a := bob.Track("audio")
		return a != nil && a.Packets.Load() > 40
	})
	if c := bob.Track("audio").Codec; !strings.EqualFold(c, webrtc.MimeTypePCMU) {
		t.Errorf("bob hears the phone in %s, want PCMU", c)
	}

	// The phone subscribes, in process, to alice's whole feed: it takes
	// her audio only.
	_, hs := n.client(ctx, t)
	data, jsep, err = hs.Request(ctx, map[string]any{"request": "join", "ptype": "subscriber", "room": id,
		"token": token(id, "phone-1", true, true), "streams": []map[string]any{{"feed": aj.ID}}, "local": ph.key}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	var attached struct {
		Streams []struct {
			Type  string `json:"type"`
			Ready bool   `json:"ready"`
		} `json:"streams"`
	}
	json.Unmarshal(data, &attached)
	if jsep != nil || len(attached.Streams) != 1 || attached.Streams[0].Type != "audio" || !attached.Streams[0].Ready {
		t.Fatalf("subscribe in process answered %s (jsep %v), want alice's audio only, ready", data, jsep)
	}
	waitUntil(t, 15*time.Second, "alice's audio at the phone", func() bool { return ph.count(aj.ID) > 40 })
	ph.mu.Lock()
	codec := ph.codecs[aj.ID]
	ph.mu.Unlock()
	if !strings.EqualFold(codec, webrtc.MimeTypeOpus) {
		t.Errorf("the phone hears alice in %s, want her Opus", codec)
	}

	// pause stops the packets, start resumes them.
	if _, _, err := hs.Request(ctx, map[string]any{"request": "pause"}, nil, true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // packets in flight
	paused := ph.count(aj.ID)
	time.Sleep(300 * time.Millisecond)
	if got := ph.count(aj.ID); got != paused {
		t.Errorf("the phone heard %d packets while paused", got-paused)
	}
	if _, _, err := hs.Request(ctx, map[string]any{"request": "start"}, nil, true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "alice's audio again", func() bool { return ph.count(aj.ID) > paused+10 })
	// An answer makes no sense for it.
	if _, _, err := hs.Request(ctx, map[string]any{"request": "start"}, &janus.JSEP{Type: "answer", SDP: audioOffer(t)}, true); !isPluginError(err, janus.VRErrInvalidSDPType) {
		t.Errorf("start with an answer: %v, want error %d", err, janus.VRErrInvalidSDPType)
	}

	// alice leaves: the phone's stream of her ends.
	stopSend()
	pub.Close()
	waitUntil(t, 10*time.Second, "the end of alice's stream at the phone", func() bool { return ph.hasEnded(aj.ID) })

	// The phone unpublishes: its Local takes no more packets.
	if _, _, err := h.Request(ctx, map[string]any{"request": "unpublish"}, nil, true); err != nil {
		t.Fatal(err)
	}
	if ph.local.Publishing() {
		t.Error("the Local still publishes after unpublish")
	}
	// It can publish again on the same Local.
	if _, _, err := h.Request(ctx, map[string]any{"request": "publish", "local": ph.key}, nil, true); err != nil {
		t.Fatalf("publish again: %v", err)
	}
	cancel()
}

// Requests naming in-process media that is not there, or mixing it with
// SDP, or publishing one Local twice, are refused with the VideoRoom's
// codes; the grant still rules what the participant may do.
func TestLocalMediaRefused(t *testing.T) {
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	ph := newPhone(t, n)
	offer := audioOffer(t)
	join := func(user string, publish bool) *janus.Handle {
		_, h := n.client(ctx, t)
		if _, err := peer.JoinPublisher(ctx, h, id, token(id, user, publish, true), user); err != nil {
			t.Fatal(err)
		}
		return h
	}
	cases := []struct {
		name string
		h    *janus.Handle
		body map[string]any
		jsep *janus.JSEP
		code int
	}{
		{"unknown key", join("u1", true), map[string]any{"request": "publish", "local": "0123456789abcdef0123456789abcdef"}, nil, janus.VRErrInvalidElement},
		{"key not a string", join("u2", true), map[string]any{"request": "publish", "local": 42}, nil, janus.VRErrInvalidElement},
		{"local and an offer", join("u3", true), map[string]any{"request": "publish", "local": ph.key}, &janus.JSEP{Type: "offer", SDP: offer}, janus.VRErrInvalidElement},
		{"grant without publish", join("u4", false), map[string]any{"request": "publish", "local": ph.key}, nil, janus.VRErrUnauthorized},
	}
	for _, c := range cases {
		_, _, err := c.h.Request(ctx, c.body, c.jsep, true)
		if !isPluginError(err, c.code) {
			t.Errorf("%s: %v, want error %d", c.name, err, c.code)
		}
	}
	if ph.local.Publishing() {
		t.Fatal("a refused request published the Local")
	}
	// One Local publishes once.
	_, h5 := n.client(ctx, t)
	j5, err := peer.JoinPublisher(ctx, h5, id, token(id, "u5", true, true), "u5")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h5.Request(ctx, map[string]any{"request": "publish", "local": ph.key}, nil, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := join("u6", true).Request(ctx, map[string]any{"request": "publish", "local": ph.key}, nil, true); !isPluginError(err, janus.VRErrAlreadyPublished) {
		t.Errorf("a second publication of one Local: %v, want error %d", err, janus.VRErrAlreadyPublished)
	}
	// A subscription naming an unknown Local.
	_, hs := n.client(ctx, t)
	_, _, err = hs.Request(ctx, map[string]any{"request": "join", "ptype": "subscriber", "room": id,
		"token": token(id, "u7", false, true), "streams": []map[string]any{{"feed": j5.ID}}, "local": "nope"}, nil, true)
	if !isPluginError(err, janus.VRErrInvalidElement) {
		t.Errorf("subscribe with an unknown Local: %v, want error %d", err, janus.VRErrInvalidElement)
	}
}

// audioOffer is a valid SDP offer of one audio stream.
func audioOffer(t *testing.T) string {
	pc, err := testAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-g
	return pc.LocalDescription().SDP
}

func isPluginError(err error, code int) bool {
	var pe *janus.PluginError
	return errors.As(err, &pe) && pe.Code == code
}
