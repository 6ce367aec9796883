package invites

import (
	"context"
	"fmt"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/qss/cluster"
	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/wire"
)

// An inviteOp is an operation on an invitation, run by the node that owns
// the invitation (its caller's). Each operation is a type of its own;
// between nodes it travels as its kind and its JSON (inviteOps) in an
// inviteMsg.
type inviteOp interface {
	// run applies the operation to inv, which still rings and whose lock
	// is held, for by; it returns the JSON of the answer.
	run(ctx context.Context, t *Table, inv *invite, by session.User) (json.RawMessage, error)
}

// serviceInvites is the service of a node that runs the operations on
// the invitations it owns.
const serviceInvites = "invites"

// inviteOps names the invitation operations on the bus.
var inviteOps = cluster.NewOps(serviceInvites, map[string]inviteOp{
	"accept":        (*acceptOp)(nil),
	"decline":       (*declineOp)(nil),
	"addCandidate":  (*addCandidateOp)(nil),
	"candidateGone": (*candidateGoneOp)(nil),
	"dropUser":      (*dropUserOp)(nil),
	"current":       (*currentOp)(nil),
})

// inviteMsg is an invitation operation on its way to the invitation's
// owner node.
type inviteMsg struct {
	Invite string          `json:"invite"`
	User   session.User    `json:"user"`
	Kind   string          `json:"kind"`
	Op     json.RawMessage `json:"op"`
}

// noAnswer is the answer of an operation that has nothing to say.
var noAnswer = json.RawMessage(`{}`)

// serve runs another node's operation on an invitation this node owns.
func (t *Table) serve(ctx context.Context, req json.RawMessage) (any, error) {
	var m inviteMsg
	if err := json.Unmarshal(req, &m); err != nil {
		return nil, fmt.Errorf("bad invitation operation: %w", err)
	}
	op, err := inviteOps.Decode(m.Kind, m.Op)
	if err != nil {
		return nil, err
	}
	return t.apply(ctx, m.Invite, m.User, op)
}

// call runs op for by on the invitation id that owner owns: in place when
// it is this node, over the bus otherwise.
func (t *Table) call(ctx context.Context, owner, id string, by session.User, op inviteOp) (json.RawMessage, error) {
	if owner == t.Node.ID {
		return t.apply(ctx, id, by, op)
	}
	kind, body, err := inviteOps.Encode(op)
	if err != nil {
		return nil, err
	}
	return t.Node.Call(ctx, owner, serviceInvites, inviteMsg{Invite: id, User: by, Kind: kind, Op: body})
}

// apply runs an operation on an invitation this node owns. An answer to
// an invitation that no longer rings is refused (487); the other
// operations have nothing to do then.
func (t *Table) apply(ctx context.Context, id string, by session.User, op inviteOp) (json.RawMessage, error) {
	t.mu.Lock()
	inv := t.invites[id]
	t.mu.Unlock()
	_, answer := op.(interface{ answers() })
	if inv == nil {
		if answer {
			return nil, wire.Refuse(487, "the invitation is over")
		}
		return noAnswer, nil
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.state != stateRinging {
		if answer {
			return nil, wire.Refuse(487, "the invitation is over (%s)", inv.state)
		}
		return noAnswer, nil
	}
	return op.run(ctx, t, inv, by)
}

// acceptOp is the callee's session accepting the invitation; the answer to
// an inviteRequest names the Room the caller is invited into.
type acceptOp struct {
	Session string `json:"session"`
	Room    string `json:"room,omitempty"`
}

func (*acceptOp) answers() {}

func (o *acceptOp) run(ctx context.Context, t *Table, inv *invite, by session.User) (json.RawMessage, error) {
	c := inv.candidates[o.Session]
	if c == nil || c.state != stateRinging {
		return nil, wire.Refuse(487, "the invitation is not ringing on this session")
	}
	t.Log.Debug(fmt.Sprintf("accept peerId(%s), from(%s), inviteId(%s)", o.Session, by.ID, inv.id))
	room := inv.room
	if inv.kind == "inviteRequest" {
		if o.Room == "" {
			return nil, wire.Refuse(400, `the answer to an inviteRequest needs payload.room`)
		}
		room = o.Room
		if err := t.rooms.Admit(ctx, room, by, []session.User{inv.caller}, inv.id); err != nil {
			return nil, err
		}
		inv.room = room
	}
	if inv.kind == kindAttended {
		room = inv.room
	}
	c.state = stateAccepted
	t.Log.Debug(fmt.Sprintf("Notifying that invite %s for room %s was accepted by %s", inv.id, room, by.ID))
	t.finishLocked(ctx, inv, stateAccepted, 200, "answered elsewhere", o.Session)
	out := outcomeFrame{Answer: inv.outcome, RequestID: inv.reqID, From: by.ID, WhoAccepted: by.ID, Session: o.Session}
	if inv.kind == "inviteRequest" {
		if info, err := t.rooms.Member(ctx, room, inv.caller); err == nil {
			out.Payload = t.rooms.Object(info, inv.caller.ID, inv.callerSession)
		}
	}
	t.sendCaller(inv, wire.Encode(out))
	t.notifyCaller(inv, stateAccepted, 200)
	t.record(ctx, inv, stateAccepted, 200, by.ID)
	if plan := inv.transfer; plan != nil {
		t.Tasks.Go(func(ctx context.Context) { t.transferAccepted(ctx, plan, by) })
	}
	if id := inv.id; t.Config.Invites.OnlyOneDeviceWithInvitations {
		t.Tasks.Go(func(ctx context.Context) { t.stopOtherInvites(ctx, by, id) })
	}
	return noAnswer, nil
}

// declineOp is the callee's session declining the invitation with a SIP
// code (one of validDecline).
type declineOp struct {
	Session string `json:"session"`
	Code    int    `json:"code"`
}

func (*declineOp) answers() {}

func (o *declineOp) run(ctx context.Context, t *Table, inv *invite, by session.User) (json.RawMessage, error) {
	c := inv.candidates[o.Session]
	if c == nil || c.state != stateRinging {
		return nil, wire.Refuse(487, "the invitation is not ringing on this session")
	}
	t.Log.Debug(fmt.Sprintf("decline peerId(%s), from(%s), inviteId(%s), errorCode(%d)", o.Session, by.ID, inv.id, o.Code))
	c.state, c.code = stateDeclined, o.Code
	t.settleLocked(ctx, inv)
	return noAnswer, nil
}

// addCandidateOp rings a session of a callee that connected (or resumed)
// while the invitation rings.
type addCandidateOp struct {
	Session string `json:"session"`
}

func (o *addCandidateOp) run(ctx context.Context, t *Table, inv *invite, by session.User) (json.RawMessage, error) {
	if _, ok := inv.targets[by.ID]; ok && !inv.busy(by.ID) {
		t.ringLocked(ctx, inv, by.ID, o.Session)
	}
	return noAnswer, nil
}

// candidateGoneOp says a ringing session went away (or stayed away too
// long): it no longer rings.
type candidateGoneOp struct {
	Session string `json:"session"`
}

func (o *candidateGoneOp) run(ctx context.Context, t *Table, inv *invite, _ session.User) (json.RawMessage, error) {
	c := inv.candidates[o.Session]
	if c != nil && c.state == stateRinging {
		c.state = stateGone
		t.Log.Debug("onPeerDisconnected will remove as candidate from", "invite", inv.id, "session", o.Session)
		t.settleLocked(ctx, inv)
	}
	return noAnswer, nil
}

// dropUserOp stops ringing the user, who answered another call and is
// busy for this one (onlyOneDeviceWithInvitations).
type dropUserOp struct{}

func (*dropUserOp) run(ctx context.Context, t *Table, inv *invite, by session.User) (json.RawMessage, error) {
	for _, c := range inv.candidates {
		if c.user == by.ID && c.state == stateRinging {
			c.state = stateBusy
			t.stopCandidate(inv, c, 200, "answered another call")
		}
	}
	t.Node.State.SetDelete(ctx, invitesKey(by.ID), inv.id)
	t.settleLocked(ctx, inv)
	return noAnswer, nil
}

// currentOp asks for the request of the invitation that rings Session now
// (a current; an empty object when it does not ring it).
type currentOp struct {
	Session string `json:"session"`
}

func (o *currentOp) run(ctx context.Context, t *Table, inv *invite, _ session.User) (json.RawMessage, error) {
	c := inv.candidates[o.Session]
	if c == nil || c.state != stateRinging {
		return noAnswer, nil
	}
	frame, err := t.frameLocked(ctx, inv, c.user, o.Session)
	if err != nil {
		return nil, err
	}
	return json.Marshal(current{Created: inv.created.UnixNano(), Invite: inv.id, Frame: frame})
}
