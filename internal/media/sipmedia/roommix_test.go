package sipmedia

import (
	"context"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/grant"
	"github.com/openwac/wac/internal/media/g711"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/media/tone"
	"github.com/openwac/wac/internal/media/videoroom"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// mediaServer runs an SFU behind a loopback HTTP server; it returns the
// SFU and its Janus WebSocket URL.
func mediaServer(t *testing.T) (*videoroom.SFU, string) {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Media
	cfg.ListenIP, cfg.UDPPort = "127.0.0.1", c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	sfu, err := videoroom.New(cfg, videoroom.Options{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sfu.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		sfu.Close()
		srv.Close()
	})
	return sfu, "ws" + strings.TrimPrefix(srv.URL, "http") + "/janus"
}

func roomGrant(room, user string) string {
	return grant.Sign(secret, grant.Grant{Room: room, User: user, Publish: true, Subscribe: true,
		Expires: time.Now().Add(time.Hour).Unix()})
}

// testPhone is a phone on the bridge: it talks a tone into the room and
// keeps what the bridge sends it, decoded.
type testPhone struct {
	fromTrunk func([]byte)
	stop      func()
	heardAudio
}

// heardAudio is what a test phone heard, decoded at rate.
type heardAudio struct {
	rate  int
	mu    sync.Mutex
	heard []int16
}

func (a *heardAudio) add(pcm []int16) {
	a.mu.Lock()
	a.heard = append(a.heard, pcm...)
	a.mu.Unlock()
}

// hears says which of freqs are in the last second heard: each at least
// a tenth of the power.
func (a *heardAudio) hears(freqs ...float64) map[float64]bool {
	a.mu.Lock()
	pcm := append([]int16(nil), a.heard[max(0, len(a.heard)-a.rate):]...)
	a.mu.Unlock()
	out := map[float64]bool{}
	all := tone.RMSPower(pcm)
	for _, f := range freqs {
		out[f] = all > 1e5 && tone.Power(pcm, f, a.rate) > all/10
	}
	return out
}

func startPhone(ctx context.Context, t *testing.T, b *Bridge, room Room, user string, freq float64) *testPhone {
	t.Helper()
	p := &testPhone{heardAudio: heardAudio{rate: 8000}}
	room.Token = roomGrant(room.Room, user)
	var err error
	p.fromTrunk, p.stop, err = b.Start(ctx, room, user, "PCMU", 0, func(pkt []byte) error {
		var r rtp.Packet
		if r.Unmarshal(pkt) == nil {
			p.add(g711.DecodeULaw(make([]int16, len(r.Payload)), r.Payload))
		}
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	go talk(ctx, freq, func(b []byte) { p.fromTrunk(b) })
	return p
}

// talk sends 20 ms PCMU packets of a tone to write until ctx ends.
func talk(ctx context.Context, freq float64, write func([]byte)) {
	gen := tone.NewGenerator(freq, 8000, 8000)
	pcm := make([]int16, 160)
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: uint32(freq)}, Payload: make([]byte, 160)}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		gen.Fill(pcm)
		p.SequenceNumber++
		p.Timestamp += 160
		p.Payload = g711.EncodeULaw(p.Payload, pcm)
		b, _ := p.Marshal()
		write(b)
	}
}

// A room of an app and two phones on this bridge: the phones share one
// mixer where the app's track is decoded once; each phone hears the app
// and the other phone, never itself. The mix goes when the phones leave.
func TestPhonesOfARoomShareAMix(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, room := roomWithApp(ctx, t)
	id := room.Room
	p1 := startPhone(ctx, t, b, room, "phone-1", 440)
	p2 := startPhone(ctx, t, b, room, "phone-2", 660)

	deadline := time.Now().Add(15 * time.Second)
	for {
		h1, h2 := p1.hears(440, 660, 880), p2.hears(440, 660, 880)
		ok := h1[660] && h1[880] && h2[440] && h2[880]
		if ok {
			if h1[440] || h2[660] {
				t.Fatalf("a phone hears itself: phone 1 %v, phone 2 %v", h1, h2)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("phone 1 hears %v (want 660 and 880), phone 2 %v (want 440 and 880)", h1, h2)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := b.Mixes()[id]; got != [2]int{2, 1} {
		t.Errorf("the room's mix has %d phones and %d other tracks, want 2 and 1 (the app's, decoded once)", got[0], got[1])
	}
	if b.InProcess.Load() != 2 {
		t.Errorf("%d phones in process, want 2", b.InProcess.Load())
	}
	p2.stop()
	if got := b.Mixes()[id]; got[0] != 1 {
		t.Errorf("after a phone left the mix has %d phones, want 1", got[0])
	}
	p1.stop()
	if got := b.Mixes(); len(got) != 0 {
		t.Errorf("mixes left after the phones: %v", got)
	}
}

// roomWithApp makes a room on a media server of the test, where an app
// publishes 880 Hz in PCMU as a WebRTC peer, and a bridge of phones that
// hands their media to that server in process.
func roomWithApp(ctx context.Context, t *testing.T) (*Bridge, Room) {
	t.Helper()
	sfu, wss := mediaServer(t)
	id := strings.Repeat("r", 36)
	if _, err := sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := New(slog.New(slog.DiscardHandler), sfu)
	if err != nil {
		t.Fatal(err)
	}
	appTalk(ctx, t, wss, id, 880)
	return b, Room{WSS: wss, Room: id}
}

// appTalk joins the room as an app publishing a PCMU tone.
func appTalk(ctx context.Context, t *testing.T, wss, id string, freq float64) {
	t.Helper()
	c, err := janus.Dial(ctx, wss)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := c.CreateSessionToken(ctx, roomGrant(id, "app"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Attach(ctx, janus.VideoRoom)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.JoinPublisher(ctx, h, id, roomGrant(id, "app"), "app"); err != nil {
		t.Fatal(err)
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 0,
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, "audio", "app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	_, answer, err := h.Request(ctx, map[string]any{"request": "publish", "audio": true},
		&janus.JSEP{Type: "offer", SDP: pc.LocalDescription().SDP}, true)
	if err != nil || answer == nil {
		t.Fatalf("publish: %v (answer %v)", err, answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		t.Fatal(err)
	}
	if err := peer.Active(ctx, h, pc); err != nil {
		t.Fatal(err)
	}
	go talk(ctx, freq, func(b []byte) { track.Write(b) })
}
