package g711

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/openwac/wac/internal/testenv"
)

// allSamples is every int16, in order.
func allSamples() []int16 {
	pcm := make([]int16, 65536)
	for i := range pcm {
		pcm[i] = int16(i - 32768)
	}
	return pcm
}

// TestMatchesFFmpeg encodes every 16-bit sample and decodes every code,
// and compares both with ffmpeg's pcm_mulaw and pcm_alaw.
func TestMatchesFFmpeg(t *testing.T) {
	testenv.NeedPrograms(t, "ffmpeg")
	dir := t.TempDir()
	pcm := allSamples()
	raw := new(bytes.Buffer)
	if err := binary.Write(raw, binary.LittleEndian, pcm); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.s16")
	if err := os.WriteFile(in, raw.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	codes := make([]byte, 256)
	for i := range codes {
		codes[i] = byte(i)
	}
	codesFile := filepath.Join(dir, "codes")
	if err := os.WriteFile(codesFile, codes, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, law := range []struct {
		fmt    string
		encode func([]byte, []int16) []byte
		decode func([]int16, []byte) []int16
	}{{"mulaw", EncodeULaw, DecodeULaw}, {"alaw", EncodeALaw, DecodeALaw}} {
		t.Run(law.fmt, func(t *testing.T) {
			want := ffmpeg(t, "-f", "s16le", "-ar", "8000", "-ac", "1", "-i", in, "-f", law.fmt, "-")
			got := law.encode(make([]byte, len(pcm)), pcm)
			if len(want) != len(got) {
				t.Fatalf("ffmpeg wrote %d codes for %d samples", len(want), len(got))
			}
			// The decoders are normative and must agree exactly (below).
			// Encoders may place the decision levels a little apart: ffmpeg
			// quantizes from 14 bits with its own rounding, this package
			// follows the ITU reference. They may differ only at a boundary
			// between two neighbouring codes, the two codes around the sample.
			differ := 0
			for i := range got {
				if got[i] == want[i] {
					continue
				}
				differ++
				s := int32(pcm[i])
				a := int32(law.decode(make([]int16, 1), got[i:i+1])[0])
				b := int32(law.decode(make([]int16, 1), want[i:i+1])[0])
				lo, hi := min(a, b), max(a, b)
				if s < lo || s > hi || between(law.decode, lo, hi) {
					t.Fatalf("sample %d: code %#x (%d), ffmpeg %#x (%d): not the two codes around it", s, got[i], a, want[i], b)
				}
			}
			if differ > len(pcm)/50 {
				t.Fatalf("%d of %d samples encode differently from ffmpeg", differ, len(pcm))
			}
			t.Logf("%d of %d samples on a decision boundary encode differently from ffmpeg", differ, len(pcm))
			dec := ffmpeg(t, "-f", law.fmt, "-ar", "8000", "-ac", "1", "-i", codesFile, "-f", "s16le", "-")
			wantPCM := make([]int16, len(dec)/2)
			if err := binary.Read(bytes.NewReader(dec), binary.LittleEndian, wantPCM); err != nil {
				t.Fatal(err)
			}
			gotPCM := law.decode(make([]int16, 256), codes)
			if len(wantPCM) != 256 {
				t.Fatalf("ffmpeg decoded %d samples of 256 codes", len(wantPCM))
			}
			for i := range gotPCM {
				if gotPCM[i] != wantPCM[i] {
					t.Fatalf("code %#x: sample %d, ffmpeg %d", i, gotPCM[i], wantPCM[i])
				}
			}
		})
	}
}

func ffmpeg(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v: %s", args, err, stderr.String())
	}
	return out
}

// TestRoundTrip checks the quantization error of encode then decode stays
// within half a step of each segment, and that decoding then encoding a
// code gives the code back (both laws have a +0 and a -0 code only for
// μ-law: 0x7F and 0xFF both decode to 0).
func TestRoundTrip(t *testing.T) {
	for _, s := range allSamples() {
		for _, law := range []struct {
			name string
			enc  func(int16) byte
			dec  func(byte) int16
		}{{"ulaw", ULaw, ULawSample}, {"alaw", ALaw, ALawSample}} {
			back := law.dec(law.enc(s))
			diff := abs(int32(back) - int32(s))
			mag := abs(int32(s))
			// Each segment's step is 1/16 of its span: the error is at most
			// a step, about mag/16, plus the smallest steps near zero and the
			// clipping at the top.
			limit := mag/16 + 16
			if mag > 32000 {
				limit = 1100
			}
			if diff > limit {
				t.Fatalf("%s: %d decodes back as %d", law.name, s, back)
			}
		}
	}
	for c := 0; c < 256; c++ {
		if got := ALaw(ALawSample(byte(c))); got != byte(c) {
			t.Errorf("alaw code %#x re-encodes as %#x", c, got)
		}
		if c == 0x7F { // μ-law -0: decodes to 0, which encodes as +0 (0xFF)
			continue
		}
		if got := ULaw(ULawSample(byte(c))); got != byte(c) {
			t.Errorf("ulaw code %#x re-encodes as %#x", c, got)
		}
	}
}

func BenchmarkEncodeULaw(b *testing.B) {
	pcm := allSamples()[:160]
	dst := make([]byte, 160)
	for b.Loop() {
		EncodeULaw(dst, pcm)
	}
}

func abs(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// between tells whether a code decodes strictly between lo and hi.
func between(decode func([]int16, []byte) []int16, lo, hi int32) bool {
	for c := 0; c < 256; c++ {
		v := int32(decode(make([]int16, 1), []byte{byte(c)})[0])
		if v > lo && v < hi {
			return true
		}
	}
	return false
}
