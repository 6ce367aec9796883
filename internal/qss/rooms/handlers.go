package rooms

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/qss/wire"
)

// registerHandlers serves the room requests of the sessions.
func (t *Table) registerHandlers() {
	t.Sessions.Handle("createRoom", t.createRoom)
	t.Sessions.Handle("joinRoom", t.joinRoom)
	t.Sessions.Handle("leaveRoom", t.leaveRoom)
	t.Sessions.Handle("updateRoom", t.updateRoom)
	t.Sessions.Handle("destroyRoom", t.destroyRoom)
	t.Sessions.Handle("expel", t.expel)
	t.Sessions.Handle("getRoom", t.getRoom)
	t.Sessions.Handle("hold", t.hold)
	t.Sessions.Handle("unhold", t.hold)
	t.Sessions.Handle("mute", t.mute)
	t.Sessions.Handle("sendDTMF", t.sendDTMF)
	t.Sessions.Handle("quickConference", t.quickConference)
	t.Sessions.Handle("joinMeeting", t.joinMeeting)
	t.Sessions.Handle("startRecording", t.startRecording)
	t.Sessions.Handle("stopRecording", t.stopRecording)
}

// roomPayload is the payload of requests about one room.
type roomPayload struct {
	Room        string          `json:"room"`
	Code        int             `json:"code"`
	Reason      string          `json:"reason"`
	ACL         *[]string       `json:"acl"`
	Record      *bool           `json:"record"`
	DryRun      bool            `json:"dryRun"`
	Participant string          `json:"participant"`
	Mediatypes  map[string]bool `json:"mediatypes"`
}

func (t *Table) roomRequest(f *wire.Frame) (*roomPayload, error) {
	var p roomPayload
	if err := f.DecodePayload(&p); err != nil {
		return nil, err
	}
	if p.Room == "" {
		return nil, wire.Refuse(400, `field "room" of payload is required`)
	}
	if len(p.Room) > 128 {
		return nil, wire.Refuse(400, `field "room" of payload is too long`)
	}
	return &p, nil
}

// roomAnswer runs a room operation that results in the room's info and
// answers with the room object for s.
func (t *Table) roomAnswer(ctx context.Context, s *session.Session, room string, op roomOp) (*Object, error) {
	info, err := ask[Info](ctx, t, room, actor{User: s.Me()}, op)
	if err != nil {
		return nil, err
	}
	return t.Object(info, s.User.UserID, s.ID), nil
}

func (t *Table) createRoom(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	var opts createOptions
	if err := f.DecodePayload(&opts); err != nil {
		return nil, err
	}
	if t.Config.Rooms.NotInACall && !t.Config.ConferenceState.AllowInvitesWhileInCall && t.InCall(ctx, s.User.UserID, "") {
		return nil, wire.Refuse(486, "you are already in a call")
	}
	if len(opts.ACL) > 100 {
		return nil, wire.Refuse(400, `field "acl" of payload has more than 100 users`)
	}
	if err := t.checkRecordField(ctx, s, opts.Record); err != nil {
		return nil, err
	}
	acl, err := t.Sessions.ResolveUsers(ctx, s, opts.ACL, "acl")
	if err != nil {
		return nil, err
	}
	t.Log.Debug("try to know if the user can create a room", "peer", s.ID)
	info, err := t.create(ctx, s, opts, acl, "", "")
	if err != nil {
		return nil, err
	}
	return t.Object(info, s.User.UserID, s.ID), nil
}

func (t *Table) joinRoom(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	p, err := t.roomRequest(f)
	if err != nil {
		return nil, err
	}
	obj, err := ask[Object](ctx, t, p.Room, actor{User: s.Me()}, &joinOp{Session: s.ID})
	if err != nil {
		return nil, err
	}
	s.SetJoined(p.Room, true)
	return obj, nil
}

func (t *Table) leaveRoom(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	p, err := t.roomRequest(f)
	if err != nil {
		return nil, err
	}
	if p.Code != 0 && (p.Code < 100 || p.Code > 699) {
		return nil, wire.Refuse(400, `field "code" of payload must be a SIP code (100-699)`)
	}
	t.Log.Debug("leave", "peer", s.ID, "id", p.Room)
	err = t.do(ctx, p.Room, actor{User: s.Me()}, &leaveOp{Session: s.ID, Code: p.Code, Reason: wire.Truncate(p.Reason, 200)})
	if err != nil {
		return nil, err
	}
	s.SetJoined(p.Room, false)
	return map[string]any{"room": p.Room}, nil
}

func (t *Table) updateRoom(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	p, err := t.roomRequest(f)
	if err != nil {
		return nil, err
	}
	if err := t.checkRecordField(ctx, s, p.Record != nil && *p.Record); err != nil {
		return nil, err
	}
	op := &updateOp{Session: s.ID, Record: p.Record, DryRun: p.DryRun}
	if p.ACL != nil {
		if len(*p.ACL) > 100 {
			return nil, wire.Refuse(400, `field "acl" of payload has more than 100 users`)
		}
		users, err := t.Sessions.ResolveUsers(ctx, s, *p.ACL, "acl")
		if err != nil {
			return nil, err
		}
		op.Users, op.SetACL = users, true
	}
	return t.roomAnswer(ctx, s, p.Room, op)
}

func (t *Table) destroyRoom(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	p, err := t.roomRequest(f)
	if err != nil {
		return nil, err
	}
	t.Log.Debug("close", "peer", s.ID, "id", p.Room)
	if err := t.do(ctx, p.Room, actor{User: s.Me()}, &destroyOp{}); err != nil {
		return nil, err
	}
	return map[string]any{"room": p.Room}, nil
}

// participantRequest reads the payload of a request about one participant
// of a room, and resolves the participant.
func (t *Table) participantRequest(ctx context.Context, s *session.Session, f *wire.Frame) (*roomPayload, session.User, error) {
	p, err := t.roomRequest(f)
	if err != nil {
		return nil, session.User{}, err
	}
	if p.Participant == "" {
		return nil, session.User{}, wire.Refuse(400, `field "participant" of payload is required`)
	}
	if strings.HasPrefix(p.Participant, "phone-") {
		// A phone is no user of the directory: it is known by its
		// participant id (the room's operation refuses one not in it).
		return p, session.User{ID: p.Participant}, nil
	}
	target, err := t.Sessions.ResolveUsers(ctx, s, []string{p.Participant}, "participant")
	if err != nil {
		return nil, session.User{}, err
	}
	return p, target[0], nil
}

func (t *Table) expel(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	p, target, err := t.participantRequest(ctx, s, f)
	if err != nil {
		return nil, err
	}
	if target.ID == s.User.UserID {
		return nil, wire.Refuse(400, "you cannot expel yourself; use leaveRoom")
	}
	if err := t.do(ctx, p.Room, actor{User: s.Me()}, &expelOp{Target: target.ID}); err != nil {
		return nil, err
	}
	return map[string]any{"room": p.Room, "participant": target.ID}, nil
}

func (t *Table) getRoom(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	p, err := t.roomRequest(f)
	if err != nil {
		return nil, err
	}
	t.Log.Info("Received request to list participants of room "+p.Room, "room", p.Room)
	return t.roomAnswer(ctx, s, p.Room, &getOp{})
}

func (t *Table) hold(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	p, err := t.roomRequest(f)
	if err != nil {
		return nil, err
	}
	if err := t.do(ctx, p.Room, actor{User: s.Me()}, &holdOp{Hold: f.Request == "hold"}); err != nil {
		return nil, err
	}
	return map[string]any{"room": p.Room}, nil
}

func (t *Table) mute(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	p, target, err := t.participantRequest(ctx, s, f)
	if err != nil {
		return nil, err
	}
	media := p.Mediatypes
	if media == nil {
		media = map[string]bool{"audio": true}
	}
	for k := range media {
		if k != "audio" && k != "video" && k != "screen" {
			return nil, wire.Refuse(400, `field "mediatypes" of payload may hold audio, video and screen only`)
		}
	}
	if err := t.do(ctx, p.Room, actor{User: s.Me()}, &muteOp{Target: target.ID, Mediatypes: media}); err != nil {
		return nil, err
	}
	return map[string]any{"room": p.Room, "participant": target.ID}, nil
}

// The sendDTMF request's limits.
const (
	maxDTMFDigits   = 32
	defaultDTMFTime = 100 // ms
	minDTMFTime     = 40
	maxDTMFTime     = 2000
)

// sendDTMF sends DTMF digits to the phones of a room the user is in: RFC
// 4733 events on their calls' RTP (the sip role).
func (t *Table) sendDTMF(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	var p struct {
		Room     string `json:"room"`
		Digits   string `json:"digits"`
		Duration *int   `json:"duration"`
	}
	if err := f.DecodePayload(&p); err != nil {
		return nil, err
	}
	if p.Room == "" || len(p.Room) > 128 {
		return nil, wire.Refuse(400, `field "room" of payload is required (at most 128 characters)`)
	}
	if p.Digits == "" || len(p.Digits) > maxDTMFDigits {
		return nil, wire.Refuse(400, `field "digits" of payload must have 1 to %d digits`, maxDTMFDigits)
	}
	for _, r := range p.Digits {
		if !strings.ContainsRune("0123456789*#ABCD", r) {
			return nil, wire.Refuse(400, `field "digits" of payload: %q is not a DTMF digit (0-9, *, #, A-D)`, r)
		}
	}
	ms := defaultDTMFTime
	if p.Duration != nil {
		ms = *p.Duration
		if ms < minDTMFTime || ms > maxDTMFTime {
			return nil, wire.Refuse(400, `field "duration" of payload must be %d to %d milliseconds`, minDTMFTime, maxDTMFTime)
		}
	}
	if err := t.do(ctx, p.Room, actor{User: s.Me()}, &sendDTMFOp{Digits: p.Digits, Duration: time.Duration(ms) * time.Millisecond}); err != nil {
		return nil, err
	}
	return map[string]any{"room": p.Room, "digits": p.Digits}, nil
}

// quickConference joins the room of a conference URI, creating it for the
// first user (the seeds' quick conference service).
func (t *Table) quickConference(ctx context.Context, s *session.Session, f *wire.Frame) (any, error) {
	var p struct {
		ConferenceURI string `json:"conferenceUri"`
	}
	if err := f.DecodePayload(&p); err != nil {
		return nil, err
	}
	uri := strings.TrimSpace(p.ConferenceURI)
	if uri == "" {
		return nil, wire.Refuse(400, `field "conferenceUri" of payload is required`)
	}
	if isMeeting(uri) {
		return t.enterMeeting(ctx, s, uri)
	}
	if !t.quickURI.MatchString(uri) || len(uri) > 128 {
		return nil, wire.Refuse(400, "conference URI %q does not match quickConference.uriRegex", wire.Truncate(uri, 80))
	}
	t.Log.Debug("Peer "+s.ID+" wants to join "+uri, "peer", s.ID)
	key := "qconf.x" + hexOf(uri)
	for range 3 {
		v, _, err := t.Node.State.Get(ctx, key)
		if err == nil {
			obj, err := ask[Object](ctx, t, string(v), actor{User: s.Me()}, &joinOp{Session: s.ID})
			var c *wire.Cancel
			if errors.As(err, &c) && c.Code == 404 {
				t.Node.State.Delete(ctx, key) // the room ended; start a new one
				continue
			}
			if err != nil {
				return nil, err
			}
			s.SetJoined(string(v), true)
			return obj, nil
		}
		id := newUUID()
		if err := t.Node.State.Create(ctx, key, []byte(id)); err != nil {
			continue // somebody else created it first: join theirs
		}
		if _, err := t.create(ctx, s, createOptions{}, nil, uri, id); err != nil {
			t.Node.State.Delete(ctx, key)
			return nil, err
		}
		obj, err := ask[Object](ctx, t, id, actor{User: s.Me()}, &joinOp{Session: s.ID})
		if err != nil {
			return nil, err
		}
		s.SetJoined(id, true)
		return obj, nil
	}
	return nil, wire.Refuse(500, "could not get the room of %s; try again", wire.Truncate(uri, 80))
}

func hexOf(s string) string { return hex.EncodeToString([]byte(s)) }
