package record

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
	"github.com/openwac/wac/internal/store/storetest"
)

// A media node that dies mid-recording leaves its tracks as they are (they
// play up to where they stop) and the segment's events log: the next node
// recording the room recovers the recording from the log and continues it
// as segment 2; compose puts both segments on one timeline.
func TestRecordingContinuesAsNextSegmentAfterACrash(t *testing.T) {
	md := testMedia(t)
	st, _ := storetest.Open(t, store.SQLite)
	root := filepath.Join(t.TempDir(), "rec")
	cfg := config.Default().Recording
	cfg.MinFreeMB = 0
	clock := time.Now()
	now := func() time.Time { return clock }
	m1, err := NewManager(Options{Config: cfg, Root: root, Store: st, Node: "node-1", Heartbeat: time.Second, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s1, err := m1.Start(ctx, StartOptions{Room: "room-1", Domain: "dom-1", By: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	v := s1.AddTrack(TrackInfo{Kind: "video", MimeType: "video/VP8", User: "alice", Feed: 1}, nil)
	a := s1.AddTrack(TrackInfo{Kind: "audio", MimeType: "audio/opus", User: "alice", Feed: 1}, nil)
	feed(t, md, v, a, false)
	// The node "dies": its tracks stop being written, nothing is closed
	// (the files have no cues nor duration), and its row stops being
	// refreshed.
	v.closed.Store(true)
	a.closed.Store(true)
	time.Sleep(300 * time.Millisecond) // the tracks' goroutines write what they hold
	clock = clock.Add(10 * time.Second)

	m2, err := NewManager(Options{Config: cfg, Root: root, Store: st, Node: "node-2", Heartbeat: time.Second, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	s2, err := m2.Start(ctx, StartOptions{Room: "room-1", Domain: "dom-1", By: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if s2.ID() != s1.ID() || s2.Segment() != 2 {
		t.Fatalf("the recording did not continue: %s segment %d, first %s", s2.ID(), s2.Segment(), s1.ID())
	}
	v2 := s2.AddTrack(TrackInfo{Kind: "video", MimeType: "video/VP8", User: "alice", Feed: 1}, nil)
	a2 := s2.AddTrack(TrackInfo{Kind: "audio", MimeType: "audio/opus", User: "alice", Feed: 1}, nil)
	feed(t, md, v2, a2, false)
	if err := s2.Stop(ctx, "room ended"); err != nil {
		t.Fatal(err)
	}
	m2.Wait()
	rec, err := st.GetRecording(ctx, s1.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != store.RecordingReady || len(rec.Detail.Segments) != 2 {
		t.Fatalf("status %s (%s), %d segments", rec.Status, rec.Detail.Note, len(rec.Detail.Segments))
	}
	seg1 := rec.Detail.Segments[0]
	if seg1.Reason != "media node stopped" || len(seg1.Tracks) != 2 {
		t.Errorf("segment 1: %+v", seg1)
	}
	for _, tr := range append(seg1.Tracks, rec.Detail.Segments[1].Tracks...) {
		decodes(t, m2.localPath(tr.Key))
	}
	// The crashed segment's files play without their cues.
	if d := seconds(t, ffprobe(t, m2.localPath(seg1.Tracks[0].Key)).Format.Duration); d < 2 {
		t.Errorf("crashed track lasts %.2f s", d)
	}
	types := []string{}
	for _, e := range rec.Detail.Events {
		types = append(types, e.Type)
	}
	if got := strings.Join(types, ","); !strings.Contains(got, "interrupted") || strings.Count(got, "started") != 2 {
		t.Errorf("events %s", got)
	}
	p := ffprobe(t, m2.localPath(rec.Detail.Composed.Key))
	// segment 2 starts 10 s (the fake clock) after segment 1.
	if d := seconds(t, p.Format.Duration); d < 12 || d > 14 {
		t.Errorf("composed file lasts %.2f s, want about 13", d)
	}
}

// The retention job deletes recordings older than their domain's
// recordingRetentionDays, else recording.retentionDays; others stay.
func TestRetention(t *testing.T) {
	clock := time.Now()
	m, st := newManager(t, func(o *Options) {
		o.Config.RetentionDays = 30
		o.Now = func() time.Time { return clock }
	})
	ctx := context.Background()
	short := &store.Domain{Name: "short", RecordingRetentionDays: 7}
	long := &store.Domain{Name: "long"}
	for _, d := range []*store.Domain{short, long} {
		if err := st.CreateDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	day := int64(24 * time.Hour / time.Millisecond)
	mk := func(d *store.Domain, ageDays int64) string {
		stopped := clock.UnixMilli() - ageDays*day
		r := &store.Recording{DomainID: d.ID, Room: "r", Started: stopped - 1000, Stopped: stopped, Status: store.RecordingReady}
		if err := st.SaveRecording(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		dir := m.localDirOf(recordingPrefix(r))
		os.MkdirAll(dir, 0o700)
		os.WriteFile(filepath.Join(dir, "recording.webm"), []byte("x"), 0o600)
		return r.ID
	}
	gone := []string{mk(short, 8), mk(long, 31)}
	kept := []string{mk(short, 6), mk(long, 29)}
	m.Retain(ctx)
	for _, id := range gone {
		if _, err := st.GetRecording(ctx, id); err != store.ErrNotFound {
			t.Errorf("%s past its retention is still there: %v", id, err)
		}
	}
	for _, id := range kept {
		if _, err := st.GetRecording(ctx, id); err != nil {
			t.Errorf("%s within its retention: %v", id, err)
		}
	}
	var files bytes.Buffer
	filepath.WalkDir(root(m), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files.WriteString(p + "\n")
		}
		return nil
	})
	if n := strings.Count(files.String(), "recording.webm"); n != 2 {
		t.Errorf("files left:\n%s", files.String())
	}
}

func root(m *Manager) string { return m.root }
