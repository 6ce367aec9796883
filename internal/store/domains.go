package store

import (
	"context"
	"database/sql"
)

const domainCols = `id, parent_id, name, origins, enable_anonymous, anonymous_expiration,
	anonymous_capabilities, services, created, updated, recording_retention_days`

func scanDomain(row interface{ Scan(...any) error }) (*Domain, error) {
	var d Domain
	var parent sql.NullString
	var origins, anonCaps, services string
	if err := row.Scan(&d.ID, &parent, &d.Name, &origins, &d.EnableAnonymous, &d.AnonymousExpiration,
		&anonCaps, &services, &d.Created, &d.Updated, &d.RecordingRetentionDays); err != nil {
		return nil, mapErr(err)
	}
	d.ParentID = parent.String
	if err := unmarshalJSON(origins, &d.Origins); err != nil {
		return nil, err
	}
	if err := unmarshalJSON(anonCaps, &d.AnonymousCapabilities); err != nil {
		return nil, err
	}
	if err := unmarshalJSON(services, &d.Services); err != nil {
		return nil, err
	}
	return &d, nil
}

func domainServices(d *Domain) map[string][]string {
	if d.Services == nil {
		return map[string][]string{}
	}
	return d.Services
}

// CreateDomain stores a new domain; d.ID is set if empty.
func (s *SQL) CreateDomain(ctx context.Context, d *Domain) error {
	if d.ID == "" {
		d.ID = NewID()
	}
	now := Now()
	d.Created, d.Updated = now, now
	_, err := s.exec(ctx, `INSERT INTO domains (`+domainCols+`) VALUES (`+placeholders(11)+`)`,
		d.ID, nullable(d.ParentID), d.Name, marshalJSON(strs(d.Origins)), d.EnableAnonymous, d.AnonymousExpiration,
		marshalJSON(strs(d.AnonymousCapabilities)), marshalJSON(domainServices(d)), d.Created, d.Updated, d.RecordingRetentionDays)
	return err
}

// UpdateDomain replaces every field of an existing domain.
func (s *SQL) UpdateDomain(ctx context.Context, d *Domain) error {
	d.Updated = Now()
	return s.execOne(ctx, `UPDATE domains SET parent_id = ?, name = ?, origins = ?, enable_anonymous = ?,
		anonymous_expiration = ?, anonymous_capabilities = ?, services = ?, updated = ?, recording_retention_days = ? WHERE id = ?`,
		nullable(d.ParentID), d.Name, marshalJSON(strs(d.Origins)), d.EnableAnonymous, d.AnonymousExpiration,
		marshalJSON(strs(d.AnonymousCapabilities)), marshalJSON(domainServices(d)), d.Updated, d.RecordingRetentionDays, d.ID)
}

// DeleteDomain removes a domain; it fails with ErrReference while users or
// child domains remain.
func (s *SQL) DeleteDomain(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM domains WHERE id = ?`, id)
}

// GetDomain finds a domain by id.
func (s *SQL) GetDomain(ctx context.Context, id string) (*Domain, error) {
	return scanDomain(s.queryRow(ctx, `SELECT `+domainCols+` FROM domains WHERE id = ?`, id))
}

// GetDomainByName finds a domain by name.
func (s *SQL) GetDomainByName(ctx context.Context, name string) (*Domain, error) {
	return scanDomain(s.queryRow(ctx, `SELECT `+domainCols+` FROM domains WHERE name = ?`, name))
}

// ListDomains returns every domain, by name.
func (s *SQL) ListDomains(ctx context.Context) ([]*Domain, error) {
	rows, err := s.query(ctx, `SELECT `+domainCols+` FROM domains ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Domain
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, mapErr(rows.Err())
}

// CountDomainDependents counts the child domains and users of a domain.
func (s *SQL) CountDomainDependents(ctx context.Context, id string) (children, users int, err error) {
	err = s.queryRow(ctx, `SELECT (SELECT COUNT(*) FROM domains WHERE parent_id = ?),
		(SELECT COUNT(*) FROM users WHERE domain_id = ?)`, id, id).Scan(&children, &users)
	return children, users, mapErr(err)
}
