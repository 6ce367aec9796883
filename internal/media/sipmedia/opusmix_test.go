package sipmedia

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/tone"
)

// opusPhone is a phone of the bridge whose call is in Opus (the trunk's
// payload type 96): it talks a tone in Opus and keeps what the bridge
// sends it, decoded at 48 kHz, counting the packets that follow the one
// before in the same stream by 20 ms of the 48 kHz clock (960) or not.
type opusPhone struct {
	heardAudio
	stepMu        sync.Mutex
	last          rtp.Header
	steps, others int
}

func startOpusPhone(ctx context.Context, t *testing.T, b *Bridge, room Room, user string, freq float64) *opusPhone {
	t.Helper()
	p := &opusPhone{heardAudio: heardAudio{rate: audiocodec.Rate}}
	dec, err := audiocodec.Opus().NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, audiocodec.MaxFrameSamples)
	room.Token = roomGrant(room.Room, user)
	fromTrunk, stop, err := b.Start(ctx, room, user, "opus", 96, func(pkt []byte) error {
		var r rtp.Packet
		if r.Unmarshal(pkt) != nil || r.PayloadType != 96 {
			return nil
		}
		// The bridge may send from two goroutines at once (a track passed
		// through as the mix starts): the decoder is used under the lock.
		p.stepMu.Lock()
		defer p.stepMu.Unlock()
		n, err := dec.Decode(r.Payload, pcm)
		if r.SSRC == p.last.SSRC && r.SequenceNumber == p.last.SequenceNumber+1 {
			if r.Timestamp-p.last.Timestamp == 960 {
				p.steps++
			} else {
				p.others++
			}
		}
		p.last = r.Header
		if err == nil {
			p.add(pcm[:n])
		}
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	go talkOpus(ctx, t, freq, fromTrunk)
	return p
}

// talkOpus sends 20 ms Opus packets (payload type 96) of a tone to write
// until ctx ends.
func talkOpus(ctx context.Context, t *testing.T, freq float64, write func([]byte)) {
	enc, err := audiocodec.Opus().NewEncoder(audiocodec.EncoderOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	gen := tone.NewGenerator(freq, audiocodec.Rate, 8000)
	pcm := make([]int16, audiocodec.FrameSamples)
	payload := make([]byte, audiocodec.MaxPayload)
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SSRC: uint32(freq)}}
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
		p.SequenceNumber++
		p.Timestamp += 960
		p.Payload = payload[:n]
		b, _ := p.Marshal()
		write(b)
	}
}

// An Opus phone and a PCMU phone in a room with an app (PCMU) share the
// room's mix: the Opus phone hears the app and the other phone, in Opus
// encoded once for it, 960 apart at the 48 kHz clock; the PCMU phone
// hears the app and the Opus phone (decoded from its Opus); neither hears
// itself.
func TestOpusPhoneInARoomMix(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, room := roomWithApp(ctx, t)
	pcmu := startPhone(ctx, t, b, room, "phone-1", 440)
	opus := startOpusPhone(ctx, t, b, room, "phone-2", 660)

	steps := func() (int, int) {
		opus.stepMu.Lock()
		defer opus.stepMu.Unlock()
		return opus.steps, opus.others
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		h1, h2 := pcmu.hears(440, 660, 880), opus.hears(440, 660, 880)
		if n, _ := steps(); n >= 50 && h1[660] && h1[880] && h2[440] && h2[880] {
			if h1[440] || h2[660] {
				t.Fatalf("a phone hears itself: PCMU phone %v, Opus phone %v", h1, h2)
			}
			break
		}
		if time.Now().After(deadline) {
			n, _ := steps()
			t.Fatalf("the PCMU phone hears %v (want 660 and 880), the Opus phone %v (want 440 and 880) in %d packets", h1, h2, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n, others := steps(); others > 0 {
		t.Errorf("the Opus phone's packets: %d stepped 960, %d otherwise", n, others)
	}
	if b.Mixed.Load() == 0 {
		t.Error("nothing was mixed")
	}
	if got := b.Mixes()[room.Room]; got != [2]int{2, 1} {
		t.Errorf("the room's mix has %d phones and %d other tracks, want 2 and 1", got[0], got[1])
	}
}
