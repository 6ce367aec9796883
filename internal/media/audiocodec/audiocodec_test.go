package audiocodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/thesyncim/gopus/container/ogg"

	"github.com/openwac/wac/internal/media/tone"
	"github.com/openwac/wac/internal/testenv"
)

func codecs() []Codec { return []Codec{PCMU(), PCMA(), Opus()} }

// roundTrip encodes frames of a tone of freq and decodes them again.
func roundTrip(t testing.TB, c Codec, freq float64, frames int) []int16 {
	enc, err := c.NewEncoder(EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := c.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	g := tone.NewGenerator(freq, Rate, 8000)
	in := make([]int16, FrameSamples)
	payload := make([]byte, MaxPayload)
	pcm := make([]int16, MaxFrameSamples)
	var out []int16
	for range frames {
		g.Fill(in)
		n, err := enc.Encode(in, payload)
		if err != nil {
			t.Fatal(err)
		}
		m, err := dec.Decode(payload[:n], pcm)
		if err != nil {
			t.Fatal(err)
		}
		if m != FrameSamples {
			t.Fatalf("%s: decoded %d samples of a frame", c.Name, m)
		}
		out = append(out, pcm[:m]...)
	}
	return out
}

func TestRoundTripKeepsTheTone(t *testing.T) {
	want := 8000.0 * 8000 / 2
	for _, c := range codecs() {
		for _, f := range []float64{440, 1000, 2500} {
			out := roundTrip(t, c, f, 50)[10*FrameSamples:]
			p := tone.Power(out, f, Rate)
			if db := tone.DB(p, want); db < -2 || db > 1 {
				t.Errorf("%s %v Hz: %.1f dB after a round trip", c.Name, f, db)
			}
			// Nearly all the power is the tone's.
			if db := tone.DB(p, tone.RMSPower(out)); db < -1 {
				t.Errorf("%s %v Hz: the tone is %.1f dB of the output", c.Name, f, db)
			}
		}
	}
}

func TestConcealAndBadInput(t *testing.T) {
	for _, c := range codecs() {
		dec, err := c.NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]int16, MaxFrameSamples)
		if n, err := dec.Conceal(pcm); err != nil || n != FrameSamples {
			t.Errorf("%s: conceal wrote %d, %v", c.Name, n, err)
		}
		enc, _ := c.NewEncoder(EncoderOptions{})
		if _, err := enc.Encode(make([]int16, 100), make([]byte, MaxPayload)); err == nil {
			t.Errorf("%s: encoded a frame of 100 samples", c.Name)
		}
	}
	dec, _ := PCMU().NewDecoder()
	if _, err := dec.Decode(make([]byte, 2000), make([]int16, MaxFrameSamples)); err == nil {
		t.Error("PCMU decoded a 2000-byte payload")
	}
	dec, _ = Opus().NewDecoder()
	if _, err := dec.Decode(nil, make([]int16, MaxFrameSamples)); err == nil {
		t.Error("opus decoded an empty payload")
	}
	if _, err := Lookup("G729"); err == nil {
		t.Error("G729 found")
	}
	if c, err := Lookup("pcma"); err != nil || c.PayloadType != 8 {
		t.Errorf("pcma: %+v %v", c, err)
	}
}

// TestOpusDecodesWithFFmpeg writes this package's Opus to an Ogg file and
// has ffmpeg (libopus) decode it; and decodes what ffmpeg's libopus
// encoded.
func TestOpusDecodesWithFFmpeg(t *testing.T) {
	testenv.NeedPrograms(t, "ffmpeg")
	dir := t.TempDir()
	// Ours to ffmpeg.
	enc, err := Opus().NewEncoder(EncoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	w, err := ogg.NewWriter(&file, Rate, 1)
	if err != nil {
		t.Fatal(err)
	}
	g := tone.NewGenerator(1000, Rate, 8000)
	in := make([]int16, FrameSamples)
	payload := make([]byte, MaxPayload)
	for range 100 {
		g.Fill(in)
		n, err := enc.Encode(in, payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(payload[:n], FrameSamples); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ours.opus")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	raw := run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-c:a", "libopus", "-i", path, "-f", "s16le", "-ac", "1", "-ar", "48000", "-")
	pcm := make([]int16, len(raw)/2)
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, pcm); err != nil {
		t.Fatal(err)
	}
	if len(pcm) < 90*FrameSamples {
		t.Fatalf("ffmpeg decoded %d samples of 2 s", len(pcm))
	}
	body := pcm[10*FrameSamples : 90*FrameSamples]
	if db := tone.DB(tone.Power(body, 1000, Rate), 8000*8000/2); db < -2 || db > 1 {
		t.Errorf("ffmpeg hears our 1 kHz at %.1f dB", db)
	}

	// ffmpeg's to ours.
	theirs := filepath.Join(dir, "theirs.opus")
	run(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=700:sample_rate=48000:duration=2",
		"-ac", "1", "-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", "-y", theirs)
	f, err := os.Open(theirs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := ogg.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := Opus().NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int16, MaxFrameSamples)
	var got []int16
	for {
		p, _, err := r.ReadPacket()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err := dec.Decode(p, out)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out[:n]...)
	}
	if len(got) < 90*FrameSamples {
		t.Fatalf("decoded %d samples of ffmpeg's 2 s", len(got))
	}
	// ffmpeg's sine source has amplitude 1/8 of full scale.
	body = got[10*FrameSamples : 90*FrameSamples]
	if db := tone.DB(tone.Power(body, 700, Rate), tone.RMSPower(body)); db < -1 {
		t.Errorf("ffmpeg's 700 Hz is %.1f dB of what we decode", db)
	}
	if db := tone.DB(tone.Power(body, 700, Rate), 4096*4096/2); db < -3 || db > 3 {
		t.Errorf("ffmpeg's 700 Hz decodes at %.1f dB of full scale/8", db)
	}
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, stderr.String())
	}
	return out
}

// FuzzDecode feeds arbitrary payloads to each decoder: no panic, and a
// decoded count that fits the buffer.
func FuzzDecode(f *testing.F) {
	enc, _ := Opus().NewEncoder(EncoderOptions{})
	frame := make([]int16, FrameSamples)
	tone.NewGenerator(440, Rate, 8000).Fill(frame)
	p := make([]byte, MaxPayload)
	n, _ := enc.Encode(frame, p)
	f.Add(uint8(2), p[:n])
	f.Add(uint8(0), make([]byte, 160))
	f.Add(uint8(2), []byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		c := codecs()[int(which)%3]
		dec, err := c.NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]int16, MaxFrameSamples)
		n, err := dec.Decode(payload, pcm)
		if err == nil && (n < 0 || n > MaxFrameSamples) {
			t.Fatalf("%s decoded %d samples", c.Name, n)
		}
		if _, err := dec.Conceal(pcm); err != nil {
			t.Fatalf("%s: conceal after %x: %v", c.Name, payload, err)
		}
		if r, ok := dec.(Recoverer); ok {
			if n, _, err := r.Recover(payload, pcm); err == nil && n > FrameSamples {
				t.Fatalf("%s: recovered %d samples from %x", c.Name, n, payload)
			}
		}
	})
}
