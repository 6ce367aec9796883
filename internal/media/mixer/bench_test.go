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

// BenchmarkPhonesInARoom is the same room as the phones of package
// sipmedia mix it today: each of the 5 phones has a mixer of its own whose
// sources are the 14 tracks it hears (the 10 browsers' Opus and the other
// 4 phones' PCMU, sources only) and whose one listener is the phone
// (PCMU). One op is one 20 ms frame of all 5 mixers; cpu%/phone is the
// share of a core per phone leg.
func BenchmarkPhonesInARoom(b *testing.B) {
	for _, talking := range []int{15, 3} {
		b.Run(fmt.Sprintf("10opus+5pcmu/talking=%d", talking), func(b *testing.B) {
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
			type phone struct {
				m       *Mixer
				sources map[int]*Leg // track → its leg in this phone's mixer
			}
			var phones []phone
			for ph := 10; ph < 15; ph++ {
				p := phone{m: newMixer(Config{}), sources: map[int]*Leg{}}
				for i := range 15 {
					if i == ph {
						continue // a phone does not hear itself
					}
					leg, err := p.m.Join(LegConfig{Name: codecs[i].Name, Codec: codecs[i]})
					if err != nil {
						b.Fatal(err)
					}
					p.sources[i] = leg
				}
				if _, err := p.m.Join(LegConfig{Name: "phone", Codec: audiocodec.PCMU(), Send: func([]byte, int) {}}); err != nil {
					b.Fatal(err)
				}
				phones = append(phones, p)
			}
			seq := uint16(0)
			cpu := testenv.ProcessCPU()
			for b.Loop() {
				for _, p := range phones {
					for i, leg := range p.sources {
						if tracks[i] != nil {
							leg.Write(seq, tracks[i][int(seq)%len(tracks[i])])
						}
					}
					p.m.mix()
				}
				seq++
			}
			perFrame := float64(testenv.ProcessCPU()-cpu) / float64(b.N)
			b.ReportMetric(perFrame, "cpu-ns/frame")
			b.ReportMetric(perFrame/float64(Frame.Nanoseconds())*100/5, "cpu%/phone")
		})
	}
}
