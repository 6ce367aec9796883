package placement

import (
	"context"
	"fmt"
	"time"
)

// ErrRecordingOff is the error of a media node that does not record
// (recording.enabled off there).
const ErrRecordingOff = "recording is off on this media node"

// StartRecording starts recording a room this dispatcher placed.
func (d *Dispatcher) StartRecording(ctx context.Context, room string, o RecordingOptions) error {
	return d.recordCommand(ctx, Command{Op: "record", Room: room, Recording: &o}, true)
}

// StopRecording stops recording a room; by names who stopped it.
func (d *Dispatcher) StopRecording(ctx context.Context, room, by string) error {
	return d.recordCommand(ctx, Command{Op: "stopRecord", Room: room, User: by}, false)
}

func (d *Dispatcher) recordCommand(ctx context.Context, cmd Command, on bool) error {
	d.mu.Lock()
	p, ok := d.rooms[cmd.Room]
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s media room %s: %w", cmd.Op, cmd.Room, ErrNoSuchRoom)
	}
	reply, err := d.dir.Send(ctx, p.info.NodeID, cmd)
	if err != nil {
		return fmt.Errorf("%s media room %s on %s: %w", cmd.Op, cmd.Room, p.info.NodeID, err)
	}
	if reply.Error != "" {
		return fmt.Errorf("%s media room %s on %s: %s", cmd.Op, cmd.Room, p.info.NodeID, reply.Error)
	}
	d.mu.Lock()
	p.recording, p.recordingSince = on, time.Now()
	d.mu.Unlock()
	return nil
}

// OnRecordingStopped registers fn to hear of recordings that stopped
// without StopRecording: a storage error on the media node, or a
// recording the node no longer runs.
func (d *Dispatcher) OnRecordingStopped(fn func(roomID, reason string)) {
	d.mu.Lock()
	d.recStop = append(d.recStop, fn)
	d.mu.Unlock()
}

// recordingStopsLocked finds the rooms that should record and that their
// node, in a heartbeat sent after the recording started, reports stopped;
// d.mu is held.
func (d *Dispatcher) recordingStopsLocked(nodes map[string]NodeInfo) [][2]string {
	var out [][2]string
	for id, p := range d.rooms {
		if !p.recording {
			continue
		}
		n, ok := nodes[p.info.NodeID]
		if !ok || !n.Seen.After(p.recordingSince.Add(d.opts.Check)) {
			continue
		}
		reason, running := n.Recording[id]
		if running && reason == "" {
			continue
		}
		if reason == "" {
			reason = "the media node does not record the room"
		}
		p.recording = false
		out = append(out, [2]string{id, reason})
	}
	return out
}
