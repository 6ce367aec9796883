package record

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/openwac/wac/internal/store"
)

// Session is the segment of a recording this media node writes: the
// tracks of the room's publications and the room's events.
type Session struct {
	m       *Manager
	rec     *store.Recording // guarded by mu
	index   int              // segment number, from 1
	prefix  string           // key prefix of the segment's files
	started time.Time
	// origin is the wall clock at the start, which packets' arrival
	// times are measured against (started follows the manager's clock).
	origin time.Time
	log    *eventLog

	mu      sync.Mutex
	tracks  []*Track
	users   map[string]string
	next    int
	stopped bool
	stopErr error
	onStop  []func(reason string, err error)
	done    chan struct{}
}

// ID is the recording's id.
func (s *Session) ID() string { return s.rec.ID }

// Domain is the recording's domain.
func (s *Session) Domain() string { return s.rec.DomainID }

// Segment is the segment's number, from 1.
func (s *Session) Segment() int { return s.index }

// Started is when the segment started.
func (s *Session) Started() time.Time { return s.started }

// OnStop registers fn to hear that the session stopped: by Stop, or by
// itself on a storage error (err set). Its tracks are closed by then; the
// owner removes them from its streams.
func (s *Session) OnStop(fn func(reason string, err error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onStop = append(s.onStop, fn)
}

// Done is closed once the session stopped.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is the storage error that stopped the session, if any.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopErr
}

// AddTrack starts recording a publication: the returned track is a
// forward.Sink of its stream. reqKey asks the publisher for a keyframe.
// Codecs that cannot be recorded return nil and are noted in the events.
func (s *Session) AddTrack(info TrackInfo, reqKey func()) *Track {
	c := codecOf(info.MimeType)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	if c == codecNone {
		s.eventLocked("trackSkipped", info.User, fmt.Sprintf("%s %s cannot be recorded", info.Kind, info.MimeType))
		return nil
	}
	if info.ClockRate == 0 {
		info.ClockRate = 90000
		if c == codecOpus {
			info.ClockRate = 48000
		}
	}
	s.next++
	ext := ".webm"
	if c == codecH264 {
		ext = ".mkv"
	}
	key := path.Join(s.prefix, fmt.Sprintf("%d-%s-%d%s", info.Feed, info.Kind, s.next, ext))
	t := &Track{s: s, info: info, c: c, key: key, path: s.m.localPath(key), index: s.next, reqKey: reqKey,
		in: make(chan packet, queueLen), quit: make(chan struct{}), done: make(chan struct{}),
		j: newJitter(int64(s.m.cfg.Jitter), 256), asm: newAssembler(c)}
	s.tracks = append(s.tracks, t)
	s.eventLocked("published", info.User, info.Kind)
	if reqKey != nil {
		reqKey()
		t.lastReq = time.Now()
	}
	go t.run()
	return t
}

// EndTrack stops recording a publication and closes its file.
func (s *Session) EndTrack(t *Track) {
	if t == nil {
		return
	}
	t.Close()
	r := t.record()
	s.mu.Lock()
	s.eventLocked("unpublished", t.info.User, t.info.Kind)
	s.mu.Unlock()
	if err := s.log.append(logLine{Track: &r}); err != nil {
		go s.fail(err)
	}
}

// trackOpened notes a track whose file exists (on its goroutine).
func (s *Session) trackOpened(t *Track) {
	r := store.RecordingTrack{Key: t.key, Kind: t.info.Kind, Codec: t.info.MimeType, User: t.info.User, Display: t.info.Display,
		Feed: t.info.Feed, Offset: t.firstMS}
	if err := s.log.append(logLine{Track: &r}); err != nil {
		go s.fail(err)
	}
}

// Event notes something that happened in the room (joined, left).
func (s *Session) Event(typ, user, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.eventLocked(typ, user, detail)
}

// AddUser lets a user see the recording (a participant of the room).
func (s *Session) AddUser(user, domain string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[user]; !ok && user != "" {
		s.users[user] = domain
	}
}

func (s *Session) eventLocked(typ, user, detail string) {
	e := store.RecordingEvent{At: s.m.now().UnixMilli(), Type: typ, User: user, Detail: detail}
	s.rec.Detail.Events = append(s.rec.Detail.Events, e)
	if user != "" {
		if _, ok := s.users[user]; !ok {
			s.users[user] = s.rec.DomainID
		}
	}
	if err := s.log.append(logLine{Event: &e}); err != nil {
		go s.fail(err)
	}
}

// fail stops the session on a storage error: what was written is kept.
func (s *Session) fail(err error) {
	s.m.log.Error("recording stopped by a storage error", "recording", s.rec.ID, "room", s.rec.Room, "err", err)
	s.m.alarm(s.rec, err)
	s.stop(context.Background(), "storage error", err)
}

// Stop ends the segment: every track's file is closed, the recording
// saved, and the compose job started.
func (s *Session) Stop(ctx context.Context, reason string) error { return s.stop(ctx, reason, nil) }

func (s *Session) stop(ctx context.Context, reason string, cause error) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.stopped = true
	s.stopErr = cause
	tracks := append([]*Track(nil), s.tracks...)
	s.mu.Unlock()
	for _, t := range tracks {
		t.Close()
	}
	s.mu.Lock()
	now := s.m.now()
	s.eventLocked("stopped", "", reason)
	seg := &s.rec.Detail.Segments[len(s.rec.Detail.Segments)-1]
	seg.Stopped, seg.Reason = now.UnixMilli(), reason
	seg.Tracks = seg.Tracks[:0]
	for _, t := range tracks {
		if r := t.record(); r.Size > 0 {
			seg.Tracks = append(seg.Tracks, r)
		}
	}
	s.rec.Stopped, s.rec.Alive, s.rec.Status = now.UnixMilli(), now.UnixMilli(), store.RecordingStopped
	if cause != nil {
		s.rec.Detail.Note = "stopped early: " + cause.Error()
	}
	s.rec.Size = recordingSize(s.rec)
	rec, users := cloneRecording(s.rec), cloneUsers(s.users)
	fns := append([]func(string, error){}, s.onStop...)
	s.mu.Unlock()
	for _, t := range tracks {
		r := t.record()
		s.log.append(logLine{Track: &r})
	}
	logErr := s.log.close()
	s.m.forget(s)
	err := s.m.st.SaveRecording(ctx, rec, users)
	if err != nil {
		s.m.log.Error("save recording", "recording", rec.ID, "err", err)
	}
	// The compose job is counted before anyone hears that the session
	// stopped, so that waiting for the jobs then waits for it.
	s.m.finishLater(rec.ID)
	close(s.done)
	for _, fn := range fns {
		fn(reason, cause)
	}
	s.m.log.Info("recording stopped", "recording", rec.ID, "room", rec.Room, "segment", s.index, "reason", reason,
		"tracks", len(rec.Detail.Segments[len(rec.Detail.Segments)-1].Tracks))
	if cause == nil && logErr != nil {
		s.m.log.Warn("recording events log", "recording", rec.ID, "err", logErr)
	}
	return err
}

// touch refreshes the recording's alive time and saves its users.
func (s *Session) touch(ctx context.Context) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.rec.Alive = s.m.now().UnixMilli()
	rec, users := cloneRecording(s.rec), cloneUsers(s.users)
	s.mu.Unlock()
	if err := s.m.st.SaveRecording(ctx, rec, users); err != nil {
		s.m.log.Warn("refresh recording", "recording", rec.ID, "err", err)
	}
}

func recordingSize(r *store.Recording) int64 {
	var n int64
	for _, seg := range r.Detail.Segments {
		for _, t := range seg.Tracks {
			n += t.Size
		}
	}
	if r.Detail.Composed != nil {
		n += r.Detail.Composed.Size
	}
	return n
}

func cloneRecording(r *store.Recording) *store.Recording {
	c := *r
	c.Detail.Events = append([]store.RecordingEvent(nil), r.Detail.Events...)
	c.Detail.Segments = make([]store.RecordingSegment, len(r.Detail.Segments))
	for i, seg := range r.Detail.Segments {
		seg.Tracks = append([]store.RecordingTrack(nil), seg.Tracks...)
		c.Detail.Segments[i] = seg
	}
	if r.Detail.Composed != nil {
		f := *r.Detail.Composed
		c.Detail.Composed = &f
	}
	return &c
}

func cloneUsers(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// segmentPrefix is the key prefix of a segment's files.
func segmentPrefix(r *store.Recording, index int) string {
	return path.Join(recordingPrefix(r), fmt.Sprintf("seg%d", index))
}

// recordingPrefix is the key prefix of a recording's files.
func recordingPrefix(r *store.Recording) string {
	return path.Join(safeName(r.DomainID), r.ID)
}

// safeName keeps ids usable as one path element.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
	if s == "" {
		return "_"
	}
	return s
}

// localDirOf is the local directory of a segment.
func (m *Manager) localDirOf(prefix string) string {
	return filepath.Join(m.root, filepath.FromSlash(prefix))
}

// sortTracks orders tracks by offset, for compose.
func sortTracks(ts []store.RecordingTrack) {
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].Offset < ts[j].Offset })
}
