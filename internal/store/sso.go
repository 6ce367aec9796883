package store

import (
	"context"
	"database/sql"
)

// CreateAuthCode stores an authorization code.
func (s *SQL) CreateAuthCode(ctx context.Context, c *AuthCode) error {
	if c.Created == 0 {
		c.Created = Now()
	}
	_, err := s.exec(ctx, `INSERT INTO auth_codes (hash, client_id, user_id, redirect_uri, scope, nonce, challenge,
		challenge_method, sid, auth_time, grant_id, expires, created) VALUES (`+placeholders(13)+`)`,
		c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.Challenge, c.ChallengeMethod, c.SID,
		c.AuthTime, c.GrantID, c.Expires, c.Created)
	return err
}

// GetAuthCode finds an authorization code by its hash.
func (s *SQL) GetAuthCode(ctx context.Context, hash string) (*AuthCode, error) {
	var c AuthCode
	err := s.queryRow(ctx, `SELECT hash, client_id, user_id, redirect_uri, scope, nonce, challenge, challenge_method,
		sid, auth_time, grant_id, expires, created FROM auth_codes WHERE hash = ?`, hash).Scan(&c.Hash, &c.ClientID,
		&c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.Challenge, &c.ChallengeMethod, &c.SID, &c.AuthTime,
		&c.GrantID, &c.Expires, &c.Created)
	if err != nil {
		return nil, mapErr(err)
	}
	return &c, nil
}

// ClaimAuthCode marks a code exchanged for grantID. Of two exchanges at
// once, only one claims it.
func (s *SQL) ClaimAuthCode(ctx context.Context, hash, grantID string) (bool, error) {
	res, err := s.exec(ctx, `UPDATE auth_codes SET grant_id = ? WHERE hash = ? AND grant_id = ''`, grantID, hash)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// CreateSigningKey stores a signing key.
func (s *SQL) CreateSigningKey(ctx context.Context, k *SigningKey) error {
	_, err := s.exec(ctx, `INSERT INTO signing_keys (kid, alg, private, not_before, expires, created)
		VALUES (?, ?, ?, ?, ?, ?)`, k.KID, k.Alg, k.Private, k.NotBefore, k.Expires, k.Created)
	return err
}

// ListSigningKeys lists the keys not expired at now, newest first.
func (s *SQL) ListSigningKeys(ctx context.Context, now int64) ([]*SigningKey, error) {
	rows, err := s.query(ctx, `SELECT kid, alg, private, not_before, expires, created FROM signing_keys
		WHERE expires > ? ORDER BY created DESC, kid`, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*SigningKey
	for rows.Next() {
		var k SigningKey
		if err := rows.Scan(&k.KID, &k.Alg, &k.Private, &k.NotBefore, &k.Expires, &k.Created); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, &k)
	}
	return out, mapErr(rows.Err())
}

// CreateSSOSession stores a browser session of the provider.
func (s *SQL) CreateSSOSession(ctx context.Context, ss *SSOSession) error {
	_, err := s.exec(ctx, `INSERT INTO sso_sessions (hash, sid, user_id, auth_time, expires) VALUES (?, ?, ?, ?, ?)`,
		ss.Hash, ss.SID, ss.UserID, ss.AuthTime, ss.Expires)
	return err
}

// GetSSOSession finds a browser session by the hash of its cookie.
func (s *SQL) GetSSOSession(ctx context.Context, hash string) (*SSOSession, error) {
	var ss SSOSession
	err := s.queryRow(ctx, `SELECT hash, sid, user_id, auth_time, expires FROM sso_sessions WHERE hash = ?`, hash).
		Scan(&ss.Hash, &ss.SID, &ss.UserID, &ss.AuthTime, &ss.Expires)
	if err != nil {
		return nil, mapErr(err)
	}
	return &ss, nil
}

// DeleteSSOSession ends a session and returns the grants issued in it.
func (s *SQL) DeleteSSOSession(ctx context.Context, sid string) ([]string, error) {
	var grants []string
	err := s.InTx(ctx, func(st Store) error {
		tx := st.(*SQL)
		var err error
		if grants, err = tx.queryStrings(ctx, `SELECT grant_id FROM sso_grants WHERE sid = ?`, sid); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM sso_grants WHERE sid = ?`, sid); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `DELETE FROM sso_sessions WHERE sid = ?`, sid)
		return err
	})
	return grants, err
}

// AddSSOGrant records a grant issued in a provider session.
func (s *SQL) AddSSOGrant(ctx context.Context, sid, grantID string, expires int64) error {
	_, err := s.exec(ctx, `INSERT INTO sso_grants (sid, grant_id, expires) VALUES (?, ?, ?)
		ON CONFLICT (sid, grant_id) DO NOTHING`, sid, grantID, expires)
	return err
}

// GetConsent returns the scopes a user allowed a client.
func (s *SQL) GetConsent(ctx context.Context, userID, clientID string) ([]string, error) {
	var raw string
	if err := s.queryRow(ctx, `SELECT scopes FROM oauth_consents WHERE user_id = ? AND client_id = ?`, userID, clientID).
		Scan(&raw); err != nil {
		return nil, mapErr(err)
	}
	var scopes []string
	return scopes, unmarshalJSON(raw, &scopes)
}

// SetConsent records the scopes a user allowed a client.
func (s *SQL) SetConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	_, err := s.exec(ctx, `INSERT INTO oauth_consents (user_id, client_id, scopes, created) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, created = excluded.created`,
		userID, clientID, marshalJSON(strs(scopes)), Now())
	return err
}

const idpCols = `id, domain_id, name, config, secret, created, updated`

func scanIdentityProvider(row interface{ Scan(...any) error }) (*IdentityProvider, error) {
	var p IdentityProvider
	if err := row.Scan(&p.ID, &p.DomainID, &p.Name, &p.Config, &p.Secret, &p.Created, &p.Updated); err != nil {
		return nil, mapErr(err)
	}
	return &p, nil
}

// CreateIdentityProvider stores an external provider; p.ID is set if empty.
func (s *SQL) CreateIdentityProvider(ctx context.Context, p *IdentityProvider) error {
	if p.ID == "" {
		p.ID = NewID()
	}
	p.Created, p.Updated = Now(), Now()
	_, err := s.exec(ctx, `INSERT INTO idp_providers (`+idpCols+`) VALUES (`+placeholders(7)+`)`,
		p.ID, p.DomainID, p.Name, p.Config, p.Secret, p.Created, p.Updated)
	return err
}

// UpdateIdentityProvider replaces a provider's fields.
func (s *SQL) UpdateIdentityProvider(ctx context.Context, p *IdentityProvider) error {
	p.Updated = Now()
	return s.execOne(ctx, `UPDATE idp_providers SET domain_id = ?, name = ?, config = ?, secret = ?, updated = ?
		WHERE id = ?`, p.DomainID, p.Name, p.Config, p.Secret, p.Updated, p.ID)
}

// DeleteIdentityProvider removes a provider.
func (s *SQL) DeleteIdentityProvider(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM idp_providers WHERE id = ?`, id)
}

// GetIdentityProvider finds a provider by id.
func (s *SQL) GetIdentityProvider(ctx context.Context, id string) (*IdentityProvider, error) {
	return scanIdentityProvider(s.queryRow(ctx, `SELECT `+idpCols+` FROM idp_providers WHERE id = ?`, id))
}

// GetIdentityProviderByName finds a provider by name.
func (s *SQL) GetIdentityProviderByName(ctx context.Context, name string) (*IdentityProvider, error) {
	return scanIdentityProvider(s.queryRow(ctx, `SELECT `+idpCols+` FROM idp_providers WHERE name = ?`, name))
}

// ListIdentityProviders lists the providers of some domains (nil = all).
func (s *SQL) ListIdentityProviders(ctx context.Context, domainIDs []string) ([]*IdentityProvider, error) {
	cond, args := inList("domain_id", domainIDs)
	rows, err := s.query(ctx, `SELECT `+idpCols+` FROM idp_providers WHERE 1 = 1`+cond+` ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*IdentityProvider
	for rows.Next() {
		p, err := scanIdentityProvider(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, mapErr(rows.Err())
}

// GetIdentityLink finds the user an external identity is.
func (s *SQL) GetIdentityLink(ctx context.Context, issuer, subject string) (*IdentityLink, error) {
	l := IdentityLink{Issuer: issuer, Subject: subject}
	var user sql.NullString
	err := s.queryRow(ctx, `SELECT user_id, provider, created FROM idp_links WHERE issuer = ? AND subject = ?`,
		issuer, subject).Scan(&user, &l.Provider, &l.Created)
	if err != nil {
		return nil, mapErr(err)
	}
	l.UserID = user.String
	return &l, nil
}

// CreateIdentityLink ties an external identity to a user.
func (s *SQL) CreateIdentityLink(ctx context.Context, l *IdentityLink) error {
	if l.Created == 0 {
		l.Created = Now()
	}
	_, err := s.exec(ctx, `INSERT INTO idp_links (issuer, subject, user_id, provider, created) VALUES (?, ?, ?, ?, ?)`,
		l.Issuer, l.Subject, l.UserID, l.Provider, l.Created)
	return err
}
