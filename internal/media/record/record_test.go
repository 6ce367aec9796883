package record

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/forward"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/store"
	"github.com/openwac/wac/internal/store/storetest"

	"github.com/openwac/wac/internal/testenv"
)

// testMedia is real VP8 and Opus, made once per test binary.
var (
	mediaOnce sync.Once
	media     *peer.Media
	mediaErr  error
)

func testMedia(t *testing.T) *peer.Media {
	t.Helper()
	testenv.NeedPrograms(t, "ffmpeg", "ffprobe")
	mediaOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wac-record-media-")
		if err != nil {
			mediaErr = err
			return
		}
		defer os.RemoveAll(dir)
		media, mediaErr = peer.MakeMedia(context.Background(), "ffmpeg", dir, 3, 440)
	})
	if mediaErr != nil {
		t.Fatalf("make test media (Debian's ffmpeg is needed): %v", mediaErr)
	}
	return media
}

func newManager(t *testing.T, mut func(*Options)) (*Manager, *store.SQL) {
	t.Helper()
	st, _ := storetest.Open(t, store.SQLite)
	cfg := config.Default().Recording
	cfg.MinFreeMB = 0
	o := Options{Config: cfg, Root: filepath.Join(t.TempDir(), "rec"), Store: st, Node: "node-1", Heartbeat: time.Hour}
	if mut != nil {
		mut(&o)
	}
	m, err := NewManager(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m, st
}

// feed sends the media's packets to the tracks at four times real time,
// swapping neighbours now and then (reordering the jitter buffer undoes).
func feed(t *testing.T, m *peer.Media, video, audio forward.Sink, swap bool) {
	t.Helper()
	vp, ap := peer.NewVideoPacketizer(), peer.NewAudioPacketizer()
	send := func(s forward.Sink, pkts []*rtp.Packet) {
		if swap && len(pkts) > 1 {
			pkts[0], pkts[1] = pkts[1], pkts[0]
		}
		for _, p := range pkts {
			if s != nil {
				s.WriteRTP(&forward.Packet{Header: &p.Header, Payload: p.Payload, Arrival: time.Now().UnixNano()})
			}
		}
	}
	steps := int(m.Length / (20 * time.Millisecond))
	frame := 0
	var pending []*rtp.Packet
	for i := 0; i < steps; i++ {
		a := ap.Packetize(m.Audio[i%len(m.Audio)], 960)
		if swap && i%10 == 0 {
			pending = a // sent after the next one
		} else {
			send(audio, a)
			if pending != nil {
				send(audio, pending)
				pending = nil
			}
		}
		// a video frame every 1/15 s
		for frame*1000/m.FPS <= i*20 && frame < len(m.Video) {
			send(video, vp.Packetize(m.Video[frame], uint32(90000/m.FPS)))
			frame++
		}
		time.Sleep(5 * time.Millisecond)
	}
	send(audio, pending)
}

type probe struct {
	Format struct {
		Duration  string `json:"duration"`
		StartTime string `json:"start_time"`
	} `json:"format"`
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		StartTime string `json:"start_time"`
		Duration  string `json:"duration"`
		Packets   string `json:"nb_read_packets"`
		Width     int    `json:"width"`
	} `json:"streams"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	testenv.NeedPrograms(t, "ffprobe")
	out, err := exec.Command("ffprobe", "-v", "error", "-count_packets", "-show_format", "-show_streams", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return p
}

func seconds(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a duration: %q", s)
	}
	return f
}

// decodes runs ffmpeg's decoder over the whole file.
func decodes(t *testing.T, path string) {
	t.Helper()
	testenv.NeedPrograms(t, "ffmpeg")
	out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg cannot decode %s: %v: %s", path, err, out)
	}
}

func TestRecordingWritesTracksAndComposes(t *testing.T) {
	md := testMedia(t)
	m, st := newManager(t, nil)
	ctx := context.Background()
	s, err := m.Start(ctx, StartOptions{Room: "room-1", Domain: "dom-1", By: "alice", Users: map[string]string{"bob": "dom-2"}})
	if err != nil {
		t.Fatal(err)
	}
	keyframes := 0
	v := s.AddTrack(TrackInfo{Kind: "video", MimeType: "video/VP8", User: "alice", Feed: 7}, func() { keyframes++ })
	a := s.AddTrack(TrackInfo{Kind: "audio", MimeType: "audio/opus", ClockRate: 48000, User: "alice", Feed: 7}, nil)
	if v == nil || a == nil {
		t.Fatal("tracks not added")
	}
	if keyframes == 0 {
		t.Error("no keyframe asked for at the start of the video track")
	}
	s.Event("joined", "bob", "")
	feed(t, md, v, a, true)
	if err := s.Stop(ctx, "stopped by alice"); err != nil {
		t.Fatal(err)
	}
	m.Wait()
	rec, err := st.GetRecording(ctx, s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != store.RecordingReady || rec.Detail.Composed == nil {
		t.Fatalf("status %s, composed %v, note %q", rec.Status, rec.Detail.Composed, rec.Detail.Note)
	}
	tracks := rec.Detail.Segments[0].Tracks
	if len(tracks) != 2 {
		t.Fatalf("tracks %+v", tracks)
	}
	for _, tr := range tracks {
		p := ffprobe(t, m.localPath(tr.Key))
		want := map[string]string{"video": "vp8", "audio": "opus"}[tr.Kind]
		if len(p.Streams) != 1 || p.Streams[0].CodecName != want {
			t.Errorf("%s: streams %+v, want one %s", tr.Key, p.Streams, want)
		}
		if d := seconds(t, p.Format.Duration); math.Abs(d-3) > 0.25 {
			t.Errorf("%s lasts %.3f s, want 3", tr.Key, d)
		}
		if tr.Lost != 0 {
			t.Errorf("%s: %d packets lost, though only reordered", tr.Key, tr.Lost)
		}
		decodes(t, m.localPath(tr.Key))
	}
	if n := tracks[0].Frames + tracks[1].Frames; n < int64(len(md.Video)+len(md.Audio))-2 {
		t.Errorf("%d frames written of %d", n, len(md.Video)+len(md.Audio))
	}
	p := ffprobe(t, m.localPath(rec.Detail.Composed.Key))
	codecs := map[string]string{}
	starts := map[string]float64{}
	for _, s := range p.Streams {
		codecs[s.CodecType] = s.CodecName
		starts[s.CodecType] = seconds(t, s.StartTime)
	}
	if codecs["video"] != "vp8" || codecs["audio"] != "opus" {
		t.Errorf("composed streams %+v", p.Streams)
	}
	if d := seconds(t, p.Format.Duration); math.Abs(d-3) > 0.3 {
		t.Errorf("composed file lasts %.3f s, want 3", d)
	}
	if diff := math.Abs(starts["video"] - starts["audio"]); diff > 0.1 {
		t.Errorf("audio and video start %.3f s apart", diff)
	}
	decodes(t, m.localPath(rec.Detail.Composed.Key))
	users, err := st.RecordingUsers(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if users["alice"] != "dom-1" || users["bob"] != "dom-2" {
		t.Errorf("users %v", users)
	}
	types := map[string]bool{}
	for _, e := range rec.Detail.Events {
		types[e.Type] = true
	}
	for _, want := range []string{"started", "published", "joined", "stopped"} {
		if !types[want] {
			t.Errorf("no %s event in %+v", want, rec.Detail.Events)
		}
	}
}

func TestTruncatedTrackStillPlays(t *testing.T) {
	md := testMedia(t)
	m, st := newManager(t, func(o *Options) { o.Config.FFmpeg = "" })
	ctx := context.Background()
	s, err := m.Start(ctx, StartOptions{Room: "room-1", Domain: "dom-1"})
	if err != nil {
		t.Fatal(err)
	}
	v := s.AddTrack(TrackInfo{Kind: "video", MimeType: "video/VP8", User: "alice", Feed: 1}, nil)
	feed(t, md, v, nil, false)
	s.Stop(ctx, "done")
	m.Wait()
	rec, _ := st.GetRecording(ctx, s.ID())
	if rec.Status != store.RecordingTracks || rec.Detail.Note == "" {
		t.Errorf("without ffmpeg: status %s, note %q", rec.Status, rec.Detail.Note)
	}
	path := m.localPath(rec.Detail.Segments[0].Tracks[0].Key)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.webm")
	if err := os.WriteFile(cut, data[:len(data)*6/10], 0o600); err != nil {
		t.Fatal(err)
	}
	p := ffprobe(t, cut)
	if len(p.Streams) != 1 || p.Streams[0].CodecName != "vp8" {
		t.Fatalf("cut file streams %+v", p.Streams)
	}
	if n, _ := strconv.Atoi(p.Streams[0].Packets); n < 15 {
		t.Errorf("cut file has %d packets", n)
	}
	out, _ := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-i", cut, "-f", "null", "-").CombinedOutput()
	t.Logf("decoding the cut file: %s", out)
}

func TestDiskFullStopsRecordingCleanly(t *testing.T) {
	md := testMedia(t)
	var free uint64 = 1 << 40
	var mu sync.Mutex
	m, st := newManager(t, func(o *Options) {
		o.Config.MinFreeMB = 100
		o.FreeBytes = func(string) (uint64, error) { mu.Lock(); defer mu.Unlock(); return free, nil }
	})
	ctx := context.Background()
	s, err := m.Start(ctx, StartOptions{Room: "room-1", Domain: "dom-1"})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	s.OnStop(func(reason string, err error) { stopped <- err })
	a := s.AddTrack(TrackInfo{Kind: "audio", MimeType: "audio/opus", User: "alice", Feed: 1}, nil)
	feed(t, md, nil, a, false)
	mu.Lock()
	free = 10 << 20
	mu.Unlock()
	m.beat(ctx)
	select {
	case err := <-stopped:
		if !errors.Is(err, errDiskFull) {
			t.Errorf("stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the recording did not stop")
	}
	m.Wait()
	rec, _ := st.GetRecording(ctx, s.ID())
	if len(rec.Detail.Segments[0].Tracks) != 1 || rec.Detail.Note == "" {
		t.Errorf("kept tracks %+v, note %q", rec.Detail.Segments[0].Tracks, rec.Detail.Note)
	}
	decodes(t, m.localPath(rec.Detail.Segments[0].Tracks[0].Key))
	alarms, err := st.ListAlarms(ctx, nil, store.Page{})
	if err != nil || len(alarms) != 1 || alarms[0].Type != "recording-storage" {
		t.Errorf("alarms %v, %v", alarms, err)
	}
	if _, err := m.Start(ctx, StartOptions{Room: "room-2", Domain: "dom-1"}); !errors.Is(err, ErrDiskFull) {
		t.Errorf("start on a full disk: %v", err)
	}
}

func TestWriteErrorStopsRecordingAndKeepsTheRest(t *testing.T) {
	md := testMedia(t)
	m, st := newManager(t, nil)
	ctx := context.Background()
	s, err := m.Start(ctx, StartOptions{Room: "room-1", Domain: "dom-1"})
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	s.OnStop(func(reason string, err error) { stopped <- err })
	a := s.AddTrack(TrackInfo{Kind: "audio", MimeType: "audio/opus", User: "alice", Feed: 1}, nil)
	v := s.AddTrack(TrackInfo{Kind: "video", MimeType: "video/VP8", User: "bob", Feed: 2}, nil)
	// The video's file is a device that is always full.
	if err := os.Symlink("/dev/full", v.path); err != nil {
		t.Fatal(err)
	}
	feed(t, md, v, a, false)
	select {
	case err := <-stopped:
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("stopped with %v, want ENOSPC", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the recording did not stop")
	}
	m.Wait()
	rec, _ := st.GetRecording(ctx, s.ID())
	var kept []string
	for _, tr := range rec.Detail.Segments[0].Tracks {
		kept = append(kept, tr.Kind)
	}
	if len(kept) == 0 || kept[0] != "audio" {
		t.Errorf("kept %v, want the audio track", kept)
	}
	decodes(t, m.localPath(rec.Detail.Segments[0].Tracks[0].Key))
	alarms, _ := st.ListAlarms(ctx, nil, store.Page{})
	if len(alarms) != 1 {
		t.Errorf("alarms %v", alarms)
	}
}

func storetestOpen(tb testing.TB) (*store.SQL, string) { return storetest.Open(tb, store.SQLite) }

func defaultCfg() config.Recording {
	c := config.Default().Recording
	c.MinFreeMB = 0
	return c
}
