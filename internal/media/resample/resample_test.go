package resample

import (
	"math"
	"slices"
	"testing"

	"github.com/openwac/wac/internal/media/tone"
)

// upFrames generates a tone at 8 kHz and upsamples it frame by frame.
func upFrames(freq float64, frames int) []int16 {
	g := tone.NewGenerator(freq, 8000, 10000)
	var u Up
	in := make([]int16, 160)
	var all []int16
	for range frames {
		g.Fill(in)
		all = append(all, u.Process(make([]int16, 960), in)...)
	}
	return all
}

func downFrames(freq float64, frames int) []int16 {
	g := tone.NewGenerator(freq, 48000, 10000)
	var d Down
	in := make([]int16, 960)
	var all []int16
	for range frames {
		g.Fill(in)
		all = append(all, d.Process(make([]int16, 161), in)...)
	}
	return all
}

func TestUpKeepsTheTone(t *testing.T) {
	want := 10000.0 * 10000 / 2
	for _, f := range []float64{300, 1000, 3000} {
		out := upFrames(f, 50)[960:] // after the filter's start
		if len(out) != 49*960 {
			t.Fatalf("%d samples", len(out))
		}
		p := tone.Power(out, f, 48000)
		if db := tone.DB(p, want); math.Abs(db) > 1 {
			t.Errorf("%v Hz: %.2f dB after upsampling", f, db)
		}
		// The images of the tone around 8, 16, 24 kHz are filtered out.
		for _, img := range []float64{8000 - f, 8000 + f, 16000 - f} {
			if db := tone.DB(tone.Power(out, img, 48000), want); db > -50 {
				t.Errorf("%v Hz: image at %v Hz at %.1f dB", f, img, db)
			}
		}
	}
}

func TestDownKeepsTheToneAndFiltersAliases(t *testing.T) {
	want := 10000.0 * 10000 / 2
	for _, f := range []float64{300, 1000, 3000} {
		out := downFrames(f, 50)[160:]
		if len(out) != 49*160 {
			t.Fatalf("%d samples", len(out))
		}
		if db := tone.DB(tone.Power(out, f, 8000), want); math.Abs(db) > 1 {
			t.Errorf("%v Hz: %.2f dB after downsampling", f, db)
		}
	}
	// 9 kHz would alias to 1 kHz, 5 kHz to 3 kHz: the filter removes them.
	for _, c := range []struct{ in, alias float64 }{{9000, 1000}, {5000, 3000}, {13000, 3000}} {
		out := downFrames(c.in, 50)[160:]
		if db := tone.DB(tone.RMSPower(out), want); db > -50 {
			t.Errorf("%v Hz at 48 kHz leaves %.1f dB at 8 kHz (alias at %v Hz: %.1f dB)", c.in, db,
				c.alias, tone.DB(tone.Power(out, c.alias, 8000), want))
		}
	}
}

// TestRoundTripContinuity checks that frame edges leave no clicks: 8 kHz
// up then down again is the original tone, delayed, with little error.
func TestRoundTripContinuity(t *testing.T) {
	g := tone.NewGenerator(1000, 8000, 10000)
	var u Up
	var d Down
	in := make([]int16, 160)
	var src, back []int16
	for range 30 {
		g.Fill(in)
		src = append(src, in...)
		back = append(back, d.Process(make([]int16, 161), u.Process(make([]int16, 960), in))...)
	}
	// Each filter delays by (taps-1)/2 samples at 48 kHz: taps-1 in all,
	// about 31.8 samples at 8 kHz. Find the best integer delay.
	best, bestErr := 0, math.Inf(1)
	for delay := 25; delay < 40; delay++ {
		var e float64
		for i := 400; i < len(src)-delay; i++ {
			x := float64(back[i+delay]) - float64(src[i])
			e += x * x
		}
		if e < bestErr {
			best, bestErr = delay, e
		}
	}
	n := float64(len(src) - best - 400)
	// The delay is not a whole number of 8 kHz samples: a fraction of a
	// sample of a 1 kHz tone leaves some error; more means a click.
	if snr := tone.DB(10000*10000/2, bestErr/n); snr < 10 {
		t.Errorf("round trip SNR %.1f dB at delay %d", snr, best)
	}
	// No sample of the round trip jumps more than a 1 kHz sine of that
	// amplitude can between two samples at 8 kHz (~7070) plus some margin.
	for i := 1; i < len(back); i++ {
		if d := math.Abs(float64(back[i]) - float64(back[i-1])); d > 8000 {
			t.Fatalf("click at sample %d: %d then %d", i, back[i-1], back[i])
		}
	}
}

// TestSaturates checks that the filter's overshoot on a full-scale square
// wave is clipped, not wrapped around.
func TestSaturates(t *testing.T) {
	for _, c := range []struct {
		in   float32
		want int16
	}{{40000, math.MaxInt16}, {-40000, math.MinInt16}, {1.6, 2}, {-1.6, -2}} {
		if got := saturate(c.in); got != c.want {
			t.Errorf("saturate(%v) = %d, want %d", c.in, got, c.want)
		}
	}
	in := make([]int16, 160)
	for i := range in {
		if i/8%2 == 0 {
			in[i] = math.MaxInt16
		} else {
			in[i] = math.MinInt16
		}
	}
	var u Up
	out := u.Process(make([]int16, 960), in)
	// The filter overshoots each edge (Gibbs): clipped, the plateaus stay
	// at full scale with their sign; wrapped, they would flip sign.
	for i := 200; i < len(out); i++ {
		src := in[i/Factor]
		if i%48 >= 16 && i%48 < 32 && (out[i] > 0) != (src > 0) {
			t.Fatalf("sample %d: %d in a plateau of %d", i, out[i], src)
		}
	}
	if slices.Max(out) != math.MaxInt16 || slices.Min(out) != math.MinInt16 {
		t.Errorf("a full-scale square wave spans %d..%d after upsampling", slices.Min(out), slices.Max(out))
	}
}

func BenchmarkUp(b *testing.B) {
	var u Up
	in, out := make([]int16, 160), make([]int16, 960)
	tone.NewGenerator(1000, 8000, 10000).Fill(in)
	for b.Loop() {
		u.Process(out, in)
	}
}

func BenchmarkDown(b *testing.B) {
	var d Down
	in, out := make([]int16, 960), make([]int16, 161)
	tone.NewGenerator(1000, 48000, 10000).Fill(in)
	for b.Loop() {
		d.Process(out, in)
	}
}
