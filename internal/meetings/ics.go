package meetings

import (
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/openwac/wac/internal/store"
)

// Calendar methods of the invitations (RFC 5546).
const (
	MethodRequest = "REQUEST"
	MethodCancel  = "CANCEL"
)

// noOrganizer is the organizer address of meetings whose owner has no
// email, as the seeds have it.
const noOrganizer = "none@example.org"

// UID is the calendar UID of a meeting: the same for every invitation,
// update and cancellation of it, so that calendars replace the event.
func UID(m *store.Meeting) string { return m.ID + "@openwac" }

// Calendar is the RFC 5545 object of an invitation to m for the attendee
// address to: METHOD REQUEST (SEQUENCE the meeting's) or CANCEL.
func Calendar(m *store.Meeting, method, url, organizerName, organizerEmail, to string, now time.Time) string {
	cal := ics.NewCalendarFor("OpenWAC")
	cal.SetMethod(ics.Method(method))
	ev := cal.AddEvent(UID(m))
	ev.SetDtStampTime(now.UTC())
	ev.SetCreatedTime(time.UnixMilli(m.Created).UTC())
	ev.SetModifiedAt(time.UnixMilli(m.Updated).UTC())
	ev.SetStartAt(time.UnixMilli(m.ValidSince).UTC())
	ev.SetEndAt(time.UnixMilli(m.ValidUntil).UTC())
	ev.SetSequence(int(m.Sequence))
	ev.SetSummary(m.Name)
	desc := m.Detail.Description
	if url != "" {
		if desc != "" {
			desc += "\n\n"
		}
		desc += url
		ev.SetURL(url)
		ev.SetLocation(url)
	}
	if desc != "" {
		ev.SetDescription(desc)
	}
	if organizerEmail == "" {
		organizerEmail = noOrganizer
	}
	ev.SetOrganizer(organizerEmail, ics.WithCN(organizerName))
	ev.AddAttendee("mailto:"+to, ics.ParticipationRoleReqParticipant, ics.WithRSVP(method == MethodRequest))
	if method == MethodCancel {
		ev.SetStatus(ics.ObjectStatusCancelled)
	} else {
		ev.SetStatus(ics.ObjectStatusConfirmed)
	}
	return cal.Serialize()
}
