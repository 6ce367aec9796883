package invites

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// kindAttended is the request the target of an attended transfer receives.
const kindAttended = "transferring-attended-transfer"

// transferPlan is what to do when a transfer's invitation is accepted.
type transferPlan struct {
	id          string
	kind        string // blind or attended
	by          session.User
	bySession   string
	room        string // where the transferred participant was
	participant session.User
	targetRoom  string // attended: where the participant goes
	to          string // blind: whom the participant goes to
	created     time.Time
}

// transfer moves a participant of a room:
//
//   - blind: {"room", "participant", "to"} invites "to" into the room on the
//     transferor's behalf; when they accept, the transferor leaves and the
//     participant stays with the new user.
//   - attended: {"room", "participant", "targetRoom"} sends the participant
//     a "transferring-attended-transfer" request with the target room (its
//     room object, token included) where the transferor already talks to the
//     target; when the participant answers, the transferor leaves both rooms
//     and the participant's app joins the target room.
//
// The answer on the request's requestID comes when the transfer completes
// (or a cancel with the code that stopped it); the rooms' participants see
// transferCreated and transferCompleted, the transferor transferError.
func (t *Table) transfer(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	var p struct {
		Room        string          `json:"room"`
		Participant string          `json:"participant"`
		To          string          `json:"to"`
		TargetRoom  string          `json:"targetRoom"`
		Mediatypes  map[string]bool `json:"mediatypes"`
		Context     json.RawMessage `json:"context"`
	}
	if err := f.DecodePayload(&p); err != nil {
		return nil, err
	}
	switch {
	case p.Room == "":
		return nil, wire.Refuse(400, `field "room" of payload is required`)
	case p.Participant == "":
		return nil, wire.Refuse(400, `field "participant" of payload is required: whom to transfer`)
	case (p.To == "") == (p.TargetRoom == ""):
		return nil, wire.Refuse(400, `give either "to" (blind transfer) or "targetRoom" (attended transfer)`)
	}
	me := s.Me()
	info, err := t.rooms.Get(ctx, p.Room, me)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(info.Joined, me.ID) {
		return nil, wire.Refuse(403, "you are not in the room")
	}
	var part session.User
	if strings.HasPrefix(p.Participant, "phone-") {
		// A phone participant has no user record: it is its id in the
		// room (checked below), of the room's domain.
		part = session.User{ID: p.Participant, Role: RolePhone, Domain: me.Domain, DomainID: me.DomainID}
	} else {
		targets, err := t.Sessions.ResolveUsers(ctx, s, []string{p.Participant}, "participant")
		if err != nil {
			return nil, err
		}
		part = targets[0]
	}
	if part.ID == me.ID || !slices.Contains(info.Joined, part.ID) {
		return nil, wire.Refuse(404, "participant %s is not in the room", wire.Truncate(p.Participant, 40))
	}
	if p.TargetRoom == "" && isPhoneParticipant(part) && t.trunk != nil && t.trunk.Match(p.To) {
		// A phone transferred to a number: the phone network does it.
		return t.transferPhone(ctx, s, f, p.Room, part, p.To)
	}
	plan := &transferPlan{id: store.NewID(), by: me, bySession: s.ID, room: p.Room, participant: part,
		targetRoom: p.TargetRoom, to: p.To, created: time.Now()}
	media := p.Mediatypes
	if media == nil {
		media = map[string]bool{"audio": true, "video": false}
	}
	ctxJSON := p.Context
	if ctxJSON == nil {
		ctxJSON = json.RawMessage(`{"contextInfo":{}}`)
	}
	inv := &invite{id: store.NewID(), caller: me, callerSession: s.ID, reqID: f.RequestID, outcome: "transfer",
		targets: map[string]session.User{}, candidates: map[string]*candidate{}, state: stateRinging, created: time.Now(),
		mediatypes: media, context: ctxJSON, transfer: plan}
	if p.TargetRoom != "" {
		plan.kind = "attended"
		if _, err := t.rooms.Member(ctx, p.TargetRoom, me); err != nil {
			return nil, err
		}
		inv.kind, inv.room, inv.to = kindAttended, p.TargetRoom, part.ID
		inv.targets[part.ID] = part
	} else {
		plan.kind = "blind"
		to, group, only, err := t.resolve(ctx, s, p.To)
		if err != nil {
			return nil, err
		}
		if len(to) == 1 && to[0].ID == part.ID {
			return nil, wire.Refuse(400, "the participant is already in the room")
		}
		inv.kind, inv.room, inv.to, inv.group, inv.only = "invitation", p.Room, p.To, group, only
		if err := t.admit(ctx, inv, to); err != nil {
			return nil, err
		}
	}
	if err := t.launch(ctx, inv); err != nil {
		return nil, err
	}
	t.Log.Info("A transfer with id "+plan.id+" was created in the room "+p.Room, "kind", plan.kind)
	t.recordTransfer(ctx, plan, "created")
	to := ""
	if plan.kind == "blind" {
		to = firstTarget(inv)
	}
	t.rooms.Event(ctx, p.Room, "transferCreated", map[string]any{"room": p.Room, "transfer": plan.id, "kind": plan.kind,
		"by": me.ID, "participant": part.ID, "to": to, "targetRoom": p.TargetRoom})
	return session.Deferred, nil
}

// transferAccepted finishes a transfer whose invitation was accepted: the
// transferor leaves (the room, and for attended transfers the target room).
func (t *Table) transferAccepted(ctx context.Context, plan *transferPlan, by session.User) {
	rooms := []string{plan.room}
	if plan.kind == "attended" {
		rooms = append(rooms, plan.targetRoom)
	}
	for _, room := range rooms {
		ev := map[string]any{"room": room, "transfer": plan.id, "kind": plan.kind, "participant": plan.participant.ID, "to": by.ID}
		t.rooms.Event(ctx, room, "transferCompleted", ev)
		if err := t.rooms.Leave(ctx, room, plan.by, 200, "transferred"); err != nil {
			t.Log.Debug("qss: transferor leaves", "room", room, "err", err)
		}
	}
	if s := t.Sessions.Local(plan.bySession); s != nil {
		for _, room := range rooms {
			s.SetJoined(room, false)
		}
	}
	t.Log.Info("Removing the transfer "+plan.id, "state", "completed")
	t.recordTransfer(ctx, plan, "completed")
}

// transferFailed tells the transferor why the transfer did not happen.
func (t *Table) transferFailed(ctx context.Context, plan *transferPlan, code int) {
	if s := t.Sessions.Local(plan.bySession); s != nil {
		s.Send(wire.EventFrame("transferError", map[string]any{"room": plan.room, "transfer": plan.id, "participant": plan.participant.ID,
			"code": code}))
	}
	t.recordTransfer(ctx, plan, "failed")
}

func (t *Table) recordTransfer(ctx context.Context, plan *transferPlan, state string) {
	e := store.CallTransfer{ID: plan.id, Kind: plan.kind, By: plan.by.ID, Participant: plan.participant.ID, To: plan.to,
		TargetRoom: plan.targetRoom, State: state, Created: plan.created.UnixMilli()}
	if state != "created" {
		e.Ended = time.Now().UnixMilli()
	}
	if err := t.rooms.RecordTransfer(ctx, plan.room, e); err != nil {
		t.Log.Debug("qss: record transfer", "transfer", plan.id, "err", err)
	}
}
