package mixer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/forward"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/tone"
)

// TestPionPeerInTheMix connects a Pion peer (the browser) to another
// (the media server) over DTLS-SRTP on loopback. The browser publishes a
// 500 Hz Opus tone; the server's forward.Stream gives it to a mixer leg
// (the leg is the stream's sink) and sends the leg's mix back on a track
// of its own. A phone leg (PCMU) talks at 1000 Hz. Each must hear the
// other and not itself.
func TestPionPeerInTheMix(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := New(ctx, Config{})
	defer m.Close()

	api, err := peer.NewAPI(peer.APIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	browser, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer browser.Close()
	server, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	opus := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	up, err := webrtc.NewTrackLocalStaticRTP(opus, "audio", "browser")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := browser.AddTrack(up); err != nil {
		t.Fatal(err)
	}
	down, err := webrtc.NewTrackLocalStaticRTP(opus, "audio", "mix")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.AddTrack(down); err != nil {
		t.Fatal(err)
	}

	// The browser's leg: its mix goes down the server's track.
	var seq uint16
	var ts uint32
	webLeg, err := m.Join(LegConfig{Name: "browser", Codec: audiocodec.Opus(), Send: func(p []byte, clock int) {
		seq++
		ts += uint32(clock)
		_ = down.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: p})
	}})
	if err != nil {
		t.Fatal(err)
	}
	fwd := forward.New(forward.Options{})
	var streams sync.WaitGroup
	server.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		s := fwd.NewStream(forward.StreamConfig{Kind: "audio", Codec: track.Codec()})
		s.SetForwarding(true)
		s.AddSink(webLeg)
		streams.Go(func() { s.Forward(track) })
	})
	// What the browser hears.
	heard := newSink(t, audiocodec.Opus())
	browser.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		streams.Go(func() {
			for {
				pk, _, err := track.ReadRTP()
				if err != nil {
					return
				}
				heard.send(pk.Payload, 960)
			}
		})
	})
	// The phone: written straight to its leg.
	phoneOut := newSink(t, audiocodec.PCMU())
	phoneLeg, err := m.Join(LegConfig{Name: "phone", Codec: audiocodec.PCMU(), Send: phoneOut.send})
	if err != nil {
		t.Fatal(err)
	}

	offer, err := browser.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(browser)
	if err := browser.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := server.SetRemoteDescription(*browser.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	answer, err := server.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered = webrtc.GatheringCompletePromise(server)
	if err := server.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := browser.SetRemoteDescription(*server.LocalDescription()); err != nil {
		t.Fatal(err)
	}

	browserSrc := newSource(t, audiocodec.Opus(), 500, amp)
	phoneSrc := newSource(t, audiocodec.PCMU(), 1000, amp)
	tick := time.NewTicker(Frame)
	defer tick.Stop()
	var bts uint32
	frame := func() {
		s, p := browserSrc.next(t)
		bts += 960
		if err := up.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: s, Timestamp: bts}, Payload: p}); err != nil {
			t.Fatal(err)
		}
		phoneLeg.Write(phoneSrc.next(t))
		<-tick.C
	}
	// Until the peers are connected and the browser's audio flows, then
	// 1.5 s more.
	for deadline := time.Now().Add(15 * time.Second); webLeg.Stats().Received < 5; frame() {
		if time.Now().After(deadline) {
			t.Fatalf("the browser's audio never reached its leg: %+v", webLeg.Stats())
		}
	}
	for range 75 {
		frame()
	}
	time.Sleep(100 * time.Millisecond)
	webLeg.Leave()
	phoneLeg.Leave()
	browser.Close()
	server.Close()
	streams.Wait()

	t.Logf("browser leg %+v", webLeg.Stats())
	full := float64(amp) * amp / 2
	// Judge the last second, when both directions flowed.
	for _, c := range []struct {
		name       string
		out        *sink
		hear, self float64
	}{{"browser", heard, 1000, 500}, {"phone", phoneOut, 500, 1000}} {
		pcm := c.out.samples()
		if c.out.err != nil {
			t.Fatalf("%s: %v", c.name, c.out.err)
		}
		if len(pcm) < 60*audiocodec.FrameSamples {
			t.Fatalf("%s received %d samples", c.name, len(pcm))
		}
		last := pcm[len(pcm)-50*audiocodec.FrameSamples : len(pcm)-5*audiocodec.FrameSamples]
		if db := tone.DB(tone.Power(last, c.hear, audiocodec.Rate), full); db < -6 {
			t.Errorf("%s hears the other at %.1f dB", c.name, db)
		}
		if db := tone.DB(tone.Power(last, c.self, audiocodec.Rate), full); db > -25 {
			t.Errorf("%s hears itself at %.1f dB", c.name, db)
		}
	}
}
