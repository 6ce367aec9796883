package rooms

import (
	"context"
	"slices"
	"time"

	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// What the other layers (invitations, transfers) do with rooms, wherever
// the rooms are owned.

// Get reads a room with its participants' details, for a user of its ACL
// or an admin of its domain.
func (t *Table) Get(ctx context.Context, room string, by session.User) (*Info, error) {
	return ask[Info](ctx, t, room, actor{User: by}, &getOp{})
}

// Member reads a room for a user of its ACL.
func (t *Table) Member(ctx context.Context, room string, by session.User) (*Info, error) {
	return ask[Info](ctx, t, room, actor{User: by}, &memberOp{})
}

// Admit lets users into the room's ACL, on behalf of by, for the
// invitation invite: Unadmit takes them out again if it ends without them.
func (t *Table) Admit(ctx context.Context, room string, by session.User, users []session.User, invite string) error {
	return t.do(ctx, room, actor{User: by}, &aclAddOp{Users: users, Invite: invite})
}

// Unadmit takes out of the room's ACL the users that the invitation invite
// let in and who never joined.
func (t *Table) Unadmit(ctx context.Context, room string, by session.User, users []session.User, invite string) error {
	return t.do(ctx, room, actor{User: by}, &aclRemoveOp{Users: users, Invite: invite})
}

// Leave takes every session of the user by out of the room, with a SIP
// code and a reason.
func (t *Table) Leave(ctx context.Context, room string, by session.User, code int, reason string) error {
	return t.do(ctx, room, actor{User: by}, &leaveOp{Code: code, Reason: reason})
}

// RecordInvite writes an invitation's state into the room's call record.
func (t *Table) RecordInvite(ctx context.Context, room string, e store.CallInvite) error {
	return t.do(ctx, room, serverActor, &recordInviteOp{Entry: e})
}

// RecordTransfer writes a transfer's state into the room's call record.
func (t *Table) RecordTransfer(ctx context.Context, room string, e store.CallTransfer) error {
	return t.do(ctx, room, serverActor, &recordTransferOp{Entry: e})
}

// Event sends the event name to the room's joined participants.
func (t *Table) Event(ctx context.Context, room, name string, payload any) {
	info, err := ask[Info](ctx, t, room, serverActor, &getOp{})
	if err != nil {
		return
	}
	frame := wire.EventFrame(name, payload)
	for _, p := range info.ParticipantDetail {
		t.Sessions.Deliver(ctx, p.ID, p.Sessions, frame)
	}
}

// NewRoom makes a room of this node with the defaults, for s's user.
func (t *Table) NewRoom(ctx context.Context, s *session.Session) (*Info, error) {
	return t.create(ctx, s, createOptions{}, nil, "", "")
}

// NewRoomAs makes a room of this node for creator without a session of
// theirs (a call from the SIP trunk), with acl in its ACL.
func (t *Table) NewRoomAs(ctx context.Context, creator session.User, acl []session.User) (*Info, error) {
	return t.createAs(ctx, creator, "", createOptions{}, acl, "", "")
}

// Join joins u's session (a SIP leg: a participant without a WebSocket)
// to the room, as joinRoom does for an app's session.
func (t *Table) Join(ctx context.Context, room string, u session.User, sessionID string) (*Object, error) {
	return ask[Object](ctx, t, room, actor{User: u}, &joinOp{Session: sessionID})
}

// LeaveSession takes one session of u out of the room with a SIP code and
// a reason.
func (t *Table) LeaveSession(ctx context.Context, room string, u session.User, sessionID string, code int, reason string) error {
	return t.do(ctx, room, actor{User: u}, &leaveOp{Session: sessionID, Code: code, Reason: reason})
}

// Watcher hears, on the node that owns a room, that a user left it (with
// the users still in it) or that it ended (remaining nil, ended true).
type Watcher func(ctx context.Context, room string, remaining []string, ended bool)

// Watch adds a watcher of the rooms this node owns; call it before
// serving.
func (t *Table) Watch(w Watcher) {
	t.mu.Lock()
	t.watchers = append(t.watchers, w)
	t.mu.Unlock()
}

// tellWatchers runs the watchers (never with a room's lock held).
func (t *Table) tellWatchers(room string, remaining []string, ended bool) {
	t.mu.Lock()
	ws := slices.Clone(t.watchers)
	t.mu.Unlock()
	for _, w := range ws {
		w(t.Tasks.Context(), room, remaining, ended)
	}
}

// Destroy ends a room on the server's behalf (a call from the SIP trunk
// that nobody answered, or that ended).
func (t *Table) Destroy(ctx context.Context, room string) error {
	return t.do(ctx, room, serverActor, &destroyOp{})
}

// DTMF tells the participants of room but u that u pressed digit (a
// phone's keypad, RFC 4733 from the trunk), in the order of the calls.
func (t *Table) DTMF(ctx context.Context, room string, u session.User, digit string) error {
	return t.do(ctx, room, actor{User: u}, &dtmfOp{Digit: digit})
}

// Keypad sends DTMF digits to the phones in a room (the sip role).
type Keypad interface {
	// SendDTMF sends digits (0-9, *, #, A-D, checked) lasting duration
	// each to the phones of room; it only queues them.
	SendDTMF(room, digits string, duration time.Duration) error
}

// SetKeypad sets where the sendDTMF requests of the rooms this node owns
// go; call it before serving.
func (t *Table) SetKeypad(k Keypad) {
	t.mu.Lock()
	t.keypad = k
	t.mu.Unlock()
}
