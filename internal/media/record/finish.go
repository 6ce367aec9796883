package record

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/openwac/wac/internal/store"
)

// finishLater composes and stores a recording that stopped, off the
// caller's path.
func (m *Manager) finishLater(id string) {
	m.mu.Lock()
	if m.running[id] || m.jobCtx.Err() != nil {
		m.mu.Unlock()
		return
	}
	m.running[id] = true
	m.jobs.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.jobs.Done()
		defer func() {
			m.mu.Lock()
			delete(m.running, id)
			m.mu.Unlock()
		}()
		if err := m.finish(m.jobCtx, id); err != nil && m.jobCtx.Err() == nil {
			m.log.Error("finish recording", "recording", id, "err", err)
		}
	}()
}

// finish composes a stopped recording into one file (when ffmpeg is
// there) and commits its files to the storage.
func (m *Manager) finish(ctx context.Context, id string) error {
	rec, err := m.st.GetRecording(ctx, id)
	if err != nil {
		return fmt.Errorf("load recording: %w", err)
	}
	if rec.Status != store.RecordingStopped && rec.Status != store.RecordingInterrupted {
		return nil
	}
	rec.Status, rec.Alive = store.RecordingComposing, m.now().UnixMilli()
	if err := m.st.SaveRecording(ctx, rec, nil); err != nil {
		return fmt.Errorf("save recording: %w", err)
	}
	status, note := store.RecordingTracks, ""
	var composed *store.RecordingFile
	switch {
	case m.ffmpeg == "":
		note = "not composed: ffmpeg (recording.ffmpeg) is not installed on media node " + m.node + "; the per-track files are kept"
	case trackCount(rec) == 0:
		note = "nothing was recorded"
	default:
		start := time.Now()
		composed, err = m.compose(ctx, rec)
		if err != nil {
			if ctx.Err() != nil {
				rec.Status = store.RecordingStopped
				m.st.SaveRecording(context.WithoutCancel(ctx), rec, nil)
				return ctx.Err()
			}
			note = "not composed: " + err.Error() + "; the per-track files are kept"
			m.log.Warn("compose recording", "recording", id, "err", err)
		} else {
			status = store.RecordingReady
			m.log.Info("recording composed", "recording", id, "duration_ms", composed.Duration,
				"took", time.Since(start).Round(time.Millisecond))
		}
	}
	if err := m.commit(ctx, rec, composed); err != nil {
		// The files stay in the spool: the next sweep tries again.
		rec.Status = store.RecordingStopped
		rec.Detail.Note = err.Error()
		m.st.SaveRecording(context.WithoutCancel(ctx), rec, nil)
		return err
	}
	rec.Detail.Composed = composed
	if note != "" && rec.Detail.Note == "" {
		rec.Detail.Note = note
	} else if note != "" {
		rec.Detail.Note += "; " + note
	}
	rec.Status, rec.Alive = status, m.now().UnixMilli()
	rec.Size = recordingSize(rec)
	if err := m.st.SaveRecording(ctx, rec, nil); err != nil {
		return fmt.Errorf("save recording: %w", err)
	}
	return nil
}

func trackCount(r *store.Recording) int {
	n := 0
	for _, s := range r.Detail.Segments {
		n += len(s.Tracks)
	}
	return n
}

// commit hands the recording's local files (tracks, events logs, the
// composed file) to the storage.
func (m *Manager) commit(ctx context.Context, rec *store.Recording, composed *store.RecordingFile) error {
	if _, ok := m.storage.(Disk); ok {
		return nil
	}
	var keys []string
	for _, seg := range rec.Detail.Segments {
		for _, t := range seg.Tracks {
			keys = append(keys, t.Key)
		}
		keys = append(keys, path.Join(segmentPrefix(rec, seg.Index), "events.jsonl"))
	}
	if composed != nil {
		keys = append(keys, composed.Key)
	}
	for _, k := range keys {
		p := m.localPath(k)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue // committed before
		}
		if err := m.storage.Commit(ctx, k, p); err != nil {
			return err
		}
	}
	os.RemoveAll(m.localDirOf(recordingPrefix(rec)))
	return nil
}

// Delete removes a recording's files and its row.
func (m *Manager) Delete(ctx context.Context, rec *store.Recording) error {
	return DeleteRecording(ctx, m.st, m.storage, m.root, rec)
}

// DeleteRecording removes a recording's files (in the storage and in the
// local spool under root) and its row.
func DeleteRecording(ctx context.Context, st store.Store, storage Storage, root string, rec *store.Recording) error {
	prefix := recordingPrefix(rec)
	if err := storage.Delete(ctx, prefix); err != nil {
		return err
	}
	if root != "" {
		if err := os.RemoveAll(filepath.Join(root, filepath.FromSlash(prefix))); err != nil {
			return fmt.Errorf("delete recording spool: %w", err)
		}
	}
	if err := st.DeleteRecording(ctx, rec.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete recording: %w", err)
	}
	return nil
}

// Retain deletes the recordings older than their domain's retention
// (recordingRetentionDays of the domain, else recording.retentionDays).
func (m *Manager) Retain(ctx context.Context) {
	domains, err := m.st.ListDomains(ctx)
	if err != nil {
		m.log.Warn("recording retention: list domains", "err", err)
		return
	}
	now := m.now()
	for _, d := range domains {
		days := d.RecordingRetentionDays
		if days <= 0 {
			days = m.cfg.RetentionDays
		}
		if days <= 0 {
			continue
		}
		before := now.Add(-time.Duration(days) * 24 * time.Hour).UnixMilli()
		list, err := m.st.ExpiredRecordings(ctx, []string{d.ID}, before)
		if err != nil {
			m.log.Warn("recording retention: list expired recordings", "domain", d.Name, "err", err)
			continue
		}
		for _, r := range list {
			if err := m.Delete(ctx, r); err != nil {
				m.log.Warn("recording retention: delete", "recording", r.ID, "err", err)
				continue
			}
			m.log.Info("recording deleted: past its retention", "recording", r.ID, "domain", d.Name, "days", days)
		}
	}
}
