package tone

import (
	"math"
	"testing"
)

func TestPowerFindsTheTone(t *testing.T) {
	pcm := make([]int16, 8000)
	NewGenerator(1000, 8000, 10000).Fill(pcm)
	want := 10000.0 * 10000 / 2
	if p := Power(pcm, 1000, 8000); math.Abs(DB(p, want)) > 0.5 {
		t.Errorf("power at 1000 Hz: %.0f, want about %.0f", p, want)
	}
	if p := Power(pcm, 1300, 8000); DB(p, want) > -40 {
		t.Errorf("power at 1300 Hz: %.0f dB of the tone", DB(p, want))
	}
	if p := RMSPower(pcm); math.Abs(DB(p, want)) > 0.1 {
		t.Errorf("rms power %.0f, want %.0f", p, want)
	}
	if Power(nil, 1000, 8000) != 0 || RMSPower(nil) != 0 {
		t.Error("an empty block has power")
	}
}
