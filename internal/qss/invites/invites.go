// Package invites is the invitations layer of signaling: invitation and
// inviteRequest (ringing a callee's sessions, pushing to its phones, the
// caller's outcome), transfers (blind and attended, built on invitations),
// getCurrentInvitations and the seeds' close, and the watchdog of
// invitations that ring too long. An invitation is owned by the node of
// its caller's session; the callees' nodes reach it with typed operations
// (cluster.Ops) and find it through the shared invites.<user> sets.
//
// It sits on the sessions layer (delivery, the session directory, the
// session.Invitations hooks it implements) and on the rooms (Rooms).
package invites

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/qss/reachability"
	"github.com/openwac/wac/internal/qss/rooms"
	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// Invitation states, as the caller's outgoingInvitation events show them.
const (
	stateRinging   = "ringing"
	stateAccepted  = "accepted"
	stateDeclined  = "declined"
	stateCancelled = "cancelled"
	stateTimeout   = "timeout"
	stateFailed    = "failed"
	stateCompleted = "completed"
)

// States of a candidate besides ringing, accepted and declined.
const (
	stateGone = "gone" // the session went away, or was not reachable
	stateBusy = "busy" // the user answered another call (onlyOneDeviceWithInvitations)
)

// invitesKey is the shared set of the invitations ringing a user:
// invitation id → owner node.
func invitesKey(user string) string { return "invites." + user }

// Rooms is what invitations do with rooms (rooms.Table), wherever they are
// owned.
type Rooms interface {
	Get(ctx context.Context, room string, by session.User) (*rooms.Info, error)
	Member(ctx context.Context, room string, by session.User) (*rooms.Info, error)
	Admit(ctx context.Context, room string, by session.User, users []session.User, invite string) error
	Unadmit(ctx context.Context, room string, by session.User, users []session.User, invite string) error
	Leave(ctx context.Context, room string, by session.User, code int, reason string) error
	RecordInvite(ctx context.Context, room string, e store.CallInvite) error
	RecordTransfer(ctx context.Context, room string, e store.CallTransfer) error
	Event(ctx context.Context, room, name string, payload any)
	NewRoom(ctx context.Context, s *session.Session) (*rooms.Info, error)
	Object(info *rooms.Info, user, session string) *rooms.Object
	InCall(ctx context.Context, user, except string) bool
	NewRoomAs(ctx context.Context, creator session.User, acl []session.User) (*rooms.Info, error)
	Destroy(ctx context.Context, room string) error
}

// Pusher wakes a callee's devices that have no live session
// (invites.basic.resolvePush) and tells them when the invitation stops
// ringing; tokens are the ids of the push tokens to use (the
// reachability's Offline). Package push implements it.
type Pusher interface {
	PushInvitation(ctx context.Context, userID string, tokens []string, info map[string]any) (int, error)
	PushInvitationEnded(ctx context.Context, userID string, tokens []string, info map[string]any) (int, error)
}

// Table holds the invitations this node owns: those its sessions made.
type Table struct {
	session.Base
	rooms  Rooms
	pusher Pusher
	trunk  Trunk // nil without the sip role
	reach  *reachability.Resolver

	mu       sync.Mutex
	invites  map[string]*invite
	byCaller map[string]string // caller session + "/" + requestID → invite id
}

// Options are the parts a Table works with.
type Options struct {
	session.Base
	Rooms Rooms
	// Pusher reaches the phones of callees without a session; nil = none.
	Pusher Pusher
	// Reach tells which devices of a callee a push must wake.
	Reach *reachability.Resolver
}

// New makes the invitations layer of a node: it serves the invitation
// requests of the sessions and the invitation operations of other nodes,
// and stops the invitations into rooms that end. Start starts its
// watchdog.
func New(opts Options) *Table {
	t := &Table{Base: opts.Base, rooms: opts.Rooms, pusher: opts.Pusher, reach: opts.Reach, invites: map[string]*invite{}, byCaller: map[string]string{}}
	t.Sessions.Handle("invitation", t.invitation)
	t.Sessions.Handle("inviteRequest", t.inviteRequest)
	t.Sessions.Handle("getCurrentInvitations", t.currentInvitations)
	t.Sessions.Handle("close", t.closeCalls)
	t.Sessions.Handle("transfer", t.transfer)
	t.Sessions.OnNotice(noticeRoomGone, t.cancelRoom)
	t.Node.Serve(serviceInvites, t.serve)
	return t
}

// Start starts the watchdog of the invitations that ring too long
// (watchdog.invites).
func (t *Table) Start() {
	if w := t.Config.Watchdog.Invites; w.Enabled {
		t.Tasks.Every(w.Period, t.watchdog)
	}
}

// invite is one invitation (or inviteRequest) ringing one or more sessions.
type invite struct {
	mu            sync.Mutex
	id            string
	kind          string // invitation or inviteRequest
	room          string
	caller        session.User
	callerSession string
	reqID         string
	to            string // what the caller dialled
	group         string // group id when a group was dialled
	only          string // the one session dialled with user/session
	targets       map[string]session.User
	candidates    map[string]*candidate
	state         string
	created       time.Time
	mediatypes    map[string]bool
	context       json.RawMessage
	outcome       string              // request name of the caller's answer (kind, or transfer)
	transfer      *transferPlan       // set for transfers
	pushed        map[string][]string // user → the push tokens woken for this invitation
	// phone marks a call to or from the SIP trunk: leg is the outbound
	// call's SIP side, report tells the trunk an inbound call's outcome.
	phone  bool
	leg    TrunkLeg
	report func(code int, room string)
	// intoRoom marks a call from the trunk rung into the phone's existing
	// room (its REFER): the room is not the invitation's to end.
	intoRoom bool
}

type candidate struct {
	session string
	user    string
	state   string // ringing, accepted, declined, gone, busy
	code    int
}

// invitationPayload is the payload of invitation and inviteRequest.
type invitationPayload struct {
	Room       string          `json:"room"`
	Mediatypes map[string]bool `json:"mediatypes"`
	Context    json.RawMessage `json:"context"`
}

// candidateFrame is the request a callee's session receives.
type candidateFrame struct {
	Request     string          `json:"request"`
	RequestID   string          `json:"requestID"`
	To          string          `json:"to"`
	From        string          `json:"from"`
	FromType    string          `json:"fromType"`
	FromDetails fromDetails     `json:"fromDetails"`
	Mediatypes  map[string]bool `json:"mediatypes"`
	Context     json.RawMessage `json:"context"`
	SystemFrom  string          `json:"systemFrom"`
	Group       string          `json:"group,omitempty"`
	Payload     any             `json:"payload"`
}

type fromDetails struct {
	ContactName string `json:"contactName"`
	DisplayName string `json:"displayName"`
	Username    string `json:"username"`
}

// outcomeFrame is the final answer the caller gets on its requestID.
type outcomeFrame struct {
	Answer      string `json:"answer,omitempty"`
	Cancel      string `json:"cancel,omitempty"`
	RequestID   string `json:"requestID"`
	Error       int    `json:"error,omitempty"`
	Message     string `json:"message,omitempty"`
	To          string `json:"to,omitempty"`
	From        string `json:"from,omitempty"`
	WhoAccepted string `json:"whoAccepted,omitempty"`
	Session     string `json:"session,omitempty"`
	Payload     any    `json:"payload,omitempty"`
}

// maxRinging bounds the sessions one invitation rings (a large group).
const maxRinging = 500

// invitation is the caller's request: ring the callee's sessions and tell
// the caller the outcome on its requestID.
func (t *Table) invitation(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	return t.start(ctx, s, f, "invitation")
}

// inviteRequest asks the callee to invite the caller into the callee's room.
func (t *Table) inviteRequest(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	return t.start(ctx, s, f, "inviteRequest")
}

func (t *Table) start(ctx context.Context, s *session.Session, f *wire.Frame, kind string) (any, error) {
	to := f.To
	var p invitationPayload
	if err := f.DecodePayload(&p); err != nil {
		return nil, err
	}
	if to == "" {
		return nil, wire.Refuse(400, `field "to" is required: whom to invite`)
	}
	if len(to) > 256 {
		return nil, wire.Refuse(400, `field "to" is too long`)
	}
	if len(p.Context) > 8192 {
		return nil, wire.Refuse(413, `field "context" of payload is larger than 8192 bytes`)
	}
	if p.Context == nil || string(p.Context) == "null" {
		p.Context = json.RawMessage(`{"contextInfo":{}}`)
	}
	if p.Mediatypes == nil {
		p.Mediatypes = map[string]bool{"audio": true, "video": false}
	}
	if err := t.mayCall(ctx, s, p.Mediatypes); err != nil {
		return nil, err
	}
	t.mu.Lock()
	_, dup := t.byCaller[s.ID+"/"+f.RequestID]
	t.mu.Unlock()
	if dup {
		return nil, wire.Refuse(400, "requestID %s is already ringing; use a new requestID", wire.Truncate(f.RequestID, 64))
	}
	caller := s.Me()
	if kind == "invitation" {
		if p.Room == "" {
			return nil, wire.Refuse(400, `field "room" of payload is required: the room to invite into`)
		}
		if _, err := t.rooms.Member(ctx, p.Room, caller); err != nil {
			return nil, err
		}
		if t.trunk != nil && t.trunk.Match(to) {
			return t.dialTrunk(ctx, s, f, p)
		}
	}
	t.Log.Debug(fmt.Sprintf("invite peerId(%s), to(%s), inviteId(pending), context(%s)", s.ID, to, wire.Truncate(string(p.Context), 200)))
	targets, group, only, err := t.resolve(ctx, s, to)
	if err != nil {
		t.Log.Debug("No candidates found for resource: " + to)
		return nil, err
	}
	inv := &invite{
		id: store.NewID(), kind: kind, room: p.Room, caller: caller, callerSession: s.ID, reqID: f.RequestID,
		to: to, group: group, only: only, targets: map[string]session.User{}, candidates: map[string]*candidate{},
		state: stateRinging, created: time.Now(), mediatypes: p.Mediatypes, context: p.Context,
	}
	if err := t.admit(ctx, inv, targets); err != nil {
		return nil, err
	}
	if err := t.launch(ctx, inv); err != nil {
		return nil, err
	}
	return session.Deferred, nil
}

// admit keeps the targets that may be rung: those with the receiveCalls
// permission and, unless conferenceState.allowInvitesWhileInCall, not in a
// call.
func (t *Table) admit(ctx context.Context, inv *invite, targets []session.User) error {
	busy := 0
	for _, u := range targets {
		ok, err := t.Auth.Permission(ctx, auth.PermissionReceiveCalls, u.ID, u.DomainID)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if !t.Config.ConferenceState.AllowInvitesWhileInCall && t.rooms.InCall(ctx, u.ID, inv.room) {
			busy++
			continue
		}
		inv.targets[u.ID] = u
	}
	if len(inv.targets) == 0 {
		callee := inv.group
		if callee == "" && len(targets) > 0 {
			callee = targets[0].ID
		}
		if busy > 0 {
			return t.fail(inv, callee, 486, msgBusyInCall)
		}
		return t.fail(inv, callee, 403, "not allowed: the callee does not receive calls")
	}
	return nil
}

// launch rings the candidate sessions of an admitted invitation.
func (t *Table) launch(ctx context.Context, inv *invite) error {
	if inv.outcome == "" {
		inv.outcome = inv.kind
	}
	sessions, err := t.candidateSessions(ctx, inv)
	if err != nil {
		return err
	}
	t.Log.Debug(fmt.Sprintf("Resource '%s' is a %s with candidates: %v", inv.to, map[bool]string{true: "group", false: "user"}[inv.group != ""], sessionIDs(sessions)))
	toPush, err := t.pushTargets(ctx, inv)
	if err != nil {
		// The devices with a session still ring.
		t.Log.Warn("qss: find the devices to push", "invite", inv.id, "err", err)
	}
	if len(sessions) == 0 && len(toPush) == 0 {
		return t.fail(inv, firstTarget(inv), 480, msgNotConnected)
	}
	if inv.kind != "inviteRequest" {
		if err := t.rooms.Admit(ctx, inv.room, inv.caller, mapValues(inv.targets), inv.id); err != nil {
			return err
		}
	}
	// The caller's ringing event and the call record are written before a
	// candidate's answer can be handled (it waits for inv.mu): after it,
	// they would undo the accepted state (and race with the answer's
	// writes of inv.room). A device that connects meanwhile is rung once
	// the lock is released.
	inv.mu.Lock()
	inv.pushed = toPush
	t.mu.Lock()
	t.invites[inv.id] = inv
	t.byCaller[inv.callerSession+"/"+inv.reqID] = inv.id
	t.mu.Unlock()
	for uid := range inv.targets {
		t.Node.State.SetPut(ctx, invitesKey(uid), inv.id, t.Node.ID)
	}
	for _, si := range sessions {
		t.ringLocked(ctx, inv, si.User, si.ID)
	}
	t.Log.Info("pushing the invite "+inv.id+" to the room "+inv.room, "invite", inv.id, "kind", inv.kind)
	t.notifyCaller(inv, stateRinging, 0)
	t.record(ctx, inv, stateRinging, 0, "")
	inv.mu.Unlock()
	// The push goes out once the invitation rings, so that the phone it
	// wakes rings however soon it connects (RingNewSession); it runs apart
	// from the caller's request, which a slow push service must not hold.
	t.pushRinging(inv, toPush)
	return nil
}

// pushRinging wakes the devices of toPush for a ringing invitation, in a
// task of its own; if no push goes out and no session answered the ring
// meanwhile, the invitation fails with 480.
func (t *Table) pushRinging(inv *invite, toPush map[string][]string) {
	if len(toPush) == 0 {
		return
	}
	info := t.pushInfo(inv)
	t.Tasks.Go(func(ctx context.Context) {
		if t.push(ctx, inv.id, toPush, info) {
			return
		}
		inv.mu.Lock()
		if inv.state == stateRinging && len(inv.candidates) == 0 {
			t.endLocked(ctx, inv, stateFailed, 480, msgNotConnected)
		}
		inv.mu.Unlock()
	})
}

// msgNotConnected is the caller's message for a callee with no session
// that no push reached.
const msgNotConnected = "not connected: the callee has no session"

// fail is a refusal of a new invitation: recorded, and answered as the
// seeds' cancel with from (the caller) and to (the callee's user id, or the
// group's id).
func (t *Table) fail(inv *invite, callee string, code int, msg string) error {
	t.record(t.Tasks.Context(), inv, stateFailed, code, "")
	name := inv.outcome
	if name == "" {
		name = inv.kind
	}
	return &outcomeError{frame: outcomeFrame{Cancel: name, RequestID: inv.reqID, Error: code, Message: msg, To: callee, From: inv.caller.ID}}
}

// outcomeError carries a ready-made refusal frame out of a handler.
type outcomeError struct{ frame outcomeFrame }

func (e *outcomeError) Error() string { return e.frame.Message }

// Frame is the refusal (session.FrameError).
func (e *outcomeError) Frame() []byte { return wire.Encode(e.frame) }

var _ session.FrameError = (*outcomeError)(nil)

// resolveGroups says whether invitations to a group ring its participants:
// invites.basic.resolveGroups, which the seeds ignore when
// invites.basic.legacyUserGroupResolution is false (the one-request
// resolution then resolves groups too).
func (t *Table) resolveGroups() bool {
	return t.Config.Invites.Basic.ResolveGroups || !t.Config.Invites.Basic.LegacyUserGroupResolution
}

// resolvePush says whether callees are also reached by push: with a push
// service, invites.basic.resolvePush, which the seeds ignore when
// invites.basic.legacyUserGroupResolution is false (the one-request
// resolution then gives the push devices too).
func (t *Table) resolvePush() bool {
	b := t.Config.Invites.Basic
	return t.pusher != nil && (b.ResolvePush || !b.LegacyUserGroupResolution)
}

// mayCall checks the caller's capabilities for the media asked.
func (t *Table) mayCall(ctx context.Context, s *session.Session, media map[string]bool) error {
	caps, err := t.Auth.Capabilities(ctx, s.User)
	if err != nil {
		return err
	}
	has := caps.Has
	if media["video"] && !has("video-call") && !has("audio-video-call") {
		return wire.Refuse(403, "video calls are not among your capabilities")
	}
	if !has("audio-call") && !has("audio-video-call") && !has("video-call") {
		return wire.Refuse(403, "calls are not among your capabilities")
	}
	return nil
}

// resolve turns what the caller dialled into users: a user (id,
// wac-user:id, username, username@domain, alias), user/session for one
// device, or a group (with invites.basic.resolveGroups).
func (t *Table) resolve(ctx context.Context, s *session.Session, to string) (users []session.User, group, only string, err error) {
	t.Log.Debug("Trying to get candidates for " + to)
	target := to
	if name, sess, ok := strings.Cut(to, "/"); ok && store.ValidID(sess) {
		target, only = name, sess
	}
	u, err := t.Auth.Resolve(ctx, s.User.DomainID, target)
	switch {
	case err == nil:
		if u.ID == s.User.UserID && only == "" {
			return nil, "", "", wire.Refuse(400, "you cannot invite yourself")
		}
		if only == s.ID {
			return nil, "", "", wire.Refuse(400, "you cannot invite your own session")
		}
		return []session.User{t.Sessions.UserOfRecord(ctx, u)}, "", only, nil
	case !errors.Is(err, store.ErrNotFound):
		return nil, "", "", err
	}
	if only != "" || !t.resolveGroups() {
		return nil, "", "", wire.Refuse(404, "%q not found", wire.Truncate(to, 80))
	}
	t.Log.Debug("Trying to resolve group " + to)
	g, err := t.findGroup(ctx, s.User.DomainID, to)
	if err != nil {
		return nil, "", "", err
	}
	members, err := t.Store.GroupMembers(ctx, g.ID)
	if err != nil {
		return nil, "", "", err
	}
	for _, id := range members {
		if id == s.User.UserID {
			continue
		}
		m, err := t.Store.GetUser(ctx, id)
		if err != nil {
			continue
		}
		users = append(users, t.Sessions.UserOfRecord(ctx, m))
	}
	if len(users) == 0 {
		return nil, "", "", wire.Refuse(480, "group %q has nobody else to ring", g.Name)
	}
	return users, g.ID, "", nil
}

// findGroup resolves a group by id, name@domain or name in the caller's domain.
func (t *Table) findGroup(ctx context.Context, domainID, name string) (*store.Group, error) {
	name = strings.TrimPrefix(name, "wac-group:")
	if store.ValidID(name) {
		g, err := t.Store.GetGroup(ctx, name)
		if err == nil {
			return g, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	if n, dn, ok := strings.Cut(name, "@"); ok {
		d, err := t.Store.GetDomainByName(ctx, strings.ToLower(dn))
		if err != nil {
			return nil, wire.Refuse(404, "%q not found", wire.Truncate(name, 80))
		}
		domainID, name = d.ID, n
	}
	g, err := t.Store.GetGroupByName(ctx, domainID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, wire.Refuse(404, "%q not found", wire.Truncate(name, 80))
	}
	return g, err
}

// candidateSessions lists the sessions to ring: those connected, and those
// whose connection dropped less than invites.basic.removeAfter ago (they
// get the invitation when they resume).
func (t *Table) candidateSessions(ctx context.Context, inv *invite) ([]session.Info, error) {
	ids := make([]string, 0, len(inv.targets))
	for id := range inv.targets {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	all, err := t.Sessions.Sessions(ctx, ids)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []session.Info
	for _, si := range all {
		if si.ID == inv.callerSession || inv.only != "" && si.ID != inv.only || !t.Sessions.Ringable(si, now) {
			continue
		}
		out = append(out, si)
		if len(out) >= maxRinging {
			break
		}
	}
	return out, nil
}

func sessionIDs(list []session.Info) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.ID
	}
	return out
}

func mapValues(m map[string]session.User) []session.User {
	out := make([]session.User, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// pushTargets lists, by callee, the push tokens of its devices without a
// live session (the reachability's Offline), when callees are reached by
// push; an invitation to one session rings that session only.
func (t *Table) pushTargets(ctx context.Context, inv *invite) (map[string][]string, error) {
	if !t.resolvePush() || t.reach == nil || inv.only != "" {
		return nil, nil
	}
	ids := slices.Sorted(maps.Keys(inv.targets))
	users, err := t.reach.Users(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("invitation %s: %w", inv.id, err)
	}
	out := map[string][]string{}
	for _, u := range users {
		if toks := u.Offline(); len(toks) > 0 {
			out[u.ID] = toks
		}
	}
	return out, nil
}

// pushInfo is what a woken app needs to connect and answer: which
// invitation, from whom, into which room, with which media. Once its
// session is up the invitation rings it (RingNewSession), and
// getCurrentInvitations lists it.
func (t *Table) pushInfo(inv *invite) map[string]any {
	display := inv.caller.Username
	if inv.caller.Alias != "" {
		display = inv.caller.Alias
	}
	info := map[string]any{"invite": inv.id, "kind": inv.kind, "from": inv.caller.ID, "fromUsername": inv.caller.Username,
		"displayName": display, "domain": inv.caller.Domain, "room": inv.room, "mediatypes": inv.mediatypes,
		"created": inv.created.UnixMilli()}
	if inv.group != "" {
		info["group"] = inv.group
	}
	if inv.phone {
		// A call from the phone network: the number is the caller.
		info["fromType"] = "phone"
		info["to"] = inv.to
	}
	return info
}

// push asks the push service to wake the callees' phones; it reports
// whether any push went out.
func (t *Table) push(ctx context.Context, inviteID string, toPush map[string][]string, info map[string]any) bool {
	sent := false
	for _, uid := range slices.Sorted(maps.Keys(toPush)) {
		n, err := t.pusher.PushInvitation(ctx, uid, toPush[uid], info)
		if err != nil {
			t.Log.Warn("qss: push invitation", "invite", inviteID, "user", uid, "err", err)
		}
		if n > 0 {
			sent = true
		}
	}
	return sent
}

// pushEnded tells the phones an invitation woke that it stopped ringing:
// reason is answered (on this or another device), declined, cancelled,
// timeout or failed.
func (t *Table) pushEnded(inv *invite, state string, code int) {
	if len(inv.pushed) == 0 {
		return
	}
	reason := map[string]string{stateAccepted: "answered", stateDeclined: "declined", stateCancelled: "cancelled",
		stateTimeout: "timeout"}[state]
	if reason == "" {
		reason = "failed"
	}
	toPush, info := inv.pushed, map[string]any{"invite": inv.id, "reason": reason, "code": code, "from": inv.caller.ID}
	t.Tasks.Go(func(ctx context.Context) {
		for _, uid := range slices.Sorted(maps.Keys(toPush)) {
			if _, err := t.pusher.PushInvitationEnded(ctx, uid, toPush[uid], info); err != nil {
				t.Log.Warn("qss: push the end of an invitation", "invite", inv.id, "user", uid, "err", err)
			}
		}
	})
}

// ringLocked sends the invitation to one session; inv.mu is held. A
// session that stopped being a candidate because it was away (gone) is
// rung again when it comes back.
func (t *Table) ringLocked(ctx context.Context, inv *invite, user, sessionID string) {
	if c, ok := inv.candidates[sessionID]; ok && c.state != stateGone || inv.state != stateRinging {
		return
	}
	if inv.only != "" && sessionID != inv.only {
		return
	}
	frame, err := t.frameLocked(ctx, inv, user, sessionID)
	if err != nil {
		t.Log.Warn("qss: invitation room is gone", "invite", inv.id, "err", err)
		return
	}
	inv.candidates[sessionID] = &candidate{session: sessionID, user: user, state: stateRinging}
	t.Log.Debug("send invitation", "invite", inv.id, "to", sessionID)
	t.Sessions.Ring(ctx, user, sessionID, inv.id, session.Pending{Kind: inv.kind, Owner: t.Node.ID, Invite: inv.id}, frame)
}

// frameLocked is the request that rings one session of a callee, with the
// room object (and media token) of that session; inv.mu is held.
func (t *Table) frameLocked(ctx context.Context, inv *invite, user, sessionID string) ([]byte, error) {
	var payload any
	if inv.kind == "inviteRequest" {
		payload = map[string]any{"room": nil}
	} else {
		info, err := t.rooms.Member(ctx, inv.room, inv.caller)
		if err != nil {
			return nil, err
		}
		obj := t.rooms.Object(info, inv.targets[user].ID, sessionID)
		if inv.transfer != nil && inv.kind == kindAttended {
			payload = map[string]any{"room": obj, "previousRoom": inv.transfer.room, "transfer": inv.transfer.id}
		} else {
			payload = obj
		}
	}
	fromType := "user"
	if inv.caller.Role == store.RoleAnonymous {
		fromType = "anonymous"
	}
	if inv.caller.Role == RolePhone {
		fromType = "phone"
	}
	if inv.transfer != nil {
		fromType = "transfer"
	}
	display := inv.caller.Username
	if inv.caller.Alias != "" {
		display = inv.caller.Alias
	}
	return wire.Encode(candidateFrame{
		Request: inv.kind, RequestID: inv.id, To: user, From: inv.caller.ID, FromType: fromType,
		FromDetails: fromDetails{ContactName: inv.caller.Username + "@" + inv.caller.Domain, DisplayName: display, Username: inv.caller.Username},
		Mediatypes:  inv.mediatypes, Context: inv.context, SystemFrom: inv.caller.ID, Group: inv.group, Payload: payload,
	}), nil
}

// stopCandidate tells one ringing session the invitation is over for it.
func (t *Table) stopCandidate(inv *invite, c *candidate, code int, msg string) {
	t.Log.Debug("send invitation cancel", "invite", inv.id, "to", c.session, "code", code)
	t.Sessions.StopRinging(t.Tasks.Context(), c.user, c.session, inv.id, wire.CancelFrame(inv.kind, inv.id, code, msg))
}

// notifyCaller sends the caller its outgoingInvitation event.
func (t *Table) notifyCaller(inv *invite, state string, code int) {
	s := t.Sessions.Local(inv.callerSession)
	if s == nil {
		return
	}
	s.Send(wire.EventFrame("outgoingInvitation", map[string]any{"id": inv.id, "requestID": inv.reqID, "kind": inv.kind,
		"room": inv.room, "to": inv.to, "state": state, "code": code}))
}

// sendCaller sends the caller the outcome of its request, held for it while
// it is away.
func (t *Table) sendCaller(inv *invite, frame []byte) {
	if s := t.Sessions.Local(inv.callerSession); s != nil {
		s.SendAnswer(frame)
	}
}

// record writes the invitation's state into the room's call record.
func (t *Table) record(ctx context.Context, inv *invite, state string, code int, by string) {
	if inv.room == "" {
		return
	}
	e := store.CallInvite{ID: inv.id, Kind: inv.kind, From: inv.caller.ID, To: strings.Join(slices.Sorted(maps.Keys(inv.targets)), ","),
		Target: inv.to, State: state, Code: code, By: by, Created: inv.created.UnixMilli()}
	if state != stateRinging {
		e.Ended = time.Now().UnixMilli()
	}
	if err := t.rooms.RecordInvite(ctx, inv.room, e); err != nil {
		t.Log.Debug("qss: record invitation", "invite", inv.id, "err", err)
	}
}

// finishLocked ends an invitation; inv.mu is held. Every candidate still
// ringing is told with code and msg; the invitation's keys go away.
func (t *Table) finishLocked(ctx context.Context, inv *invite, state string, code int, msg string, except string) {
	inv.state = state
	if leg := inv.leg; leg != nil && state != stateAccepted {
		t.Tasks.Go(func(context.Context) { leg.Cancel() })
	}
	if state == stateAccepted {
		inv.reportLocked(200)
	} else {
		inv.reportLocked(code)
	}
	t.pushEnded(inv, state, code)
	for _, c := range inv.candidates {
		if c.state == stateRinging && c.session != except {
			t.stopCandidate(inv, c, code, msg)
		}
	}
	t.mu.Lock()
	delete(t.invites, inv.id)
	delete(t.byCaller, inv.callerSession+"/"+inv.reqID)
	t.mu.Unlock()
	for uid := range inv.targets {
		t.Node.State.SetDelete(ctx, invitesKey(uid), inv.id)
	}
	if inv.phone && inv.callerSession == "" && !inv.intoRoom && state != stateAccepted {
		// A call from the trunk that nobody took: its room goes.
		room := inv.room
		t.Tasks.Go(func(ctx context.Context) {
			if err := t.rooms.Destroy(ctx, room); err != nil {
				t.Log.Debug("qss: destroy the room of an unanswered phone call", "room", room, "err", err)
			}
		})
	} else if inv.kind != "inviteRequest" && state != stateAccepted {
		// Callees the invitation let into the ACL leave it again, before
		// the caller hears the outcome: a callee's device must not be able
		// to join the room after the call was declined or cancelled.
		if err := t.rooms.Unadmit(context.WithoutCancel(ctx), inv.room, inv.caller, mapValues(inv.targets), inv.id); err != nil {
			t.Log.Debug("qss: take the invitation's callees out of the room's ACL", "invite", inv.id, "room", inv.room, "err", err)
		}
	}
	t.Log.Info("removing the invite "+inv.id, "invite", inv.id, "state", state, "code", code)
}

// current is an invitation ringing a session, for getCurrentInvitations.
type current struct {
	Created int64           `json:"created"` // unix ns: calls made within one ms keep their order
	Invite  string          `json:"invite"`
	Frame   json.RawMessage `json:"frame"`
}

// currentInvitations answers getCurrentInvitations: the server's requests
// (invitation, inviteRequest, transferring-attended-transfer) ringing this
// session now, oldest first, each as the session receives it, so that an
// app that may have lost frames (a resume over a half-open connection)
// learns what it can answer.
func (t *Table) currentInvitations(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	m, err := t.Node.State.SetGet(ctx, invitesKey(s.User.UserID))
	if err != nil {
		return nil, fmt.Errorf("read the user's ringing invitations: %w", err)
	}
	var list []current
	for inviteID, raw := range m {
		var owner string
		if json.Unmarshal(raw, &owner) != nil {
			continue
		}
		res, err := t.call(ctx, owner, inviteID, s.Me(), &currentOp{Session: s.ID})
		if err != nil {
			t.Log.Debug("qss: current invitation", "invite", inviteID, "err", err)
			continue
		}
		var c current
		if json.Unmarshal(res, &c) == nil && len(c.Frame) > 0 {
			list = append(list, c)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Created != list[j].Created {
			return list[i].Created < list[j].Created
		}
		return list[i].Invite < list[j].Invite
	})
	frames := make([]json.RawMessage, len(list))
	for i, c := range list {
		frames[i] = c.Frame
	}
	return map[string]any{"invitations": frames}, nil
}

// closeCalls is the seeds' close request ({"type":"request","payload":
// {"endpoint":"close",...}}): the caller gives up on its unanswered calls.
// Every invitation the session made that still rings stops as the caller's
// cancel stops it, but with the seeds' 408: the callees' devices are told
// "nobody answered" and the caller gets the cancel with 408 on each
// invitation's requestID, then the answer naming them.
func (t *Table) closeCalls(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	var p struct {
		Medium string `json:"medium"`
	}
	if err := f.DecodePayload(&p); err != nil {
		return nil, err
	}
	closed := []string{}
	for _, inv := range t.madeBy(s) {
		inv.mu.Lock()
		if inv.state == stateRinging {
			t.endLocked(ctx, inv, stateTimeout, 408, "nobody answered")
			closed = append(closed, inv.reqID)
		}
		inv.mu.Unlock()
	}
	return map[string]any{"closed": closed}, nil
}

// madeBy lists the invitations a session made, oldest first.
func (t *Table) madeBy(s *session.Session) []*invite {
	t.mu.Lock()
	var list []*invite
	for _, inv := range t.invites {
		if inv.callerSession == s.ID {
			list = append(list, inv)
		}
	}
	t.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].created.Before(list[j].created) })
	return list
}

// busy reports whether user answered another call while this one rang
// (onlyOneDeviceWithInvitations); inv.mu is held.
func (inv *invite) busy(user string) bool {
	for _, c := range inv.candidates {
		if c.user == user && c.state == stateBusy {
			return true
		}
	}
	return false
}

// validDecline lists the codes a callee may decline with.
var validDecline = map[int]bool{403: true, 404: true, 408: true, 480: true, 486: true, 487: true, 488: true, 600: true, 603: true, 606: true}

// settleLocked ends the invitation when no candidate rings any more: 603
// (or the declines' code) when someone declined, 486 when the callees
// answered other calls (onlyOneDeviceWithInvitations), 480 when the
// candidates went away. While one still rings, the caller is told nothing.
func (t *Table) settleLocked(ctx context.Context, inv *invite) {
	declined, busy := 0, 0
	code := 0
	for _, c := range inv.candidates {
		switch c.state {
		case stateRinging:
			return
		case stateDeclined:
			declined++
			if code == 0 || c.code >= 600 || code < 600 && c.code == 486 {
				code = c.code
			}
		case stateBusy:
			busy++
		}
	}
	if len(inv.candidates) == 0 && t.resolvePush() {
		return // still waiting for a pushed phone to connect
	}
	switch {
	case declined > 0:
		if busy > 0 && code < 600 {
			code = 486
		}
		t.endLocked(ctx, inv, stateDeclined, code, "declined")
	case busy > 0:
		t.endLocked(ctx, inv, stateFailed, 486, msgBusyAnswered)
	default:
		t.endLocked(ctx, inv, stateFailed, 480, "not connected: the callee's sessions went away")
	}
}

// The caller's messages for a busy callee: in a call already when the
// invitation came (conferenceState.allowInvitesWhileInCall false), or
// answering another call while it rang (onlyOneDeviceWithInvitations).
const (
	msgBusyInCall   = "busy: already in a call"
	msgBusyAnswered = "busy: the callee answered another call"
)

// endLocked ends a ringing invitation with an outcome for the caller.
// The callees' devices still ringing hear the same code and message as the
// caller, so that a device tells why it stopped (the caller cancelled, the
// room was destroyed, nobody answered).
func (t *Table) endLocked(ctx context.Context, inv *invite, state string, code int, msg string) {
	if msg == "" {
		msg = "cancelled by the caller"
	}
	t.finishLocked(ctx, inv, state, code, msg, "")
	var out outcomeFrame
	switch state {
	case stateDeclined:
		// The seeds answer a rejection with an answer carrying the error;
		// from and to are those of the request, as in SIP: from the caller,
		// to the callee.
		out = outcomeFrame{Answer: inv.outcome, RequestID: inv.reqID, From: inv.caller.ID, To: firstTarget(inv), Error: code}
	default:
		out = outcomeFrame{Cancel: inv.outcome, RequestID: inv.reqID, Error: code, Message: msg, To: firstTarget(inv), From: inv.caller.ID}
	}
	t.sendCaller(inv, wire.Encode(out))
	t.notifyCaller(inv, state, code)
	t.record(ctx, inv, state, code, "")
	if inv.transfer != nil && state != stateAccepted {
		plan := inv.transfer
		t.Tasks.Go(func(ctx context.Context) { t.transferFailed(ctx, plan, code) })
	}
}

func firstTarget(inv *invite) string {
	if inv.group != "" {
		return inv.group
	}
	for id := range inv.targets {
		return id
	}
	return inv.to
}

// Reply forwards a callee session's answer or decline to the node
// that owns the invitation; a refusal comes back to the session as a cancel.
func (t *Table) Reply(ctx context.Context, s *session.Session, f *wire.Frame, p session.Pending) {
	var op inviteOp
	if f.Kind() == "answer" {
		accept := &acceptOp{Session: s.ID}
		op = accept
		if p.Kind == "inviteRequest" {
			var pl struct {
				Room string `json:"room"`
			}
			if err := f.DecodePayload(&pl); err != nil {
				s.AddPending(f.RequestID, p)
				var pe *wire.ProtocolError
				errors.As(err, &pe)
				s.Send(wire.CancelFrame(f.Name(), f.RequestID, 400, pe.Message))
				return
			}
			if pl.Room == "" {
				// No room given: the callee gets a new room of its own.
				info, err := t.rooms.NewRoom(ctx, s)
				if err != nil {
					s.AddPending(f.RequestID, p)
					s.Send(wire.CancelFrame(f.Name(), f.RequestID, 500, "could not create a room"))
					return
				}
				pl.Room = info.ID
			}
			accept.Room = pl.Room
		}
	} else {
		decline := &declineOp{Session: s.ID, Code: f.Error}
		op = decline
		if decline.Code == 0 {
			decline.Code = 603
		}
		if !validDecline[decline.Code] {
			s.AddPending(f.RequestID, p)
			s.Send(wire.CancelFrame(f.Name(), f.RequestID, 400, fmt.Sprintf("%d is not a code to decline with (use 486 busy or 603 decline)", f.Error)))
			return
		}
	}
	_, err := t.call(ctx, p.Owner, p.Invite, s.Me(), op)
	var c *wire.Cancel
	switch {
	case errors.As(err, &c):
		s.Send(wire.CancelFrame(f.Name(), f.RequestID, c.Code, c.Message))
	case err != nil:
		t.Log.Warn("qss: forward answer", "invite", p.Invite, "err", err)
		s.Send(wire.CancelFrame(f.Name(), f.RequestID, 480, "the caller's server is unreachable"))
	}
}

// CancelOwn handles the caller's cancel of its own ringing request; it
// reports whether f was one.
func (t *Table) CancelOwn(ctx context.Context, s *session.Session, f *wire.Frame) bool {
	if f.Cancel != "invitation" && f.Cancel != "inviteRequest" && f.Cancel != "transfer" {
		return false
	}
	t.mu.Lock()
	id, ok := t.byCaller[s.ID+"/"+f.RequestID]
	inv := t.invites[id]
	t.mu.Unlock()
	if !ok || inv == nil {
		return false
	}
	inv.mu.Lock()
	if inv.state == stateRinging {
		t.endLocked(ctx, inv, stateCancelled, 487, "cancelled by the caller")
	}
	inv.mu.Unlock()
	return true
}

// RingNewSession rings a session that connects while invitations to its user
// ring (the seeds' currentInvitations), so a reconnecting phone still rings.
func (t *Table) RingNewSession(ctx context.Context, s *session.Session) {
	m, err := t.Node.State.SetGet(ctx, invitesKey(s.User.UserID))
	if err != nil {
		return
	}
	for inviteID, raw := range m {
		var owner string
		if json.Unmarshal(raw, &owner) != nil {
			continue
		}
		t.Log.Debug("resuming invite", "invite", inviteID, "peer", s.ID)
		if _, err := t.call(ctx, owner, inviteID, s.Me(), &addCandidateOp{Session: s.ID}); err != nil {
			t.Log.Debug("qss: ring new session", "invite", inviteID, "err", err)
		}
	}
}

// DropRequests tells the owners of the invitations in list that they no
// longer ring s (the session was away too long, or is gone).
func (t *Table) DropRequests(ctx context.Context, s *session.Session, list []session.Pending) {
	for _, p := range list {
		if _, err := t.call(ctx, p.Owner, p.Invite, s.Me(), &candidateGoneOp{Session: s.ID}); err != nil {
			t.Log.Debug("qss: drop candidate", "invite", p.Invite, "err", err)
		}
	}
}

// CallerGone cancels the invitations a session made when it goes away.
func (t *Table) CallerGone(ctx context.Context, s *session.Session) {
	for _, inv := range t.madeBy(s) {
		inv.mu.Lock()
		if inv.state == stateRinging {
			t.endLocked(ctx, inv, stateCancelled, 487, "the caller went away")
		}
		inv.mu.Unlock()
	}
}

// stopOtherInvites stops the user's other ringing invitations
// (onlyOneDeviceWithInvitations).
func (t *Table) stopOtherInvites(ctx context.Context, u session.User, except string) {
	m, err := t.Node.State.SetGet(ctx, invitesKey(u.ID))
	if err != nil {
		return
	}
	for inviteID, raw := range m {
		var owner string
		if inviteID == except || json.Unmarshal(raw, &owner) != nil {
			continue
		}
		t.Log.Debug("will reject pending invitations of", "user", u.ID, "except", except)
		if _, err := t.call(ctx, owner, inviteID, u, &dropUserOp{}); err != nil {
			t.Log.Debug("qss: stop another invitation", "invite", inviteID, "err", err)
		}
	}
}

// RoomEnded cancels this node's invitations into a room that ended, and
// tells the other nodes to do the same.
func (t *Table) RoomEnded(ctx context.Context, room string) {
	t.cancelRoom(ctx, room)
	t.Sessions.Broadcast(ctx, noticeRoomGone, room)
}

// noticeRoomGone tells every node that a room ended (its invitations stop).
const noticeRoomGone = "roomGone"

func (t *Table) cancelRoom(ctx context.Context, room string) {
	t.mu.Lock()
	var list []*invite
	for _, inv := range t.invites {
		if inv.room == room && inv.kind != "inviteRequest" {
			list = append(list, inv)
		}
	}
	t.mu.Unlock()
	for _, inv := range list {
		inv.mu.Lock()
		if inv.state == stateRinging {
			t.endLocked(ctx, inv, stateCancelled, 487, "the room was destroyed")
		}
		inv.mu.Unlock()
	}
}

// watchdog cancels invitations ringing longer than watchdog.invites.expiration.
func (t *Table) watchdog(ctx context.Context) {
	exp := t.Config.Watchdog.Invites.Expiration
	t.mu.Lock()
	var old []*invite
	for _, inv := range t.invites {
		if time.Since(inv.created) > exp {
			old = append(old, inv)
		}
	}
	t.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, inv := range old {
		inv.mu.Lock()
		if inv.state == stateRinging {
			t.endLocked(ctx, inv, stateTimeout, 408, "nobody answered")
			t.Log.Debug("invite declined", "invite", inv.id, "watchdog", true)
		}
		inv.mu.Unlock()
	}
}
