package rooms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/qss/cluster"
	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// A roomOp is an operation on a room, run by the node that owns the room.
// Each operation is a type of its own; between nodes it travels as its
// kind and its JSON (roomOps) in a roomMsg.
type roomOp interface {
	// run applies the operation to r, whose lock is held, for by (admin:
	// by has admin rights over the room, or the server asks). It returns
	// the result and what to send once the lock is released.
	run(ctx context.Context, t *Table, r *room, by session.User, admin bool) (any, []func(), error)
}

// serviceRooms is the service of a node that runs the operations on the
// rooms it owns.
const serviceRooms = "rooms"

// roomOps names the room operations on the bus.
var roomOps = cluster.NewOps(serviceRooms, map[string]roomOp{
	"get":              (*getOp)(nil),
	"member":           (*memberOp)(nil),
	"join":             (*joinOp)(nil),
	"leave":            (*leaveOp)(nil),
	"update":           (*updateOp)(nil),
	"expel":            (*expelOp)(nil),
	"aclAdd":           (*aclAddOp)(nil),
	"aclRemove":        (*aclRemoveOp)(nil),
	"hold":             (*holdOp)(nil),
	"mute":             (*muteOp)(nil),
	"dtmf":             (*dtmfOp)(nil),
	"sendDTMF":         (*sendDTMFOp)(nil),
	"destroy":          (*destroyOp)(nil),
	"recordInvite":     (*recordInviteOp)(nil),
	"recordTransfer":   (*recordTransferOp)(nil),
	"record":           (*recordOp)(nil),
	"recordingStopped": (*recordingStoppedOp)(nil),
})

// inviteCompleted is the state of an invitation whose callee joined, in the
// call record.
const inviteCompleted = "completed"

// actor is who asks for a room operation: a user, or the server itself
// (System: a room event, a transfer's bookkeeping), with no user's rights
// to check. Only nodes put operations on the bus, so clients cannot claim
// System.
type actor struct {
	User   session.User
	System bool
}

// serverActor is the server acting on its own behalf.
var serverActor = actor{System: true}

// roomMsg is a room operation on its way to the room's owner node.
type roomMsg struct {
	Room   string          `json:"room"`
	User   session.User    `json:"user"`
	System bool            `json:"system,omitempty"`
	Kind   string          `json:"kind"`
	Op     json.RawMessage `json:"op"`
}

// serve runs another node's operation on a room this node owns.
func (t *Table) serve(ctx context.Context, req json.RawMessage) (any, error) {
	var m roomMsg
	if err := json.Unmarshal(req, &m); err != nil {
		return nil, fmt.Errorf("bad room operation: %w", err)
	}
	op, err := roomOps.Decode(m.Kind, m.Op)
	if err != nil {
		return nil, err
	}
	return t.apply(ctx, m.Room, actor{User: m.User, System: m.System}, op)
}

// call runs op on the room's owner node for by. On this node its result
// is handed over as it is (res); from another node it comes as JSON (raw).
func (t *Table) call(ctx context.Context, id string, by actor, op roomOp) (res any, raw json.RawMessage, err error) {
	if id == "" {
		return nil, nil, wire.Refuse(400, `field "room" is required`)
	}
	t.mu.Lock()
	_, local := t.rooms[id]
	t.mu.Unlock()
	if !local {
		owner, err := t.owner(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		// A room claimed here but gone is answered by apply (404).
		if owner != t.Node.ID {
			return t.callOwner(ctx, owner, id, by, op)
		}
	}
	res, err = t.apply(ctx, id, by, op)
	return res, nil, err
}

// callOwner runs op on the room of another node.
func (t *Table) callOwner(ctx context.Context, owner, id string, by actor, op roomOp) (any, json.RawMessage, error) {
	kind, body, err := roomOps.Encode(op)
	if err != nil {
		return nil, nil, err
	}
	raw, err := t.Node.Call(ctx, owner, serviceRooms, roomMsg{Room: id, User: by.User, System: by.System, Kind: kind, Op: body})
	var c *wire.Cancel
	if err != nil && (!errors.As(err, &c) || c.Code == 404) {
		// The room is gone, or its node does not answer: look its owner
		// up again next time.
		t.owners.Delete(id)
	}
	return nil, raw, err
}

// do runs op on the room for by, without its result.
func (t *Table) do(ctx context.Context, id string, by actor, op roomOp) error {
	_, _, err := t.call(ctx, id, by, op)
	return err
}

// ask runs op on the room for by and returns its result, an *R.
func ask[R any](ctx context.Context, t *Table, id string, by actor, op roomOp) (*R, error) {
	res, raw, err := t.call(ctx, id, by, op)
	if err != nil {
		return nil, err
	}
	if raw != nil {
		out := new(R)
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("the answer of room %s: %w", id, err)
		}
		return out, nil
	}
	out, ok := res.(*R)
	if !ok {
		return nil, fmt.Errorf("qss: room operation %T answered %T, not %T", op, res, out)
	}
	return out, nil
}

// apply runs an operation on a room this node owns and returns its result.
func (t *Table) apply(ctx context.Context, id string, by actor, op roomOp) (any, error) {
	t.mu.Lock()
	r := t.rooms[id]
	t.mu.Unlock()
	if r == nil {
		return nil, wire.Refuse(404, "room %s not found", wire.Truncate(id, 80))
	}
	// Whether the caller administers the room is known before the room is
	// locked: it may read the domain hierarchy (cached) from the store.
	admin := by.System || t.administers(ctx, by.User, r.domainID)
	r.mu.Lock()
	if r.destroyed {
		r.mu.Unlock()
		return nil, wire.Refuse(404, "room %s not found", wire.Truncate(id, 80))
	}
	out, notify, err := op.run(ctx, t, r, by.User, admin)
	r.mu.Unlock()
	for _, fn := range notify {
		fn()
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// getOp reads the room with its participants' details (*Info).
type getOp struct{}

func (*getOp) run(_ context.Context, _ *Table, r *room, by session.User, admin bool) (any, []func(), error) {
	if !r.inACL[by.ID] && !admin {
		return nil, nil, errNotInACL()
	}
	info := r.info(true)
	return &info, nil, nil
}

// memberOp reads the room (*Info) for a user of its ACL.
type memberOp struct{}

func (*memberOp) run(_ context.Context, _ *Table, r *room, by session.User, _ bool) (any, []func(), error) {
	if !r.inACL[by.ID] {
		return nil, nil, errNotInACL()
	}
	info := r.info(false)
	return &info, nil, nil
}

// joinOp joins a session of the user to the room and answers its room
// object (*Object).
type joinOp struct {
	Session string `json:"session"`
}

func (o *joinOp) run(ctx context.Context, t *Table, r *room, u session.User, _ bool) (any, []func(), error) {
	if !r.inACL[u.ID] {
		if r.quickURI == "" || isMeeting(r.quickURI) {
			return nil, nil, errNotInACL()
		}
		r.addACL(u) // a quick conference is open to whoever knows its URI
	}
	p := r.participants[u.ID]
	if p == nil {
		if len(r.participants) >= r.limit {
			return nil, nil, wire.Refuse(486, "the room is full (participantsLimit %d)", r.limit)
		}
		p = &participant{user: u, sessions: map[string]int64{}, joined: time.Now().UnixMilli()}
		r.participants[u.ID] = p
		r.order = append(r.order, u.ID)
	}
	if _, again := p.sessions[o.Session]; again {
		info := r.info(false)
		return t.Object(&info, u.ID, o.Session), nil, nil
	}
	now := time.Now().UnixMilli()
	p.sessions[o.Session] = now
	r.users[u.ID] = u.DomainID
	r.call.Detail.Participants = append(r.call.Detail.Participants, store.CallParticipant{User: u.ID, Session: o.Session, Joined: now})
	t.calls.save(r.snapshotCall())
	t.Node.State.SetPut(ctx, callsKey(u.ID), r.id, t.Node.ID)
	t.Log.Info("user "+u.Username+" joined the room "+r.id, "room", r.id, "session", o.Session)
	added := wire.EventFrame("participantAdded", map[string]any{"room": r.id, "participant": Participant{
		ID: u.ID, Username: u.Username, Domain: u.Domain, Sessions: []string{o.Session}, Joined: now}})
	notify := []func(){r.broadcast(t, added, u.ID), r.broadcast(t, r.remoteParticipants(), "")}
	if inv := r.invited[u.ID]; inv != "" {
		// The invited user came: the invitation is complete (INVITE_COMPLETED).
		delete(r.invited, u.ID)
		for i := range r.call.Detail.Invites {
			if e := &r.call.Detail.Invites[i]; e.ID == inv {
				e.State = inviteCompleted
			}
		}
		t.Log.Debug("INVITE_COMPLETED will be notified", "invite", inv, "room", r.id)
		done := wire.EventFrame("inviteCompleted", map[string]any{"room": r.id, "invite": inv, "user": u.ID})
		notify = append(notify, r.broadcast(t, done, ""))
	}
	info := r.info(false)
	return t.Object(&info, u.ID, o.Session), notify, nil
}

// leaveOp takes a session of the user (all of them when Session is empty)
// out of the room, with a SIP code (200 when 0) and a reason.
type leaveOp struct {
	Session string `json:"session,omitempty"`
	Code    int    `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

func (o *leaveOp) run(ctx context.Context, t *Table, r *room, u session.User, _ bool) (any, []func(), error) {
	p := r.participants[u.ID]
	if p == nil || o.Session != "" && p.sessions[o.Session] == 0 {
		if !r.inACL[u.ID] {
			return nil, nil, errNotInACL()
		}
		if p == nil && r.owner == u.ID {
			// The owner stays in the ACL of the room, in or out.
			return nil, nil, wire.Refuse(403, "user is not in the room")
		}
		if p == nil {
			// In the ACL but not joined: leaving declines the room for good.
			r.removeACL(u.ID)
			return struct{}{}, nil, nil
		}
		return nil, nil, wire.Refuse(403, "this session is not in the room")
	}
	code := o.Code
	if code == 0 {
		code = 200
	}
	now := time.Now().UnixMilli()
	sessions := []string{o.Session}
	if o.Session == "" {
		sessions = keys(p.sessions)
	}
	for _, sid := range sessions {
		delete(p.sessions, sid)
		for i := len(r.call.Detail.Participants) - 1; i >= 0; i-- {
			cp := &r.call.Detail.Participants[i]
			if cp.User == u.ID && cp.Session == sid && cp.Left == 0 {
				cp.Left, cp.Code = now, code
				break
			}
		}
	}
	var notify []func()
	for _, sid := range sessions {
		room := r.id
		notify = append(notify, func() { t.Sessions.SetJoined(t.Tasks.Context(), u.ID, []string{sid}, room, false) })
	}
	if len(p.sessions) > 0 {
		t.calls.save(r.snapshotCall())
		return struct{}{}, notify, nil
	}
	// The user's last session left: the user leaves the room and its ACL,
	// but for an owner who stays the owner, who may come back (a dropped
	// connection, a second call in a personal room).
	delete(r.participants, u.ID)
	for i, id := range r.order {
		if id == u.ID {
			r.order = append(r.order[:i:i], r.order[i+1:]...)
			break
		}
	}
	if r.owner != u.ID || t.Config.Rooms.UpdateRoomOwnerWhenLeaves {
		r.removeACL(u.ID)
	}
	t.Node.State.SetDelete(ctx, callsKey(u.ID), r.id)
	t.Log.Info("user "+u.Username+" left the room "+r.id, "room", r.id, "code", code)
	removed := wire.EventFrame("participantRemoved", map[string]any{"room": r.id, "participant": u.ID, "username": u.Username,
		"code": code, "reason": o.Reason})
	notify = append(notify, r.broadcast(t, removed, ""), r.broadcast(t, r.remoteParticipants(), ""))
	remaining, roomID := slices.Clone(r.order), r.id
	notify = append(notify, func() { t.tellWatchers(roomID, remaining, false) })
	if r.owner == u.ID && t.Config.Rooms.UpdateRoomOwnerWhenLeaves {
		r.owner = ""
		if len(r.order) > 0 {
			r.owner = r.order[0]
		}
		upd := wire.EventFrame("roomUpdated", map[string]any{"room": r.id, "owner": r.owner, "acl": r.acl, "record": r.record})
		notify = append(notify, r.broadcast(t, upd, ""))
	}
	if len(r.participants) == 0 {
		r.idleSince = time.Now()
	}
	t.calls.save(r.snapshotCall())
	return struct{}{}, notify, nil
}

// updateOp changes the room's ACL (SetACL: to Users, keeping the owner and
// the participants) and recording, and answers the room (*Info); a dry
// run changes nothing.
type updateOp struct {
	Session string         `json:"session,omitempty"`
	Users   []session.User `json:"users,omitempty"`
	SetACL  bool           `json:"setAcl,omitempty"`
	Record  *bool          `json:"record,omitempty"`
	DryRun  bool           `json:"dryRun,omitempty"`
}

func (o *updateOp) run(_ context.Context, t *Table, r *room, by session.User, admin bool) (any, []func(), error) {
	if t.Config.Rooms.SetOwner && r.owner != "" && r.owner != by.ID && !admin {
		return nil, nil, wire.Refuse(403, "only the owner of the room may update it")
	}
	if !r.inACL[by.ID] && !admin {
		return nil, nil, errNotInACL()
	}
	t.Log.Debug("update", "peer", o.Session, "id", r.id, "acl", o.Users, "record", o.Record, "dryRun", o.DryRun)
	if o.DryRun {
		info := r.info(false)
		return &info, nil, nil
	}
	var notify []func()
	if o.Record != nil {
		var err error
		if notify, err = t.setRecording(r, *o.Record, by); err != nil {
			return nil, nil, err
		}
	}
	if o.SetACL {
		r.setACL(o.Users)
	}
	upd := wire.EventFrame("roomUpdated", map[string]any{"room": r.id, "owner": r.owner, "acl": r.acl, "record": r.record})
	info := r.info(false)
	return &info, append([]func(){r.broadcast(t, upd, "")}, notify...), nil
}

// setACL makes users the room's ACL, keeping its owner and participants;
// r.mu is held.
func (r *room) setACL(users []session.User) {
	keep := map[string]bool{}
	if r.owner != "" {
		keep[r.owner] = true
	}
	for id := range r.participants {
		keep[id] = true
	}
	for _, u := range users {
		keep[u.ID] = true
		r.users[u.ID] = u.DomainID
	}
	var acl []string
	for _, id := range r.acl {
		if keep[id] {
			acl = append(acl, id)
		}
	}
	for _, u := range users {
		if !slices.Contains(acl, u.ID) {
			acl = append(acl, u.ID)
		}
	}
	r.acl = acl
	r.inACL = map[string]bool{}
	for _, id := range acl {
		r.inACL[id] = true
		r.readmit(id)
	}
}

// expelOp takes the user Target out of the room (403) and out of its
// media; a target in the ACL who is not in the room leaves the ACL.
type expelOp struct {
	Target string `json:"target"`
}

func (o *expelOp) run(ctx context.Context, t *Table, r *room, by session.User, admin bool) (any, []func(), error) {
	if t.Config.Rooms.SetOwner && r.owner != "" && r.owner != by.ID && !admin {
		return nil, nil, wire.Refuse(403, "only the owner of the room may expel")
	}
	if r.participants[by.ID] == nil && !admin {
		return nil, nil, wire.Refuse(403, "you are not in the room")
	}
	target := r.participants[o.Target]
	if target == nil {
		if r.inACL[o.Target] {
			r.removeACL(o.Target)
			return struct{}{}, nil, nil
		}
		return nil, nil, wire.Refuse(404, "participant %s is not in the room", wire.Truncate(o.Target, 40))
	}
	sessions := keys(target.sessions)
	leave := &leaveOp{Code: 403, Reason: "expelled by " + by.Username}
	_, notify, err := leave.run(ctx, t, r, target.user, admin)
	if err != nil {
		return nil, nil, err
	}
	frame := wire.EventFrame("expelled", map[string]any{"room": r.id, "by": by.ID, "username": by.Username})
	notify = append(notify, func() { t.Sessions.Deliver(t.Tasks.Context(), target.user.ID, sessions, frame) })
	if t.media != nil {
		// The media server ends the user's streams and refuses the room
		// token the user still holds.
		if r.expelled == nil {
			r.expelled = map[string]bool{}
		}
		r.expelled[target.user.ID] = true
		id, user := r.id, target.user.ID
		notify = append(notify, func() {
			ctx, cancel := context.WithTimeout(t.Tasks.Context(), 10*time.Second)
			defer cancel()
			if err := t.media.ExpelUser(ctx, id, user); err != nil {
				t.Log.Warn("qss: expel a user from the media room", "room", id, "user", user, "err", err)
			}
		})
	}
	return struct{}{}, notify, nil
}

// aclAddOp lets Users in (Invite: the invitation that does, so that they
// leave again if it ends without them) and answers the room (*Info).
type aclAddOp struct {
	Users  []session.User `json:"users"`
	Invite string         `json:"invite,omitempty"`
}

func (o *aclAddOp) run(_ context.Context, _ *Table, r *room, _ session.User, _ bool) (any, []func(), error) {
	for _, u := range o.Users {
		if !r.inACL[u.ID] && o.Invite != "" {
			r.invited[u.ID] = o.Invite
		}
		r.addACL(u)
		r.users[u.ID] = u.DomainID
	}
	info := r.info(false)
	return &info, nil, nil
}

// aclRemoveOp takes out of the ACL the Users that the invitation Invite
// let in and who never joined: the invitation ended without them.
type aclRemoveOp struct {
	Users  []session.User `json:"users"`
	Invite string         `json:"invite"`
}

func (o *aclRemoveOp) run(_ context.Context, _ *Table, r *room, _ session.User, _ bool) (any, []func(), error) {
	for _, u := range o.Users {
		if r.participants[u.ID] == nil && r.invited[u.ID] == o.Invite {
			r.removeACL(u.ID)
			delete(r.invited, u.ID)
		}
	}
	return struct{}{}, nil, nil
}

// holdOp puts the user's participation on hold (Hold) or takes it off.
type holdOp struct {
	Hold bool `json:"hold"`
}

func (o *holdOp) run(_ context.Context, t *Table, r *room, by session.User, _ bool) (any, []func(), error) {
	p := r.participants[by.ID]
	if p == nil {
		return nil, nil, wire.Refuse(403, "you are not in the room")
	}
	p.hold = o.Hold
	name := "participantHold"
	if !p.hold {
		name = "participantUnhold"
	}
	frame := wire.EventFrame(name, map[string]any{"room": r.id, "participant": by.ID, "username": by.Username})
	notify := []func(){r.broadcast(t, frame, by.ID)}
	if hold, ok := r.phonesHeld(); ok && !isPhone(by.ID) {
		// An app's hold reaches the room's phones (a phone's own hold
		// came from its re-INVITE and goes nowhere else).
		room := r.id
		notify = append(notify, func() {
			t.mu.Lock()
			h := t.holder
			t.mu.Unlock()
			if h != nil {
				h.HoldPhones(room, hold)
			}
		})
	}
	return struct{}{}, notify, nil
}

// muteOp asks the participant Target to mute some media.
type muteOp struct {
	Target     string          `json:"target"`
	Mediatypes map[string]bool `json:"mediatypes"`
}

func (o *muteOp) run(_ context.Context, t *Table, r *room, by session.User, _ bool) (any, []func(), error) {
	if r.participants[by.ID] == nil {
		return nil, nil, wire.Refuse(403, "you are not in the room")
	}
	target := r.participants[o.Target]
	if target == nil {
		return nil, nil, wire.Refuse(404, "participant %s is not in the room", wire.Truncate(o.Target, 40))
	}
	frame := wire.EventFrame("mute-request", map[string]any{"room": r.id, "from": by.ID, "username": by.Username,
		"mediatypes": o.Mediatypes})
	sessions := keys(target.sessions)
	user := o.Target
	return struct{}{}, []func(){func() { t.Sessions.Deliver(t.Tasks.Context(), user, sessions, frame) }}, nil
}

// dtmfOp tells the room's other participants of a key the participant
// pressed (a phone's DTMF digit from the trunk).
type dtmfOp struct {
	Digit string `json:"digit"`
}

func (o *dtmfOp) run(_ context.Context, t *Table, r *room, by session.User, _ bool) (any, []func(), error) {
	if r.participants[by.ID] == nil {
		return nil, nil, wire.Refuse(403, "you are not in the room")
	}
	frame := wire.EventFrame("dtmf", map[string]any{"room": r.id, "from": by.ID, "digit": o.Digit})
	return struct{}{}, []func(){r.broadcast(t, frame, by.ID)}, nil
}

// sendDTMFOp sends digits to the phones of the room (a participant's
// sendDTMF).
type sendDTMFOp struct {
	Digits   string        `json:"digits"`
	Duration time.Duration `json:"duration"`
}

func (o *sendDTMFOp) run(_ context.Context, t *Table, r *room, by session.User, _ bool) (any, []func(), error) {
	if r.participants[by.ID] == nil {
		return nil, nil, wire.Refuse(403, "you are not in the room")
	}
	phones := 0
	for id := range r.participants {
		if strings.HasPrefix(id, "phone-") {
			phones++
		}
	}
	t.mu.Lock()
	k := t.keypad
	t.mu.Unlock()
	if phones == 0 || k == nil {
		return nil, nil, wire.Refuse(404, `field "room" of payload: there is no phone in room %s`, r.id)
	}
	if err := k.SendDTMF(r.id, o.Digits, o.Duration); err != nil {
		return nil, nil, wire.Refuse(409, "the phone cannot take the digits: %v", err)
	}
	return struct{}{}, nil, nil
}

// destroyOp ends the room.
type destroyOp struct{}

func (*destroyOp) run(_ context.Context, t *Table, r *room, by session.User, admin bool) (any, []func(), error) {
	if t.Config.Rooms.SetOwner && r.owner != "" && r.owner != by.ID && !admin {
		return nil, nil, wire.Refuse(403, "only the owner of the room may destroy it")
	}
	if r.owner == "" && !r.inACL[by.ID] && !admin {
		return nil, nil, errNotInACL()
	}
	return struct{}{}, t.destroyLocked(r, by.ID, "destroyed by "+by.Username), nil
}

// recordInviteOp writes an invitation's state into the room's call record.
type recordInviteOp struct {
	Entry store.CallInvite `json:"entry"`
}

func (o *recordInviteOp) run(_ context.Context, t *Table, r *room, _ session.User, _ bool) (any, []func(), error) {
	r.recordInvite(o.Entry)
	t.calls.save(r.snapshotCall())
	return struct{}{}, nil, nil
}

// recordTransferOp writes a transfer's state into the room's call record.
type recordTransferOp struct {
	Entry store.CallTransfer `json:"entry"`
}

func (o *recordTransferOp) run(_ context.Context, t *Table, r *room, _ session.User, _ bool) (any, []func(), error) {
	r.recordTransfer(o.Entry)
	t.calls.save(r.snapshotCall())
	return struct{}{}, nil, nil
}
