// Package resample converts 16-bit mono PCM between 8 kHz (G.711) and
// 48 kHz (Opus, the mixer) with a windowed-sinc low-pass filter: upsampling
// by 6 is polyphase (each output sample computed from 32 input samples),
// downsampling by 6 filters only the samples it keeps. Each converter keeps
// the history of its stream, so frames are converted one after another
// without clicks at their edges. A converter belongs to one stream and is
// not safe for concurrent use.
package resample

import "math"

// Factor is the ratio of the two rates, 48000/8000.
const Factor = 6

// taps is the length of the low-pass filter at 48 kHz: 32 input samples
// per output phase when upsampling.
const taps = 32 * Factor

// cutoff is the filter's -6 dB point in Hz: below 4 kHz, the Nyquist
// frequency of 8 kHz, so that little aliases across it.
const cutoff = 3700.0

// lowpass is the filter both directions use, normalized to unity DC gain.
var lowpass = design()

func design() [taps]float32 {
	var h [taps]float32
	fc := cutoff / 48000.0
	mid := float64(taps-1) / 2
	var sum float64
	coef := make([]float64, taps)
	for i := range coef {
		x := float64(i) - mid
		sinc := 2 * fc
		if x != 0 {
			sinc = math.Sin(2*math.Pi*fc*x) / (math.Pi * x)
		}
		// Blackman window: about 74 dB of stop-band attenuation.
		w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(taps-1)) + 0.08*math.Cos(4*math.Pi*float64(i)/float64(taps-1))
		coef[i] = sinc * w
		sum += coef[i]
	}
	for i := range h {
		h[i] = float32(coef[i] / sum)
	}
	return h
}

// Up converts 8 kHz to 48 kHz.
type Up struct {
	hist window
}

// Process writes Factor·len(in) samples to out, which must be that long
// at least, and returns out[:Factor*len(in)].
func (u *Up) Process(out []int16, in []int16) []int16 {
	const n = taps / Factor
	out = out[:len(in)*Factor]
	for i, s := range in {
		h := u.hist.push(float32(s), n)
		for p := 0; p < Factor; p++ {
			var acc float32
			// Output phase p uses taps p, p+6, ...: the newest input with
			// tap p.
			for k := 0; k < n; k++ {
				acc += lowpass[p+Factor*k] * h[n-1-k]
			}
			out[i*Factor+p] = saturate(acc * Factor)
		}
	}
	return out
}

// Down converts 48 kHz to 8 kHz.
type Down struct {
	hist  window
	phase int // input samples since the last output
}

// Process filters in and writes one sample of every Factor to out, which
// must hold len(in)/Factor+1 samples, and returns what it wrote.
func (d *Down) Process(out []int16, in []int16) []int16 {
	out = out[:0]
	for _, s := range in {
		h := d.hist.push(float32(s), taps)
		d.phase++
		if d.phase < Factor {
			continue
		}
		d.phase = 0
		var acc float32
		for k, c := range lowpass {
			acc += c * h[k]
		}
		out = append(out, saturate(acc))
	}
	return out
}

// window keeps the last n samples of a stream in a buffer of 2n, each
// sample written twice, so that they are always one contiguous slice.
type window struct {
	buf [2 * taps]float32
	pos int
}

// push adds x and returns the last n samples, oldest first.
func (w *window) push(x float32, n int) []float32 {
	w.buf[w.pos] = x
	w.buf[w.pos+n] = x
	w.pos++
	if w.pos == n {
		w.pos = 0
	}
	return w.buf[w.pos : w.pos+n]
}

func saturate(v float32) int16 {
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	}
	return int16(math.Round(float64(v)))
}
