package videoroom_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
)

// A simulcast publisher's layers are told apart by rid; a subscriber gets
// the highest by default and the one it asks for with configure substream.
func TestSimulcastSubstream(t *testing.T) {
	checkGoroutines(t)
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := roomID(t)
	if _, err := n.sfu.CreateRoom(id, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	api, err := peer.NewAPI(peer.APIOptions{Simulcast: true})
	if err != nil {
		t.Fatal(err)
	}
	_, h := n.client(ctx, t)
	j, err := peer.JoinPublisher(ctx, h, id, token(id, "alice", true, true), "Alice")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}
	rids := []string{"f", "h", "q"} // as a browser lists them: highest first
	var layers []*webrtc.TrackLocalStaticRTP
	for _, rid := range rids {
		tr, err := webrtc.NewTrackLocalStaticRTP(vp8, "video", "pub", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, tr)
	}
	tx, err := pc.AddTransceiverFromTrack(layers[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers[1:] {
		if err := tx.Sender().AddEncoding(l); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		for {
			if _, _, err := tx.Sender().ReadRTCP(); err != nil {
				return
			}
		}
	}()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	data, answer, err := h.Request(ctx, map[string]any{"request": "publish"}, &janus.JSEP{Type: "offer", SDP: pc.LocalDescription().SDP}, true)
	if err != nil || answer == nil {
		t.Fatalf("publish: %s %v", data, err)
	}
	var conf struct {
		Streams []struct {
			Simulcast bool `json:"simulcast"`
		} `json:"streams"`
	}
	json.Unmarshal(data, &conf)
	if len(conf.Streams) != 1 || !conf.Streams[0].Simulcast {
		t.Fatalf("configured: %s", data)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		t.Fatal(err)
	}
	if err := peer.Connected(ctx, pc); err != nil {
		t.Fatal(err)
	}
	// Pion does not tag simulcast packets itself: the sender adds the mid
	// and rid extensions, as browsers do.
	var midID, ridID uint8
	for _, e := range tx.Sender().GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	if midID == 0 || ridID == 0 {
		t.Fatal("mid and rid extensions not negotiated")
	}
	sendCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var seq uint16
		for i := 0; ; i++ {
			select {
			case <-sendCtx.Done():
				return
			case <-tick.C:
			}
			tag := byte(0x01) // interframe
			if i%10 == 0 {
				tag = 0x00 // keyframe
			}
			for li, l := range layers {
				// The payload carries the rid after the VP8 header.
				p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(i) * 1800, Marker: true},
					Payload: []byte{0x10, tag, rids[li][0], 0}}
				p.Header.SetExtension(midID, []byte(tx.Mid()))
				p.Header.SetExtension(ridID, []byte(rids[li]))
				l.WriteRTP(p)
			}
			seq++
		}
	}()

	_, hs := n.client(ctx, t)
	sub, err := peer.Subscribe(ctx, testAPI(t), hs, id, token(id, "bob", false, true), []uint64{j.ID}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	layerSeen := func(rid byte) func() bool {
		return func() bool {
			v := sub.Track("video")
			return v != nil && v.Head()[2] == rid
		}
	}
	waitUntil(t, 10*time.Second, "the highest layer (f) by default", layerSeen('f'))
	mid := ""
	var st struct {
		Mid string `json:"mid"`
	}
	json.Unmarshal(sub.Streams[0], &st)
	mid = st.Mid
	if _, _, err := hs.Request(ctx, map[string]any{"request": "configure", "mid": mid, "substream": 0}, nil, true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the lowest layer (q) after configure substream 0", layerSeen('q'))
	if _, _, err := hs.Request(ctx, map[string]any{"request": "configure", "mid": mid, "substream": 1}, nil, true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the middle layer (h) after configure substream 1", layerSeen('h'))
	if g := sub.Track("video").Gaps.Load(); g != 0 {
		t.Errorf("%d sequence gaps across layer switches", g)
	}
	stop()
	<-done
	pc.Close()
	sub.Close()
}
