package videoroom_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging/logtest"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/media/record"
	"github.com/openwac/wac/internal/media/videoroom"
	"github.com/openwac/wac/internal/store"
	"github.com/openwac/wac/internal/store/storetest"

	"github.com/openwac/wac/internal/testenv"
)

var (
	mediaOnce sync.Once
	medias    [2]*peer.Media
	mediaErr  error
)

// realMedia is two clips of real VP8 and Opus (tones of 440 and 660 Hz).
func realMedia(t *testing.T) [2]*peer.Media {
	t.Helper()
	testenv.NeedPrograms(t, "ffmpeg", "ffprobe")
	mediaOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wac-vr-media-")
		if err != nil {
			mediaErr = err
			return
		}
		defer os.RemoveAll(dir)
		for i, f := range []int{440, 660} {
			if medias[i], mediaErr = peer.MakeMedia(context.Background(), "ffmpeg", dir, 4, f); mediaErr != nil {
				return
			}
		}
	})
	if mediaErr != nil {
		t.Fatalf("make test media (Debian's ffmpeg is needed): %v", mediaErr)
	}
	return medias
}

// startRecordingSFU runs an SFU that records into a fresh store.
func startRecordingSFU(t *testing.T) (*testNode, *record.Manager, *store.SQL, string) {
	t.Helper()
	st, _ := storetest.Open(t, store.SQLite)
	root := filepath.Join(t.TempDir(), "recordings")
	cfg := config.Default().Recording
	cfg.MinFreeMB = 0
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mgr, err := record.NewManager(record.Options{Config: cfg, Root: root, Store: st, Node: "media-1", Log: log, Heartbeat: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s, err := videoroom.New(testMediaConfig(t), videoroom.Options{Secret: testSecret, Log: log, Recorder: mgr})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		s.Close()
		mgr.Close()
		srv.Close()
		if t.Failed() {
			t.Logf("media server log:\n%s", logs.String())
		}
	})
	return &testNode{sfu: s, ws: "ws" + strings.TrimPrefix(srv.URL, "http") + "/janus", http: srv.URL + "/janus", logs: logs}, mgr, st, root
}

// publishMedia joins user to room and publishes m until the test ends.
func (n *testNode) publishMedia(ctx context.Context, t *testing.T, room, user string, m *peer.Media) *peer.Publisher {
	t.Helper()
	_, h := n.client(ctx, t)
	if _, err := peer.JoinPublisher(ctx, h, room, token(room, user, true, true), user); err != nil {
		t.Fatal(err)
	}
	pub, err := peer.Publish(ctx, testAPI(t), h, "vp8", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	if err := peer.Active(ctx, h, pub.PC); err != nil {
		t.Fatalf("%s's publication: %v", user, err)
	}
	pctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	pub.SendMedia(pctx, m)
	return pub
}

type ffStream struct {
	CodecType string `json:"codec_type"`
	CodecName string `json:"codec_name"`
	StartTime string `json:"start_time"`
}

type ffProbe struct {
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
	Streams []ffStream `json:"streams"`
}

func probeFile(t *testing.T, path string) (ffProbe, float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p ffProbe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	d, err := strconv.ParseFloat(p.Format.Duration, 64)
	if err != nil {
		t.Fatalf("%s: duration %q", path, p.Format.Duration)
	}
	return p, d
}

// A room created with record: every publication is recorded from when it
// starts, each track as its own file with its place on the room's
// timeline, then one composed file: Pion publishers send real VP8 and
// Opus, and ffprobe checks codecs, durations and alignment.
func TestRoomCreatedWithRecordIsRecorded(t *testing.T) {
	checkGoroutines(t)
	md := realMedia(t)
	n, mgr, st, root := startRecordingSFU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	room := roomID(t)
	host := n.sfu.PlacementHost()
	if _, err := host.CreateRoom(room, 0, placement.RoomOptions{Record: true,
		Recording: &placement.RecordingOptions{Domain: "dom-1", Users: map[string]string{"carol": "dom-2"}}}); err != nil {
		t.Fatal(err)
	}
	begun := time.Now()
	alice := n.publishMedia(ctx, t, room, "alice", md[0])
	aliceUp := time.Now()
	time.Sleep(1500 * time.Millisecond)
	bobFrom := time.Now()
	n.publishMedia(ctx, t, room, "bob", md[1])
	bobUp := time.Now()
	time.Sleep(2500 * time.Millisecond)
	end := time.Now()
	if alice.PLIs.Load() == 0 {
		t.Error("the recorder asked alice for no keyframe")
	}
	if status := host.Load().Recording; status[room] != "" || len(status) != 1 {
		t.Errorf("the node's heartbeat says %v", status)
	}
	if err := host.DestroyRoom(room, "test over"); err != nil {
		t.Fatal(err)
	}
	mgr.Wait()
	list, err := st.ListRecordings(ctx, store.RecordingFilter{Room: room}, store.Page{})
	if err != nil || len(list) != 1 {
		t.Fatalf("recordings %v, %v", list, err)
	}
	rec := list[0]
	if rec.Status != store.RecordingReady {
		t.Fatalf("status %s: %s", rec.Status, rec.Detail.Note)
	}
	tracks := rec.Detail.Segments[0].Tracks
	if len(tracks) != 4 {
		t.Fatalf("tracks %+v", tracks)
	}
	offsets := map[string]map[string]int64{}
	for _, tr := range tracks {
		p, d := probeFile(t, filepath.Join(root, tr.Key))
		want := map[string]string{"audio": "opus", "video": "vp8"}[tr.Kind]
		if len(p.Streams) != 1 || p.Streams[0].CodecName != want {
			t.Errorf("%s: %+v", tr.Key, p.Streams)
		}
		// A publication is recorded from when its media flows (between
		// the start of its set-up and its end) to the room's end.
		longest, shortest := end.Sub(begun).Seconds(), end.Sub(aliceUp).Seconds()
		if tr.User == "bob" {
			longest, shortest = end.Sub(bobFrom).Seconds(), end.Sub(bobUp).Seconds()
		}
		if d < shortest-0.5 || d > longest+0.3 {
			t.Errorf("%s of %s lasts %.2f s, want %.2f to %.2f", tr.Kind, tr.User, d, shortest, longest)
		}
		if math.Abs(float64(tr.Duration)/1000-d) > 0.15 {
			t.Errorf("%s: metadata says %d ms, the file %.3f s", tr.Key, tr.Duration, d)
		}
		if offsets[tr.User] == nil {
			offsets[tr.User] = map[string]int64{}
		}
		offsets[tr.User][tr.Kind] = tr.Offset
	}
	for u, o := range offsets {
		if diff := o["video"] - o["audio"]; diff < -150 || diff > 150 {
			t.Errorf("%s's audio starts at %d ms, video at %d ms", u, o["audio"], o["video"])
		}
	}
	// Bob's tracks sit on the timeline where his media began.
	lo, hi := bobFrom.Sub(aliceUp).Milliseconds()-300, bobUp.Sub(begun).Milliseconds()+300
	if d := offsets["bob"]["audio"] - offsets["alice"]["audio"]; d < lo || d > hi {
		t.Errorf("bob starts %d ms after alice, want %d to %d", d, lo, hi)
	}
	p, d := probeFile(t, filepath.Join(root, rec.Detail.Composed.Key))
	if len(p.Streams) != 2 || d < end.Sub(aliceUp).Seconds()-0.5 || d > end.Sub(begun).Seconds()+0.5 {
		t.Errorf("composed: %.2f s, %+v", d, p.Streams)
	}
	users, _ := st.RecordingUsers(ctx, rec.ID)
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, ok := users[u]; !ok {
			t.Errorf("%s may not see the recording: %v", u, users)
		}
	}
	var joined []string
	for _, e := range rec.Detail.Events {
		if e.Type == "joined" {
			joined = append(joined, e.User)
		}
	}
	if strings.Join(joined, ",") != "alice,bob" {
		t.Errorf("joined events %v", joined)
	}
}

// startRecording in the middle of a call records from then on, asking
// the publishers for keyframes; stopRecording ends it and the room goes
// on without it.
func TestRecordingStartsAndStopsMidCall(t *testing.T) {
	checkGoroutines(t)
	md := realMedia(t)
	n, mgr, st, root := startRecordingSFU(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	room := roomID(t)
	host := n.sfu.PlacementHost()
	if _, err := host.CreateRoom(room, 0, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	alice := n.publishMedia(ctx, t, room, "alice", md[0])
	time.Sleep(time.Second)
	before := alice.PLIs.Load()
	started := time.Now()
	if err := host.StartRecording(room, placement.RecordingOptions{Domain: "dom-1", By: "alice"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "a keyframe request", func() bool { return alice.PLIs.Load() > before })
	time.Sleep(2 * time.Second)
	stopping := time.Now()
	if err := host.StopRecording(room, "alice"); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if len(host.Load().Recording) != 0 {
		t.Errorf("still recording: %v", host.Load().Recording)
	}
	mgr.Wait()
	list, _ := st.ListRecordings(ctx, store.RecordingFilter{Room: room}, store.Page{})
	if len(list) != 1 || list[0].Status != store.RecordingReady || list[0].Detail.StartedBy != "alice" {
		t.Fatalf("recordings %+v", list)
	}
	for _, tr := range list[0].Detail.Segments[0].Tracks {
		// Audio from the start; video from the publisher's next keyframe
		// (the clip has one a second and cannot make one on request).
		most := int64(300)
		if tr.Kind == "video" {
			most = 1100
		}
		if tr.Offset > most {
			t.Errorf("%s starts %d ms into the recording", tr.Kind, tr.Offset)
		}
		_, d := probeFile(t, filepath.Join(root, tr.Key))
		if lo, hi := stopping.Sub(started).Seconds()-float64(tr.Offset)/1000-0.4, stopped.Sub(started).Seconds()-float64(tr.Offset)/1000+0.3; d < lo || d > hi {
			t.Errorf("%s lasts %.2f s, want %.2f to %.2f", tr.Kind, d, lo, hi)
		}
	}
	if err := host.StartRecording("nowhere", placement.RecordingOptions{Domain: "d"}); err == nil {
		t.Error("recording a room that does not exist")
	}
}

// A node without a recorder refuses rooms with record and startRecording.
func TestRecordingOffRefuses(t *testing.T) {
	n := startSFU(t, testMediaConfig(t))
	host := n.sfu.PlacementHost()
	if _, err := host.CreateRoom("r1", 0, placement.RoomOptions{Record: true}); err == nil || !strings.Contains(err.Error(), placement.ErrRecordingOff) {
		t.Errorf("create with record: %v", err)
	}
	if n.sfu.Room("r1") != nil {
		t.Error("the room was created")
	}
	host.CreateRoom("r2", 0, placement.RoomOptions{})
	if err := host.StartRecording("r2", placement.RecordingOptions{Domain: "d"}); err == nil || !strings.Contains(err.Error(), placement.ErrRecordingOff) {
		t.Errorf("startRecording: %v", err)
	}
}

// A room created through the Janus API with record is recorded too (the
// load tool's rooms); where recording is off the request is refused.
func TestJanusCreateWithRecord(t *testing.T) {
	n, mgr, st, _ := startRecordingSFU(t)
	off := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	room := roomID(t)
	_, h := n.client(ctx, t)
	if _, _, err := h.Request(ctx, map[string]any{"request": "create", "room": room, "record": true,
		"token": token(room, "alice", true, true)}, nil, true); err != nil {
		t.Fatal(err)
	}
	if status, ok := n.sfu.PlacementHost().Load().Recording[room]; !ok || status != "" {
		t.Fatalf("the room is not recorded: %v", n.sfu.PlacementHost().Load().Recording)
	}
	n.sfu.DestroyRoom(room, "test over")
	mgr.Wait()
	list, _ := st.ListRecordings(ctx, store.RecordingFilter{Room: room}, store.Page{})
	if len(list) != 1 || list[0].Detail.StartedBy != "alice" {
		t.Fatalf("recordings %+v", list)
	}
	_, h2 := off.client(ctx, t)
	_, _, err := h2.Request(ctx, map[string]any{"request": "create", "room": room, "record": true,
		"token": token(room, "alice", true, true)}, nil, true)
	var pe *janus.PluginError
	if !errors.As(err, &pe) || pe.Code != janus.VRErrInvalidElement || !strings.Contains(pe.Error(), "recording.enabled") {
		t.Fatalf("create with record where recording is off: %v", err)
	}
	if off.sfu.Room(room) != nil {
		t.Error("the room was created")
	}
}
