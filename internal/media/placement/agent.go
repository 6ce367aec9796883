package placement

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Host is a media node as its agent serves it: what it reports every
// heartbeat, and the rooms the dispatcher's commands create and end.
type Host interface {
	// NodeID names the node; ServerUUID is its serverUuid of the room
	// object.
	NodeID() string
	ServerUUID() string
	// Load is the node's current load.
	Load() Load
	// CreateRoom creates room id with number and returns its number. When
	// a room with id exists it returns that room's number; when another
	// room holds number the error wraps ErrRoomExists.
	CreateRoom(id string, number int64, opts RoomOptions) (int64, error)
	// DestroyRoom ends a room; the error wraps ErrNoSuchRoom when the
	// node hosts none with id.
	DestroyRoom(id, reason string) error
	// ExpelUser ends a user's media in a room and refuses the user's
	// grants there until AdmitUser.
	ExpelUser(room, user string) error
	// AdmitUser lets an expelled user's grants into the room again.
	AdmitUser(room, user string) error
	// StartRecording records a room (a running recording is not an
	// error); StopRecording stops it (by names who stopped it).
	StartRecording(room string, o RecordingOptions) error
	StopRecording(room, by string) error
}

// Load is what a media node reports to the dispatcher.
type Load struct {
	Rooms       int
	Peers       int // peer connections (publishers + subscribers)
	Sessions    int
	RoomIDs     []string
	Capacity    int
	Forwarded   uint64 // packets forwarded since start
	Publishers  int
	Subscribers int
	// Recording maps the rooms recorded to "" and those whose recording
	// stopped by itself to the error (see NodeInfo.Recording).
	Recording map[string]string
}

// AgentOptions tune RunAgent.
type AgentOptions struct {
	// Interval is how often the node reports its load
	// (media.heartbeatSeconds).
	Interval time.Duration
	// URL returns the node's public base URL (https://host[:port]), which
	// may only be known once the HTTP server listens.
	URL func(context.Context) (string, error)
	Log *slog.Logger
}

// RunAgent makes host a media node of dir until ctx ends: it reports the
// node and its load every interval and serves the dispatcher's commands.
// When ctx ends the node leaves the directory.
func RunAgent(ctx context.Context, host Host, dir Directory, opts AgentOptions) error {
	id := host.NodeID()
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("media_node", id)
	base, err := opts.URL(ctx)
	if err != nil {
		return fmt.Errorf("media node %s: public URL: %w", id, err)
	}
	https, wss, err := janusURLs(base)
	if err != nil {
		return fmt.Errorf("media node %s: %w", id, err)
	}
	// The node answers commands before its first heartbeat makes it
	// known: a dispatcher that sees it may place a room on it at once.
	stop, err := dir.Serve(id, func(_ context.Context, c Command) Reply { return serve(host, c) })
	if err != nil {
		return fmt.Errorf("media node %s: serve the dispatchers' commands: %w", id, err)
	}
	defer stop()
	beat := func() {
		l := host.Load()
		hctx, cancel := context.WithTimeout(ctx, opts.Interval)
		defer cancel()
		if err := dir.Heartbeat(hctx, NodeInfo{ID: id, ServerUUID: host.ServerUUID(), HTTPS: https, WSS: wss,
			Peers: l.Peers, Capacity: l.Capacity, Rooms: l.RoomIDs, Recording: l.Recording}); err != nil && ctx.Err() == nil {
			log.Warn("media node heartbeat failed", "err", err)
		}
	}
	beat()
	log.Info("media node registered", "https", https, "wss", wss)
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			dir.Leave(lctx, id)
			cancel()
			return nil
		case <-t.C:
			beat()
		}
	}
}

// janusURLs derives the Janus REST and WebSocket URLs from a base URL.
func janusURLs(base string) (https, wss string, err error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("public URL %q is not an absolute URL", base)
	}
	https = u.String() + "/janus"
	ws := *u
	switch u.Scheme {
	case "https":
		ws.Scheme = "wss"
	default:
		ws.Scheme = "ws"
	}
	return https, ws.String() + "/janus", nil
}

// serve runs a dispatcher command on host.
func serve(host Host, c Command) Reply {
	switch c.Op {
	case "create":
		n, err := host.CreateRoom(c.Room, c.Number, c.Options)
		if err != nil {
			return Reply{Error: err.Error(), Exists: errors.Is(err, ErrRoomExists)}
		}
		return Reply{Number: n}
	case "destroy":
		return replyOf(host.DestroyRoom(c.Room, c.Reason))
	case "expel":
		return replyOf(host.ExpelUser(c.Room, c.User))
	case "admit":
		return replyOf(host.AdmitUser(c.Room, c.User))
	case "record":
		if c.Recording == nil {
			return Reply{Error: "record: no recording options"}
		}
		return replyOf(host.StartRecording(c.Room, *c.Recording))
	case "stopRecord":
		return replyOf(host.StopRecording(c.Room, c.User))
	}
	return Reply{Error: fmt.Sprintf("unknown command %q", c.Op)}
}

// replyOf is the reply of a command that returns nothing but an error.
func replyOf(err error) Reply {
	if err != nil {
		return Reply{Error: err.Error()}
	}
	return Reply{}
}
