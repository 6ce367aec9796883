package rooms

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// numberKey names, in the shared state, the room of a media number: what
// a phone dials to join it (the room object's sipUri, sip:888<number>@…).
func numberKey(number string) string { return "roomnum." + number }

// maxNumberTries bounds the numbers tried for a new room.
const maxNumberTries = 5

// claimNewNumber picks a number no room of the cluster has and claims it
// for room id in the shared state. claimed is false when the state could
// not be written (logged): the room keeps the number, and claimNumber
// tries again once the media room is made.
func (t *Table) claimNewNumber(ctx context.Context, id string) (number string, claimed bool) {
	for range maxNumberTries {
		number = t.numbers()
		err := t.Node.State.Create(ctx, numberKey(number), []byte(id))
		if err == nil {
			return number, true
		}
		if !errors.Is(err, bus.ErrExists) {
			t.Log.Warn("qss: claim the room's number", "room", id, "err", err)
			return number, false
		}
	}
	t.Log.Warn("qss: no free room number found", "room", id, "tries", maxNumberTries)
	return t.numbers(), false
}

// claimNumber makes a new room dialable by its number, when claimNewNumber
// could not (or the media node had the room with another number). Should
// the number be taken by a live room, the newer room is not dialable (and
// says so in the log) rather than taking the other's calls.
func (t *Table) claimNumber(ctx context.Context, id, number string) {
	if number == "" {
		return
	}
	err := t.Node.State.Create(ctx, numberKey(number), []byte(id))
	if errors.Is(err, bus.ErrExists) {
		t.Log.Warn("qss: the room's number is taken by another room: it cannot be dialled", "room", id, "number", number)
		return
	}
	if err != nil {
		t.Log.Warn("qss: make the room dialable", "room", id, "err", err)
	}
}

// releaseNumber forgets the number of an ended room, if it is still its.
func (t *Table) releaseNumber(ctx context.Context, id, number string) {
	if number == "" {
		return
	}
	if v, _, err := t.Node.State.Get(ctx, numberKey(number)); err == nil && string(v) == id {
		t.Node.State.Delete(ctx, numberKey(number))
	}
}

// DialIn joins a phone to the room of the number it dialled: the phone,
// made for the room's domain by phone, is let into the room's ACL by the
// server and joins with its leg as its session. A number of no room is
// refused with 404.
func (t *Table) DialIn(ctx context.Context, number string, phone func(domainID string) (session.User, error), leg string) (string, *Object, session.User, error) {
	v, _, err := t.Node.State.Get(ctx, numberKey(number))
	if errors.Is(err, bus.ErrNotFound) {
		return "", nil, session.User{}, wire.Refuse(404, "no room has the number %s", wire.Truncate(number, 20))
	}
	if err != nil {
		return "", nil, session.User{}, err
	}
	room := string(v)
	info, err := ask[Info](ctx, t, room, serverActor, &getOp{})
	if err != nil {
		return "", nil, session.User{}, err
	}
	u, err := phone(info.DomainID)
	if err != nil {
		return "", nil, session.User{}, err
	}
	if _, err := ask[Info](ctx, t, room, serverActor, &aclAddOp{Users: []session.User{u}}); err != nil {
		return "", nil, session.User{}, err
	}
	obj, err := ask[Object](ctx, t, room, actor{User: u}, &joinOp{Session: leg})
	if err != nil {
		return "", nil, session.User{}, err
	}
	return room, obj, u, nil
}

// DialInMeeting joins a phone to the room of the meeting whose dial-in PIN
// it keyed (meetings.pstnExtension), inside the meeting's window: 404 for
// a PIN of no meeting, 403 before the window, 410 after it. The phone is
// made for the meeting's domain by phone.
func (t *Table) DialInMeeting(ctx context.Context, pin string, phone func(domainID string) (session.User, error), leg string) (string, *Object, session.User, error) {
	// The seeds' log lines name the PIN; it lets anybody on the phone
	// network into the meeting, so only its last two digits are logged.
	shown := maskPIN(pin)
	t.Log.Info("Trying to get meeting room by pin "+shown, "pin", shown)
	m, err := t.Store.MeetingByPIN(ctx, pin)
	if errors.Is(err, store.ErrNotFound) {
		t.Log.Warn("Meeting with pin "+shown+" not found", "pin", shown)
		return "", nil, session.User{}, wire.Refuse(404, "no meeting has this PIN")
	}
	if err != nil {
		t.Log.Error("An error ocurred while trying to obtain the meeting info by the pin "+shown, "pin", shown, "err", err)
		return "", nil, session.User{}, err
	}
	t.Log.Debug("Obtained meeting for pin "+shown, "pin", shown, "meeting", m.ID)
	t.Log.Debug("Trying to know if the meeting "+m.ID+" is valid", "meeting", m.ID)
	if err := inWindow(m, time.Now()); err != nil {
		return "", nil, session.User{}, err
	}
	u, err := phone(m.DomainID)
	if err != nil {
		return "", nil, session.User{}, err
	}
	obj, room, err := t.meetingRoom(ctx, m, u, leg, leg)
	if err != nil {
		return "", nil, session.User{}, err
	}
	t.Log.Info("Meeting room of pin "+shown+" is "+room, "pin", shown, "room", room)
	return room, obj, u, nil
}

// maskPIN hides all but the last two digits of a PIN.
func maskPIN(pin string) string {
	if len(pin) <= 2 {
		return strings.Repeat("*", len(pin))
	}
	return strings.Repeat("*", len(pin)-2) + pin[len(pin)-2:]
}
