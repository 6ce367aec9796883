package videoroom_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/media/videoroom"
)

// metric is the value of a counter of reg; ok is false when reg has none
// of that name.
func metric(t *testing.T, reg *prometheus.Registry, name string) (v float64, ok bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// A Pion publisher's audio is received directly once its connection is
// up (all but the sampled packets), and sent directly to its Pion
// subscriber, which gets it whole; nothing is dropped; the video takes
// Pion's path. With media.directReceive off, the same audio takes Pion's
// path only.
func TestDirectReceiveArms(t *testing.T) {
	for _, direct := range []bool{true, false} {
		name := "on"
		if !direct {
			name = "off"
		}
		t.Run(name, func(t *testing.T) {
			checkGoroutines(t)
			cfg := testMediaConfig(t)
			cfg.DirectReceive = direct
			reg := prometheus.NewRegistry()
			n := startSFUWith(t, cfg, videoroom.Options{Registry: reg})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			id := roomID(t)
			if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
				t.Fatal(err)
			}
			api := testAPI(t)
			_, j, pub := n.publishAlice(ctx, t, api, id, "vp8", nil, false)
			defer pub.Close()
			sendCtx, stopSend := context.WithCancel(ctx)
			defer stopSend()
			pub.Send(sendCtx, 300, 20)
			_, hs := n.client(ctx, t)
			s, err := peer.Subscribe(ctx, api, hs, id, token(id, "bob", false, true), []uint64{j.ID}, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			waitUntil(t, 15*time.Second, "100 audio packets at the subscriber", func() bool {
				a, v := s.Track("audio"), s.Track("video")
				return a != nil && v != nil && a.Packets.Load() >= 100 && v.Packets.Load() >= 40
			})
			stopSend()
			a := s.Track("audio")
			if g := a.Gaps.Load(); g != 0 {
				t.Errorf("the subscriber's audio has %d gaps", g)
			}
			taken, has := metric(t, reg, "wac_media_direct_rtp_packets_total")
			dropped, _ := metric(t, reg, "wac_media_direct_rtp_dropped_total")
			sent := float64(pub.SentAudio.Load())
			if !direct {
				if has {
					t.Errorf("direct receive off, yet its counters are there (%v taken)", taken)
				}
				return
			}
			// The first packets (before the connection was up and the
			// track known) and one in directSample take Pion's path.
			if taken < sent/2 || taken > sent {
				t.Errorf("%v of %v audio packets were received directly", taken, sent)
			}
			if dropped != 0 {
				t.Errorf("%v packets dropped", dropped)
			}
			// The subscriber's audio was sent directly, but for one in
			// directSample, and its Pion peer authenticated all of it
			// (no gaps above).
			out, _ := metric(t, reg, "wac_media_direct_rtp_sent_total")
			if got := float64(a.Packets.Load()); out < got/2 || out > got {
				t.Errorf("%v of the %v audio packets the subscriber got were sent directly", out, got)
			}
		})
	}
}
