package rooms

import (
	"context"
	"time"

	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/wire"
)

// Recording of rooms (the seeds' record field, the recording capability):
// startRecording and stopRecording requests, the record field of
// createRoom and updateRoom, and the recordingStarted/recordingStopped
// events every participant gets. The room's media node records; signaling
// carries the commands and tells the room.

// RecordingOptions are what a media node records a room with: the room's
// domain, who started the recording, and who may see it (the room's ACL,
// user → domain).
type RecordingOptions struct {
	Domain string
	By     string
	Users  map[string]string
}

// recordingTimeout bounds a media node's answer to a recording command.
const recordingTimeout = 15 * time.Second

// recordingOptions are the options of a room's recording.
func recordingOptions(domain string, by session.User, acl []session.User) *RecordingOptions {
	o := &RecordingOptions{Domain: domain, By: by.ID, Users: map[string]string{by.ID: by.DomainID}}
	for _, u := range acl {
		o.Users[u.ID] = u.DomainID
	}
	return o
}

// checkRecord refuses record (createRoom, updateRoom, startRecording) where
// recording is off and to users without the recording capability.
func (t *Table) checkRecord(ctx context.Context, s *session.Session) error {
	if !t.Config.Recording.Enabled {
		return wire.Refuse(403, "recording is off on this server (recording.enabled); field \"record\" is not accepted")
	}
	caps, err := t.Auth.Capabilities(ctx, s.User)
	if err != nil {
		return err
	}
	if !caps.Has("recording") {
		return wire.Refuse(403, "the recording capability is required to record a room")
	}
	return nil
}

// checkRecordField refuses a record field set to true where recording is
// off or for a user who may not record.
func (t *Table) checkRecordField(ctx context.Context, s *session.Session, record bool) error {
	if !record {
		return nil
	}
	return t.checkRecord(ctx, s)
}

// startRecording is the startRecording request: payload {room}.
func (t *Table) startRecording(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	return t.recordingRequest(ctx, s, f, true)
}

// stopRecording is the stopRecording request: payload {room}.
func (t *Table) stopRecording(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	return t.recordingRequest(ctx, s, f, false)
}

func (t *Table) recordingRequest(ctx context.Context, s *session.Session, f *wire.Frame, on bool) (any, error) {
	p, err := t.roomRequest(f)
	if err != nil {
		return nil, err
	}
	if err := t.checkRecord(ctx, s); err != nil {
		return nil, err
	}
	info, err := ask[Info](ctx, t, p.Room, actor{User: s.Me()}, &recordOp{On: on})
	if err != nil {
		return nil, err
	}
	return map[string]any{"room": p.Room, "record": info.Record}, nil
}

// recordOp turns a room's recording on or off for a user of its ACL or an
// admin of the room (*Info).
type recordOp struct {
	On bool `json:"on"`
}

func (o *recordOp) run(_ context.Context, t *Table, r *room, by session.User, admin bool) (any, []func(), error) {
	if !r.inACL[by.ID] && !admin {
		return nil, nil, errNotInACL()
	}
	notify, err := t.setRecording(r, o.On, by)
	if err != nil {
		return nil, nil, err
	}
	info := r.info(false)
	return &info, notify, nil
}

// recordingStoppedOp is the media node's word that a room's recording
// stopped by itself (a storage error); the server asks it.
type recordingStoppedOp struct {
	Reason string `json:"reason,omitempty"`
}

func (o *recordingStoppedOp) run(_ context.Context, t *Table, r *room, by session.User, admin bool) (any, []func(), error) {
	if by.ID != "" || !admin || !r.record {
		return struct{}{}, nil, nil
	}
	r.record = false
	t.Log.Warn("qss: the room's recording stopped on its media node", "room", r.id, "reason", o.Reason)
	info := r.info(false)
	return &info, []func(){r.broadcast(t, recordingEvent(r, false, session.User{}, o.Reason), "")}, nil
}

// setRecording turns the room's recording on or off on its media node
// and returns the event to everyone in the room; r.mu is held.
func (t *Table) setRecording(r *room, on bool, by session.User) ([]func(), error) {
	if on == r.record {
		return nil, nil
	}
	reason := ""
	if !on {
		reason = "stopped by " + by.Username
	}
	if t.media == nil || r.media.ServerUUID == "" {
		// A room without a media server (no media node was alive when it
		// was made, or a hub without a media side) carries no media at
		// all: there is nothing to record, and nothing is lost.
		t.Log.Warn("qss: the room has no media server: its record flag records nothing", "room", r.id, "record", on)
		r.record = on
		return []func(){r.broadcast(t, recordingEvent(r, on, by, reason), "")}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordingTimeout)
	defer cancel()
	var err error
	if on {
		acl := make([]session.User, 0, len(r.acl))
		for _, id := range r.acl {
			acl = append(acl, session.User{ID: id, DomainID: r.users[id]})
		}
		err = t.media.StartRecording(ctx, r.id, *recordingOptions(r.domainID, by, acl))
	} else {
		err = t.media.StopRecording(ctx, r.id, by.ID)
	}
	if err != nil {
		t.Log.Warn("qss: recording command", "room", r.id, "on", on, "err", err)
		return nil, wire.Refuse(503, "the media server could not %s recording: %v", map[bool]string{true: "start", false: "stop"}[on], err)
	}
	r.record = on
	t.Log.Info("qss: room recording", "room", r.id, "on", on, "by", by.ID)
	return []func(){r.broadcast(t, recordingEvent(r, on, by, reason), "")}, nil
}

// recordingEvent is recordingStarted or recordingStopped.
func recordingEvent(r *room, on bool, by session.User, reason string) []byte {
	name := "recordingStopped"
	if on {
		name = "recordingStarted"
	}
	payload := map[string]any{"room": r.id, "record": on}
	if by.ID != "" {
		payload["by"], payload["username"] = by.ID, by.Username
	}
	if reason != "" {
		payload["reason"] = reason
	}
	return wire.EventFrame(name, payload)
}

// RecordingStopped tells a room that its recording stopped on its media
// node by itself (a storage error): the dispatcher heard it.
func (t *Table) RecordingStopped(ctx context.Context, id, reason string) {
	ctx, cancel := context.WithTimeout(ctx, recordingTimeout)
	defer cancel()
	if err := t.do(ctx, id, serverActor, &recordingStoppedOp{Reason: reason}); err != nil {
		t.Log.Debug("qss: recording stopped in a room that is gone", "room", id, "err", err)
	}
}
