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
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/qss/cluster"
	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/tasks"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// Media is the media side of rooms: the dispatcher that places a room on a
// media node. Nil means rooms have no media server.
type Media interface {
	CreateRoom(ctx context.Context, id string, opts MediaOptions) (MediaRoom, error)
	DestroyRoom(ctx context.Context, id string) error
	// ExpelUser ends a user's media in a room and refuses the user's room
	// grants there until AdmitUser.
	ExpelUser(ctx context.Context, room, user string) error
	AdmitUser(ctx context.Context, room, user string) error
	// ICEServers are the STUN/TURN servers (with credentials) for a user.
	ICEServers(userID string) []ICEServer
}

// MediaOptions are what a media room is created with.
type MediaOptions struct {
	Bitrate int // kbps per video
	Record  bool
}

// MediaRoom is where a room's media lives.
type MediaRoom struct {
	Number     string // the numeric media room id
	ServerUUID string
	HTTPS      string // Janus HTTP endpoint
	WSS        string // Janus WebSocket endpoint
}

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
	media   Media
	pusher  Pusher

	quickURI *regexp.Regexp

	sessions *session.Server
	rooms    *roomTable
	invites  *inviteTable
	calls    *callWriter

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
		cfg: opts.Config, log: opts.Log, st: opts.Store, auth: opts.Auth, secret: opts.Secret,
		media: opts.Media, pusher: opts.Pusher,
		tasks: tasks.New(context.Background()),
	}
	var err error
	if h.quickURI, err = regexp.Compile(h.cfg.QuickConference.URIRegex); err != nil {
		return nil, fmt.Errorf("config key quickConference.uriRegex: %w", err)
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
	if h.cluster, err = cluster.New(h.ctx(), b, h.state); err != nil {
		b.Close()
		return nil, fmt.Errorf("qss: %w", err)
	}
	h.sessions = session.New(session.Options{Config: h.cfg, Log: h.log, Auth: h.auth, Node: h.cluster, Tasks: h.tasks,
		SingleNode: opts.SingleNode})
	h.rooms = newRoomTable(h)
	h.invites = newInviteTable(h)
	h.calls = newCallWriter(h)
	h.sessions.Use(h.rooms, h.invites)
	h.registerHandlers()
	h.sessions.OnNotice(noticeRoomGone, h.invites.cancelRoom)
	h.cluster.Serve(serviceRooms, h.tracked(h.serveRoom))
	h.cluster.Serve(serviceInvites, h.tracked(h.serveInvite))
	if h.all, err = b.Subscribe(cluster.SubjectAll); err != nil {
		b.Close()
		return nil, err
	}
	h.tasks.Every(time.Duration(h.cfg.QSS.PingInterval)*time.Millisecond, h.sessions.PingAll)
	h.tasks.Every(cluster.HeartbeatEvery, func(ctx context.Context) { h.cluster.Heartbeat(ctx) })
	h.tasks.Every(time.Minute, func(context.Context) { h.rooms.sweepOwners() })
	h.tasks.Go(h.calls.run)
	if w := h.cfg.Watchdog.Invites; w.Enabled {
		h.tasks.Every(time.Duration(w.Period)*time.Millisecond, h.invites.watchdog)
	}
	h.tasks.Every(time.Minute, h.upkeep)
	// The calls an earlier run left unfinished, before this node has rooms
	// of its own (with a fixed bus.nodeId, the earlier run had this id).
	ctx, cancel := context.WithTimeout(h.ctx(), 30*time.Second)
	h.finishDeadCalls(ctx, true)
	cancel()
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

// errClosed refuses the work other goroutines bring once the hub closed.
var errClosed = errors.New("qss: the signaling hub is closed")

// tracked runs a service of the node as a task of the hub: Close waits for
// it, and refuses it once the hub closed.
func (h *Hub) tracked(fn cluster.Service) cluster.Service {
	return func(ctx context.Context, req json.RawMessage) (out any, err error) {
		err = errClosed
		h.tasks.Do(func(context.Context) { out, err = fn(ctx, req) })
		return out, err
	}
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
	h.rooms.closeAll(ctx)
	// The connections still open close with the root context.
	h.tasks.Close()
	h.calls.flush(ctx)
	h.cluster.Leave(ctx)
	h.all.Unsubscribe()
	return h.bus.Close()
}

// finishDeadCalls marks finished the call records of the nodes that are
// gone: a node that died (or an earlier run of this one, whose node id was
// another) took its rooms with it, and the call history would otherwise
// show those calls as still going on. The finish time is when this was
// noticed. A node that was only cut off writes its records again on its
// next change, unfinished. At start (starting), this node's own id counts
// as gone too: it holds no room yet.
func (h *Hub) finishDeadCalls(ctx context.Context, starting bool) {
	nodes, err := h.st.UnfinishedCallNodes(ctx)
	if err != nil {
		h.log.Warn("qss: list the nodes of unfinished calls", "err", err)
		return
	}
	for _, node := range nodes {
		if (node != h.node || !starting) && h.cluster.Alive(ctx, node) {
			continue
		}
		n, err := h.st.FinishNodeCalls(ctx, node, time.Now().UnixMilli())
		if err != nil {
			h.log.Warn("qss: finish the calls of a node that is gone", "node", node, "err", err)
			continue
		}
		if n > 0 {
			h.log.Info("qss: finished the calls of a node that is gone", "node", node, "calls", n)
		}
	}
}

// Upkeep destroys idle rooms, finishes the calls of nodes that are gone and
// applies call-history retention; the hub runs it every minute.
func (h *Hub) Upkeep() { h.tasks.Do(h.upkeep) }

func (h *Hub) upkeep(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if h.cfg.Rooms.IdleTimeout > 0 {
		h.rooms.destroyIdle(ctx, time.Duration(h.cfg.Rooms.IdleTimeout)*time.Millisecond)
	}
	h.finishDeadCalls(ctx, false)
	if d := h.cfg.CallHistoryDays; d > 0 {
		before := time.Now().Add(-time.Duration(d) * 24 * time.Hour).UnixMilli()
		if n, err := h.st.DeleteCallsFinishedBefore(ctx, before); err != nil {
			h.log.Warn("qss: call history retention", "err", err)
		} else if n > 0 {
			h.log.Info("qss: removed old calls from the history", "count", n, "callHistoryDays", d)
		}
	}
}
