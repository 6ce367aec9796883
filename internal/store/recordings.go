package store

import (
	"context"
)

// Recording statuses.
const (
	RecordingActive      = "recording"   // a media node writes it
	RecordingStopped     = "stopped"     // written; the compose job has not run yet
	RecordingComposing   = "composing"   // the compose job runs
	RecordingReady       = "ready"       // composed into one file
	RecordingTracks      = "tracks"      // kept as per-track files only (no ffmpeg, or compose failed)
	RecordingInterrupted = "interrupted" // its media node stopped mid-recording; it may continue as a new segment
)

// Recording is the recording of a room: one or more segments (a media node
// restart starts a new one), each a set of per-track files, the room's
// events, and the composed file once the compose job ran.
type Recording struct {
	ID       string
	DomainID string
	Room     string
	Node     string // the media node writing it
	Started  int64
	Stopped  int64 // 0 while it records
	Alive    int64 // the last time its media node said it still writes it
	Status   string
	Size     int64 // bytes of every file
	Detail   RecordingDetail
}

// RecordingDetail is the content of a recording.
type RecordingDetail struct {
	StartedBy string             `json:"startedBy,omitempty"`
	Segments  []RecordingSegment `json:"segments"`
	Events    []RecordingEvent   `json:"events"`
	Composed  *RecordingFile     `json:"composed,omitempty"`
	// Note says why a recording has no composed file, or why it stopped
	// early (a storage error).
	Note string `json:"note,omitempty"`
}

// RecordingSegment is one uninterrupted part of a recording.
type RecordingSegment struct {
	Index   int              `json:"index"`
	Node    string           `json:"node"`
	Started int64            `json:"started"`
	Stopped int64            `json:"stopped,omitempty"`
	Reason  string           `json:"reason,omitempty"` // why it ended
	Tracks  []RecordingTrack `json:"tracks"`
}

// RecordingTrack is the file of one published audio or video.
type RecordingTrack struct {
	Key      string `json:"key"` // storage key of the file
	Kind     string `json:"kind"`
	Codec    string `json:"codec"`
	User     string `json:"user"`
	Display  string `json:"display,omitempty"`
	Feed     uint64 `json:"feed"`
	Offset   int64  `json:"offset"`   // ms from the start of the recording to its first frame
	Duration int64  `json:"duration"` // ms
	Size     int64  `json:"size"`
	Frames   int64  `json:"frames"`
	Lost     int64  `json:"lost,omitempty"` // packets missing or dropped
}

// RecordingEvent is something that happened in the room while it was
// recorded: who joined and left, publications, start and stop.
type RecordingEvent struct {
	At     int64  `json:"at"`
	Type   string `json:"type"`
	User   string `json:"user,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// RecordingFile is a composed file.
type RecordingFile struct {
	Key      string `json:"key"`
	Type     string `json:"type"` // media type
	Size     int64  `json:"size"`
	Duration int64  `json:"duration"` // ms
}

// RecordingFilter narrows a recording listing.
type RecordingFilter struct {
	UserID    string   // recordings this user took part in
	DomainIDs []string // nil = every domain
	Room      string
	From, To  int64 // started within [From, To); 0 = unbounded
}

// Recordings stores recordings.
type Recordings interface {
	// SaveRecording creates or replaces a recording and adds users (user →
	// domain) to those who may see it.
	SaveRecording(ctx context.Context, r *Recording, users map[string]string) error
	GetRecording(ctx context.Context, id string) (*Recording, error)
	RecordingUsers(ctx context.Context, id string) (map[string]string, error)
	ListRecordings(ctx context.Context, f RecordingFilter, p Page) ([]*Recording, error)
	DeleteRecording(ctx context.Context, id string) error
	// TouchRecording sets a recording's alive time.
	TouchRecording(ctx context.Context, id string, alive int64) error
	// StaleRecordings lists the recordings of a status whose alive time
	// is before t: those still "recording" whose node no longer refreshes
	// them, interrupted ones that did not continue in time.
	StaleRecordings(ctx context.Context, status string, before int64) ([]*Recording, error)
	// ResumableRecording finds the newest recording of a room of a domain
	// that is still "recording", or was interrupted at or after since.
	ResumableRecording(ctx context.Context, domainID, room string, since int64) (*Recording, error)
	// ExpiredRecordings lists recordings of a domain (nil = of every
	// domain) that stopped before t.
	ExpiredRecordings(ctx context.Context, domainIDs []string, before int64) ([]*Recording, error)
}

const recCols = `r.id, r.domain_id, r.room, r.node, r.started, r.stopped, r.alive, r.status, r.size, r.detail`

func scanRecording(row interface{ Scan(...any) error }) (*Recording, error) {
	var r Recording
	var detail string
	if err := row.Scan(&r.ID, &r.DomainID, &r.Room, &r.Node, &r.Started, &r.Stopped, &r.Alive, &r.Status, &r.Size, &detail); err != nil {
		return nil, mapErr(err)
	}
	if err := unmarshalJSON(detail, &r.Detail); err != nil {
		return nil, err
	}
	return &r, nil
}

// SaveRecording implements Recordings.
func (s *SQL) SaveRecording(ctx context.Context, r *Recording, users map[string]string) error {
	if r.ID == "" {
		r.ID = NewID()
	}
	d := r.Detail
	if d.Segments == nil {
		d.Segments = []RecordingSegment{}
	}
	if d.Events == nil {
		d.Events = []RecordingEvent{}
	}
	return s.InTx(ctx, func(st Store) error {
		tx := st.(*SQL)
		_, err := tx.exec(ctx, `INSERT INTO recordings (id, domain_id, room, node, started, stopped, alive, status, size, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET node = excluded.node, stopped = excluded.stopped, alive = excluded.alive,
			status = excluded.status, size = excluded.size, detail = excluded.detail`,
			r.ID, r.DomainID, r.Room, r.Node, r.Started, r.Stopped, r.Alive, r.Status, r.Size, marshalJSON(d))
		if err != nil {
			return err
		}
		for user, domain := range users {
			if _, err := tx.exec(ctx, `INSERT INTO recording_users (recording_id, user_id, domain_id) VALUES (?, ?, ?)
				ON CONFLICT (recording_id, user_id) DO NOTHING`, r.ID, user, domain); err != nil {
				return err
			}
		}
		return nil
	})
}

// GetRecording implements Recordings.
func (s *SQL) GetRecording(ctx context.Context, id string) (*Recording, error) {
	return scanRecording(s.queryRow(ctx, `SELECT `+recCols+` FROM recordings r WHERE r.id = ?`, id))
}

// RecordingUsers implements Recordings.
func (s *SQL) RecordingUsers(ctx context.Context, id string) (map[string]string, error) {
	return s.userDomains(ctx, `SELECT user_id, domain_id FROM recording_users WHERE recording_id = ?`, id)
}

// ListRecordings implements Recordings: newest first.
func (s *SQL) ListRecordings(ctx context.Context, f RecordingFilter, p Page) ([]*Recording, error) {
	q := `SELECT ` + recCols + ` FROM recordings r WHERE 1 = 1`
	var args []any
	if f.UserID != "" {
		q += ` AND EXISTS (SELECT 1 FROM recording_users u WHERE u.recording_id = r.id AND u.user_id = ?)`
		args = append(args, f.UserID)
	}
	if f.DomainIDs != nil {
		// A domain's admins see the recordings of its rooms and those its
		// users took part in.
		cond, dargs := inList("r.domain_id", f.DomainIDs)
		ucond, uargs := inList("u.domain_id", f.DomainIDs)
		q += ` AND ((1 = 1` + cond + `) OR EXISTS (SELECT 1 FROM recording_users u WHERE u.recording_id = r.id` + ucond + `))`
		args = append(append(args, dargs...), uargs...)
	}
	if f.Room != "" {
		q += ` AND r.room = ?`
		args = append(args, f.Room)
	}
	if f.From > 0 {
		q += ` AND r.started >= ?`
		args = append(args, f.From)
	}
	if f.To > 0 {
		q += ` AND r.started < ?`
		args = append(args, f.To)
	}
	lim, largs := limitClause(p)
	return s.recordings(ctx, q+` ORDER BY r.started DESC, r.id DESC`+lim, append(args, largs...)...)
}

func (s *SQL) recordings(ctx context.Context, q string, args ...any) ([]*Recording, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Recording
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, mapErr(rows.Err())
}

// DeleteRecording implements Recordings.
func (s *SQL) DeleteRecording(ctx context.Context, id string) error {
	return s.InTx(ctx, func(st Store) error {
		tx := st.(*SQL)
		if _, err := tx.exec(ctx, `DELETE FROM recording_users WHERE recording_id = ?`, id); err != nil {
			return err
		}
		return tx.execOne(ctx, `DELETE FROM recordings WHERE id = ?`, id)
	})
}

// TouchRecording implements Recordings.
func (s *SQL) TouchRecording(ctx context.Context, id string, alive int64) error {
	return s.execOne(ctx, `UPDATE recordings SET alive = ? WHERE id = ?`, alive, id)
}

// StaleRecordings implements Recordings.
func (s *SQL) StaleRecordings(ctx context.Context, status string, before int64) ([]*Recording, error) {
	return s.recordings(ctx, `SELECT `+recCols+` FROM recordings r WHERE r.status = ? AND r.alive < ? ORDER BY r.started`,
		status, before)
}

// ResumableRecording implements Recordings.
func (s *SQL) ResumableRecording(ctx context.Context, domainID, room string, since int64) (*Recording, error) {
	return scanRecording(s.queryRow(ctx, `SELECT `+recCols+` FROM recordings r
		WHERE r.domain_id = ? AND r.room = ? AND (r.status = ? OR (r.status = ? AND r.stopped >= ?))
		ORDER BY r.started DESC LIMIT 1`,
		domainID, room, RecordingActive, RecordingInterrupted, since))
}

// ExpiredRecordings implements Recordings.
func (s *SQL) ExpiredRecordings(ctx context.Context, domainIDs []string, before int64) ([]*Recording, error) {
	cond, args := inList("r.domain_id", domainIDs)
	return s.recordings(ctx, `SELECT `+recCols+` FROM recordings r WHERE r.stopped <> 0 AND r.stopped < ? AND r.status <> ?`+cond+` ORDER BY r.stopped`,
		append([]any{before, RecordingActive}, args...)...)
}
