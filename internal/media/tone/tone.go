// Package tone makes and measures pure tones in 16-bit PCM: a sine
// generator that keeps its phase from one frame to the next, and the
// Goertzel algorithm, which gives the power of one frequency in a block of
// samples. Tests of the audio path use them to tell who hears whom; the
// same measure can detect in-band DTMF.
package tone

import "math"

// Generator writes a sine of a frequency and amplitude at a sample rate.
type Generator struct {
	step, phase, amp float64
}

// NewGenerator returns a generator of freq Hz at rate samples per second
// with peak amplitude amp (at most 32767).
func NewGenerator(freq float64, rate int, amp float64) *Generator {
	return &Generator{step: 2 * math.Pi * freq / float64(rate), amp: amp}
}

// Fill writes the next len(pcm) samples.
func (g *Generator) Fill(pcm []int16) {
	for i := range pcm {
		pcm[i] = int16(math.Round(g.amp * math.Sin(g.phase)))
		g.phase += g.step
		if g.phase > 2*math.Pi {
			g.phase -= 2 * math.Pi
		}
	}
}

// Power is the mean power, in squared sample units, of the component of
// pcm at freq Hz (Goertzel). A sine of amplitude A at that frequency gives
// about A²/2 when the block holds whole periods or many of them; other
// frequencies give much less.
func Power(pcm []int16, freq float64, rate int) float64 {
	if len(pcm) == 0 {
		return 0
	}
	w := 2 * math.Pi * freq / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	p := s1*s1 + s2*s2 - coeff*s1*s2
	n := float64(len(pcm))
	return 2 * p / (n * n)
}

// RMSPower is the mean power of pcm over all frequencies.
func RMSPower(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var sum float64
	for _, x := range pcm {
		sum += float64(x) * float64(x)
	}
	return sum / float64(len(pcm))
}

// DB is 10·log10(p/ref), the ratio of two powers in decibels.
func DB(p, ref float64) float64 { return 10 * math.Log10(p/ref) }
