package store

import (
	"context"
)

// Meeting is a scheduled conference (the seeds' meetings service): a window
// in which its participants (users, email addresses, phone numbers) join
// its room, and the invitations sent for it.
type Meeting struct {
	ID         string
	DomainID   string
	OwnerID    string
	Name       string
	ValidSince int64 // unix ms
	ValidUntil int64
	// PIN is the 8-digit code of dial-in (meetings.pstnExtension); "" when
	// there is none.
	PIN string
	// Sequence counts the updates that changed the invitation (the
	// calendar's SEQUENCE).
	Sequence int64
	Created  int64
	Updated  int64
	Detail   MeetingDetail
}

// MeetingDetail is the rest of a meeting.
type MeetingDetail struct {
	Description  string               `json:"description,omitempty"`
	Language     string               `json:"language,omitempty"`
	Participants []MeetingParticipant `json:"participants"`
}

// Kinds of meeting participants.
const (
	ParticipantUser  = "user"
	ParticipantEmail = "email"
	ParticipantPhone = "phone"
)

// MeetingParticipant is one invited party: a user of the platform, an email
// address or a phone number (MSISDN).
type MeetingParticipant struct {
	Type   string `json:"type"`
	UserID string `json:"user,omitempty"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
}

// Users are the ids of the participants that are users.
func (m *Meeting) Users() []string {
	var out []string
	for _, p := range m.Detail.Participants {
		if p.Type == ParticipantUser {
			out = append(out, p.UserID)
		}
	}
	return out
}

// MeetingFilter narrows a meeting listing.
type MeetingFilter struct {
	// UserID: meetings this user owns or takes part in.
	UserID string
	// DomainIDs: meetings of these domains (admins); nil = no such filter.
	DomainIDs []string
	// From, To: meetings whose window ends at or after From and starts
	// before To; 0 = unbounded.
	From, To int64
}

// Meetings stores meetings.
type Meetings interface {
	// SaveMeeting creates or replaces a meeting and the list of its users.
	SaveMeeting(ctx context.Context, m *Meeting) error
	GetMeeting(ctx context.Context, id string) (*Meeting, error)
	// MeetingByPIN finds the meeting of a dial-in PIN (ErrNotFound: none).
	MeetingByPIN(ctx context.Context, pin string) (*Meeting, error)
	ListMeetings(ctx context.Context, f MeetingFilter, p Page) ([]*Meeting, error)
	CountMeetings(ctx context.Context, ownerID string, after int64) (int, error)
	DeleteMeeting(ctx context.Context, id string) error
}

const meetingCols = `m.id, m.domain_id, m.owner_id, m.name, m.valid_since, m.valid_until, m.pin, m.sequence, m.created, m.updated, m.detail`

func scanMeeting(row interface{ Scan(...any) error }) (*Meeting, error) {
	var m Meeting
	var detail string
	if err := row.Scan(&m.ID, &m.DomainID, &m.OwnerID, &m.Name, &m.ValidSince, &m.ValidUntil, &m.PIN, &m.Sequence,
		&m.Created, &m.Updated, &detail); err != nil {
		return nil, mapErr(err)
	}
	if err := unmarshalJSON(detail, &m.Detail); err != nil {
		return nil, err
	}
	return &m, nil
}

// SaveMeeting implements Meetings.
func (s *SQL) SaveMeeting(ctx context.Context, m *Meeting) error {
	if m.ID == "" {
		m.ID = NewID()
	}
	d := m.Detail
	if d.Participants == nil {
		d.Participants = []MeetingParticipant{}
	}
	return s.InTx(ctx, func(st Store) error {
		tx := st.(*SQL)
		_, err := tx.exec(ctx, `INSERT INTO meetings (id, domain_id, owner_id, name, valid_since, valid_until, pin, sequence, created, updated, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, valid_since = excluded.valid_since,
			valid_until = excluded.valid_until, pin = excluded.pin, sequence = excluded.sequence,
			updated = excluded.updated, detail = excluded.detail`,
			m.ID, m.DomainID, m.OwnerID, m.Name, m.ValidSince, m.ValidUntil, m.PIN, m.Sequence, m.Created, m.Updated, marshalJSON(d))
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM meeting_users WHERE meeting_id = ?`, m.ID); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, u := range m.Users() {
			if seen[u] {
				continue
			}
			seen[u] = true
			if _, err := tx.exec(ctx, `INSERT INTO meeting_users (meeting_id, user_id) VALUES (?, ?)`, m.ID, u); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetMeeting implements Meetings.
func (s *SQL) GetMeeting(ctx context.Context, id string) (*Meeting, error) {
	return scanMeeting(s.queryRow(ctx, `SELECT `+meetingCols+` FROM meetings m WHERE m.id = ?`, id))
}

// MeetingByPIN implements Meetings; PINs are unique (meetings_pin_key).
func (s *SQL) MeetingByPIN(ctx context.Context, pin string) (*Meeting, error) {
	if pin == "" {
		return nil, ErrNotFound
	}
	return scanMeeting(s.queryRow(ctx, `SELECT `+meetingCols+` FROM meetings m WHERE m.pin = ?`, pin))
}

// ListMeetings implements Meetings: by start time.
func (s *SQL) ListMeetings(ctx context.Context, f MeetingFilter, p Page) ([]*Meeting, error) {
	q := `SELECT ` + meetingCols + ` FROM meetings m WHERE 1 = 1`
	var args []any
	if f.UserID != "" {
		q += ` AND (m.owner_id = ? OR EXISTS (SELECT 1 FROM meeting_users u WHERE u.meeting_id = m.id AND u.user_id = ?))`
		args = append(args, f.UserID, f.UserID)
	}
	cond, dargs := inList("m.domain_id", f.DomainIDs)
	q += cond
	args = append(args, dargs...)
	if f.From > 0 {
		q += ` AND m.valid_until >= ?`
		args = append(args, f.From)
	}
	if f.To > 0 {
		q += ` AND m.valid_since < ?`
		args = append(args, f.To)
	}
	lim, largs := limitClause(p)
	rows, err := s.query(ctx, q+` ORDER BY m.valid_since, m.id`+lim, append(args, largs...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Meeting
	for rows.Next() {
		m, err := scanMeeting(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, mapErr(rows.Err())
}

// CountMeetings implements Meetings: the meetings of an owner that end
// after a time (those still to come).
func (s *SQL) CountMeetings(ctx context.Context, ownerID string, after int64) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM meetings WHERE owner_id = ? AND valid_until > ?`, ownerID, after).Scan(&n)
	return n, mapErr(err)
}

// DeleteMeeting implements Meetings.
func (s *SQL) DeleteMeeting(ctx context.Context, id string) error {
	return s.InTx(ctx, func(st Store) error {
		tx := st.(*SQL)
		if _, err := tx.exec(ctx, `DELETE FROM meeting_users WHERE meeting_id = ?`, id); err != nil {
			return err
		}
		return tx.execOne(ctx, `DELETE FROM meetings WHERE id = ?`, id)
	})
}
