package store

import (
	"context"
	"database/sql"
)

// Call is the record of one room: who was in it and when, the invitations
// made in it and the transfers.
type Call struct {
	ID       string // the room object's id
	Room     string // the room's uuid
	OwnerID  string
	Node     string // the signaling node holding the room
	Created  int64
	Finished int64 // 0 while the room exists
	Detail   CallDetail
}

// CallDetail is the history of a call.
type CallDetail struct {
	// Creator is the user who created the room: who started the call or
	// the conference, whether or not the room has an owner
	// (rooms.setOwner, quick conferences).
	Creator      string            `json:"creator,omitempty"`
	Domains      []string          `json:"domains"`
	Participants []CallParticipant `json:"participants"`
	Invites      []CallInvite      `json:"invites"`
	Transfers    []CallTransfer    `json:"transfers"`
}

// CallParticipant is one stay of one session in the room.
type CallParticipant struct {
	User    string `json:"user"`
	Session string `json:"session"`
	Joined  int64  `json:"joined"`
	Left    int64  `json:"left,omitempty"`
	Code    int    `json:"code,omitempty"` // SIP code of the leave
}

// CallInvite is an invitation made in the room.
type CallInvite struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"` // invitation or inviteRequest
	From    string `json:"from"`
	To      string `json:"to"`
	Target  string `json:"target"` // what the caller dialled
	State   string `json:"state"`
	Code    int    `json:"code,omitempty"`
	By      string `json:"by,omitempty"` // who accepted
	Created int64  `json:"created"`
	Ended   int64  `json:"ended,omitempty"`
}

// CallTransfer is a transfer of a participant.
type CallTransfer struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"` // blind or attended
	By          string `json:"by"`
	Participant string `json:"participant"`
	To          string `json:"to,omitempty"`
	TargetRoom  string `json:"targetRoom,omitempty"`
	State       string `json:"state"`
	Created     int64  `json:"created"`
	Ended       int64  `json:"ended,omitempty"`
}

// CallFilter narrows a call listing.
type CallFilter struct {
	UserID    string   // calls this user took part in or was invited to
	DomainIDs []string // nil = every domain
}

// SaveCall creates or replaces a call record and indexes its users.
func (s *SQL) SaveCall(ctx context.Context, c *Call, users map[string]string) error {
	return s.InTx(ctx, func(st Store) error {
		tx := st.(*SQL)
		_, err := tx.exec(ctx, `INSERT INTO calls (id, room, owner_id, node, created, finished, detail) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET owner_id = excluded.owner_id, node = excluded.node, finished = excluded.finished, detail = excluded.detail`,
			c.ID, c.Room, c.OwnerID, c.Node, c.Created, c.Finished, marshalJSON(c.Detail))
		if err != nil {
			return err
		}
		for user, domain := range users {
			if _, err := tx.exec(ctx, `INSERT INTO call_users (call_id, user_id, domain_id) VALUES (?, ?, ?)
				ON CONFLICT (call_id, user_id) DO NOTHING`, c.ID, user, domain); err != nil {
				return err
			}
		}
		return nil
	})
}

const callCols = `c.id, c.room, c.owner_id, c.node, c.created, c.finished, c.detail`

func scanCall(row interface{ Scan(...any) error }) (*Call, error) {
	var c Call
	var detail string
	if err := row.Scan(&c.ID, &c.Room, &c.OwnerID, &c.Node, &c.Created, &c.Finished, &detail); err != nil {
		return nil, mapErr(err)
	}
	if err := unmarshalJSON(detail, &c.Detail); err != nil {
		return nil, err
	}
	return &c, nil
}

// GetCall finds a call record.
func (s *SQL) GetCall(ctx context.Context, id string) (*Call, error) {
	return scanCall(s.queryRow(ctx, `SELECT `+callCols+` FROM calls c WHERE c.id = ?`, id))
}

// CallUsers lists the users of a call with their domains.
func (s *SQL) CallUsers(ctx context.Context, id string) (map[string]string, error) {
	return s.userDomains(ctx, `SELECT user_id, domain_id FROM call_users WHERE call_id = ?`, id)
}

// userDomains reads rows of (user id, domain id) into a map.
func (s *SQL) userDomains(ctx context.Context, query string, args ...any) (map[string]string, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var u, d string
		if err := rows.Scan(&u, &d); err != nil {
			return nil, mapErr(err)
		}
		out[u] = d
	}
	return out, mapErr(rows.Err())
}

// ListCalls lists call records, newest first.
func (s *SQL) ListCalls(ctx context.Context, f CallFilter, p Page) ([]*Call, error) {
	q := `SELECT ` + callCols + ` FROM calls c WHERE 1 = 1`
	var args []any
	if f.UserID != "" {
		q += ` AND EXISTS (SELECT 1 FROM call_users u WHERE u.call_id = c.id AND u.user_id = ?)`
		args = append(args, f.UserID)
	}
	if f.DomainIDs != nil {
		cond, dargs := inList("u.domain_id", f.DomainIDs)
		q += ` AND EXISTS (SELECT 1 FROM call_users u WHERE u.call_id = c.id` + cond + `)`
		args = append(args, dargs...)
	}
	lim, largs := limitClause(p)
	rows, err := s.query(ctx, q+` ORDER BY c.created DESC, c.id DESC`+lim, append(args, largs...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Call
	for rows.Next() {
		c, err := scanCall(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}

// DeleteCallsFinishedBefore removes the records of calls that ended before t.
func (s *SQL) DeleteCallsFinishedBefore(ctx context.Context, t int64) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM calls WHERE finished <> 0 AND finished < ?`, t)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// UnfinishedCallNodes lists the nodes that hold calls not finished.
func (s *SQL) UnfinishedCallNodes(ctx context.Context) ([]string, error) {
	return s.queryStrings(ctx, `SELECT DISTINCT node FROM calls WHERE finished = 0`)
}

// FinishNodeCalls marks the unfinished calls of node finished at t (the
// node is gone, and its rooms with it).
func (s *SQL) FinishNodeCalls(ctx context.Context, node string, t int64) (int, error) {
	res, err := s.exec(ctx, `UPDATE calls SET finished = ? WHERE finished = 0 AND node = ?`, t, node)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Group is a hunt group of users (the seeds' usersGroup).
type Group struct {
	ID       string
	DomainID string
	Name     string
	OwnerID  string
	Node     string // the signaling node holding the room
	Created  int64
	Updated  int64
}

const groupCols = `id, domain_id, name, owner_id, created, updated`

func scanGroup(row interface{ Scan(...any) error }) (*Group, error) {
	var g Group
	var owner sql.NullString
	if err := row.Scan(&g.ID, &g.DomainID, &g.Name, &owner, &g.Created, &g.Updated); err != nil {
		return nil, mapErr(err)
	}
	g.OwnerID = owner.String
	return &g, nil
}

// CreateGroup stores a group.
func (s *SQL) CreateGroup(ctx context.Context, g *Group) error {
	if g.ID == "" {
		g.ID = NewID()
	}
	now := Now()
	g.Created, g.Updated = now, now
	_, err := s.exec(ctx, `INSERT INTO user_groups (`+groupCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		g.ID, g.DomainID, g.Name, nullable(g.OwnerID), g.Created, g.Updated)
	return err
}

// UpdateGroup renames a group or changes its owner.
func (s *SQL) UpdateGroup(ctx context.Context, g *Group) error {
	g.Updated = Now()
	return s.execOne(ctx, `UPDATE user_groups SET name = ?, owner_id = ?, updated = ? WHERE id = ?`,
		g.Name, nullable(g.OwnerID), g.Updated, g.ID)
}

// DeleteGroup removes a group and its memberships.
func (s *SQL) DeleteGroup(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM user_groups WHERE id = ?`, id)
}

// GetGroup finds a group by id.
func (s *SQL) GetGroup(ctx context.Context, id string) (*Group, error) {
	return scanGroup(s.queryRow(ctx, `SELECT `+groupCols+` FROM user_groups WHERE id = ?`, id))
}

// GetGroupByName finds a group by domain and name.
func (s *SQL) GetGroupByName(ctx context.Context, domainID, name string) (*Group, error) {
	return scanGroup(s.queryRow(ctx, `SELECT `+groupCols+` FROM user_groups WHERE domain_id = ? AND name = ?`, domainID, name))
}

// ListGroups lists groups of some domains (nil = all), or those a user is in.
func (s *SQL) ListGroups(ctx context.Context, domainIDs []string, memberID string, p Page) ([]*Group, error) {
	q := `SELECT ` + groupCols + ` FROM user_groups WHERE 1 = 1`
	cond, args := inList("domain_id", domainIDs)
	q += cond
	if memberID != "" {
		q += ` AND (owner_id = ? OR id IN (SELECT group_id FROM user_group_members WHERE user_id = ?))`
		args = append(args, memberID, memberID)
	}
	lim, largs := limitClause(p)
	rows, err := s.query(ctx, q+` ORDER BY name, id`+lim, append(args, largs...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, mapErr(rows.Err())
}

// AddGroupMember makes a user a participant of a group (no error if already).
func (s *SQL) AddGroupMember(ctx context.Context, groupID, userID string) error {
	_, err := s.exec(ctx, `INSERT INTO user_group_members (group_id, user_id, added) VALUES (?, ?, ?)
		ON CONFLICT (group_id, user_id) DO NOTHING`, groupID, userID, Now())
	return err
}

// RemoveGroupMember removes a participant; ErrNotFound if it was not one.
func (s *SQL) RemoveGroupMember(ctx context.Context, groupID, userID string) error {
	return s.execOne(ctx, `DELETE FROM user_group_members WHERE group_id = ? AND user_id = ?`, groupID, userID)
}

// RemoveGroupMembers removes every participant of a group.
func (s *SQL) RemoveGroupMembers(ctx context.Context, groupID string) error {
	_, err := s.exec(ctx, `DELETE FROM user_group_members WHERE group_id = ?`, groupID)
	return err
}

// RemoveUserFromGroups removes a user from every group.
func (s *SQL) RemoveUserFromGroups(ctx context.Context, userID string) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM user_group_members WHERE user_id = ?`, userID)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// IsGroupMember reports whether a user is a participant of a group.
func (s *SQL) IsGroupMember(ctx context.Context, groupID, userID string) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM user_group_members WHERE group_id = ? AND user_id = ?`, groupID, userID).Scan(&n)
	return n > 0, mapErr(err)
}

// GroupMembers lists the user ids of a group's participants.
func (s *SQL) GroupMembers(ctx context.Context, groupID string) ([]string, error) {
	return s.queryStrings(ctx, `SELECT user_id FROM user_group_members WHERE group_id = ? ORDER BY added, user_id`, groupID)
}
