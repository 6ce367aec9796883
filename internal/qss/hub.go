// Package qss is the signaling server of the seeds (QSS): the WebSocket
// protocol that apps speak for sessions, rooms, invitations, transfers and
// conference state.
//
// A Hub runs on each node and puts together the layers of signaling, each
// a package of its own, from the bottom up:
//
//   - wire: the protocol's frames (shared with the Go client);
//   - tasks: the hub's goroutines, with its root context, waited for on
//     Close;
//   - cluster: what the nodes share over the bus: the key-value state
//     (whose failed writes are logged and counted), the heartbeat, calls to
//     another node's services with typed operations;
//   - session: the WebSocket sessions, request dispatch, delivery to a
//     user's sessions wherever they are connected, the session directory;
//   - rooms: the rooms this node owns, their requests and call records;
//   - invites: invitations and transfers, which ring sessions and let
//     callees into rooms.
//
// The hub connects the bus (deliveries to a user on wac.u.<user>, calls to
// the owner of a room or invitation on wac.n.<node>, notices to every node
// on wac.all), makes the layers, starts their periodic work, and on Close
// ends the sessions and rooms and waits for every goroutine.
package qss

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/qss/cluster"
	"github.com/openwac/wac/internal/qss/invites"
	"github.com/openwac/wac/internal/qss/reachability"
	"github.com/openwac/wac/internal/qss/rooms"
	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/tasks"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// The parts other packages plug into signaling.
type (
	// Media is the media side of rooms: the dispatcher that places a room
	// on a media node.
	Media        = rooms.Media
	MediaOptions = rooms.MediaOptions
	MediaRoom    = rooms.MediaRoom
	// RecordingOptions are what a media node records a room with.
	RecordingOptions = rooms.RecordingOptions
	// ICEServer is one entry of the room object's ice list, which
	// turn.ICEServers gives.
	ICEServer = wire.ICEServer
	// Pusher reaches the phones of callees without a session.
	Pusher = invites.Pusher
)

// ErrNumberTaken is Media.CreateRoom's error when the room number asked
// for is taken on the media node.
var ErrNumberTaken = rooms.ErrNumberTaken

// Hub is the signaling server of one node.
type Hub struct {
	log *slog.Logger
	bus bus.Bus
	// cluster is this node among the others: the shared state, the
	// heartbeat, calls to the owners of rooms and invitations.
	cluster *cluster.Node
	all     bus.Subscription

	sessions *session.Server
	rooms    *rooms.Table
	invites  *invites.Table
	reach    *reachability.Resolver

	// tasks runs every goroutine of the hub, with its root context;
	// Close waits for them.
	tasks   *tasks.Group
	closing atomic.Bool
}

// Options are the parts a Hub works with.
type Options struct {
	Config *config.Config
	Log    *slog.Logger
	Store  store.Store
	Auth   *auth.Service
	// Bus connects the node; the Hub gives it its inbox.
	Bus func(inbox bus.Inbox) (bus.Bus, error)
	// Secret signs the room grants of the room objects.
	Secret []byte
	// Media places rooms on media nodes; nil = rooms have no media.
	Media Media
	// RoomNumbers gives the candidate numbers of new rooms; nil = 8 random
	// digits (tests).
	RoomNumbers func() string
	// Pusher reaches the phones of callees without a session; nil = none.
	Pusher Pusher
	// SingleNode says no other node shares the bus (bus.driver local): the
	// hub then delivers to its sessions without going through the bus.
	SingleNode bool
	// Registry receives the signaling metrics; nil = none.
	Registry prometheus.Registerer
}

// New starts a node's signaling: it connects the bus, makes the layers,
// serves the node's requests and starts its periodic work (pings,
// heartbeats, the call records, upkeep, the invitations' watchdog).
func New(opts Options) (*Hub, error) {
	cfg := opts.Config
	h := &Hub{log: opts.Log, tasks: tasks.New(context.Background())}
	b, err := opts.Bus(h.inbox)
	if err != nil {
		return nil, err
	}
	h.bus = b
	if err := h.build(opts); err != nil {
		b.Close()
		return nil, err
	}
	if h.all, err = b.Subscribe(cluster.SubjectAll); err != nil {
		b.Close()
		return nil, err
	}
	h.tasks.Every(cfg.QSS.PingInterval, h.sessions.PingAll)
	h.tasks.Every(cluster.HeartbeatEvery, func(ctx context.Context) { h.cluster.Heartbeat(ctx) })
	h.rooms.Start(h.tasks.Context())
	h.invites.Start()
	h.log.Info("qss: signaling started", "node", h.cluster.ID)
	return h, nil
}

// build makes the layers, bottom up.
func (h *Hub) build(opts Options) error {
	state, err := cluster.NewState(h.bus.KV(), h.log, opts.Registry)
	if err != nil {
		return err
	}
	if h.cluster, err = cluster.New(h.tasks.Context(), h.bus, state, h.tasks); err != nil {
		return fmt.Errorf("qss: %w", err)
	}
	h.sessions = session.New(session.Options{Config: opts.Config, Log: h.log, Auth: opts.Auth, Node: h.cluster,
		Tasks: h.tasks, SingleNode: opts.SingleNode})
	base := session.Base{Config: opts.Config, Log: h.log, Store: opts.Store, Auth: opts.Auth, Node: h.cluster,
		Tasks: h.tasks, Sessions: h.sessions}
	h.rooms, err = rooms.New(rooms.Options{Base: base, Media: opts.Media, Secret: opts.Secret, Numbers: opts.RoomNumbers,
		Ended: func(ctx context.Context, room string) { h.invites.RoomEnded(ctx, room) }})
	if err != nil {
		return err
	}
	h.reach = &reachability.Resolver{Sessions: h.sessions, Store: opts.Store, Push: opts.Pusher != nil}
	h.invites = invites.New(invites.Options{Base: base, Rooms: h.rooms, Pusher: opts.Pusher, Reach: h.reach})
	h.sessions.Use(h.rooms, h.invites)
	return nil
}

// NodeID is this node's name on the bus.
func (h *Hub) NodeID() string { return h.cluster.ID }

// Claim makes this node the one node of the cluster that does the work
// name names, unless a live node does (cluster.Node.Claim); Release gives
// it back. The sip role registers a user with the PBX from one node only.
func (h *Hub) Claim(ctx context.Context, name string) (bool, error) {
	return h.cluster.Claim(ctx, name)
}

// Release gives back a claim of Claim.
func (h *Hub) Release(ctx context.Context, name string) error { return h.cluster.Release(ctx, name) }

// Bus is the node's bus (tests use it).
func (h *Hub) Bus() bus.Bus { return h.bus }

// ServeHTTP is the /qss WebSocket endpoint (session.Server.ServeHTTP).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.sessions.ServeHTTP(w, r) }

// Sessions lists the sessions of some users (nil = everyone) from the
// shared directory.
func (h *Hub) Sessions(ctx context.Context, userIDs []string) ([]session.Info, error) {
	return h.sessions.Sessions(ctx, userIDs)
}

// EndSession closes a session wherever it runs (SAPI's DELETE).
func (h *Hub) EndSession(ctx context.Context, userID, sessionID, reason string) error {
	return h.sessions.End(ctx, userID, sessionID, reason)
}

// Upkeep destroys idle rooms, finishes the calls of nodes that are gone and
// applies call-history retention; the hub runs it every minute.
func (h *Hub) Upkeep() { h.tasks.Do(h.rooms.Upkeep) }

// MediaRoomEnded destroys a room whose media node died.
func (h *Hub) MediaRoomEnded(id, reason string) {
	h.tasks.Do(func(context.Context) { h.rooms.MediaRoomEnded(id, reason) })
}

// RecordingStopped tells a room that its recording stopped on its media
// node by itself (a storage error): the dispatcher heard it.
func (h *Hub) RecordingStopped(id, reason string) {
	h.tasks.Do(func(ctx context.Context) { h.rooms.RecordingStopped(ctx, id, reason) })
}

// inbox takes what the bus delivers to this node, one message at a time,
// as a task of the hub (dropped once the hub closed).
func (h *Hub) inbox(subject string, data []byte) {
	h.tasks.Do(func(context.Context) { h.sessions.Receive(subject, data) })
}

// Close ends every session, destroys the node's rooms, waits for every
// goroutine of the hub, and leaves the bus.
func (h *Hub) Close() error {
	if !h.closing.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.tasks.Context()), 10*time.Second)
	defer cancel()
	h.sessions.CloseAll(ctx)
	h.rooms.CloseAll(ctx)
	// The connections still open close with the root context.
	h.tasks.Close()
	h.rooms.Flush(ctx)
	h.cluster.Leave(ctx)
	h.all.Unsubscribe()
	return h.bus.Close()
}

// Reachability answers the seeds' reachability of users and groups
// (sessions and push tokens).
func (h *Hub) Reachability() *reachability.Resolver { return h.reach }
