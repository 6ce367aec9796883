package store

import (
	"context"
	"time"
)

// SIP mapping owners.
const (
	SipOwnerUser  = "user"
	SipOwnerGroup = "group"
)

// SipMapping is the SIP identity of a user or a group towards the trunk
// (the seeds' sip-mapping): calls from the owner go out with Username in
// From, calls to Username ring the owner.
type SipMapping struct {
	ID        string
	DomainID  string
	OwnerType string // SipOwnerUser or SipOwnerGroup
	OwnerID   string
	Username  string
	// Password is sealed (auth.Sealer) with the mapping's id; empty = none.
	Password string
	Created  int64
	Updated  int64
	// Dynamic: the mapping of an anonymous user, made on request
	// (DynamicSipMapping) and never stored.
	Dynamic bool
}

// DynamicSipMapping is the seeds' dynamic mapping of an anonymous user:
// the username prefix + the user's id, made on request and never stored;
// nil when prefix is empty (sipmappings.dynamicMappingPrefix) or u is not
// anonymous.
func DynamicSipMapping(prefix string, u *User) *SipMapping {
	if prefix == "" || u == nil || u.Role != RoleAnonymous {
		return nil
	}
	return &SipMapping{DomainID: u.DomainID, OwnerType: SipOwnerUser, OwnerID: u.ID, Username: prefix + u.ID, Dynamic: true}
}

// SipMappings persists SIP mappings.
type SipMappings interface {
	CreateSipMapping(ctx context.Context, m *SipMapping) error
	GetSipMapping(ctx context.Context, id string) (*SipMapping, error)
	// SipMappingByOwner finds the mapping of a user or group (ErrNotFound: none).
	SipMappingByOwner(ctx context.Context, ownerType, ownerID string) (*SipMapping, error)
	// SipMappingByUsername finds the owner of a SIP username (ErrNotFound: none).
	SipMappingByUsername(ctx context.Context, username string) (*SipMapping, error)
	// ListSipMappings lists the mappings of the domains, oldest first.
	ListSipMappings(ctx context.Context, domainIDs []string, p Page) ([]*SipMapping, error)
	UpdateSipMapping(ctx context.Context, m *SipMapping) error
	DeleteSipMapping(ctx context.Context, id string) error
}

const sipCols = `id, domain_id, owner_type, owner_id, username, password, created, updated`

func scanSipMapping(row interface{ Scan(...any) error }) (*SipMapping, error) {
	var m SipMapping
	if err := row.Scan(&m.ID, &m.DomainID, &m.OwnerType, &m.OwnerID, &m.Username, &m.Password, &m.Created, &m.Updated); err != nil {
		return nil, mapErr(err)
	}
	return &m, nil
}

// CreateSipMapping implements SipMappings; it sets ID (when empty) and the times.
func (s *SQL) CreateSipMapping(ctx context.Context, m *SipMapping) error {
	if m.ID == "" {
		m.ID = NewID()
	}
	now := time.Now().UnixMilli()
	m.Created, m.Updated = now, now
	_, err := s.exec(ctx, `INSERT INTO sip_mappings (`+sipCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.DomainID, m.OwnerType, m.OwnerID, m.Username, m.Password, m.Created, m.Updated)
	return mapErr(err)
}

// GetSipMapping implements SipMappings.
func (s *SQL) GetSipMapping(ctx context.Context, id string) (*SipMapping, error) {
	return scanSipMapping(s.queryRow(ctx, `SELECT `+sipCols+` FROM sip_mappings WHERE id = ?`, id))
}

// SipMappingByOwner implements SipMappings.
func (s *SQL) SipMappingByOwner(ctx context.Context, ownerType, ownerID string) (*SipMapping, error) {
	return scanSipMapping(s.queryRow(ctx, `SELECT `+sipCols+` FROM sip_mappings WHERE owner_type = ? AND owner_id = ?`, ownerType, ownerID))
}

// SipMappingByUsername implements SipMappings.
func (s *SQL) SipMappingByUsername(ctx context.Context, username string) (*SipMapping, error) {
	return scanSipMapping(s.queryRow(ctx, `SELECT `+sipCols+` FROM sip_mappings WHERE username = ?`, username))
}

// ListSipMappings implements SipMappings; nil domainIDs lists every domain's.
func (s *SQL) ListSipMappings(ctx context.Context, domainIDs []string, p Page) ([]*SipMapping, error) {
	in, args := inList("domain_id", domainIDs)
	lim, largs := limitClause(p)
	rows, err := s.query(ctx, `SELECT `+sipCols+` FROM sip_mappings WHERE 1 = 1`+in+` ORDER BY created, id`+lim, append(args, largs...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*SipMapping
	for rows.Next() {
		m, err := scanSipMapping(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, mapErr(rows.Err())
}

// UpdateSipMapping implements SipMappings: owner, username and password.
func (s *SQL) UpdateSipMapping(ctx context.Context, m *SipMapping) error {
	m.Updated = time.Now().UnixMilli()
	return s.execOne(ctx, `UPDATE sip_mappings SET domain_id = ?, owner_type = ?, owner_id = ?, username = ?, password = ?, updated = ? WHERE id = ?`,
		m.DomainID, m.OwnerType, m.OwnerID, m.Username, m.Password, m.Updated, m.ID)
}

// DeleteSipMapping implements SipMappings.
func (s *SQL) DeleteSipMapping(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM sip_mappings WHERE id = ?`, id)
}
