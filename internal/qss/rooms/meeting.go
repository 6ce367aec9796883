package rooms

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// MeetingPrefix starts the URI of a meeting, wac-meeting:<id>.
const MeetingPrefix = "wac-meeting:"

// isMeeting reports whether a room's URI is a meeting's: its ACL is the
// meeting's to manage (joinMeeting adds who may come), so joinRoom is for
// those already in it.
func isMeeting(uri string) bool { return strings.HasPrefix(uri, MeetingPrefix) }

// joinMeeting is the seeds' meeting signaling: a session joins the room of
// a meeting by its URI (wac-meeting:<id>, or the id), inside the meeting's
// window. The first to come creates the room; the meeting puts each
// participant in its ACL. Who may come: the meeting's owner, its user
// participants, the users of its domain and anonymous guests of its domain
// (they exist only where the domain allows anonymous users; the link is
// what they were given). Anybody else is told the meeting does not exist.
func (t *Table) joinMeeting(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	var p struct {
		Meeting       string `json:"meeting"`
		MeetingURI    string `json:"meetingUri"`
		ConferenceURI string `json:"conferenceUri"`
	}
	if err := f.DecodePayload(&p); err != nil {
		return nil, err
	}
	ref := strings.TrimSpace(p.Meeting + p.MeetingURI + p.ConferenceURI)
	if ref == "" {
		return nil, wire.Refuse(400, `field "meetingUri" of payload is required: wac-meeting:<id>`)
	}
	return t.enterMeeting(ctx, s, ref)
}

func (t *Table) enterMeeting(ctx context.Context, s *session.Session, ref string) (any, error) {
	id := strings.TrimPrefix(ref, MeetingPrefix)
	t.Log.Debug("Peer "+s.ID+" wants to join to "+MeetingPrefix+wire.Truncate(id, 40), "peer", s.ID)
	if !store.ValidID(id) {
		return nil, wire.Refuse(404, "meeting %q not found", wire.Truncate(ref, 80))
	}
	t.Log.Debug("Trying to know if the meeting "+id+" is valid", "peer", s.ID)
	m, err := t.Store.GetMeeting(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, wire.Refuse(404, "meeting %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	if !t.mayAttend(ctx, s.User, m) {
		return nil, wire.Refuse(404, "meeting %s not found", id)
	}
	if err := inWindow(m, time.Now()); err != nil {
		return nil, err
	}
	me := s.Me()
	obj, room, err := t.meetingRoom(ctx, m, me, s.ID, s.ID)
	if err != nil {
		return nil, err
	}
	s.SetJoined(room, true)
	return obj, nil
}

// inWindow refuses a meeting outside its valid window: 403 before, 410
// after.
func inWindow(m *store.Meeting, now time.Time) error {
	ms := now.UnixMilli()
	if ms < m.ValidSince {
		return wire.Refuse(403, "meeting %s has not started: it opens at %s", m.ID,
			time.UnixMilli(m.ValidSince).UTC().Format(time.RFC3339))
	}
	if ms >= m.ValidUntil {
		return wire.Refuse(410, "meeting %s is over: it closed at %s", m.ID,
			time.UnixMilli(m.ValidUntil).UTC().Format(time.RFC3339))
	}
	return nil
}

// meetingRoom puts me in the ACL of the meeting's room, creating the room
// if nobody is there yet, and joins it with the session sessionID (an
// app's session, or a phone's leg); peer names who asked, for the logs.
func (t *Table) meetingRoom(ctx context.Context, m *store.Meeting, me session.User, sessionID, peer string) (*Object, string, error) {
	uri := MeetingPrefix + m.ID
	key := "qconf.x" + hexOf(uri)
	for range 3 {
		v, _, err := t.Node.State.Get(ctx, key)
		if err == nil {
			room := string(v)
			t.Log.Debug("add the user "+me.Username+" to the acl of the room "+room, "room", room)
			_, err := ask[Info](ctx, t, room, serverActor, &aclAddOp{Users: []session.User{me}})
			var c *wire.Cancel
			if errors.As(err, &c) && c.Code == 404 {
				t.Node.State.Delete(ctx, key) // the room ended; start a new one
				continue
			}
			if err != nil {
				return nil, "", err
			}
			obj, err := ask[Object](ctx, t, room, actor{User: me}, &joinOp{Session: sessionID})
			if err != nil {
				return nil, "", err
			}
			return obj, room, nil
		}
		room := newUUID()
		if err := t.Node.State.Create(ctx, key, []byte(room)); err != nil {
			continue // somebody else created it first: join theirs
		}
		if _, err := t.createAs(ctx, me, peer, createOptions{domainID: m.DomainID}, []session.User{me}, uri, room); err != nil {
			t.Node.State.Delete(ctx, key)
			return nil, "", err
		}
		obj, err := ask[Object](ctx, t, room, actor{User: me}, &joinOp{Session: sessionID})
		if err != nil {
			return nil, "", err
		}
		return obj, room, nil
	}
	return nil, "", wire.Refuse(500, "could not get the room of meeting %s; try again", m.ID)
}

// mayAttend says whether a user may join a meeting: its owner and user
// participants, and the users and anonymous guests of its domain.
func (t *Table) mayAttend(ctx context.Context, p *auth.Principal, m *store.Meeting) bool {
	if p.UserID == "" {
		return false
	}
	if p.UserID == m.OwnerID || p.DomainID == m.DomainID {
		return true
	}
	for _, u := range m.Users() {
		if u == p.UserID {
			return true
		}
	}
	return false
}
