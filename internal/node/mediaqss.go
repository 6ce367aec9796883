package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/turn"
)

// qssMedia adapts the media dispatcher to what signaling needs of it: rooms
// placed on media nodes, and the ICE servers (TURN credentials) for a user.
type qssMedia struct {
	n *Node
	d *placement.Dispatcher
}

// CreateRoom places the room's media on the least loaded media node. With
// no media node in the cluster at all (signaling-only deployments, tests),
// the room has no media server: its object's server fields are empty.
func (m qssMedia) CreateRoom(ctx context.Context, id string, opts qss.MediaOptions) (qss.MediaRoom, error) {
	ro := placement.RoomOptions{Bitrate: opts.Bitrate, Record: opts.Record}
	if r := opts.Recording; opts.Record && r != nil {
		ro.Recording = &placement.RecordingOptions{Domain: r.Domain, By: r.By, Users: r.Users}
	}
	var info placement.RoomInfo
	var err error
	if number, perr := strconv.ParseInt(opts.Number, 10, 64); perr == nil && opts.Number != "" {
		info, err = m.d.CreateRoomNumbered(ctx, id, number, ro)
	} else {
		info, err = m.d.CreateRoom(ctx, id, ro)
	}
	if errors.Is(err, placement.ErrRoomExists) {
		return qss.MediaRoom{}, fmt.Errorf("%w: %v", qss.ErrNumberTaken, err)
	}
	if errors.Is(err, placement.ErrNoMediaNode) {
		// Such a room carries no media at all: nothing can be lost by
		// not recording it (record is kept as a flag).
		m.n.Log.Warn("no media node is alive: the room has no media server", "room", id)
		return qss.MediaRoom{}, nil
	}
	if err != nil && opts.Record {
		// A room to record that cannot be is not created: never silently.
		return qss.MediaRoom{}, wire.Refuse(503, "the room cannot be recorded: %v", err)
	}
	if err != nil {
		return qss.MediaRoom{}, err
	}
	return qss.MediaRoom{Number: strconv.FormatInt(info.Number, 10), ServerUUID: info.ServerUUID,
		HTTPS: info.Server.HTTPS, WSS: info.Server.WSS}, nil
}

func (m qssMedia) DestroyRoom(ctx context.Context, id string) error { return m.d.DestroyRoom(ctx, id) }

func (m qssMedia) ExpelUser(ctx context.Context, room, user string) error {
	return m.d.ExpelUser(ctx, room, user)
}

func (m qssMedia) AdmitUser(ctx context.Context, room, user string) error {
	return m.d.AdmitUser(ctx, room, user)
}

func (m qssMedia) ICEServers(userID string) []qss.ICEServer {
	list := turn.ICEServers(m.n.Secret, userID, m.n.Config.TURN, time.Now())
	out := make([]qss.ICEServer, 0, len(list))
	for _, s := range list {
		out = append(out, qss.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}
