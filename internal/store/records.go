package store

import (
	"context"
	"errors"
)

// CreateClient registers an OAuth2 client; c.ID is set if empty.
func (s *SQL) CreateClient(ctx context.Context, c *Client) error {
	if c.ID == "" {
		c.ID = NewID()
	}
	c.Created = Now()
	if c.GrantTypes == nil {
		c.GrantTypes = []string{"client_credentials"}
	}
	_, err := s.exec(ctx, `INSERT INTO clients (`+clientCols+`) VALUES (`+placeholders(11)+`)`,
		c.ID, c.Name, c.SecretHash, c.DomainID, c.Role, c.Created, marshalJSON(strs(c.RedirectURIs)),
		marshalJSON(strs(c.PostLogoutRedirectURIs)), marshalJSON(strs(c.GrantTypes)), marshalJSON(strs(c.Scopes)), c.Public)
	return err
}

const clientCols = `id, name, secret_hash, domain_id, role, created, redirect_uris, post_logout_redirect_uris,
	grant_types, scopes, public`

func scanClient(row interface{ Scan(...any) error }) (*Client, error) {
	var c Client
	var redirects, logouts, grants, scopes string
	if err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.DomainID, &c.Role, &c.Created, &redirects, &logouts,
		&grants, &scopes, &c.Public); err != nil {
		return nil, mapErr(err)
	}
	for _, f := range []struct {
		raw string
		dst *[]string
	}{{redirects, &c.RedirectURIs}, {logouts, &c.PostLogoutRedirectURIs}, {grants, &c.GrantTypes}, {scopes, &c.Scopes}} {
		if err := unmarshalJSON(f.raw, f.dst); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// GetClient finds a client by id.
func (s *SQL) GetClient(ctx context.Context, id string) (*Client, error) {
	return scanClient(s.queryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
}

// ListClients lists the clients of some domains (nil = all).
func (s *SQL) ListClients(ctx context.Context, domainIDs []string) ([]*Client, error) {
	cond, args := inList("domain_id", domainIDs)
	rows, err := s.query(ctx, `SELECT `+clientCols+` FROM clients WHERE 1 = 1`+cond+` ORDER BY name, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}

// DeleteClient removes a client and its tokens.
func (s *SQL) DeleteClient(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM clients WHERE id = ?`, id)
}

// SetPermission creates or replaces a permission switch.
func (s *SQL) SetPermission(ctx context.Context, p *Permission) error {
	p.Updated = Now()
	_, err := s.exec(ctx, `INSERT INTO permissions (scope, target_id, name, enabled, updated) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (scope, target_id, name) DO UPDATE SET enabled = excluded.enabled, updated = excluded.updated`,
		p.Scope, p.TargetID, p.Name, p.Enabled, p.Updated)
	return err
}

// GetPermission finds one permission switch.
func (s *SQL) GetPermission(ctx context.Context, scope, targetID, name string) (*Permission, error) {
	p := Permission{Scope: scope, TargetID: targetID, Name: name}
	err := s.queryRow(ctx, `SELECT enabled, updated FROM permissions WHERE scope = ? AND target_id = ? AND name = ?`,
		scope, targetID, name).Scan(&p.Enabled, &p.Updated)
	if err != nil {
		return nil, mapErr(err)
	}
	return &p, nil
}

// ListPermissions lists the switches set on a user or domain.
func (s *SQL) ListPermissions(ctx context.Context, scope, targetID string) ([]*Permission, error) {
	rows, err := s.query(ctx, `SELECT name, enabled, updated FROM permissions WHERE scope = ? AND target_id = ? ORDER BY name`,
		scope, targetID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Permission
	for rows.Next() {
		p := Permission{Scope: scope, TargetID: targetID}
		if err := rows.Scan(&p.Name, &p.Enabled, &p.Updated); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, &p)
	}
	return out, mapErr(rows.Err())
}

// CreateAlarm stores an alarm.
func (s *SQL) CreateAlarm(ctx context.Context, a *Alarm) error {
	if a.ID == "" {
		a.ID = NewID()
	}
	if a.Created == 0 {
		a.Created = Now()
	}
	_, err := s.exec(ctx, `INSERT INTO alarms (id, type, domain_id, user_id, message, data, created) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Type, a.DomainID, a.UserID, a.Message, marshalJSON(objOrEmpty(a.Data)), a.Created)
	return err
}

// ListAlarms lists alarms of some domains (nil = all), newest first.
func (s *SQL) ListAlarms(ctx context.Context, domainIDs []string, p Page) ([]*Alarm, error) {
	cond, args := inList("domain_id", domainIDs)
	lim, largs := limitClause(p)
	rows, err := s.query(ctx, `SELECT id, type, domain_id, user_id, message, data, created FROM alarms WHERE 1 = 1`+
		cond+` ORDER BY created DESC, id DESC`+lim, append(args, largs...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Alarm
	for rows.Next() {
		var a Alarm
		var data string
		if err := rows.Scan(&a.ID, &a.Type, &a.DomainID, &a.UserID, &a.Message, &data, &a.Created); err != nil {
			return nil, mapErr(err)
		}
		if err := unmarshalJSON(data, &a.Data); err != nil {
			return nil, err
		}
		out = append(out, &a)
	}
	return out, mapErr(rows.Err())
}

// CreateStat stores a stat.
func (s *SQL) CreateStat(ctx context.Context, st *Stat) error {
	if st.ID == "" {
		st.ID = NewID()
	}
	if st.Created == 0 {
		st.Created = Now()
	}
	_, err := s.exec(ctx, `INSERT INTO stats (id, service, type, domain_id, user_id, data, created) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		st.ID, st.Service, st.Type, st.DomainID, st.UserID, marshalJSON(objOrEmpty(st.Data)), st.Created)
	return err
}

// ListStats lists stats of some domains (nil = all), optionally of one service, newest first.
func (s *SQL) ListStats(ctx context.Context, domainIDs []string, service string, p Page) ([]*Stat, error) {
	cond, args := inList("domain_id", domainIDs)
	q := `SELECT id, service, type, domain_id, user_id, data, created FROM stats WHERE 1 = 1` + cond
	if service != "" {
		q += ` AND service = ?`
		args = append(args, service)
	}
	lim, largs := limitClause(p)
	rows, err := s.query(ctx, q+` ORDER BY created DESC, id DESC`+lim, append(args, largs...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Stat
	for rows.Next() {
		var st Stat
		var data string
		if err := rows.Scan(&st.ID, &st.Service, &st.Type, &st.DomainID, &st.UserID, &data, &st.Created); err != nil {
			return nil, mapErr(err)
		}
		if err := unmarshalJSON(data, &st.Data); err != nil {
			return nil, err
		}
		out = append(out, &st)
	}
	return out, mapErr(rows.Err())
}

// PruneStats keeps the newest keep stats of service and typ (by creation
// time, then id) and removes the older ones.
func (s *SQL) PruneStats(ctx context.Context, service, typ string, keep int) (int, error) {
	if keep < 0 {
		keep = 0
	}
	// The newest row that goes: it and every older one are removed.
	var created int64
	var id string
	err := s.queryRow(ctx, `SELECT created, id FROM stats WHERE service = ? AND type = ?
		ORDER BY created DESC, id DESC LIMIT 1 OFFSET ?`, service, typ, keep).Scan(&created, &id)
	if errors.Is(mapErr(err), ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, mapErr(err)
	}
	res, err := s.exec(ctx, `DELETE FROM stats WHERE service = ? AND type = ? AND (created < ? OR created = ? AND id <= ?)`,
		service, typ, created, created, id)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// SettingOrInit returns key's value, storing init if it has none yet.
func (s *SQL) SettingOrInit(ctx context.Context, key, init string) (string, error) {
	_, err := s.exec(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, init)
	if err != nil {
		return "", err
	}
	var v string
	if err := s.queryRow(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v); err != nil {
		if errors.Is(mapErr(err), ErrNotFound) {
			return "", ErrNotFound
		}
		return "", mapErr(err)
	}
	return v, nil
}
