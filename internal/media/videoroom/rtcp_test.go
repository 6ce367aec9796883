package videoroom_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
)

// dropOnce drops, once, the first video packet whose sequence number is
// past a threshold, and remembers which it dropped.
type dropOnce struct {
	mu      sync.Mutex
	after   int // packets to let through first
	seen    int
	dropped int32 // sequence number dropped, -1 = none yet
}

func newDropOnce(after int) *dropOnce { return &dropOnce{after: after, dropped: -1} }

func (d *dropOnce) pick(h *rtp.Header) bool {
	if h.PayloadType != 96 {
		return false // only video
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seen++
	if d.dropped < 0 && d.seen > d.after {
		d.dropped = int32(h.SequenceNumber)
		return true
	}
	return false
}

func (d *dropOnce) seq() (uint16, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return uint16(d.dropped), d.dropped >= 0
}

func callWith(t *testing.T, ctx context.Context, n *testNode, pubAPI, subAPI *webrtc.API) (*peer.Publisher, *peer.Subscriber, uint64) {
	t.Helper()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	j, pub := n.publishing(ctx, t, pubAPI, id, "alice")
	_, hs := n.client(ctx, t)
	sub, err := peer.Subscribe(ctx, subAPI, hs, id, token(id, "bob", false, true), []uint64{j.ID}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	if err := peer.Connected(ctx, sub.PC); err != nil {
		t.Fatal(err)
	}
	return pub, sub, j.ID
}

// A packet lost between the SFU and a subscriber is retransmitted from
// the SFU's buffer when the subscriber NACKs it.
func TestNACKRetransmitsToSubscriber(t *testing.T) {
	checkGoroutines(t)
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	drop := newDropOnce(30)
	// The drop happens after decryption, so replay protection must let
	// the retransmission (same sequence number) through.
	subAPI, err := peer.NewAPI(peer.APIOptions{NoReplayCheck: true, Interceptors: func(r *interceptor.Registry) {
		r.Add(&Dropper{In: drop.pick})
	}})
	if err != nil {
		t.Fatal(err)
	}
	pub, sub, _ := callWith(t, ctx, n, testAPI(t), subAPI)
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	pub.Send(sendCtx, 400, 20)
	waitUntil(t, 10*time.Second, "a dropped packet", func() bool { _, ok := drop.seq(); return ok })
	seq, _ := drop.seq()
	waitUntil(t, 20*time.Second, "the retransmission of the dropped packet", func() bool {
		v := sub.Track("video")
		return v != nil && v.Seen(seq)
	})
}

// A packet lost between the publisher and the SFU is NACKed by the SFU,
// retransmitted by the publisher, and forwarded.
func TestNACKFromSFUToPublisher(t *testing.T) {
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	drop := newDropOnce(30)
	pubAPI, err := peer.NewAPI(peer.APIOptions{Interceptors: func(r *interceptor.Registry) {
		r.Add(&Dropper{Out: drop.pick})
	}})
	if err != nil {
		t.Fatal(err)
	}
	pub, sub, _ := callWith(t, ctx, n, pubAPI, testAPI(t))
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	pub.Send(sendCtx, 400, 20)
	waitUntil(t, 10*time.Second, "a dropped packet", func() bool { _, ok := drop.seq(); return ok })
	seq, _ := drop.seq()
	waitUntil(t, 20*time.Second, "the dropped packet at the subscriber", func() bool {
		v := sub.Track("video")
		return v != nil && v.Seen(seq)
	})
}

// Keyframe requests of many subscribers reach the publisher rate limited.
func TestKeyframeRequestsRateLimited(t *testing.T) {
	cfg := testMediaConfig(t)
	cfg.KeyframeInterval = time.Second
	n := startSFU(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, sub, _ := callWith(t, ctx, n, testAPI(t), testAPI(t))
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	pub.Send(sendCtx, 200, 10)
	waitUntil(t, 10*time.Second, "video", func() bool { v := sub.Track("video"); return v != nil && v.Packets.Load() > 5 })
	time.Sleep(1100 * time.Millisecond)
	before := pub.PLIs.Load()
	// The subscriber storms: 200 PLIs in one second.
	var ssrc uint32
	for _, tr := range sub.PC.GetTransceivers() {
		if tr.Receiver() != nil && tr.Kind() == webrtc.RTPCodecTypeVideo {
			if ts := tr.Receiver().Tracks(); len(ts) > 0 {
				ssrc = uint32(ts[0].SSRC())
			}
		}
	}
	var sent atomic.Int32
	for i := 0; i < 200; i++ {
		if err := sub.PC.WriteRTCP(pliFor(ssrc)); err == nil {
			sent.Add(1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	got := pub.PLIs.Load() - before
	if sent.Load() < 150 || got == 0 || got > 3 {
		t.Fatalf("%d PLIs from the subscriber became %d at the publisher; want 1 to 3", sent.Load(), got)
	}
}

// The video cap reaches the publisher as REMB, and sustained loss at the
// subscriber cuts it by thirds down to a third of the cap, then it comes
// back when the loss clears.
func TestBitrateCapAndLossControl(t *testing.T) {
	cfg := testMediaConfig(t)
	cfg.Bitrate = 300
	cfg.LossPercent = 5
	cfg.LossTime = time.Second
	cfg.RecoverTime = time.Second
	n := startSFU(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var lossy atomic.Bool
	var count atomic.Uint64
	subAPI, err := peer.NewAPI(peer.APIOptions{NoNACK: true, Interceptors: func(r *interceptor.Registry) {
		r.Add(&Dropper{In: func(h *rtp.Header) bool {
			return h.PayloadType == 96 && lossy.Load() && count.Add(1)%4 == 0 // 25% of video
		}})
	}})
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := callWith(t, ctx, n, testAPI(t), subAPI)
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	pub.Send(sendCtx, 300, 25)
	waitUntil(t, 10*time.Second, "REMB of 300 kbps", func() bool { return pub.REMB.Load() == 300000 })

	lossy.Store(true)
	waitUntil(t, 20*time.Second, "a cut to 200 kbps", func() bool { return pub.REMB.Load() == 200000 })
	waitUntil(t, 20*time.Second, "the floor of 100 kbps", func() bool { return pub.REMB.Load() == 100000 })
	time.Sleep(2500 * time.Millisecond)
	if r := pub.REMB.Load(); r < 100000 {
		t.Fatalf("cap %d went under a third of the initial cap", r)
	}
	lossy.Store(false)
	waitUntil(t, 20*time.Second, "the cap back at 300 kbps", func() bool { return pub.REMB.Load() == 300000 })
}

// The room bitrate is shared by the room's videos.
func TestRoomBitrateShared(t *testing.T) {
	cfg := testMediaConfig(t)
	cfg.Bitrate = 300
	cfg.RoomBitrate = 400
	n := startSFU(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	api := testAPI(t)
	var pubs []*peer.Publisher
	for _, u := range []string{"a", "b"} {
		_, h := n.client(ctx, t)
		if _, err := peer.JoinPublisher(ctx, h, id, token(id, u, true, true), u); err != nil {
			t.Fatal(err)
		}
		p, err := peer.Publish(ctx, api, h, "vp8", nil, false)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		pubs = append(pubs, p)
		sendCtx, stop := context.WithCancel(ctx)
		defer stop()
		p.Send(sendCtx, 200, 10)
	}
	for _, p := range pubs {
		waitUntil(t, 10*time.Second, "REMB of 200 kbps (400 shared by 2)", func() bool { return p.REMB.Load() == 200000 })
	}
	_ = config.Default
}

func pliFor(ssrc uint32) []rtcp.Packet {
	return []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}
}
