// Package cluster is what the signaling layers of a node share with the
// other nodes: the live state in the bus's key-value store (State, whose
// failed writes are logged and counted), which nodes are alive (the
// heartbeat), the subjects deliveries travel on, and calls to a service of
// another node (the owner of a room or an invitation) with typed
// operations that cross the bus as a kind and their JSON (Ops).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/qss/tasks"
	"github.com/openwac/wac/internal/qss/wire"
)

// Subjects: what every node hears, what one node serves, and what the
// nodes holding a user's sessions hear.
const (
	SubjectAll  = "wac.all"
	userPrefix  = "wac.u."
	nodePrefix  = "wac.n."
	nodeKeyBase = "node."
)

// UserSubject is the subject of a user's deliveries.
func UserSubject(user string) string { return userPrefix + user }

// UserOfSubject is the user a user subject is of.
func UserOfSubject(subject string) (string, bool) { return strings.CutPrefix(subject, userPrefix) }

// Liveness: a node writes its key every HeartbeatEvery; one silent for
// AliveWithin is gone.
const (
	HeartbeatEvery = 2 * time.Second
	AliveWithin    = 10 * time.Second
)

// Node is this node in the cluster: its id, its bus, the shared state, and
// the services it answers for the others.
type Node struct {
	ID    string
	Bus   bus.Bus
	State *State

	tasks    *tasks.Group
	mu       sync.RWMutex
	services map[string]Service
	sub      bus.Subscription
}

// Service answers one kind of call another node makes of this one (an
// operation on a room this node owns). A *wire.Cancel it returns reaches
// the caller as the same refusal.
type Service func(ctx context.Context, req json.RawMessage) (any, error)

// New joins the cluster as the bus's node: it answers the calls of other
// nodes (Serve adds the services), each as a task of g (refused once g
// closed), and marks the node alive.
func New(ctx context.Context, b bus.Bus, state *State, g *tasks.Group) (*Node, error) {
	n := &Node{ID: b.NodeID(), Bus: b, State: state, tasks: g, services: map[string]Service{}}
	sub, err := b.Serve(nodePrefix+n.ID, n.serve)
	if err != nil {
		return nil, fmt.Errorf("serve the node's calls: %w", err)
	}
	n.sub = sub
	if err := n.Heartbeat(ctx); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("register node: %w", err)
	}
	return n, nil
}

// Leave stops answering calls and removes the node's heartbeat.
func (n *Node) Leave(ctx context.Context) {
	n.sub.Unsubscribe()
	n.State.Delete(ctx, nodeKeyBase+n.ID)
}

// Heartbeat marks the node alive.
func (n *Node) Heartbeat(ctx context.Context) error {
	return n.State.Put(ctx, nodeKeyBase+n.ID, strconv.AppendInt(nil, time.Now().UnixMilli(), 10))
}

// Alive reports whether node sent a heartbeat within AliveWithin.
func (n *Node) Alive(ctx context.Context, node string) bool {
	if node == n.ID {
		return true
	}
	v, _, err := n.State.Get(ctx, nodeKeyBase+node)
	if err != nil {
		return false
	}
	ms, _ := strconv.ParseInt(string(v), 10, 64)
	return time.Since(time.UnixMilli(ms)) < AliveWithin
}

// Serve answers the calls of service with fn.
func (n *Node) Serve(service string, fn Service) {
	n.mu.Lock()
	n.services[service] = fn
	n.mu.Unlock()
}

// call is a call to a service of another node; reply its answer.
type call struct {
	Service string          `json:"s"`
	Request json.RawMessage `json:"r"`
}

type reply struct {
	OK     json.RawMessage `json:"ok,omitempty"`
	Code   int             `json:"code,omitempty"`
	Reason string          `json:"reason,omitempty"`
}

// callTimeout bounds a call to another node.
const callTimeout = 10 * time.Second

// Call runs req on the service of another node and returns its answer's
// JSON. A refusal there comes back as the same *wire.Cancel.
func (n *Node) Call(ctx context.Context, node, service string, req any) (json.RawMessage, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode a call of %s: %w", service, err)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	raw, err := n.Bus.Request(ctx, nodePrefix+node, wire.Encode(call{Service: service, Request: body}))
	if err != nil {
		return nil, fmt.Errorf("ask node %s: %w", node, err)
	}
	var r reply
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("answer of node %s: %w", node, err)
	}
	if r.Code != 0 {
		return nil, &wire.Cancel{Code: r.Code, Message: r.Reason}
	}
	return r.OK, nil
}

// errClosed refuses the calls that come once the node's tasks closed.
var errClosed = errors.New("qss: the node is closing")

// serve answers another node's call as a task.
func (n *Node) serve(ctx context.Context, data []byte) (out []byte, err error) {
	err = errClosed
	n.tasks.Do(func(context.Context) { out, err = n.answer(ctx, data) })
	return out, err
}

func (n *Node) answer(ctx context.Context, data []byte) ([]byte, error) {
	var c call
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("bad request: %w", err)
	}
	n.mu.RLock()
	fn := n.services[c.Service]
	n.mu.RUnlock()
	if fn == nil {
		return nil, fmt.Errorf("unknown node service %q", c.Service)
	}
	out, err := fn(ctx, c.Request)
	var refused *wire.Cancel
	if errors.As(err, &refused) {
		return wire.Encode(reply{Code: refused.Code, Reason: refused.Message}), nil
	}
	if err != nil {
		return nil, err
	}
	ok, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode the answer of %s: %w", c.Service, err)
	}
	return wire.Encode(reply{OK: ok}), nil
}

// claimKeyBase prefixes the keys of Claim; a key's value is the node that
// holds the claim, empty once released.
const claimKeyBase = "claim."

// Claim makes this node the one node of the cluster that does the work
// named by name (as registering a user with a PBX), unless a live node
// already does: true = this node holds the claim. The holder gives it
// back with Release; one held by a node that stopped beating
// (AliveWithin) is taken over. Every change is a compare-and-set, so two
// nodes claiming at once get one holder.
func (n *Node) Claim(ctx context.Context, name string) (bool, error) {
	key := claimKeyBase + name
	err := n.State.Create(ctx, key, []byte(n.ID))
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, bus.ErrExists) {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	v, rev, err := n.State.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	holder := string(v)
	if holder == n.ID {
		return true, nil
	}
	if holder != "" && n.Alive(ctx, holder) {
		return false, nil
	}
	err = n.State.Update(ctx, key, []byte(n.ID), rev)
	if errors.Is(err, bus.ErrConflict) {
		return false, nil // another node took it first, or the holder beat again
	}
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	return true, nil
}

// Release gives back a claim this node holds (nothing when another node
// holds it).
func (n *Node) Release(ctx context.Context, name string) error {
	key := claimKeyBase + name
	v, rev, err := n.State.Get(ctx, key)
	if errors.Is(err, bus.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", key, err)
	}
	if string(v) != n.ID {
		return nil
	}
	if err := n.State.Update(ctx, key, nil, rev); err != nil && !errors.Is(err, bus.ErrConflict) {
		return fmt.Errorf("release %s: %w", key, err)
	}
	return nil
}
