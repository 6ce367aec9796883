package placement

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"
)

// NodeInfo is a media node as the directory knows it: where clients reach
// its Janus API, and its load.
type NodeInfo struct {
	ID         string `json:"id"`
	ServerUUID string `json:"serverUuid"`
	// HTTPS and WSS are the node's Janus REST and WebSocket URLs.
	HTTPS string `json:"https"`
	WSS   string `json:"wss"`
	// Peers is the number of peer connections; Capacity what the node is
	// sized for (media.capacity).
	Peers    int `json:"peers"`
	Capacity int `json:"capacity"`
	// Rooms are the ids of the rooms the node hosts.
	Rooms []string `json:"rooms"`
	// Recording are the rooms it records, and those whose recording
	// stopped by itself (a storage error) with the error.
	Recording map[string]string `json:"recording,omitempty"`
	// Seen is when the directory stored the last heartbeat (set by the
	// directory, not by the node).
	Seen time.Time `json:"seen"`
}

// RoomOptions tune one room; zero values take the media node's
// configuration.
type RoomOptions struct {
	// Bitrate caps each published video, in kbps (media.bitrate).
	Bitrate int
	// RoomBitrate caps the sum of the room's videos, in kbps (media.roomBitrate).
	RoomBitrate int
	// Publishers bounds the room's concurrent publishers (media.publishers).
	Publishers int
	// Record starts recording the room as it is created, with Recording's
	// details.
	Record    bool              `json:"record,omitempty"`
	Recording *RecordingOptions `json:"recording,omitempty"`
	// Description is the room's pretty name in Janus answers.
	Description string
}

// RecordingOptions describe a recording to start: the room's domain,
// who started it, and who may see it (the room's ACL, user → domain).
type RecordingOptions struct {
	Domain string            `json:"domain"`
	By     string            `json:"by,omitempty"`
	Users  map[string]string `json:"users,omitempty"`
}

// ErrRoomExists is returned when creating a room whose id or number is taken.
var ErrRoomExists = errors.New("room exists")

// ErrNoSuchRoom is returned for a room a media node does not host.
var ErrNoSuchRoom = errors.New("no such room")

// Command is a request of the dispatcher to a media node.
type Command struct {
	Op      string      `json:"op"` // "create", "destroy", "expel", "admit", "record" or "stopRecord"
	Room    string      `json:"room"`
	User    string      `json:"user,omitempty"` // of expel, admit and stopRecord
	Number  int64       `json:"number,omitempty"`
	Options RoomOptions `json:"options"`
	Reason  string      `json:"reason,omitempty"`
	// Recording is what record starts.
	Recording *RecordingOptions `json:"recording,omitempty"`
}

// Reply is a media node's answer to a command.
type Reply struct {
	Number int64  `json:"number,omitempty"`
	Error  string `json:"error,omitempty"`
	// Exists is set when create failed because the id or number is taken.
	Exists bool `json:"exists,omitempty"`
}

// Directory connects the dispatcher (on signaling nodes) with the media
// nodes. LocalDirectory is the in-process one; a cluster implements it
// over its message bus. Every method waits at most until ctx ends.
type Directory interface {
	// Heartbeat registers a media node or refreshes it with its load.
	Heartbeat(ctx context.Context, n NodeInfo) error
	// Leave removes a node that stops cleanly.
	Leave(ctx context.Context, nodeID string) error
	// Nodes lists the registered nodes with the time of their last
	// heartbeat; the dispatcher decides which are alive.
	Nodes(ctx context.Context) ([]NodeInfo, error)
	// Send delivers a command to a node and returns its reply.
	Send(ctx context.Context, nodeID string, cmd Command) (Reply, error)
	// Serve answers the commands sent to nodeID with h from its return
	// on (a node registers once it answers), until stop.
	Serve(nodeID string, h func(context.Context, Command) Reply) (stop func(), err error)
}

// ErrNodeUnreachable is returned by Send for a node that serves no
// commands (gone, or not started).
var ErrNodeUnreachable = errors.New("media node unreachable")

// ErrNoMediaNode is returned by CreateRoom when no media node is alive.
var ErrNoMediaNode = errors.New("no media node available")

// LocalDirectory is a Directory inside one process: for a single node,
// and for tests that run several media nodes in one process.
type LocalDirectory struct {
	mu       sync.Mutex
	nodes    map[string]NodeInfo
	handlers map[string]func(context.Context, Command) Reply
}

// NewLocalDirectory returns an empty in-process directory.
func NewLocalDirectory() *LocalDirectory {
	return &LocalDirectory{nodes: map[string]NodeInfo{}, handlers: map[string]func(context.Context, Command) Reply{}}
}

// Heartbeat implements Directory.
func (d *LocalDirectory) Heartbeat(ctx context.Context, n NodeInfo) error {
	n.Seen = time.Now()
	n.Rooms = append([]string(nil), n.Rooms...)
	d.mu.Lock()
	d.nodes[n.ID] = n
	d.mu.Unlock()
	return ctx.Err()
}

// Leave implements Directory.
func (d *LocalDirectory) Leave(ctx context.Context, id string) error {
	d.mu.Lock()
	delete(d.nodes, id)
	d.mu.Unlock()
	return nil
}

// Nodes implements Directory.
func (d *LocalDirectory) Nodes(ctx context.Context) ([]NodeInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]NodeInfo, 0, len(d.nodes))
	for _, n := range d.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, ctx.Err()
}

// Send implements Directory.
func (d *LocalDirectory) Send(ctx context.Context, id string, cmd Command) (Reply, error) {
	d.mu.Lock()
	h := d.handlers[id]
	d.mu.Unlock()
	if h == nil {
		return Reply{}, fmt.Errorf("send %s to %s: %w", cmd.Op, id, ErrNodeUnreachable)
	}
	if err := ctx.Err(); err != nil {
		return Reply{}, err
	}
	return h(ctx, cmd), nil
}

// Serve implements Directory.
func (d *LocalDirectory) Serve(id string, h func(context.Context, Command) Reply) (func(), error) {
	d.mu.Lock()
	d.handlers[id] = h
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		delete(d.handlers, id)
		d.mu.Unlock()
	}, nil
}

// RoomInfo is where a room lives: what signaling puts in the room object
// (number, server{https,wss}, serverUuid).
type RoomInfo struct {
	ID         string     `json:"id"`
	Number     int64      `json:"number"`
	NodeID     string     `json:"nodeId"`
	Server     ServerURLs `json:"server"`
	ServerUUID string     `json:"serverUuid"`
	// Bitrate is the room's cap per video, in kbps.
	Bitrate int `json:"bitrate"`
}

// ServerURLs are the Janus API URLs of a media node.
type ServerURLs struct {
	HTTPS string `json:"https"`
	WSS   string `json:"wss"`
}

// DispatcherOptions tune a dispatcher.
type DispatcherOptions struct {
	// Timeout is how long a node may stay silent before it is dead
	// (media.nodeTimeout).
	Timeout time.Duration
	// Check is how often node liveness is checked (media.heartbeatSeconds).
	Check time.Duration
	// Bitrate is the default cap per video in kbps (media.bitrate).
	Bitrate int
	Log     *slog.Logger
}

// Dispatcher places rooms on media nodes (the least loaded live one),
// destroys them, and reports the rooms of nodes that die as ended. It is
// the seeds' SFU dispatcher.
type Dispatcher struct {
	dir  Directory
	opts DispatcherOptions
	log  *slog.Logger

	mu      sync.Mutex
	rooms   map[string]*placed
	pending map[string]int // rooms placed on a node since its last heartbeat
	ended   []func(roomID, reason string)
	recStop []func(roomID, reason string)

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type placed struct {
	info    RoomInfo
	created time.Time
	// recording is set while the room should be recording, since when.
	recording      bool
	recordingSince time.Time
}

// NewDispatcher starts a dispatcher over dir. Close stops it.
func NewDispatcher(dir Directory, opts DispatcherOptions) *Dispatcher {
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.Check <= 0 {
		opts.Check = opts.Timeout / 3
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{dir: dir, opts: opts, log: opts.Log, rooms: map[string]*placed{}, pending: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Add(1)
	go d.watch(ctx)
	return d
}

// Close stops the dispatcher's watch.
func (d *Dispatcher) Close() {
	d.cancel()
	d.wg.Wait()
}

// OnRoomEnded registers fn to hear of rooms that ended without a
// DestroyRoom: their media node died or left, or ended them itself.
func (d *Dispatcher) OnRoomEnded(fn func(roomID, reason string)) {
	d.mu.Lock()
	d.ended = append(d.ended, fn)
	d.mu.Unlock()
}

// Room returns where a room lives, if this dispatcher placed it.
func (d *Dispatcher) Room(id string) (RoomInfo, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.rooms[id]
	if !ok {
		return RoomInfo{}, false
	}
	return p.info, true
}

// alive returns the live nodes, least loaded first.
func (d *Dispatcher) alive(ctx context.Context) ([]NodeInfo, error) {
	nodes, err := d.dir.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list media nodes: %w", err)
	}
	now := time.Now()
	var live []NodeInfo
	for _, n := range nodes {
		if now.Sub(n.Seen) < d.opts.Timeout {
			live = append(live, n)
		}
	}
	d.mu.Lock()
	score := func(n NodeInfo) float64 {
		c := max(n.Capacity, 1)
		return float64(n.Peers+len(n.Rooms)+d.pending[n.ID]) / float64(c)
	}
	sort.SliceStable(live, func(i, j int) bool { return score(live[i]) < score(live[j]) })
	d.mu.Unlock()
	return live, nil
}

// CreateRoom places room id on the least loaded live media node and
// creates it there, with a number of the node's choosing. Creating a room
// that exists returns it.
func (d *Dispatcher) CreateRoom(ctx context.Context, id string, opts RoomOptions) (RoomInfo, error) {
	return d.createRoom(ctx, id, 0, opts)
}

// CreateRoomNumbered is CreateRoom with the room's number chosen by the
// caller (claimed in the cluster's state, so that no other node's room has
// it). A media node with a room of that number refuses it: ErrRoomExists,
// and the caller tries another number.
func (d *Dispatcher) CreateRoomNumbered(ctx context.Context, id string, number int64, opts RoomOptions) (RoomInfo, error) {
	if number < 10000000 || number > 99999999 {
		return RoomInfo{}, fmt.Errorf("create media room %s: number %d is not 8 digits", id, number)
	}
	return d.createRoom(ctx, id, number, opts)
}

func (d *Dispatcher) createRoom(ctx context.Context, id string, number int64, opts RoomOptions) (RoomInfo, error) {
	if id == "" {
		return RoomInfo{}, errors.New("create media room: empty room id")
	}
	if info, ok := d.Room(id); ok {
		return info, nil
	}
	nodes, err := d.alive(ctx)
	if err != nil {
		return RoomInfo{}, err
	}
	if len(nodes) == 0 {
		return RoomInfo{}, fmt.Errorf("create media room %s: %w", id, ErrNoMediaNode)
	}
	var lastErr error
	for _, n := range nodes {
		for try := 0; try < 3; try++ {
			num := number
			if num == 0 {
				r, _ := rand.Int(rand.Reader, big.NewInt(90000000))
				num = r.Int64() + 10000000
			}
			reply, err := d.dir.Send(ctx, n.ID, Command{Op: "create", Room: id, Number: num, Options: opts})
			if err != nil {
				lastErr = err
				break // next node
			}
			if reply.Exists && number != 0 {
				return RoomInfo{}, fmt.Errorf("create media room %s with number %d on %s: %w", id, number, n.ID, ErrRoomExists)
			}
			if reply.Exists {
				lastErr = errors.New(reply.Error)
				continue // another number
			}
			if reply.Error != "" {
				lastErr = errors.New(reply.Error)
				break
			}
			bitrate := opts.Bitrate
			if bitrate <= 0 {
				bitrate = d.opts.Bitrate
			}
			info := RoomInfo{ID: id, Number: reply.Number, NodeID: n.ID, ServerUUID: n.ServerUUID,
				Server: ServerURLs{HTTPS: n.HTTPS, WSS: n.WSS}, Bitrate: bitrate}
			d.mu.Lock()
			d.rooms[id] = &placed{info: info, created: time.Now(), recording: opts.Record, recordingSince: time.Now()}
			d.pending[n.ID]++
			d.mu.Unlock()
			d.log.Info("media room placed", "room", id, "number", info.Number, "media_node", n.ID)
			return info, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return RoomInfo{}, fmt.Errorf("create media room %s: %w", id, lastErr)
}

// DestroyRoom destroys a room on its media node. A room this dispatcher
// does not know is not an error.
func (d *Dispatcher) DestroyRoom(ctx context.Context, id string) error {
	d.mu.Lock()
	p, ok := d.rooms[id]
	delete(d.rooms, id)
	d.mu.Unlock()
	if !ok {
		return nil
	}
	reply, err := d.dir.Send(ctx, p.info.NodeID, Command{Op: "destroy", Room: id, Reason: "destroyed by signaling"})
	if err != nil {
		return fmt.Errorf("destroy media room %s on %s: %w", id, p.info.NodeID, err)
	}
	if reply.Error != "" && !strings.Contains(reply.Error, ErrNoSuchRoom.Error()) {
		return fmt.Errorf("destroy media room %s on %s: %s", id, p.info.NodeID, reply.Error)
	}
	return nil
}

// ExpelUser ends a user's media in a room this dispatcher placed and
// refuses the user's room grants there until AdmitUser: signaling expelled
// the user.
func (d *Dispatcher) ExpelUser(ctx context.Context, room, user string) error {
	return d.userCommand(ctx, "expel", room, user)
}

// AdmitUser lets an expelled user's grants into the room again (the user
// is back in its ACL).
func (d *Dispatcher) AdmitUser(ctx context.Context, room, user string) error {
	return d.userCommand(ctx, "admit", room, user)
}

func (d *Dispatcher) userCommand(ctx context.Context, op, room, user string) error {
	d.mu.Lock()
	p, ok := d.rooms[room]
	d.mu.Unlock()
	if !ok {
		return nil // a room without media
	}
	reply, err := d.dir.Send(ctx, p.info.NodeID, Command{Op: op, Room: room, User: user})
	if err != nil {
		return fmt.Errorf("%s %s in media room %s on %s: %w", op, user, room, p.info.NodeID, err)
	}
	if reply.Error != "" {
		return fmt.Errorf("%s %s in media room %s on %s: %s", op, user, room, p.info.NodeID, reply.Error)
	}
	return nil
}

// watch checks node liveness and room lists every Check.
func (d *Dispatcher) watch(ctx context.Context) {
	defer d.wg.Done()
	t := time.NewTicker(d.opts.Check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.check(ctx)
		}
	}
}

// check reports as ended the rooms on nodes that are dead or gone, and the
// rooms a live node no longer hosts.
func (d *Dispatcher) check(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, d.opts.Check)
	defer cancel()
	nodes, err := d.dir.Nodes(cctx)
	if err != nil {
		d.log.Warn("cannot list media nodes", "err", err)
		return
	}
	now := time.Now()
	byID := map[string]NodeInfo{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	type end struct{ room, reason string }
	var ends []end
	d.mu.Lock()
	for id, p := range d.rooms {
		n, ok := byID[p.info.NodeID]
		switch {
		case !ok:
			ends = append(ends, end{id, "media node left"})
		case now.Sub(n.Seen) >= d.opts.Timeout:
			ends = append(ends, end{id, "media node died"})
		case n.Seen.After(p.created.Add(2*d.opts.Check)) && !contains(n.Rooms, id):
			ends = append(ends, end{id, "room closed on the media node"})
		}
	}
	for _, e := range ends {
		delete(d.rooms, e.room)
	}
	for id, n := range byID {
		if n.Seen.After(now.Add(-d.opts.Check)) {
			d.pending[id] = 0 // a fresh heartbeat counts the rooms
		}
	}
	fns := append([]func(string, string){}, d.ended...)
	recStops := d.recordingStopsLocked(byID)
	recFns := append([]func(string, string){}, d.recStop...)
	d.mu.Unlock()
	for _, e := range ends {
		d.log.Warn("media room ended", "room", e.room, "reason", e.reason)
		for _, fn := range fns {
			fn(e.room, e.reason)
		}
	}
	for _, e := range recStops {
		d.log.Warn("media room recording stopped", "room", e[0], "reason", e[1])
		for _, fn := range recFns {
			fn(e[0], e[1])
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
