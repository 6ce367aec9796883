package invites

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// isPhoneParticipant says whether a participant is a phone (a SIP leg of
// the room).
func isPhoneParticipant(u session.User) bool {
	return u.Role == RolePhone || strings.HasPrefix(u.ID, "phone-")
}

// transferPhone is a blind transfer of a phone participant to a phone
// number (to matches trunk.match): the trunk's side does it (REFER), the
// phone calls the number itself. When the trunk tells that the new call
// was answered, the transfer completes as an app's blind transfer does
// (transferCompleted, the transferor leaves the room, the answer on the
// request's requestID) and the phone's call with the room ends; otherwise
// the transferor gets transferError and a cancel with the code.
func (t *Table) transferPhone(ctx context.Context, s *session.Session, f *wire.Frame, room string, part session.User, to string) (any, error) {
	me := s.Me()
	plan := &transferPlan{id: store.NewID(), kind: "blind", by: me, bySession: s.ID, room: room, participant: part, to: to,
		created: time.Now()}
	target := PhoneUser(phoneNumber(to), "", me.Domain, me.DomainID)
	reqID := f.RequestID
	// The outcome waits until transferCreated is out: a trunk may answer
	// the REFER's new call before Refer returns.
	created := make(chan struct{})
	report := func(code int, reason string) {
		t.Tasks.Go(func(ctx context.Context) {
			select {
			case <-created:
			case <-ctx.Done():
				return
			}
			var out outcomeFrame
			if code >= 200 && code < 300 {
				t.transferAccepted(ctx, plan, target)
				out = outcomeFrame{Answer: "transfer", RequestID: reqID, From: me.ID, To: target.ID, WhoAccepted: target.ID}
			} else {
				c := phoneCode(code)
				t.transferFailed(ctx, plan, c)
				out = outcomeFrame{Cancel: "transfer", RequestID: reqID, Error: c, From: me.ID, To: target.ID,
					Message: fmt.Sprintf("the phone's transfer failed: %d %s", code, wire.Truncate(reason, 80))}
			}
			if ls := t.Sessions.Local(plan.bySession); ls != nil {
				ls.SendAnswer(wire.Encode(out))
			}
		})
	}
	if err := t.trunk.Refer(ctx, room, me, part, to, report); err != nil {
		close(created)
		return nil, err
	}
	t.Log.Info("A transfer with id "+plan.id+" was created in the room "+room, "kind", plan.kind, "phone", part.ID)
	t.recordTransfer(ctx, plan, "created")
	t.rooms.Event(ctx, room, "transferCreated", map[string]any{"room": room, "transfer": plan.id, "kind": plan.kind,
		"by": me.ID, "participant": part.ID, "to": target.ID, "targetRoom": ""})
	close(created)
	return session.Deferred, nil
}
