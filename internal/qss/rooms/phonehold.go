package rooms

import (
	"context"
	"strings"

	"github.com/openwac/wac/internal/qss/session"
)

// Holder puts the phones of a room on hold and takes them off (the sip
// role: a re-INVITE with a=sendonly, then a=sendrecv).
type Holder interface {
	// HoldPhones holds (hold true) or resumes the phone calls of room;
	// it only starts the work and must not block.
	HoldPhones(room string, hold bool)
}

// SetHolder sets where the apps' hold and unhold requests of the rooms
// this node owns reach the phones; call it before serving.
func (t *Table) SetHolder(h Holder) {
	t.mu.Lock()
	t.holder = h
	t.mu.Unlock()
}

// Hold puts the participation of u (a phone that held the call from its
// side) on hold or takes it off, as the hold and unhold requests do for an
// app: the others see participantHold or participantUnhold.
func (t *Table) Hold(ctx context.Context, room string, u session.User, hold bool) error {
	return t.do(ctx, room, actor{User: u}, &holdOp{Hold: hold})
}

// isPhone says whether a participant id is a phone's (a SIP leg).
func isPhone(id string) bool { return strings.HasPrefix(id, "phone-") }

// phonesHeld is what the phones of r should be after an app's hold or
// unhold: on hold while every app in the room holds, off hold as soon as
// one does not. ok is false when the room has no phone or no app.
func (r *room) phonesHeld() (hold, ok bool) {
	phones, apps, held := 0, 0, 0
	for id, p := range r.participants {
		if isPhone(id) {
			phones++
			continue
		}
		apps++
		if p.hold {
			held++
		}
	}
	return apps > 0 && held == apps, phones > 0 && apps > 0
}
