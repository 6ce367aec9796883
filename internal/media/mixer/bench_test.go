package mixer

import (
	"fmt"
	"testing"

	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/testenv"
)

// BenchmarkRoom mixes a room of 10 WebRTC legs (Opus) and 5 phone legs
// (PCMU) for one 20 ms frame per op: the packets of the legs that send
// are written and decoded, and every leg gets its mix, encoded (the legs
// that are silent share one encoding per codec). ns/op divided by
// 20 ms is the share of one core the room takes; cpu%/leg is that over
// the 15 legs, from the CPU time the process used (a shared machine
// stretches ns/op, not the CPU time).
func BenchmarkRoom(b *testing.B) {
	for _, talking := range []int{15, 3} {
		b.Run(fmt.Sprintf("10opus+5pcmu/talking=%d", talking), func(b *testing.B) {
			m := newMixer(Config{})
			type talker struct {
				leg      *Leg
				payloads [][]byte
			}
			var talkers []talker
			for i := range 15 {
				c := audiocodec.PCMU()
				if i < 10 {
					c = audiocodec.Opus()
				}
				leg, err := m.Join(LegConfig{Name: c.Name, Codec: c, Send: func([]byte, int) {}})
				if err != nil {
					b.Fatal(err)
				}
				// The talkers are spread over both kinds: phones first.
				// Phones that do not talk send silence (they always send);
				// browsers that do not talk send nothing (Opus DTX).
				talks := (i >= 10 && i-10 < talking) || (i < 10 && i < talking-5)
				if talks || i >= 10 {
					level := 4000.0
					if !talks {
						level = 0
					}
					src := newSource(b, c, float64(300+97*i), level)
					tk := talker{leg: leg}
					for range 50 {
						_, p := src.next(b)
						tk.payloads = append(tk.payloads, append([]byte(nil), p...))
					}
					talkers = append(talkers, tk)
				}
			}
			if len(talkers) != max(talking, 5) {
				b.Fatalf("%d legs sending", len(talkers))
			}
			seq := uint16(0)
			cpu := testenv.ProcessCPU()
			for b.Loop() {
				for _, tk := range talkers {
					tk.leg.Write(seq, tk.payloads[int(seq)%len(tk.payloads)])
				}
				seq++
				m.mix()
			}
			perFrame := float64(testenv.ProcessCPU()-cpu) / float64(b.N)
			b.ReportMetric(perFrame, "cpu-ns/frame")
			b.ReportMetric(perFrame/float64(Frame.Nanoseconds())*100/15, "cpu%/leg")
			for _, tk := range talkers {
				if st := tk.leg.Stats(); st.DecodeErrors != 0 || st.Concealed > 2 {
					b.Fatalf("%+v", st)
				}
			}
		})
	}
}

// BenchmarkPhonesInARoom is the same room as package sipmedia mixes it
// for its phones. mix=shared is what it does: one mixer for the room's
// phones, where the 10 browsers' Opus tracks are sources only (decoded
// once) and each of the 5 phones is a PCMU leg that hears the sum of all
// but itself. mix=per-phone is what it did before, for comparison: each
// phone had a mixer of its own whose sources were the 14 tracks it heard
// (the browsers' Opus and the other phones' PCMU) and whose one listener
// was the phone. One op is one 20 ms frame of the room; cpu%/phone is the
// share of a core per phone leg.
func BenchmarkPhonesInARoom(b *testing.B) {
	for _, shared := range []bool{true, false} {
		for _, talking := range []int{15, 3} {
			name := fmt.Sprintf("mix=per-phone/10opus+5pcmu/talking=%d", talking)
			if shared {
				name = fmt.Sprintf("mix=shared/10opus+5pcmu/talking=%d", talking)
			}
			b.Run(name, func(b *testing.B) { benchPhonesInARoom(b, shared, talking) })
		}
	}
}

func benchPhonesInARoom(b *testing.B, shared bool, talking int) {
	// The room's 15 tracks: what each sends per frame (nil: DTX).
	tracks := make([][][]byte, 15)
	codecs := make([]audiocodec.Codec, 15)
	for i := range 15 {
		c := audiocodec.PCMU()
		if i < 10 {
			c = audiocodec.Opus()
		}
		codecs[i] = c
		talks := (i >= 10 && i-10 < talking) || (i < 10 && i < talking-5)
		if !talks && i < 10 {
			continue
		}
		level := 4000.0
		if !talks {
			level = 0
		}
		src := newSource(b, c, float64(300+97*i), level)
		for range 50 {
			_, p := src.next(b)
			tracks[i] = append(tracks[i], append([]byte(nil), p...))
		}
	}
	// A mixer and the legs the tracks are written to.
	type mix struct {
		m    *Mixer
		legs map[int]*Leg // track → its leg
	}
	var mixes []mix
	send := func([]byte, int) {}
	if shared {
		x := mix{m: newMixer(Config{}), legs: map[int]*Leg{}}
		for i := range 15 {
			cfg := LegConfig{Name: codecs[i].Name, Codec: codecs[i]}
			if i >= 10 {
				cfg.Send = send // a phone
			}
			leg, err := x.m.Join(cfg)
			if err != nil {
				b.Fatal(err)
			}
			x.legs[i] = leg
		}
		mixes = append(mixes, x)
	} else {
		for ph := 10; ph < 15; ph++ {
			x := mix{m: newMixer(Config{}), legs: map[int]*Leg{}}
			for i := range 15 {
				if i == ph {
					continue // a phone does not hear itself
				}
				leg, err := x.m.Join(LegConfig{Name: codecs[i].Name, Codec: codecs[i]})
				if err != nil {
					b.Fatal(err)
				}
				x.legs[i] = leg
			}
			if _, err := x.m.Join(LegConfig{Name: "phone", Codec: audiocodec.PCMU(), Send: send}); err != nil {
				b.Fatal(err)
			}
			mixes = append(mixes, x)
		}
	}
	seq := uint16(0)
	cpu := testenv.ProcessCPU()
	for b.Loop() {
		for _, x := range mixes {
			for i, leg := range x.legs {
				if tracks[i] != nil {
					leg.Write(seq, tracks[i][int(seq)%len(tracks[i])])
				}
			}
			x.m.mix()
		}
		seq++
	}
	perFrame := float64(testenv.ProcessCPU()-cpu) / float64(b.N)
	b.ReportMetric(perFrame, "cpu-ns/frame")
	b.ReportMetric(perFrame/float64(Frame.Nanoseconds())*100/5, "cpu%/phone")
}
