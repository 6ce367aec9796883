package store

import (
	"context"
	"database/sql"
)

// CreateToken stores an issued token.
func (s *SQL) CreateToken(ctx context.Context, t *Token) error {
	if t.Created == 0 {
		t.Created = Now()
	}
	_, err := s.exec(ctx, `INSERT INTO tokens (hash, kind, grant_id, user_id, client_id, expires, created)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Kind, t.GrantID, nullable(t.UserID), nullable(t.ClientID), t.Expires, t.Created)
	return err
}

// GetToken finds a token by the hash of its value.
func (s *SQL) GetToken(ctx context.Context, hash string) (*Token, error) {
	var t Token
	var user, client sql.NullString
	err := s.queryRow(ctx, `SELECT hash, kind, grant_id, user_id, client_id, expires, created
		FROM tokens WHERE hash = ?`, hash).Scan(&t.Hash, &t.Kind, &t.GrantID, &user, &client, &t.Expires, &t.Created)
	if err != nil {
		return nil, mapErr(err)
	}
	t.UserID, t.ClientID = user.String, client.String
	return &t, nil
}

func (s *SQL) deleteTokensWhere(ctx context.Context, where string, arg any) ([]string, error) {
	rows, err := s.query(ctx, `SELECT hash FROM tokens WHERE `+where, arg)
	if err != nil {
		return nil, err
	}
	var hashes []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return nil, mapErr(err)
		}
		hashes = append(hashes, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	if len(hashes) == 0 {
		return nil, nil
	}
	if _, err := s.exec(ctx, `DELETE FROM tokens WHERE `+where, arg); err != nil {
		return nil, err
	}
	return hashes, nil
}

// DeleteGrant removes the tokens of one grant.
func (s *SQL) DeleteGrant(ctx context.Context, grantID string) ([]string, error) {
	return s.deleteTokensWhere(ctx, "grant_id = ?", grantID)
}

// DeleteUserTokens removes every token of a user.
func (s *SQL) DeleteUserTokens(ctx context.Context, userID string) ([]string, error) {
	return s.deleteTokensWhere(ctx, "user_id = ?", userID)
}

// DeleteClientTokens removes the tokens issued to a client (client_credentials).
func (s *SQL) DeleteClientTokens(ctx context.Context, clientID string) ([]string, error) {
	return s.deleteTokensWhere(ctx, "client_id = ?", clientID)
}

// UserGrants lists a user's grants that still have a live token, oldest first.
func (s *SQL) UserGrants(ctx context.Context, userID string, now int64) ([]string, error) {
	return s.queryStrings(ctx, `SELECT grant_id FROM tokens WHERE user_id = ? AND expires > ?
		GROUP BY grant_id ORDER BY MIN(created), grant_id`, userID, now)
}

// DeleteExpiredTokens removes tokens, records of used refresh tokens,
// authorization codes, provider sessions and signing keys past their expiry.
func (s *SQL) DeleteExpiredTokens(ctx context.Context, now int64) (int, error) {
	total := 0
	for _, q := range []string{`DELETE FROM tokens WHERE expires < ?`, `DELETE FROM used_refresh_tokens WHERE expires < ?`,
		`DELETE FROM auth_codes WHERE expires < ?`, `DELETE FROM sso_sessions WHERE expires < ?`,
		`DELETE FROM sso_grants WHERE expires < ?`, `DELETE FROM signing_keys WHERE expires < ?`} {
		res, err := s.exec(ctx, q, now)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += int(n)
	}
	return total, nil
}

// ClaimRefreshToken records the refresh token t as exchanged. Of two
// exchanges of one token at once, only one claims it: the other sees false.
func (s *SQL) ClaimRefreshToken(ctx context.Context, t *Token) (bool, error) {
	res, err := s.exec(ctx, `INSERT INTO used_refresh_tokens (hash, grant_id, user_id, client_id, expires)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
		t.Hash, t.GrantID, nullable(t.UserID), nullable(t.ClientID), t.Expires)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// GetUsedRefreshToken finds an exchanged refresh token by its hash.
func (s *SQL) GetUsedRefreshToken(ctx context.Context, hash string) (*Token, error) {
	t := Token{Hash: hash, Kind: TokenRefresh}
	var user, client sql.NullString
	err := s.queryRow(ctx, `SELECT grant_id, user_id, client_id, expires FROM used_refresh_tokens WHERE hash = ?`, hash).
		Scan(&t.GrantID, &user, &client, &t.Expires)
	if err != nil {
		return nil, mapErr(err)
	}
	t.UserID, t.ClientID = user.String, client.String
	return &t, nil
}

// DeleteUsedRefreshTokens forgets the exchanged refresh tokens of a grant.
func (s *SQL) DeleteUsedRefreshTokens(ctx context.Context, grantID string) error {
	_, err := s.exec(ctx, `DELETE FROM used_refresh_tokens WHERE grant_id = ?`, grantID)
	return err
}
