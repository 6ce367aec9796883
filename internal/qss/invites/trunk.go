package invites

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// RolePhone is the role of the user an invitation from the SIP trunk comes
// from: a phone number, not a user of the store. The callees' apps see it
// as fromType "phone".
const RolePhone = "phone"

// Trunk is where invitations to phone numbers go: the sip role, for a to
// that matches trunk.match.
type Trunk interface {
	// Match says whether an invitation to to goes to the trunk.
	Match(to string) bool
	// Dial starts the call (it does not wait for an answer); the leg
	// reports its progress and outcome through call.Report.
	Dial(ctx context.Context, call TrunkCall) (TrunkLeg, error)
	// Refer asks the phone participant phone of room, for the app user
	// by, to call to itself (a blind transfer: REFER); it returns once
	// the phone accepted the request (202), and report tells the outcome
	// later (200 when the phone's new call was answered; the call with
	// the room then ends). report is called once and must not block.
	Refer(ctx context.Context, room string, by, phone session.User, to string, report func(code int, reason string)) error
}

// TrunkCall is an invitation from an app to a phone number.
type TrunkCall struct {
	Invite string
	Room   string
	Caller session.User
	To     string
	// Phone is the participant the phone is once it answers (admitted to
	// the room's ACL by the invitation).
	Phone session.User
	// Report tells the invitation the leg's SIP progress: 180 and 183
	// while it rings, 200 when the phone answered, a final code (4xx, 5xx,
	// 6xx) when the call failed. It must not block.
	Report func(code int, reason string)
}

// TrunkLeg is the SIP side of a ringing invitation.
type TrunkLeg interface {
	// Cancel stops a call that was not answered (CANCEL).
	Cancel()
}

// SetTrunk installs the trunk; call it before serving.
func (t *Table) SetTrunk(tr Trunk) { t.trunk = tr }

// dialTrunk places an invitation to a phone number on the trunk.
func (t *Table) dialTrunk(ctx context.Context, s *session.Session, f *wire.Frame, p invitationPayload) (any, error) {
	inv := &invite{
		id: store.NewID(), kind: "invitation", room: p.Room, caller: s.Me(), callerSession: s.ID, reqID: f.RequestID,
		to: f.To, targets: map[string]session.User{}, candidates: map[string]*candidate{},
		state: stateRinging, created: time.Now(), mediatypes: p.Mediatypes, context: p.Context, outcome: "invitation",
		phone: true,
	}
	phone := PhoneUser(phoneNumber(f.To), "", inv.caller.Domain, inv.caller.DomainID)
	inv.targets[phone.ID] = phone
	if err := t.rooms.Admit(ctx, inv.room, inv.caller, []session.User{phone}, inv.id); err != nil {
		return nil, err
	}
	inv.mu.Lock()
	t.mu.Lock()
	t.invites[inv.id] = inv
	t.byCaller[inv.callerSession+"/"+inv.reqID] = inv.id
	t.mu.Unlock()
	t.Log.Info("pushing the invite "+inv.id+" to the trunk for "+wire.Truncate(inv.to, 80), "invite", inv.id, "room", inv.room)
	t.notifyCaller(inv, stateRinging, 0)
	t.record(ctx, inv, stateRinging, 0, "")
	inv.mu.Unlock()
	leg, err := t.trunk.Dial(ctx, TrunkCall{Invite: inv.id, Room: inv.room, Caller: inv.caller, To: inv.to, Phone: phone,
		Report: func(code int, reason string) { t.trunkReport(inv, code, reason) }})
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if err != nil {
		code, msg := 503, "the phone network is unavailable"
		var c *wire.Cancel
		if errors.As(err, &c) {
			code, msg = c.Code, c.Message
		} else {
			t.Log.Warn("qss: dial the trunk", "invite", inv.id, "err", err)
		}
		if inv.state == stateRinging {
			t.endLocked(t.Tasks.Context(), inv, stateFailed, code, msg)
		}
		return session.Deferred, nil
	}
	inv.leg = leg
	if inv.state != stateRinging && inv.state != stateAccepted {
		// Cancelled while the INVITE was being sent.
		t.Tasks.Go(func(context.Context) { leg.Cancel() })
	}
	return session.Deferred, nil
}

// phoneCode maps a SIP final response of the trunk onto the seeds' codes
// of an invitation's outcome.
func phoneCode(code int) int {
	switch {
	case code == 480 || code == 408:
		return 408
	case code == 486 || code == 600:
		return 486
	case code == 404 || code == 484 || code == 604:
		return 404
	case code == 603 || code == 403:
		return code
	case code == 487:
		return 487
	case code == 488 || code == 606:
		return 488
	case code >= 500 && code < 600:
		return 503
	}
	return code
}

// trunkReport applies the SIP progress of an outbound call.
func (t *Table) trunkReport(inv *invite, code int, reason string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.state != stateRinging {
		return
	}
	ctx := t.Tasks.Context()
	switch {
	case code < 200:
		t.notifyCaller(inv, stateRinging, code)
	case code < 300:
		t.finishLocked(ctx, inv, stateAccepted, 200, "answered", "")
		t.sendCaller(inv, wire.Encode(outcomeFrame{Answer: inv.outcome, RequestID: inv.reqID, From: inv.to, To: inv.to,
			WhoAccepted: inv.to}))
		t.notifyCaller(inv, stateAccepted, 200)
		t.record(ctx, inv, stateAccepted, 200, inv.to)
	default:
		c := phoneCode(code)
		msg := fmt.Sprintf("the phone network answered %d %s", code, wire.Truncate(reason, 80))
		switch c {
		case 486, 603:
			t.endLocked(ctx, inv, stateDeclined, c, msg)
		case 408:
			t.endLocked(ctx, inv, stateTimeout, c, msg)
		default:
			t.endLocked(ctx, inv, stateFailed, c, msg)
		}
	}
}

// PhoneCall is a call from the SIP trunk to the owner of a SIP mapping.
type PhoneCall struct {
	// From is the caller's number (the From user part), Display its
	// display name.
	From, Display string
	// Mapping is the SIP mapping of the number called.
	Mapping *store.SipMapping
	// Report tells the trunk the outcome: 200 with the room when a device
	// answered, else the final code for the trunk (404, 480, 403, 486,
	// 603, 408). It is called once and must not block.
	Report func(code int, room string)
	// Room, when set, is the room the phone already talks in: the
	// mapping's owner is rung into it (the phone's blind transfer, REFER)
	// instead of into a new room, and the room stays when nobody answers.
	Room string
}

// PhoneUser is the participant a phone number is in a room of domain: its
// id is "phone-" and the number (a leading + as 00), or the number's hex
// when it holds more than digits, so that it is a key of the shared state;
// its username is the number.
func PhoneUser(number, display, domainName, domainID string) session.User {
	id := number
	if strings.HasPrefix(id, "+") {
		id = "00" + id[1:]
	}
	if id == "" || strings.ContainsFunc(id, func(r rune) bool { return r < '0' || r > '9' }) {
		id = "x" + hex.EncodeToString([]byte(number))
	}
	return session.User{ID: "phone-" + id, Username: number, Role: RolePhone, Alias: display, Domain: domainName, DomainID: domainID}
}

// phoneNumber is the number an invitation's to dials: without its URI
// scheme (tel:, sip:) and host.
func phoneNumber(to string) string {
	if _, rest, ok := strings.Cut(to, ":"); ok {
		to = rest
	}
	to, _, _ = strings.Cut(to, "@")
	to, _, _ = strings.Cut(to, ";")
	return to
}

// Ring rings the owner of a SIP mapping (every device of the user, or the
// group's participants) for a call from the trunk: a room of the callee's
// domain is made with the phone caller in its ACL, and the invitation
// rings as an app's would. The returned function cancels it (the trunk
// sent CANCEL). A refusal before ringing (unknown, offline, no
// permission, busy) is an error carrying the code (Code).
func (t *Table) Ring(ctx context.Context, call PhoneCall) (cancel func(), err error) {
	m := call.Mapping
	d, err := t.Store.GetDomain(ctx, m.DomainID)
	if err != nil {
		return nil, fmt.Errorf("the mapping's domain: %w", err)
	}
	caller := PhoneUser(call.From, call.Display, d.Name, d.ID)
	var targets []session.User
	group := ""
	switch m.OwnerType {
	case store.SipOwnerUser:
		u, err := t.Store.GetUser(ctx, m.OwnerID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, wire.Refuse(404, "the mapping's user is gone")
		}
		if err != nil {
			return nil, err
		}
		targets = append(targets, t.Sessions.UserOfRecord(ctx, u))
	case store.SipOwnerGroup:
		members, err := t.Store.GroupMembers(ctx, m.OwnerID)
		if err != nil {
			return nil, err
		}
		for _, id := range members {
			if u, err := t.Store.GetUser(ctx, id); err == nil {
				targets = append(targets, t.Sessions.UserOfRecord(ctx, u))
			}
		}
		group = m.OwnerID
		if len(targets) == 0 {
			return nil, wire.Refuse(480, "the group has nobody to ring")
		}
	default:
		return nil, wire.Refuse(404, "unknown mapping owner")
	}
	inv := &invite{
		id: store.NewID(), kind: "invitation", caller: caller, to: m.Username, group: group,
		targets: map[string]session.User{}, candidates: map[string]*candidate{}, state: stateRinging, created: time.Now(),
		mediatypes: map[string]bool{"audio": true, "video": false}, context: json.RawMessage(`{"contextInfo":{}}`),
		outcome: "invitation", phone: true, report: call.Report,
	}
	if err := t.admitPhone(ctx, inv, targets); err != nil {
		return nil, err
	}
	if call.Room != "" {
		// A transfer from the phone (REFER): the targets are rung into
		// the phone's room, on the phone's behalf.
		inv.room, inv.intoRoom = call.Room, true
		if err := t.rooms.Admit(ctx, inv.room, caller, mapValues(inv.targets), inv.id); err != nil {
			return nil, err
		}
	} else {
		acl := append(mapValues(inv.targets), caller)
		info, err := t.rooms.NewRoomAs(ctx, mapValues(inv.targets)[0], acl)
		if err != nil {
			return nil, fmt.Errorf("make the call's room: %w", err)
		}
		inv.room = info.ID
	}
	sessions, err := t.candidateSessions(ctx, inv)
	if err != nil {
		return nil, err
	}
	// Devices without a session are woken by push, as for an app's call
	// (invites.basic.resolvePush); the trunk hears 180 meanwhile.
	toPush, err := t.pushTargets(ctx, inv)
	if err != nil {
		t.Log.Warn("qss: find the devices to push", "invite", inv.id, "err", err)
	}
	if len(sessions) == 0 && len(toPush) == 0 {
		t.record(ctx, inv, stateFailed, 480, "")
		if inv.intoRoom {
			if err := t.rooms.Unadmit(ctx, inv.room, caller, mapValues(inv.targets), inv.id); err != nil {
				t.Log.Debug("qss: take a transfer's targets out of the room's ACL", "room", inv.room, "err", err)
			}
		} else if err := t.rooms.Destroy(ctx, inv.room); err != nil {
			t.Log.Debug("qss: destroy the room of an unanswered phone call", "room", inv.room, "err", err)
		}
		return nil, wire.Refuse(480, msgNotConnected)
	}
	inv.mu.Lock()
	inv.pushed = toPush
	t.mu.Lock()
	t.invites[inv.id] = inv
	t.mu.Unlock()
	for uid := range inv.targets {
		t.Node.State.SetPut(ctx, invitesKey(uid), inv.id, t.Node.ID)
	}
	for _, si := range sessions {
		t.ringLocked(ctx, inv, si.User, si.ID)
	}
	t.Log.Info("pushing the invite "+inv.id+" from the trunk to the room "+inv.room, "invite", inv.id)
	t.record(ctx, inv, stateRinging, 0, "")
	inv.mu.Unlock()
	t.pushRinging(inv, toPush)
	return func() {
		inv.mu.Lock()
		defer inv.mu.Unlock()
		if inv.state == stateRinging {
			inv.report = nil // the trunk gave up: it gets no answer
			t.endLocked(t.Tasks.Context(), inv, stateCancelled, 487, "cancelled by the caller")
		}
	}, nil
}

// admitPhone keeps the targets that may be rung by a phone call, as admit
// does for an app's; the refusal's code is the SIP answer (403 without
// receiveCalls, 486 busy).
func (t *Table) admitPhone(ctx context.Context, inv *invite, targets []session.User) error {
	busy, denied := 0, 0
	for _, u := range targets {
		ok, err := t.Auth.Permission(ctx, auth.PermissionReceiveCalls, u.ID, u.DomainID)
		if err != nil {
			return err
		}
		if !ok {
			denied++
			continue
		}
		if !t.Config.ConferenceState.AllowInvitesWhileInCall && t.rooms.InCall(ctx, u.ID, "") {
			busy++
			continue
		}
		inv.targets[u.ID] = u
	}
	switch {
	case len(inv.targets) > 0:
		return nil
	case busy > 0:
		return wire.Refuse(486, msgBusyInCall)
	default:
		return wire.Refuse(403, "not allowed: the callee does not receive calls")
	}
}

// reportLocked tells the trunk the outcome of a call from it; inv.mu is
// held.
func (inv *invite) reportLocked(code int) {
	if inv.report == nil {
		return
	}
	r := inv.report
	inv.report = nil
	r(code, inv.room)
}
