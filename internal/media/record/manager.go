package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// Options are what a Manager works with.
type Options struct {
	Config config.Recording
	// Root is the local directory tracks are written to (recording.path).
	Root    string
	Store   store.Store
	Storage Storage
	// Node names the media node in the recordings it writes.
	Node string
	Log  *slog.Logger
	// Heartbeat is how often a recording's row says its node still
	// writes it (and the free space is checked); 5 s when zero. A
	// recording not refreshed for three heartbeats is recovered.
	Heartbeat time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// FreeBytes reports the free space of a directory (statfs when nil).
	FreeBytes func(dir string) (uint64, error)
}

// Manager runs the recordings of a media node.
type Manager struct {
	cfg       config.Recording
	root      string
	st        store.Store
	storage   Storage
	node      string
	log       *slog.Logger
	heartbeat time.Duration
	now       func() time.Time
	freeBytes func(string) (uint64, error)
	ffmpeg    string // resolved program; "" = no compose

	mu       sync.Mutex
	sessions map[string]*Session // by room
	closed   bool
	jobs     sync.WaitGroup
	jobCtx   context.Context
	stopJobs context.CancelFunc
	running  map[string]bool // recordings being finished
}

// NewManager checks the recording directory and finds ffmpeg.
func NewManager(o Options) (*Manager, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FreeBytes == nil {
		o.FreeBytes = freeBytes
	}
	if o.Storage == nil {
		o.Storage = Disk{Root: o.Root}
	}
	if err := os.MkdirAll(o.Root, 0o700); err != nil {
		return nil, fmt.Errorf("recording directory (config key recording.path) %s: %w", o.Root, err)
	}
	m := &Manager{cfg: o.Config, root: o.Root, st: o.Store, storage: o.Storage, node: o.Node, log: o.Log.With("service", "recording"),
		heartbeat: o.Heartbeat, now: o.Now, freeBytes: o.FreeBytes, sessions: map[string]*Session{}, running: map[string]bool{}}
	m.jobCtx, m.stopJobs = context.WithCancel(context.Background())
	if o.Config.FFmpeg != "" {
		if p, err := exec.LookPath(o.Config.FFmpeg); err == nil {
			m.ffmpeg = p
		}
	}
	if m.ffmpeg == "" {
		m.log.Warn("ffmpeg not found (recording.ffmpeg): recordings are kept as per-track files, not composed", "ffmpeg", o.Config.FFmpeg)
	}
	return m, nil
}

func (m *Manager) localPath(key string) string { return filepath.Join(m.root, filepath.FromSlash(key)) }

// StartOptions describe a recording to start.
type StartOptions struct {
	Room   string
	Domain string
	By     string            // the user who started it; "" for a room created with record
	Users  map[string]string // who may see it (the room's ACL): user → domain
}

// ErrClosed is returned by Start once the manager closed.
var ErrClosed = errors.New("the recording service is stopping")

// Start starts recording a room, or returns its running session. A
// recording of the room that a media node's restart interrupted within
// recording.resumeSeconds continues as its next segment.
func (m *Manager) Start(ctx context.Context, o StartOptions) (*Session, error) {
	m.mu.Lock()
	if s := m.sessions[o.Room]; s != nil {
		m.mu.Unlock()
		return s, nil
	}
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if err := m.checkSpace(); err != nil {
		return nil, err
	}
	now := m.now()
	rec, err := m.resumable(ctx, o.Domain, o.Room, now)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		rec = &store.Recording{ID: store.NewID(), DomainID: o.Domain, Room: o.Room, Started: now.UnixMilli(),
			Detail: store.RecordingDetail{StartedBy: o.By}}
	}
	rec.Node, rec.Status, rec.Stopped, rec.Alive = m.node, store.RecordingActive, 0, now.UnixMilli()
	index := len(rec.Detail.Segments) + 1
	rec.Detail.Segments = append(rec.Detail.Segments, store.RecordingSegment{Index: index, Node: m.node, Started: now.UnixMilli(),
		Tracks: []store.RecordingTrack{}})
	s := &Session{m: m, rec: rec, index: index, prefix: segmentPrefix(rec, index), started: now, origin: time.Now(), users: map[string]string{},
		done: make(chan struct{})}
	for u, d := range o.Users {
		s.users[u] = d
	}
	if o.By != "" {
		if _, ok := s.users[o.By]; !ok {
			s.users[o.By] = o.Domain
		}
	}
	dir := m.localDirOf(s.prefix)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create recording directory: %w", err)
	}
	if s.log, err = openEventLog(filepath.Join(dir, "events.jsonl")); err != nil {
		return nil, err
	}
	detail := "segment 1"
	if index > 1 {
		detail = fmt.Sprintf("segment %d (continues after the media node restarted)", index)
	}
	s.mu.Lock()
	s.eventLocked("started", o.By, detail)
	s.mu.Unlock()
	if err := m.st.SaveRecording(ctx, rec, cloneUsers(s.users)); err != nil {
		s.log.close()
		return nil, fmt.Errorf("save recording: %w", err)
	}
	m.mu.Lock()
	if other := m.sessions[o.Room]; other != nil || m.closed {
		m.mu.Unlock()
		s.stop(ctx, "started twice", nil)
		if other != nil {
			return other, nil
		}
		return nil, ErrClosed
	}
	m.sessions[o.Room] = s
	m.mu.Unlock()
	m.log.Info("recording started", "recording", rec.ID, "room", o.Room, "segment", index, "by", o.By)
	return s, nil
}

// resumable finds the recording of a room to continue: one interrupted
// within recording.resumeSeconds, or one still marked recording by a
// node that no longer writes it (recovered here first).
func (m *Manager) resumable(ctx context.Context, domain, room string, now time.Time) (*store.Recording, error) {
	since := now.Add(-m.cfg.ResumeWindow).UnixMilli()
	rec, err := m.st.ResumableRecording(ctx, domain, room, since)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find the recording to continue: %w", err)
	}
	if rec.Status == store.RecordingActive {
		if rec.Alive < since {
			return nil, nil
		}
		m.recover(ctx, rec)
	}
	return rec, nil
}

func (m *Manager) forget(s *Session) {
	m.mu.Lock()
	if m.sessions[s.rec.Room] == s {
		delete(m.sessions, s.rec.Room)
	}
	m.mu.Unlock()
}

// alarm raises the alarm of a recording stopped by a storage error.
func (m *Manager) alarm(r *store.Recording, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if aerr := m.st.CreateAlarm(ctx, &store.Alarm{Type: "recording-storage", DomainID: r.DomainID,
		Message: "a recording stopped: " + err.Error(),
		Data:    map[string]any{"recording": r.ID, "room": r.Room, "node": m.node}}); aerr != nil {
		m.log.Error("raise recording alarm", "recording", r.ID, "err", aerr)
	}
}

// checkSpace refuses to record on a full disk.
func (m *Manager) checkSpace() error {
	if m.cfg.MinFreeMB <= 0 {
		return nil
	}
	free, err := m.freeBytes(m.root)
	if err != nil {
		return fmt.Errorf("recording disk: %w", err)
	}
	if free < uint64(m.cfg.MinFreeMB)<<20 {
		return errDiskFull
	}
	return nil
}

// ErrDiskFull is returned by Start when the disk has less than
// recording.minFreeMB free.
var ErrDiskFull = errDiskFull

func freeBytes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// Run keeps the node's recordings until ctx ends: it refreshes them,
// stops them when the disk fills, recovers those of nodes that died,
// finishes interrupted ones that did not continue, and deletes expired
// ones. Close stops the recordings.
func (m *Manager) Run(ctx context.Context) {
	beat := time.NewTicker(m.heartbeat)
	defer beat.Stop()
	retention := time.NewTicker(m.cfg.RetentionCheck)
	defer retention.Stop()
	m.sweep(ctx)
	m.Retain(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			m.beat(ctx)
			m.sweep(ctx)
		case <-retention.C:
			m.Retain(ctx)
		}
	}
}

// beat refreshes the running recordings and stops them on a full disk.
func (m *Manager) beat(ctx context.Context) {
	m.mu.Lock()
	list := make([]*Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		list = append(list, s)
	}
	m.mu.Unlock()
	full := m.checkSpace()
	for _, s := range list {
		if full != nil {
			go s.fail(full)
			continue
		}
		s.touch(ctx)
	}
}

// sweep recovers the recordings of nodes that stopped refreshing them,
// and finishes interrupted recordings that did not continue in time.
func (m *Manager) sweep(ctx context.Context) {
	now := m.now()
	stale, err := m.st.StaleRecordings(ctx, store.RecordingActive, now.Add(-3*m.heartbeat).UnixMilli())
	if err != nil {
		m.log.Warn("list stale recordings", "err", err)
	}
	for _, r := range stale {
		if m.ownsRecording(r.ID) {
			continue
		}
		m.recover(ctx, r)
	}
	late := now.Add(-m.cfg.ResumeWindow).UnixMilli()
	ended, err := m.st.StaleRecordings(ctx, store.RecordingInterrupted, late)
	if err != nil {
		m.log.Warn("list interrupted recordings", "err", err)
	}
	for _, r := range ended {
		m.finishLater(r.ID)
	}
	stopped, err := m.st.StaleRecordings(ctx, store.RecordingStopped, now.Add(-3*m.heartbeat).UnixMilli())
	if err != nil {
		m.log.Warn("list stopped recordings", "err", err)
	}
	for _, r := range stopped {
		m.finishLater(r.ID) // a node that stopped before it finished them
	}
}

func (m *Manager) ownsRecording(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sessions {
		if s.rec.ID == id {
			return true
		}
	}
	return false
}

// recover closes the last segment of a recording whose node died: its
// tracks and events are read back from the segment's events log (the
// files stay as the crash left them: playable up to the last cluster
// written), and the recording is interrupted, to continue as a next
// segment if the room records again within recording.resumeSeconds.
func (m *Manager) recover(ctx context.Context, r *store.Recording) {
	if len(r.Detail.Segments) == 0 {
		r.Detail.Segments = []store.RecordingSegment{{Index: 1, Node: r.Node, Started: r.Started}}
	}
	seg := &r.Detail.Segments[len(r.Detail.Segments)-1]
	prefix := segmentPrefix(r, seg.Index)
	f, err := os.Open(filepath.Join(m.localDirOf(prefix), "events.jsonl"))
	if err == nil {
		events, tracks, perr := ParseEventLog(f)
		f.Close()
		if perr != nil {
			m.log.Warn("read the events log of an interrupted recording", "recording", r.ID, "err", perr)
		}
		known := map[int64]bool{}
		for _, e := range r.Detail.Events {
			known[e.At] = true
		}
		for _, e := range events {
			if !known[e.At] || e.Type == "started" {
				r.Detail.Events = appendEvent(r.Detail.Events, e)
			}
		}
		seg.Tracks = seg.Tracks[:0]
		for _, t := range tracks {
			if info, err := os.Stat(m.localPath(t.Key)); err == nil && info.Size() > 0 {
				t.Size = info.Size()
				if d, err := ReadDuration(m.localPath(t.Key)); err == nil && d > t.Duration {
					t.Duration = d
				}
				seg.Tracks = append(seg.Tracks, t)
			}
		}
	} else {
		m.log.Warn("an interrupted recording has no events log here", "recording", r.ID, "err", err)
	}
	at := max(r.Alive, seg.Started)
	seg.Stopped, seg.Reason = at, "media node stopped"
	r.Detail.Events = appendEvent(r.Detail.Events, store.RecordingEvent{At: at, Type: "interrupted", Detail: "media node " + r.Node + " stopped"})
	r.Status, r.Stopped, r.Alive = store.RecordingInterrupted, at, at
	r.Size = recordingSize(r)
	if err := m.st.SaveRecording(ctx, r, nil); err != nil {
		m.log.Error("save interrupted recording", "recording", r.ID, "err", err)
		return
	}
	m.log.Warn("recording interrupted: its media node stopped", "recording", r.ID, "room", r.Room, "node", r.Node,
		"tracks", len(seg.Tracks))
}

// appendEvent adds e unless the same event is there.
func appendEvent(list []store.RecordingEvent, e store.RecordingEvent) []store.RecordingEvent {
	for _, x := range list {
		if x == e {
			return list
		}
	}
	return append(list, e)
}

// Close stops every recording (the node shuts down) and waits for the
// jobs started (a compose in progress is stopped; it runs again at the
// next start).
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	list := make([]*Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		list = append(list, s)
	}
	m.mu.Unlock()
	for _, s := range list {
		s.Stop(context.Background(), "media node shutting down")
	}
	m.stopJobs()
	m.jobs.Wait()
}

// Wait waits for the finishing jobs started so far (tests).
func (m *Manager) Wait() { m.jobs.Wait() }
