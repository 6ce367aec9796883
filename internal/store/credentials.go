package store

import (
	"context"
	"database/sql"
	"errors"
)

const credentialCols = `id, source, type, context, domain_id, user_id, data, lease, holder_id, created, updated`

func scanCredential(row interface{ Scan(...any) error }) (*Credential, error) {
	var c Credential
	var user, holder sql.NullString
	var ctxJSON, data string
	if err := row.Scan(&c.ID, &c.Source, &c.Type, &ctxJSON, &c.DomainID, &user, &data, &c.Lease, &holder,
		&c.Created, &c.Updated); err != nil {
		return nil, mapErr(err)
	}
	c.UserID, c.HolderID = user.String, holder.String
	if err := unmarshalJSON(ctxJSON, &c.Context); err != nil {
		return nil, err
	}
	if err := unmarshalJSON(data, &c.Data); err != nil {
		return nil, err
	}
	return &c, nil
}

func objOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// CreateCredential stores a credential; c.ID is set if empty.
func (s *SQL) CreateCredential(ctx context.Context, c *Credential) error {
	if c.ID == "" {
		c.ID = NewID()
	}
	now := Now()
	c.Created, c.Updated = now, now
	_, err := s.exec(ctx, `INSERT INTO credentials (`+credentialCols+`) VALUES (`+placeholders(11)+`)`,
		c.ID, c.Source, c.Type, marshalJSON(objOrEmpty(c.Context)), c.DomainID, nullable(c.UserID),
		marshalJSON(objOrEmpty(c.Data)), c.Lease, nullable(c.HolderID), c.Created, c.Updated)
	return err
}

// UpdateCredential replaces a credential's fields.
func (s *SQL) UpdateCredential(ctx context.Context, c *Credential) error {
	c.Updated = Now()
	return s.execOne(ctx, `UPDATE credentials SET source = ?, type = ?, context = ?, domain_id = ?, user_id = ?,
		data = ?, lease = ?, holder_id = ?, updated = ? WHERE id = ?`,
		c.Source, c.Type, marshalJSON(objOrEmpty(c.Context)), c.DomainID, nullable(c.UserID),
		marshalJSON(objOrEmpty(c.Data)), c.Lease, nullable(c.HolderID), c.Updated, c.ID)
}

// DeleteCredential removes a credential.
func (s *SQL) DeleteCredential(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM credentials WHERE id = ?`, id)
}

// GetCredential finds a credential by id.
func (s *SQL) GetCredential(ctx context.Context, id string) (*Credential, error) {
	return scanCredential(s.queryRow(ctx, `SELECT `+credentialCols+` FROM credentials WHERE id = ?`, id))
}

// GetBasicCredential finds the password credential of a user.
func (s *SQL) GetBasicCredential(ctx context.Context, userID string) (*Credential, error) {
	return scanCredential(s.queryRow(ctx, `SELECT `+credentialCols+` FROM credentials
		WHERE user_id = ? AND type = 'basic'`, userID))
}

// ListCredentials lists credentials of some domains (nil = all), optionally of one user.
func (s *SQL) ListCredentials(ctx context.Context, domainIDs []string, userID string, p Page) ([]*Credential, error) {
	q := `SELECT ` + credentialCols + ` FROM credentials WHERE 1 = 1`
	cond, args := inList("domain_id", domainIDs)
	q += cond
	if userID != "" {
		q += ` AND (user_id = ? OR holder_id = ?)`
		args = append(args, userID, userID)
	}
	lim, largs := limitClause(p)
	q += ` ORDER BY id` + lim
	args = append(args, largs...)
	return s.listCredentials(ctx, q, args...)
}

func (s *SQL) listCredentials(ctx context.Context, q string, args ...any) ([]*Credential, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err())
}

// LeaseAnonymousCredential hands holder a free unlinked ims credential of the domain.
func (s *SQL) LeaseAnonymousCredential(ctx context.Context, domainID, holderID string) (*Credential, error) {
	var leased *Credential
	err := s.InTx(ctx, func(st Store) error {
		tx := st.(*SQL)
		// Each try claims the oldest free credential only if it is still free,
		// so two nodes racing for the pool never share one.
		for range 5 {
			var id string
			err := tx.queryRow(ctx, `SELECT id FROM credentials WHERE domain_id = ? AND type = 'ims'
				AND user_id IS NULL AND holder_id IS NULL ORDER BY id LIMIT 1`, domainID).Scan(&id)
			if err != nil {
				return mapErr(err)
			}
			res, err := tx.exec(ctx, `UPDATE credentials SET holder_id = ?, updated = ? WHERE id = ? AND holder_id IS NULL`,
				holderID, Now(), id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				leased, err = tx.GetCredential(ctx, id)
				return err
			}
		}
		return ErrNotFound
	})
	if errors.Is(err, ErrNotFound) {
		return nil, ErrNotFound
	}
	return leased, err
}

// ListHeldCredentials lists the pool credentials an anonymous user holds.
func (s *SQL) ListHeldCredentials(ctx context.Context, holderID string) ([]*Credential, error) {
	return s.listCredentials(ctx, `SELECT `+credentialCols+` FROM credentials WHERE holder_id = ? ORDER BY id`, holderID)
}
