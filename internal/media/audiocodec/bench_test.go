package audiocodec

import (
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/tone"
	"github.com/openwac/wac/internal/testenv"
)

// relay is what a bridge does to every packet whatever the codecs: read
// the RTP header, give it the other leg's SSRC, sequence number and
// timestamp, write it out. SRTP, the same on the WebRTC side of both
// kinds of call, is left out.
type relay struct {
	in, out rtp.Packet
	buf     [1500]byte
}

func (r *relay) forward(b *testing.B, packet []byte, payload []byte) {
	if err := r.in.Unmarshal(packet); err != nil {
		b.Fatal(err)
	}
	r.out.Header = r.in.Header
	r.out.SSRC = 42
	r.out.SequenceNumber++
	r.out.Timestamp += 160
	r.out.Payload = payload
	if _, err := r.out.MarshalTo(r.buf[:]); err != nil {
		b.Fatal(err)
	}
}

// reportCPU reports the CPU time per op (20 ms of a call) and the share
// of a core one call takes.
func reportCPU(b *testing.B, start time.Duration) {
	perOp := float64(testenv.ProcessCPU()-start) / float64(b.N)
	b.ReportMetric(perOp, "cpu-ns/op")
	b.ReportMetric(perOp/float64(20*time.Millisecond)*100, "cpu%/call")
}

func voice(b *testing.B, c Codec) [][]byte {
	enc, err := c.NewEncoder(EncoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	gens := []*tone.Generator{tone.NewGenerator(220, Rate, 3000), tone.NewGenerator(660, Rate, 2000), tone.NewGenerator(1900, Rate, 1000)}
	pcm, part := make([]int16, FrameSamples), make([]int16, FrameSamples)
	var packets [][]byte
	for range 50 {
		clear(pcm)
		for _, g := range gens {
			g.Fill(part)
			for i := range pcm {
				pcm[i] += part[i]
			}
		}
		p := make([]byte, MaxPayload)
		n, err := enc.Encode(pcm, p)
		if err != nil {
			b.Fatal(err)
		}
		pk, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: c.PayloadType}, Payload: p[:n]}).Marshal()
		packets = append(packets, pk)
	}
	return packets
}

// BenchmarkCallPassthrough is 20 ms of a G.711 call bridged as it is:
// one packet each way, relayed.
func BenchmarkCallPassthrough(b *testing.B) {
	fromPhone, fromBrowser := voice(b, PCMU()), voice(b, PCMU())
	var up, down relay
	i := 0
	cpu := testenv.ProcessCPU()
	for b.Loop() {
		p := fromPhone[i%50]
		up.forward(b, p, p[12:])
		p = fromBrowser[i%50]
		down.forward(b, p, p[12:])
		i++
	}
	reportCPU(b, cpu)
}

// BenchmarkCallTranscode is 20 ms of a call between a browser that sends
// Opus and a phone that sends PCMU: decode, resample, encode each way.
func BenchmarkCallTranscode(b *testing.B) {
	for _, complexity := range []int{5, 1} {
		b.Run(map[int]string{5: "complexity=5", 1: "complexity=1"}[complexity], func(b *testing.B) {
			fromBrowser, fromPhone := voice(b, Opus()), voice(b, PCMU())
			opusDec, _ := Opus().NewDecoder()
			opusEnc, err := Opus().NewEncoder(EncoderOptions{Complexity: complexity})
			if err != nil {
				b.Fatal(err)
			}
			g711Dec, _ := PCMU().NewDecoder()
			g711Enc, _ := PCMU().NewEncoder(EncoderOptions{})
			pcm := make([]int16, MaxFrameSamples)
			out := make([]byte, MaxPayload)
			var up, down relay
			var in rtp.Packet
			i := 0
			cpu := testenv.ProcessCPU()
			for b.Loop() {
				// Browser to phone: Opus to PCMU.
				if err := in.Unmarshal(fromBrowser[i%50]); err != nil {
					b.Fatal(err)
				}
				n, err := opusDec.Decode(in.Payload, pcm)
				if err != nil {
					b.Fatal(err)
				}
				m, err := g711Enc.Encode(pcm[:n], out)
				if err != nil {
					b.Fatal(err)
				}
				up.forward(b, fromBrowser[i%50], out[:m])
				// Phone to browser: PCMU to Opus.
				if err := in.Unmarshal(fromPhone[i%50]); err != nil {
					b.Fatal(err)
				}
				n, err = g711Dec.Decode(in.Payload, pcm)
				if err != nil {
					b.Fatal(err)
				}
				m, err = opusEnc.Encode(pcm[:n], out)
				if err != nil {
					b.Fatal(err)
				}
				down.forward(b, fromPhone[i%50], out[:m])
				i++
			}
			reportCPU(b, cpu)
		})
	}
}
