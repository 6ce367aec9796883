package store

import (
	"context"
	"strings"
)

const userCols = `id, domain_id, username, email, role, capabilities, mobile_phone, land_line_number,
	alias, created, last_login, expires`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var caps, mobile string
	if err := row.Scan(&u.ID, &u.DomainID, &u.Username, &u.Email, &u.Role, &caps, &mobile, &u.LandLineNumber,
		&u.Alias, &u.Created, &u.LastLogin, &u.Expires); err != nil {
		return nil, mapErr(err)
	}
	if err := unmarshalJSON(caps, &u.Capabilities); err != nil {
		return nil, err
	}
	if err := unmarshalJSON(mobile, &u.MobilePhone); err != nil {
		return nil, err
	}
	return &u, nil
}

func scanUsers(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}) ([]*User, error) {
	var out []*User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, mapErr(rows.Err())
}

// CreateUser stores a new user; u.ID is set if empty.
func (s *SQL) CreateUser(ctx context.Context, u *User) error {
	if u.ID == "" {
		u.ID = NewID()
	}
	if u.Created == 0 {
		u.Created = Now()
	}
	_, err := s.exec(ctx, `INSERT INTO users (`+userCols+`) VALUES (`+placeholders(12)+`)`,
		u.ID, u.DomainID, u.Username, u.Email, u.Role, marshalJSON(strs(u.Capabilities)),
		marshalJSON(strs(u.MobilePhone)), u.LandLineNumber, u.Alias,
		u.Created, u.LastLogin, u.Expires)
	return err
}

// UpdateUser replaces the editable fields of a user.
func (s *SQL) UpdateUser(ctx context.Context, u *User) error {
	return s.execOne(ctx, `UPDATE users SET domain_id = ?, username = ?, email = ?, role = ?, capabilities = ?,
		mobile_phone = ?, land_line_number = ?, alias = ?, expires = ? WHERE id = ?`,
		u.DomainID, u.Username, u.Email, u.Role, marshalJSON(strs(u.Capabilities)),
		marshalJSON(strs(u.MobilePhone)), u.LandLineNumber, u.Alias, u.Expires, u.ID)
}

// DeleteUser removes a user with its credentials and tokens.
func (s *SQL) DeleteUser(ctx context.Context, id string) error {
	if _, err := s.exec(ctx, `DELETE FROM permissions WHERE scope = 'user' AND target_id = ?`, id); err != nil {
		return err
	}
	return s.execOne(ctx, `DELETE FROM users WHERE id = ?`, id)
}

// GetUser finds a user by id.
func (s *SQL) GetUser(ctx context.Context, id string) (*User, error) {
	return scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// GetUserByName finds a user by domain and username.
func (s *SQL) GetUserByName(ctx context.Context, domainID, username string) (*User, error) {
	return scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE domain_id = ? AND username = ?`,
		domainID, username))
}

// GetUserByAlias finds a user by domain and alias.
func (s *SQL) GetUserByAlias(ctx context.Context, domainID, alias string) (*User, error) {
	if alias == "" {
		return nil, ErrNotFound
	}
	return scanUser(s.queryRow(ctx, `SELECT `+userCols+` FROM users WHERE domain_id = ? AND alias = ?`,
		domainID, alias))
}

// ListUsers lists users by username.
func (s *SQL) ListUsers(ctx context.Context, f UserFilter, p Page) ([]*User, error) {
	q := `SELECT ` + userCols + ` FROM users WHERE 1 = 1`
	cond, args := inList("domain_id", f.DomainIDs)
	q += cond
	if f.Role != "" {
		q += ` AND role = ?`
		args = append(args, f.Role)
	}
	if f.Search != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(f.Search)) + "%"
		q += ` AND (LOWER(username) LIKE ? ESCAPE '\' OR LOWER(alias) LIKE ? ESCAPE '\' OR LOWER(email) LIKE ? ESCAPE '\')`
		args = append(args, like, like, like)
	}
	lim, largs := limitClause(p)
	q += ` ORDER BY username, id` + lim
	args = append(args, largs...)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanUsers(rows)
}

// TouchLastLogin records a successful login.
func (s *SQL) TouchLastLogin(ctx context.Context, id string, at int64) error {
	return s.execOne(ctx, `UPDATE users SET last_login = ? WHERE id = ?`, at, id)
}

// DeleteExpiredUsers removes anonymous users whose time is over.
func (s *SQL) DeleteExpiredUsers(ctx context.Context, now int64) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM users WHERE expires <> 0 AND expires < ?`, now)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
