package record

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// fakeS3 is an S3-speaking server in the process (gofakes3): no S3
// server of its own can run on this machine (Debian has no MinIO).
func fakeS3(t *testing.T) *S3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("recordings"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	s, err := NewS3(config.S3{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: "recordings", AccessKey: "key",
		SecretKey: "secret", Insecure: true, Prefix: "/wac/"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestS3Storage(t *testing.T) {
	s := fakeS3(t)
	ctx := context.Background()
	dir := t.TempDir()
	local := filepath.Join(dir, "a.webm")
	content := strings.Repeat("0123456789", 1000)
	os.WriteFile(local, []byte(content), 0o600)
	if err := s.Commit(ctx, "d/r1/seg1/a.webm", local); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(local); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the uploaded file is still in the spool: %v", err)
	}
	f, err := s.Open(ctx, "d/r1/seg1/a.webm")
	if err != nil {
		t.Fatal(err)
	}
	// A range request, as a <video> element seeking makes them.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Range", "bytes=5000-5009")
	http.ServeContent(rec, req, "", f.ModTime(), f)
	f.Close()
	if rec.Code != http.StatusPartialContent || rec.Body.String() != "0123456789" || f.Size() != 10000 {
		t.Errorf("range: %d %q, size %d", rec.Code, rec.Body.String(), f.Size())
	}
	p, err := s.Fetch(ctx, "d/r1/seg1/a.webm", dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != content {
		t.Errorf("fetched %d bytes", len(b))
	}
	if _, err := s.Open(ctx, "d/r1/none.webm"); !errors.Is(err, ErrNoFile) {
		t.Errorf("a missing object: %v", err)
	}
	if _, err := s.Open(ctx, "../x"); !errors.Is(err, ErrNoFile) {
		t.Errorf("a bad key: %v", err)
	}
	if err := s.Delete(ctx, "d/r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, "d/r1/seg1/a.webm"); !errors.Is(err, ErrNoFile) {
		t.Errorf("after delete: %v", err)
	}
}

// With an object store, a finished recording's files (tracks, events
// logs, the composed file) are uploaded and leave the local spool; the
// API reads them from the store.
func TestRecordingUploadedToS3(t *testing.T) {
	md := testMedia(t)
	s3 := fakeS3(t)
	m, st := newManager(t, func(o *Options) { o.Storage = s3 })
	ctx := context.Background()
	s, err := m.Start(ctx, StartOptions{Room: "room-1", Domain: "dom-1"})
	if err != nil {
		t.Fatal(err)
	}
	a := s.AddTrack(TrackInfo{Kind: "audio", MimeType: "audio/opus", User: "alice", Feed: 1}, nil)
	v := s.AddTrack(TrackInfo{Kind: "video", MimeType: "video/VP8", User: "alice", Feed: 1}, nil)
	feed(t, md, v, a, false)
	s.Stop(ctx, "done")
	m.Wait()
	rec, _ := st.GetRecording(ctx, s.ID())
	if rec.Status != store.RecordingReady {
		t.Fatalf("status %s: %s", rec.Status, rec.Detail.Note)
	}
	for _, k := range []string{rec.Detail.Composed.Key, rec.Detail.Segments[0].Tracks[0].Key, rec.Detail.Segments[0].Tracks[1].Key} {
		f, err := s3.Open(ctx, k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		n, _ := io.Copy(io.Discard, f)
		f.Close()
		if n == 0 || n != f.Size() {
			t.Errorf("%s: %d bytes of %d", k, n, f.Size())
		}
	}
	if _, err := os.Stat(m.localDirOf(recordingPrefix(rec))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spool keeps the recording: %v", err)
	}
	if err := m.Delete(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.Open(ctx, rec.Detail.Composed.Key); !errors.Is(err, ErrNoFile) {
		t.Errorf("after delete: %v", err)
	}
}
