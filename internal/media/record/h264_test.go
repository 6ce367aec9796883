package record

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"

	"github.com/openwac/wac/internal/media/forward"
	"github.com/openwac/wac/internal/store"

	"github.com/openwac/wac/internal/testenv"
)

// h264AccessUnits encodes seconds of a test picture with ffmpeg's x264
// (baseline, an access unit delimiter before each picture) and returns the
// access units in Annex B.
func h264AccessUnits(t *testing.T, seconds int) [][]byte {
	t.Helper()
	testenv.NeedPrograms(t, "ffmpeg")
	p := filepath.Join(t.TempDir(), "v.h264")
	out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "15",
		"-x264-params", "aud=1", "-bsf:v", "h264_mp4toannexb", "-f", "h264", p).CombinedOutput()
	if err != nil {
		t.Fatalf("make H.264 (Debian's ffmpeg is needed): %v %s", err, out)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := h264reader.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][]byte
	var cur []byte
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if nal.UnitType == h264reader.NalUnitTypeAUD {
			if len(cur) > 0 {
				aus = append(aus, cur)
			}
			cur = nil
			continue
		}
		cur = append(append(cur, 0, 0, 0, 1), nal.Data...)
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus
}

// H.264 is written to Matroska as it arrives (AVC with its avcC from the
// stream's SPS and PPS): ffprobe reads h264 of the right length, and it
// decodes; the composed file holds it.
func TestRecordingH264(t *testing.T) {
	aus := h264AccessUnits(t, 3)
	m, st := newManager(t, nil)
	ctx := context.Background()
	s, err := m.Start(ctx, StartOptions{Room: "room-1", Domain: "dom-1"})
	if err != nil {
		t.Fatal(err)
	}
	v := s.AddTrack(TrackInfo{Kind: "video", MimeType: "video/H264", User: "alice", Feed: 1}, nil)
	pk := rtp.NewPacketizer(1200, 102, 1, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	for _, au := range aus {
		for _, p := range pk.Packetize(au, 90000/15) {
			v.WriteRTP(&forward.Packet{Header: &p.Header, Payload: p.Payload, Arrival: time.Now().UnixNano()})
		}
		time.Sleep(15 * time.Millisecond)
	}
	if err := s.Stop(ctx, "done"); err != nil {
		t.Fatal(err)
	}
	m.Wait()
	rec, _ := st.GetRecording(ctx, s.ID())
	if rec.Status != store.RecordingReady || len(rec.Detail.Segments[0].Tracks) != 1 {
		t.Fatalf("status %s (%s), tracks %+v", rec.Status, rec.Detail.Note, rec.Detail.Segments[0].Tracks)
	}
	tr := rec.Detail.Segments[0].Tracks[0]
	if filepath.Ext(tr.Key) != ".mkv" {
		t.Errorf("an H.264 track in %s", tr.Key)
	}
	p := ffprobe(t, m.localPath(tr.Key))
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "h264" || p.Streams[0].Width != 320 {
		t.Fatalf("streams %+v", p.Streams)
	}
	if d := seconds(t, p.Format.Duration); math.Abs(d-3) > 0.25 {
		t.Errorf("lasts %.2f s", d)
	}
	decodes(t, m.localPath(tr.Key))
	decodes(t, m.localPath(rec.Detail.Composed.Key))
}
