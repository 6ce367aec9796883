// Package qss is the signaling server of the seeds (QSS): the WebSocket
// protocol that apps speak for sessions, rooms, invitations, transfers and
// conference state.
//
// A Hub runs on each node. It holds the node's sessions (WebSocket
// connections), the rooms and the invitations the node owns, and reaches
// everything else through the bus: deliveries to a user go to the subject
// wac.u.<user> (every node with a session of that user subscribes), requests
// about a room or an invitation go to the node that owns it (wac.n.<node>),
// and notices for all nodes go to wac.all. The shared key-value state says
// which node holds which session (sessions.<user>), owns which room
// (room.<id>), rings which invitation (invites.<user>) and has the user in a
// call (calls.<user>), and which nodes are alive (node.<id>).
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
	"github.com/openwac/wac/internal/qss/rooms"
	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/tasks"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// Media is the media side of rooms (rooms.Media): the dispatcher that
// places a room on a media node.
type (
	Media        = rooms.Media
	MediaOptions = rooms.MediaOptions
	MediaRoom    = rooms.MediaRoom
)

// ICEServer is one entry of the room object's ice list: the wire type,
// which turn.ICEServers gives too.
type ICEServer = wire.ICEServer

// Pusher notifies a user's devices by push when they have no live session
// (invites.basic.resolvePush). The notifications service implements it.
type Pusher interface {
	PushInvitation(ctx context.Context, userID string, invite map[string]any) error
}

// Hub is the signaling server of one node.
type Hub struct {
	cfg  *config.Config
	log  *slog.Logger
	st   store.Store
	auth *auth.Service
	bus  bus.Bus
	// cluster is this node among the others: the shared state, the
	// heartbeat, calls to the owners of rooms and invitations.
	cluster *cluster.Node
	state   *cluster.State
	node    string
	secret  []byte
	pusher  Pusher

	sessions *session.Server
	rooms    *rooms.Table
	invites  *inviteTable

	// tasks runs every goroutine of the hub, with its root context;
	// Close waits for them.
	tasks   *tasks.Group
	closing atomic.Bool
	all     bus.Subscription
}

// Options are the parts a Hub works with.
type Options struct {
	Config *config.Config
	Log    *slog.Logger
	Store  store.Store
	Auth   *auth.Service
	// Bus connects the node; the Hub gives it its inbox.
	Bus    func(inbox bus.Inbox) (bus.Bus, error)
	Secret []byte
	Media  Media
	Pusher Pusher
	// SingleNode says no other node shares the bus (bus.driver local): the
	// hub then delivers to its sessions without going through the bus.
	SingleNode bool
	// Registry receives the signaling metrics; nil = none.
	Registry prometheus.Registerer
}

// New starts a node's signaling: it connects the bus, serves the node's
// requests and starts its periodic work (pings, heartbeats, watchdog).
func New(opts Options) (*Hub, error) {
	h := &Hub{
		cfg: opts.Config, log: opts.Log, st: opts.Store, auth: opts.Auth, pusher: opts.Pusher,
		tasks: tasks.New(context.Background()),
	}
	b, err := opts.Bus(h.inbox)
	if err != nil {
		return nil, err
	}
	h.bus, h.node = b, b.NodeID()
	if h.state, err = cluster.NewState(b.KV(), h.log, opts.Registry); err != nil {
		b.Close()
		return nil, err
	}
	if h.cluster, err = cluster.New(h.ctx(), b, h.state, h.tasks); err != nil {
		b.Close()
		return nil, fmt.Errorf("qss: %w", err)
	}
	h.sessions = session.New(session.Options{Config: h.cfg, Log: h.log, Auth: h.auth, Node: h.cluster, Tasks: h.tasks,
		SingleNode: opts.SingleNode})
	h.rooms, err = rooms.New(rooms.Options{Config: h.cfg, Log: h.log, Store: h.st, Auth: h.auth, Node: h.cluster,
		Tasks: h.tasks, Sessions: h.sessions, Media: opts.Media, Secret: opts.Secret,
		Ended: func(ctx context.Context, room string) { h.invites.roomDestroyed(ctx, room) }})
	if err != nil {
		b.Close()
		return nil, err
	}
	h.invites = newInviteTable(h)
	h.sessions.Use(h.rooms, h.invites)
	h.registerHandlers()
	h.sessions.OnNotice(noticeRoomGone, h.invites.cancelRoom)
	h.cluster.Serve(serviceInvites, h.serveInvite)
	if h.all, err = b.Subscribe(cluster.SubjectAll); err != nil {
		b.Close()
		return nil, err
	}
	h.tasks.Every(time.Duration(h.cfg.QSS.PingInterval)*time.Millisecond, h.sessions.PingAll)
	h.tasks.Every(cluster.HeartbeatEvery, func(ctx context.Context) { h.cluster.Heartbeat(ctx) })
	if w := h.cfg.Watchdog.Invites; w.Enabled {
		h.tasks.Every(time.Duration(w.Period)*time.Millisecond, h.invites.watchdog)
	}
	h.rooms.Start(h.ctx())
	h.log.Info("qss: signaling started", "node", h.node)
	return h, nil
}

// NodeID is this node's name on the bus.
func (h *Hub) NodeID() string { return h.node }

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

// inbox takes what the bus delivers to this node, one message at a time,
// as a task of the hub (dropped once the hub closed).
func (h *Hub) inbox(subject string, data []byte) {
	h.tasks.Do(func(context.Context) { h.sessions.Receive(subject, data) })
}

// ctx is the hub's root context, cancelled when it closes: the context of
// the work the hub does on its own (notifications, timers, loops).
func (h *Hub) ctx() context.Context { return h.tasks.Context() }

// registerHandlers serves the requests of the invitations.
func (h *Hub) registerHandlers() {
	h.sessions.Handle("invitation", h.invites.invitation)
	h.sessions.Handle("inviteRequest", h.invites.inviteRequest)
	h.sessions.Handle("getCurrentInvitations", h.invites.currentInvitations)
	h.sessions.Handle("close", h.invites.closeCalls)
	h.sessions.Handle("transfer", h.transfer)
}

// Close ends every session, destroys the node's rooms, waits for every
// goroutine of the hub, and leaves the bus.
func (h *Hub) Close() error {
	if !h.closing.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx()), 10*time.Second)
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

// Upkeep destroys idle rooms, finishes the calls of nodes that are gone and
// applies call-history retention; the hub runs it every minute.
func (h *Hub) Upkeep() { h.tasks.Do(h.rooms.Upkeep) }

// MediaRoomEnded destroys a room whose media node died.
func (h *Hub) MediaRoomEnded(id, reason string) {
	h.tasks.Do(func(context.Context) { h.rooms.MediaRoomEnded(id, reason) })
}
