package sapi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

// MeetingInvitations sends what a meeting change calls for (package
// meetings): its jobs are written through the transaction that saves the
// meeting, so that a meeting is never saved without its invitations or
// the other way round.
type MeetingInvitations interface {
	Scheduled(ctx context.Context, tx store.Store, m, prev *store.Meeting) error
	Cancelled(ctx context.Context, tx store.Store, m *store.Meeting) error
	// Wake starts the jobs once the transaction committed.
	Wake()
}

// invitationLimiter bounds the invitations each user's meetings send, per
// node (meetings.maxInvitationsPerHour): scheduling is otherwise a way to
// make the server mail anyone, again at each change.
type invitationLimiter struct {
	mu      sync.Mutex
	perUser map[string]*rate.Limiter
}

// allow takes n invitations from user's budget of perHour an hour.
func (l *invitationLimiter) allow(user string, n, perHour int) bool {
	if perHour <= 0 || n == 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perUser == nil || len(l.perUser) > 100000 {
		l.perUser = map[string]*rate.Limiter{}
	}
	lim := l.perUser[user]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(float64(perHour)/3600), perHour)
		l.perUser[user] = lim
	}
	return lim.AllowN(time.Now(), n)
}

// SetMeetings gives the API the meetings' invitations; without it meetings
// are kept but nothing is sent.
func (a *API) SetMeetings(m MeetingInvitations) { a.meetings = m }

// Limits of a meeting's text fields.
const (
	maxMeetingName        = 128
	maxMeetingDescription = 2000
	maxEmail              = 254
)

var (
	msisdnPattern   = regexp.MustCompile(`^\+?[1-9][0-9]{5,14}$`)
	languagePattern = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$`)
)

// meetingJSON is a meeting as the API shows it.
type meetingJSON struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Description  string            `json:"description"`
	Domain       string            `json:"domain"`
	User         string            `json:"user"`
	ValidSince   int64             `json:"validSince"`
	ValidUntil   int64             `json:"validUntil"`
	Language     string            `json:"language"`
	Participants []participantJSON `json:"participants"`
	Users        []string          `json:"users"`
	URL          string            `json:"url"`
	URI          string            `json:"uri"`
	DDI          *ddiJSON          `json:"ddi,omitempty"`
	Sequence     int64             `json:"sequence"`
	Created      int64             `json:"created"`
	Updated      int64             `json:"updated"`
}

type ddiJSON struct {
	Extension string `json:"extension"`
	PIN       string `json:"pin"`
}

// participantJSON is one participant: exactly one of user (an id, in
// answers; an id, username, username@domain or alias in requests), email
// and phone.
type participantJSON struct {
	Type     string `json:"type,omitempty"`
	User     string `json:"user,omitempty"`
	Username string `json:"username,omitempty"`
	Email    string `json:"email,omitempty"`
	Phone    string `json:"phone,omitempty"`
}

// meetingBody is what POST and PUT accept.
type meetingBody struct {
	Name         *string            `json:"name"`
	Description  *string            `json:"description"`
	ValidSince   *int64             `json:"validSince"`
	ValidUntil   *int64             `json:"validUntil"`
	Language     *string            `json:"language"`
	Participants *[]participantJSON `json:"participants"`
	// Read-only fields a client may send back as it got them.
	ID       string   `json:"id"`
	Domain   string   `json:"domain"`
	User     string   `json:"user"`
	Users    []string `json:"users"`
	URL      string   `json:"url"`
	URI      string   `json:"uri"`
	DDI      *ddiJSON `json:"ddi"`
	Sequence int64    `json:"sequence"`
	Created  int64    `json:"created"`
	Updated  int64    `json:"updated"`
}

func (a *API) meetingJSON(ctx context.Context, names domainNames, m *store.Meeting) (*meetingJSON, error) {
	dn, err := a.domainName(ctx, names, m.DomainID)
	if err != nil {
		return nil, err
	}
	out := &meetingJSON{ID: m.ID, Name: m.Name, Description: m.Detail.Description, Domain: dn, User: m.OwnerID,
		ValidSince: m.ValidSince, ValidUntil: m.ValidUntil, Language: m.Detail.Language,
		Participants: []participantJSON{}, Users: []string{},
		URL: a.cfg.MeetingLinkBase() + "/meeting/" + m.ID + "?domain=" + url.QueryEscape(dn), URI: "wac-meeting:" + m.ID,
		Sequence: m.Sequence, Created: m.Created, Updated: m.Updated}
	for _, p := range m.Detail.Participants {
		j := participantJSON{Type: p.Type, User: p.UserID, Email: p.Email, Phone: p.Phone}
		if p.Type == store.ParticipantUser {
			out.Users = append(out.Users, p.UserID)
			if u, err := a.st.GetUser(ctx, p.UserID); err == nil {
				j.Username = u.Username
			}
		}
		out.Participants = append(out.Participants, j)
	}
	if a.cfg.Meetings.PSTNExtension != "" && m.PIN != "" {
		out.DDI = &ddiJSON{Extension: a.cfg.Meetings.PSTNExtension, PIN: m.PIN}
	}
	return out, nil
}

// visibleMeeting loads the meeting of the path for a caller who may see
// it: its owner, its user participants, and admins of its domain. To
// anybody else it does not exist. manage says whether the caller may also
// change it (owner or admin).
func (a *API) visibleMeeting(r *http.Request, p *auth.Principal) (m *store.Meeting, manage bool, err error) {
	id, err := pathID(r, "id", "meeting")
	if err != nil {
		return nil, false, err
	}
	m, err = a.st.GetMeeting(r.Context(), id)
	if err != nil {
		return nil, false, storeErr(err, "meeting")
	}
	if p.IsAdmin() {
		scope, err := a.auth.Scope(r.Context(), p)
		if err != nil {
			return nil, false, err
		}
		if auth.InScope(scope, m.DomainID) {
			return m, true, nil
		}
	}
	if p.UserID != "" && !p.IsAnonymous() {
		if m.OwnerID == p.UserID {
			return m, true, nil
		}
		for _, u := range m.Users() {
			if u == p.UserID {
				return m, false, nil
			}
		}
	}
	return nil, false, notFound("meeting")
}

// listMeetings is GET /sapi/meetings: the meetings the caller owns or is
// invited to; admins those of their domains (?user= narrows to one user's).
// ?from= and ?to= keep the meetings whose window meets [from, to).
func (a *API) listMeetings(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	var f store.MeetingFilter
	userQ, err := queryText(r, "user", maxQueryName)
	if err != nil {
		return err
	}
	for _, q := range []struct {
		name string
		dst  *int64
	}{{"from", &f.From}, {"to", &f.To}} {
		v, err := queryText(r, q.name, 40)
		if err != nil {
			return err
		}
		if v == "" {
			continue
		}
		t, ok := parseWhen(v)
		if !ok {
			return fieldErr(http.StatusBadRequest, q.name, "must be unix milliseconds or an RFC 3339 date or time, not %q", v)
		}
		*q.dst = t
	}
	switch {
	case p.IsAdmin():
		if f.DomainIDs, err = a.auth.Scope(r.Context(), p); err != nil {
			return err
		}
		f.UserID = userQ
	case p.UserID == "" || p.IsAnonymous():
		writeJSON(w, http.StatusOK, []meetingJSON{})
		return nil
	default:
		if userQ != "" && userQ != p.UserID {
			return forbidden("only admins may list another user's meetings (field user)")
		}
		f.UserID = p.UserID
	}
	list, err := a.st.ListMeetings(r.Context(), f, pg)
	if err != nil {
		return err
	}
	return writeList(w, list, func(names domainNames, m *store.Meeting) (*meetingJSON, error) {
		return a.meetingJSON(r.Context(), names, m)
	})
}

func (a *API) getMeeting(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	m, _, err := a.visibleMeeting(r, p)
	if err != nil {
		return err
	}
	j, err := a.meetingJSON(r.Context(), domainNames{}, m)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// meetingText checks a text field: UTF-8 without control characters (but
// line breaks in a description), at most max characters.
func meetingText(field, v string, max int, lines bool) error {
	if !utf8.ValidString(v) {
		return invalid(field, "must be UTF-8 text")
	}
	if strings.ContainsFunc(v, func(c rune) bool { return unicode.IsControl(c) && !(lines && (c == '\n' || c == '\r' || c == '\t')) }) {
		return invalid(field, "must not contain control characters")
	}
	if n := utf8.RuneCountInString(v); n > max {
		return invalid(field, "must be at most %d characters, not %d", max, n)
	}
	return nil
}

// applyMeeting checks body and applies it to m (create: every required
// field; update: the fields present).
func (a *API) applyMeeting(ctx context.Context, p *auth.Principal, m *store.Meeting, body *meetingBody, create bool) error {
	if body.Name != nil {
		name := strings.TrimSpace(*body.Name)
		if name == "" {
			return required("name")
		}
		if err := meetingText("name", name, maxMeetingName, false); err != nil {
			return err
		}
		m.Name = name
	} else if create {
		return required("name")
	}
	if body.Description != nil {
		if err := meetingText("description", *body.Description, maxMeetingDescription, true); err != nil {
			return err
		}
		m.Detail.Description = *body.Description
	}
	if body.Language != nil {
		l := strings.TrimSpace(*body.Language)
		if l != "" && !languagePattern.MatchString(l) {
			return invalid("language", "%s is not a language tag such as en or es", quote(l))
		}
		m.Detail.Language = l
	}
	if body.ValidSince != nil {
		m.ValidSince = *body.ValidSince
	} else if create {
		return required("validSince")
	}
	if body.ValidUntil != nil {
		m.ValidUntil = *body.ValidUntil
	} else if create {
		return required("validUntil")
	}
	if m.ValidSince <= 0 {
		return invalid("validSince", "must be a time in unix milliseconds")
	}
	if m.ValidUntil <= m.ValidSince {
		return invalid("validUntil", "must be after validSince (%d), not %d", m.ValidSince, m.ValidUntil)
	}
	if maxLen := int64(a.cfg.Meetings.MaxDurationHours) * 3600 * 1000; m.ValidUntil-m.ValidSince > maxLen {
		return invalid("validUntil", "the meeting may last at most %d hours (meetings.maxDurationHours)", a.cfg.Meetings.MaxDurationHours)
	}
	if (create || body.ValidUntil != nil) && m.ValidUntil <= time.Now().UnixMilli() {
		return invalid("validUntil", "the meeting's window has ended already")
	}
	if body.Participants != nil {
		parts, err := a.meetingParticipants(ctx, p, m, *body.Participants)
		if err != nil {
			return err
		}
		m.Detail.Participants = parts
	}
	return nil
}

// meetingParticipants checks and resolves the participants of a request:
// users of the meeting's domain (for admins, of the domains they
// administer), email addresses and phone numbers (MSISDN).
func (a *API) meetingParticipants(ctx context.Context, p *auth.Principal, m *store.Meeting, in []participantJSON) ([]store.MeetingParticipant, error) {
	if max := a.cfg.Meetings.MaxParticipants; len(in) > max {
		return nil, invalid("participants", "a meeting may have at most %d participants (meetings.maxParticipants), not %d", max, len(in))
	}
	var scope []string
	if p.IsAdmin() {
		var err error
		if scope, err = a.auth.Scope(ctx, p); err != nil {
			return nil, err
		}
	}
	out := make([]store.MeetingParticipant, 0, len(in))
	seen := map[string]bool{}
	for i, j := range in {
		field := fmt.Sprintf("participants[%d]", i)
		set := 0
		for _, v := range []string{j.User, j.Email, j.Phone} {
			if v != "" {
				set++
			}
		}
		if set != 1 {
			return nil, invalid(field, "must have exactly one of user, email and phone")
		}
		var mp store.MeetingParticipant
		switch {
		case j.User != "":
			if err := meetingText(field+".user", j.User, maxQueryName, false); err != nil {
				return nil, err
			}
			u, err := a.auth.Resolve(ctx, m.DomainID, strings.TrimPrefix(j.User, "wac-user:"))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
			allowed := err == nil && u.Role != store.RoleAnonymous &&
				(u.DomainID == m.DomainID || p.IsAdmin() && auth.InScope(scope, u.DomainID))
			if !allowed {
				return nil, invalid(field+".user", "Specified participant does not exist: %s", quote(j.User))
			}
			mp = store.MeetingParticipant{Type: store.ParticipantUser, UserID: u.ID}
		case j.Email != "":
			addr, err := mail.ParseAddress(j.Email)
			if err != nil || addr.Name != "" || addr.Address != strings.TrimSpace(j.Email) || len(j.Email) > maxEmail {
				return nil, invalid(field+".email", "%s is not an email address", quote(j.Email))
			}
			mp = store.MeetingParticipant{Type: store.ParticipantEmail, Email: addr.Address}
		default:
			phone := strings.ReplaceAll(j.Phone, " ", "")
			if !msisdnPattern.MatchString(phone) {
				return nil, invalid(field+".phone", "%s is not a phone number in MSISDN form (+ and 6 to 15 digits)", quote(j.Phone))
			}
			mp = store.MeetingParticipant{Type: store.ParticipantPhone, Phone: phone}
		}
		key := mp.Type + ":" + strings.ToLower(mp.UserID+mp.Email+mp.Phone)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, mp)
	}
	return out, nil
}

// allowInvitations refuses a change whose invitations would pass the
// caller's hourly budget (429).
func (a *API) allowInvitations(p *auth.Principal, m *store.Meeting) error {
	perHour := a.cfg.Meetings.MaxInvitationsPerHour
	if !a.invitesLimit.allow(p.UserID+p.ClientID, len(m.Detail.Participants), perHour) {
		return errorf(http.StatusTooManyRequests, "your meetings would send more than %d invitations in an hour (meetings.maxInvitationsPerHour); try again later", perHour)
	}
	return nil
}

// newPIN is an 8-digit dial-in code.
func newPIN() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(100000000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%08d", n.Int64()), nil
}

// createMeeting is POST /sapi/meetings: users with the meetings capability
// schedule a meeting in their domain.
func (a *API) createMeeting(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if p.UserID == "" || p.IsAnonymous() {
		return forbidden("only users schedule meetings")
	}
	caps, err := a.auth.Capabilities(r.Context(), p)
	if err != nil {
		return err
	}
	if !caps.Has("meetings") {
		return forbidden("the meetings capability is required to schedule meetings")
	}
	var body meetingBody
	if err := decode(r, &body); err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	m := &store.Meeting{ID: store.NewID(), DomainID: p.DomainID, OwnerID: p.UserID, Created: now, Updated: now}
	if err := a.applyMeeting(r.Context(), p, m, &body, true); err != nil {
		return err
	}
	n, err := a.st.CountMeetings(r.Context(), p.UserID, now)
	if err != nil {
		return err
	}
	if n >= a.cfg.Meetings.MaxPerUser {
		return errorf(http.StatusTooManyRequests, "you have %d meetings to come, the most meetings.maxPerUser allows; delete one first", n)
	}
	if err := a.allowInvitations(p, m); err != nil {
		return err
	}
	if err := a.saveMeeting(r.Context(), m, nil); err != nil {
		return err
	}
	j, err := a.meetingJSON(r.Context(), domainNames{}, m)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/sapi/meetings/"+m.ID)
	writeJSON(w, http.StatusCreated, j)
	return nil
}

// saveMeeting writes m and its invitations in one transaction (a PIN
// taken by another meeting is drawn again).
func (a *API) saveMeeting(ctx context.Context, m, prev *store.Meeting) error {
	for attempt := 0; ; attempt++ {
		if a.cfg.Meetings.PSTNExtension != "" && m.PIN == "" || attempt > 0 {
			pin, err := newPIN()
			if err != nil {
				return err
			}
			m.PIN = pin
		}
		err := a.st.InTx(ctx, func(tx store.Store) error {
			if err := tx.SaveMeeting(ctx, m); err != nil {
				return err
			}
			if a.meetings == nil {
				return nil
			}
			if prev == nil || prev.ID == "" {
				return a.meetings.Scheduled(ctx, tx, m, nil)
			}
			return a.meetings.Scheduled(ctx, tx, m, prev)
		})
		if c, ok := store.IsConflict(err); ok && c.Field == "pin" && attempt < 5 {
			continue
		}
		if err != nil {
			return storeErr(err, "meeting")
		}
		if a.meetings != nil {
			a.meetings.Wake()
		}
		return nil
	}
}

// updateMeeting is PUT /sapi/meetings/{id}: its owner or an admin of its
// domain changes it; the participants get the new invitation (a higher
// calendar SEQUENCE), those taken out a cancellation.
func (a *API) updateMeeting(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	m, manage, err := a.visibleMeeting(r, p)
	if err != nil {
		return err
	}
	if !manage {
		return forbidden("only the meeting's owner or an admin of its domain changes it")
	}
	var body meetingBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.ID != "" && body.ID != m.ID {
		return invalid("id", "does not match the meeting of the path")
	}
	prev := *m
	prev.Detail.Participants = append([]store.MeetingParticipant(nil), m.Detail.Participants...)
	if err := a.applyMeeting(r.Context(), p, m, &body, false); err != nil {
		return err
	}
	if err := a.allowInvitations(p, m); err != nil {
		return err
	}
	m.Sequence++
	m.Updated = time.Now().UnixMilli()
	if err := a.saveMeeting(r.Context(), m, &prev); err != nil {
		return err
	}
	j, err := a.meetingJSON(r.Context(), domainNames{}, m)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// deleteMeeting is DELETE /sapi/meetings/{id}: the meeting is cancelled
// (its participants get a cancellation) and removed.
func (a *API) deleteMeeting(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	m, manage, err := a.visibleMeeting(r, p)
	if err != nil {
		return err
	}
	if !manage {
		return forbidden("only the meeting's owner or an admin of its domain cancels it")
	}
	err = a.st.InTx(r.Context(), func(tx store.Store) error {
		if err := tx.DeleteMeeting(r.Context(), m.ID); err != nil {
			return err
		}
		if a.meetings == nil {
			return nil
		}
		return a.meetings.Cancelled(r.Context(), tx, m)
	})
	if err != nil {
		return storeErr(err, "meeting")
	}
	if a.meetings != nil {
		a.meetings.Wake()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// removeFromMeetings takes a deleted user out of the participants of the
// meetings it was invited to (its own meetings stay, for its domain's
// admins to keep or cancel).
func removeFromMeetings(ctx context.Context, tx store.Store, userID string) error {
	list, err := tx.ListMeetings(ctx, store.MeetingFilter{UserID: userID}, store.Page{})
	if err != nil {
		return err
	}
	for _, m := range list {
		kept := m.Detail.Participants[:0]
		for _, p := range m.Detail.Participants {
			if p.Type != store.ParticipantUser || p.UserID != userID {
				kept = append(kept, p)
			}
		}
		if len(kept) == len(m.Detail.Participants) {
			continue
		}
		m.Detail.Participants = kept
		if err := tx.SaveMeeting(ctx, m); err != nil {
			return fmt.Errorf("remove user %s from meeting %s: %w", userID, m.ID, err)
		}
	}
	return nil
}
