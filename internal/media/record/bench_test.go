package record

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/forward"
	"github.com/openwac/wac/internal/store"

	"github.com/openwac/wac/internal/testenv"
)

// BenchmarkTrackVP8 is the recorder's cost per video packet: a 1 Mbps,
// 30 fps VP8 stream in packets of up to 1,100 bytes, as the media load
// tool sends (synthetic frames after a real payload descriptor).
func BenchmarkTrackVP8(b *testing.B) {
	m, _ := newBenchManager(b)
	s, err := m.Start(context.Background(), StartOptions{Room: "r", Domain: "d"})
	if err != nil {
		b.Fatal(err)
	}
	t := s.AddTrack(TrackInfo{Kind: "video", MimeType: "video/VP8", User: "u", Feed: 1}, nil)
	junk := make([]byte, 1100)
	rand.Read(junk)
	const perFrame = 4
	var seq uint16
	var ts uint32
	b.ReportAllocs()
	b.SetBytes(int64(len(junk) + 1))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % perFrame
		desc := []byte{0x00}
		if k == 0 {
			desc = []byte{0x10, 0x01}
			if i%(perFrame*60) == 0 {
				desc = []byte{0x10, 0x00}
			}
		}
		payload := append(desc, junk...)
		h := rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: k == perFrame-1}
		t.WriteRTP(&forward.Packet{Header: &h, Payload: payload, Arrival: time.Now().UnixNano()})
		seq++
		if k == perFrame-1 {
			ts += 3000
		}
		if i%64 == 0 {
			for len(t.in) > 0 {
				time.Sleep(10 * time.Microsecond)
			}
		}
	}
	for len(t.in) > 0 {
		time.Sleep(10 * time.Microsecond)
	}
	b.StopTimer()
	s.Stop(context.Background(), "done")
	if t.dropped.Load() > 0 {
		b.Errorf("%d packets dropped", t.dropped.Load())
	}
}

func newBenchManager(b *testing.B) (*Manager, string) {
	st, _ := storetestOpen(b)
	cfg := defaultCfg()
	cfg.FFmpeg = ""
	m, err := NewManager(Options{Config: cfg, Root: b.TempDir(), Store: st, Node: "n", Heartbeat: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	return m, ""
}

// BenchmarkCompose4Party times the compose job over a four-party call of
// WAC_BENCH_COMPOSE_SECONDS seconds (60 by default): four VP8 videos of
// 640x360 at 30 fps and 300 kbps (media.bitrate) and four Opus tracks,
// made by ffmpeg. Run it with -benchtime 1x.
func BenchmarkCompose4Party(b *testing.B) {
	testenv.NeedPrograms(b, "ffmpeg")
	secs := 60
	if v := os.Getenv("WAC_BENCH_COMPOSE_SECONDS"); v != "" {
		fmt.Sscan(v, &secs)
	}
	m, _ := newBenchManager(b)
	m.ffmpeg = "ffmpeg"
	rec := &store.Recording{ID: store.NewID(), DomainID: "d", Started: 1}
	seg := store.RecordingSegment{Index: 1, Started: 1}
	prefix := segmentPrefix(rec, 1)
	os.MkdirAll(m.localDirOf(prefix), 0o700)
	for i := 0; i < 4; i++ {
		for _, kind := range []string{"video", "audio"} {
			key := fmt.Sprintf("%s/%d-%s.webm", prefix, i, kind)
			var args []string
			if kind == "video" {
				args = []string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=640x360:rate=30:duration=%d", secs),
					"-c:v", "libvpx", "-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8", "-g", "90"}
			} else {
				args = []string{"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000:duration=%d", 300+100*i, secs),
					"-ac", "2", "-c:a", "libopus", "-b:a", "32k"}
			}
			cmd := exec.Command("ffmpeg", append(append([]string{"-v", "error", "-y"}, args...), m.localPath(key))...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("make test media: %v %s", err, out)
			}
			seg.Tracks = append(seg.Tracks, store.RecordingTrack{Key: key, Kind: kind, User: fmt.Sprint("u", i), Feed: uint64(i),
				Offset: int64(i * 200), Duration: int64(secs) * 1000})
		}
	}
	rec.Detail.Segments = []store.RecordingSegment{seg}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		f, err := m.compose(context.Background(), rec)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds()/(float64(secs)/60), "s/call-minute")
		b.ReportMetric(float64(f.Size), "bytes")
	}
}
