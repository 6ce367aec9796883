package videoroom

import (
	"errors"
	"fmt"

	"github.com/openwac/wac/internal/media/placement"
)

// PlacementHost is the SFU as a media node of the placement directory:
// what placement.RunAgent reports and commands.
func (s *SFU) PlacementHost() placement.Host { return placementHost{s} }

// placementHost adapts the SFU to placement.Host; NodeID, ServerUUID,
// Load and DestroyRoom are the SFU's own.
type placementHost struct{ *SFU }

// CreateRoom creates a room, or returns the number of the room with id.
func (h placementHost) CreateRoom(id string, number int64, opts placement.RoomOptions) (int64, error) {
	if opts.Record && h.recorder == nil {
		return 0, errors.New(placement.ErrRecordingOff)
	}
	r, err := h.SFU.CreateRoom(id, number, opts)
	if errors.Is(err, placement.ErrRoomExists) {
		if existing := h.Room(id); existing != nil {
			return existing.Number, nil
		}
	}
	if err != nil {
		return 0, err
	}
	if opts.Record {
		o := placement.RecordingOptions{}
		if opts.Recording != nil {
			o = *opts.Recording
		}
		if err := r.startRecording(o); err != nil {
			h.DestroyRoom(id, "recording failed to start")
			return 0, err
		}
	}
	return r.Number, nil
}

// ExpelUser ends the user's publisher and subscriptions in the room.
func (h placementHost) ExpelUser(room, user string) error {
	r, err := h.userRoom("expel", room, user)
	if err != nil {
		return err
	}
	n := r.expel(user)
	h.log.Info("user expelled from the media room", "room", room, "user", user, "handles", n)
	return nil
}

// AdmitUser lets an expelled user in again.
func (h placementHost) AdmitUser(room, user string) error {
	r, err := h.userRoom("admit", room, user)
	if err != nil {
		return err
	}
	r.admit(user)
	return nil
}

// userRoom finds the room of an expel or admit, which must name a user.
func (h placementHost) userRoom(op, room, user string) (*Room, error) {
	r := h.Room(room)
	if r == nil {
		return nil, fmt.Errorf("%s: %w", op, placement.ErrNoSuchRoom)
	}
	if user == "" {
		return nil, errors.New(op + ": no user")
	}
	return r, nil
}
