package qss

import (
	"context"

	"github.com/openwac/wac/internal/qss/invites"
	"github.com/openwac/wac/internal/qss/rooms"
	"github.com/openwac/wac/internal/qss/session"
)

// What the sip role (package sip) works with: invitations to phone
// numbers go out through a Trunk; calls from the trunk ring the owners of
// SIP mappings; a phone on a call is a participant of the call's room
// without a WebSocket.
type (
	Trunk       = invites.Trunk
	TrunkCall   = invites.TrunkCall
	TrunkLeg    = invites.TrunkLeg
	PhoneCall   = invites.PhoneCall
	User        = session.User
	RoomObject  = rooms.Object
	RoomWatcher = rooms.Watcher
)

// PhoneUser is the participant a phone number is in a room of a domain
// (invites.PhoneUser).
func PhoneUser(number, display, domainName, domainID string) User {
	return invites.PhoneUser(number, display, domainName, domainID)
}

// RolePhone is the role of a phone participant (invites.RolePhone).
const RolePhone = invites.RolePhone

// SetTrunk sends the invitations whose to matches trunk.match to tr; call
// it before serving.
func (h *Hub) SetTrunk(tr Trunk) { h.invites.SetTrunk(tr) }

// RingPhoneCall rings the owner of a SIP mapping for a call from the
// trunk (invites.Table.Ring).
func (h *Hub) RingPhoneCall(ctx context.Context, c PhoneCall) (cancel func(), err error) {
	return h.invites.Ring(ctx, c)
}

// JoinPhone joins a phone (a SIP leg) to a room as a participant.
func (h *Hub) JoinPhone(ctx context.Context, room string, u User, leg string) (*RoomObject, error) {
	return h.rooms.Join(ctx, room, u, leg)
}

// LeavePhone takes a phone's leg out of a room.
func (h *Hub) LeavePhone(ctx context.Context, room string, u User, leg string, code int, reason string) error {
	return h.rooms.LeaveSession(ctx, room, u, leg, code, reason)
}

// PhoneDTMF sends the event dtmf of a phone's digit to the other
// participants of its room.
func (h *Hub) PhoneDTMF(ctx context.Context, room string, u User, digit string) error {
	return h.rooms.DTMF(ctx, room, u, digit)
}

// Keypad sends the apps' DTMF to the phones of a room (rooms.Keypad).
type Keypad = rooms.Keypad

// SetKeypad sends the sendDTMF requests of this node's rooms to k (the
// sip role); call it before serving.
func (h *Hub) SetKeypad(k Keypad) { h.rooms.SetKeypad(k) }

// WatchRooms hears of users leaving the rooms of this node and of rooms
// ending; call it before serving.
func (h *Hub) WatchRooms(w RoomWatcher) { h.rooms.Watch(w) }

// Admit lets u into a room's ACL on behalf of by (an outbound call's phone
// into the caller's room), for the invitation invite.
func (h *Hub) Admit(ctx context.Context, room string, by, u User, invite string) error {
	return h.rooms.Admit(ctx, room, by, []User{u}, invite)
}

// EndPhoneRoom destroys the room made for a call from the trunk once the
// call ended.
func (h *Hub) EndPhoneRoom(ctx context.Context, room string) error { return h.rooms.Destroy(ctx, room) }

// DialIn joins a phone to the room of the number it dialled (the room
// object's sipUri); phone makes the participant for the room's domain. It
// returns the room, the phone's room object and the participant.
func (h *Hub) DialIn(ctx context.Context, number string, phone func(domainID string) (User, error), leg string) (string, *RoomObject, User, error) {
	return h.rooms.DialIn(ctx, number, phone, leg)
}

// DialInMeeting joins a phone to the room of the meeting of a dial-in PIN,
// inside the meeting's window.
func (h *Hub) DialInMeeting(ctx context.Context, pin string, phone func(domainID string) (User, error), leg string) (string, *RoomObject, User, error) {
	return h.rooms.DialInMeeting(ctx, pin, phone, leg)
}

// PhoneHold tells the room that a phone put the call on hold (hold true)
// or took it off, from its side (a re-INVITE): participantHold or
// participantUnhold, as for an app's hold request.
func (h *Hub) PhoneHold(ctx context.Context, room string, u User, hold bool) error {
	return h.rooms.Hold(ctx, room, u, hold)
}

// Holder puts the phones of a room on hold when its apps hold
// (rooms.Holder).
type Holder = rooms.Holder

// SetHolder sends the apps' hold and unhold requests of this node's rooms
// to the phones through hl (the sip role); call it before serving.
func (h *Hub) SetHolder(hl Holder) { h.rooms.SetHolder(hl) }
