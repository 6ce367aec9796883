package videoroom

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/media/record"
)

// Recording of rooms: the room holds its recording session and a
// record.Track per published audio and video, a sink of the stream's
// forward.Stream. Publications that start while the room records are
// added; those that end are closed; the room's participants joining and
// leaving are the recording's events.

// recState is a room's recording; guarded by Room.mu.
type recState struct {
	sess   *record.Session
	tracks map[*pubStream]*record.Track
	// failed is the error that stopped the last recording by itself, for
	// the node's heartbeat (placement.Load.Recording) until the room
	// records again.
	failed string
}

// startRecording records the room, or does nothing when it records.
func (r *Room) startRecording(o placement.RecordingOptions) error {
	mgr := r.sfu.recorder
	if mgr == nil {
		return errors.New(placement.ErrRecordingOff)
	}
	r.mu.Lock()
	closed, running := r.closed, r.rec.sess != nil
	r.mu.Unlock()
	if closed {
		return fmt.Errorf("record: %w", placement.ErrNoSuchRoom)
	}
	if running {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.sfu.ctx, 10*time.Second)
	defer cancel()
	sess, err := mgr.Start(ctx, record.StartOptions{Room: r.ID, Domain: o.Domain, By: o.By, Users: o.Users})
	if err != nil {
		return fmt.Errorf("record room %s: %w", r.ID, err)
	}
	r.mu.Lock()
	if r.closed || r.rec.sess != nil {
		r.mu.Unlock()
		if r.rec.sess != sess {
			sess.Stop(ctx, "room ended")
		}
		return nil
	}
	r.rec = recState{sess: sess, tracks: map[*pubStream]*record.Track{}}
	ps := make([]*participant, 0, len(r.participants))
	for _, p := range r.participants {
		ps = append(ps, p)
	}
	users := map[string]bool{}
	for s := range r.subscribers {
		users[s.user] = true
	}
	r.mu.Unlock()
	sess.OnStop(func(reason string, err error) { r.recordingStopped(sess, err) })
	for _, p := range ps {
		sess.Event("present", p.user, p.displayName())
		p.mu.Lock()
		streams := append([]*pubStream(nil), p.streams...)
		p.mu.Unlock()
		r.recordStreams(p, streams)
	}
	for u := range users {
		sess.AddUser(u, o.Domain)
	}
	return nil
}

// stopRecording stops the room's recording; by names who stopped it.
func (r *Room) stopRecording(reason string) {
	r.mu.Lock()
	sess := r.rec.sess
	r.mu.Unlock()
	if sess == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sess.Stop(ctx, reason); err != nil {
		r.sfu.log.Warn("stop recording", "room", r.ID, "err", err)
	}
}

// recordingStopped takes the tracks of a stopped session off their
// streams (their files are closed by then).
func (r *Room) recordingStopped(sess *record.Session, err error) {
	r.mu.Lock()
	if r.rec.sess != sess {
		r.mu.Unlock()
		return
	}
	tracks := r.rec.tracks
	r.rec = recState{}
	if err != nil {
		r.rec.failed = err.Error()
	}
	r.mu.Unlock()
	for ps, t := range tracks {
		if ps.fwd != nil {
			ps.fwd.RemoveSink(t)
		}
	}
}

// recordStreams adds the audio and video streams of a publication to the
// room's recording.
func (r *Room) recordStreams(p *participant, streams []*pubStream) {
	r.mu.Lock()
	sess := r.rec.sess
	r.mu.Unlock()
	if sess == nil {
		return
	}
	for _, ps := range streams {
		if ps.fwd == nil {
			continue
		}
		r.mu.Lock()
		_, have := r.rec.tracks[ps]
		current := r.rec.sess == sess
		r.mu.Unlock()
		if have || !current {
			continue
		}
		fs := ps.fwd
		layer := fs.Layers() - 1 // the highest simulcast layer
		codec := fs.Codec()
		t := sess.AddTrack(record.TrackInfo{Kind: ps.kind, MimeType: codec.MimeType, ClockRate: codec.ClockRate,
			User: p.user, Display: p.displayName(), Feed: p.id, Layer: layer}, func() { fs.RequestKeyframe(layer) })
		if t == nil {
			continue
		}
		r.mu.Lock()
		if r.rec.sess != sess {
			r.mu.Unlock()
			sess.EndTrack(t)
			continue
		}
		r.rec.tracks[ps] = t
		r.mu.Unlock()
		fs.AddSink(t)
	}
}

// unrecordStreams closes the tracks of a publication that ended.
func (r *Room) unrecordStreams(streams []*pubStream) {
	r.mu.Lock()
	sess := r.rec.sess
	var ended []*record.Track
	for _, ps := range streams {
		if t, ok := r.rec.tracks[ps]; ok {
			delete(r.rec.tracks, ps)
			ended = append(ended, t)
			if ps.fwd != nil {
				ps.fwd.RemoveSink(t)
			}
		}
	}
	r.mu.Unlock()
	for _, t := range ended {
		sess.EndTrack(t)
	}
}

// recordEvent notes a participant joining or leaving.
func (r *Room) recordEvent(typ, user, detail string) {
	r.mu.Lock()
	sess := r.rec.sess
	r.mu.Unlock()
	if sess != nil {
		sess.Event(typ, user, detail)
	}
}

// recordUser lets a user of the room see the recording.
func (r *Room) recordUser(user string) {
	r.mu.Lock()
	sess := r.rec.sess
	r.mu.Unlock()
	if sess != nil {
		sess.AddUser(user, sess.Domain())
	}
}

// recordingStatus is what the node's heartbeat says of the room's
// recording: running (""), stopped by an error, or nothing.
func (r *Room) recordingStatus() (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec.sess != nil {
		return "", true
	}
	if r.rec.failed != "" {
		return r.rec.failed, true
	}
	return "", false
}

// StartRecording implements placement.Host.
func (h placementHost) StartRecording(room string, o placement.RecordingOptions) error {
	r := h.Room(room)
	if r == nil {
		return fmt.Errorf("record: %w", placement.ErrNoSuchRoom)
	}
	return r.startRecording(o)
}

// StopRecording implements placement.Host.
func (h placementHost) StopRecording(room, by string) error {
	r := h.Room(room)
	if r == nil {
		return fmt.Errorf("stop recording: %w", placement.ErrNoSuchRoom)
	}
	reason := "stopped"
	if by != "" {
		reason = "stopped by " + by
	}
	r.stopRecording(reason)
	return nil
}
