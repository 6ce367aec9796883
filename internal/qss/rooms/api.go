package rooms

import (
	"context"

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
