package store

import (
	"context"
	"errors"
	"fmt"
)

// Push token types: APNs (alerts), APNs VoIP (PushKit, the call screen)
// and Firebase Cloud Messaging.
const (
	PushAPNs     = "apns"
	PushAPNsVoIP = "apns-voip"
	PushFCM      = "fcm"
)

// PushToken is a device token an app registered for its user.
type PushToken struct {
	ID        string
	UserID    string
	DomainID  string
	TokenType string // apns, apns-voip or fcm
	Token     string
	DeviceID  string // the app's deviceId (the signaling session's context), "" = unknown
	Created   int64
	Updated   int64
}

// PushTokens stores push tokens.
type PushTokens interface {
	// SavePushToken registers a token for its user: a token already
	// registered (by this user or another, as when a phone changes hands)
	// moves to t.UserID, and the user's older token of the same type on
	// the same device is replaced. t.ID and the times are set. It refuses
	// with ErrLimit when the user has max tokens already (max 0 = no limit).
	SavePushToken(ctx context.Context, t *PushToken, max int) error
	GetPushToken(ctx context.Context, id string) (*PushToken, error)
	// ListPushTokens lists the tokens of a user, or, with userID "", of
	// some domains (nil = all), oldest first.
	ListPushTokens(ctx context.Context, userID string, domainIDs []string, p Page) ([]*PushToken, error)
	DeletePushToken(ctx context.Context, id string) error
	// DeletePushTokenValue removes a token the push service refused as
	// bad or expired; it reports whether a row went.
	DeletePushTokenValue(ctx context.Context, tokenType, token string) (bool, error)
}

// ErrLimit is what a store answers when a count limit is reached.
var ErrLimit = errors.New("limit reached")

const pushCols = `id, user_id, domain_id, token_type, token, device_id, created, updated`

func scanPushToken(row interface{ Scan(...any) error }) (*PushToken, error) {
	var t PushToken
	if err := row.Scan(&t.ID, &t.UserID, &t.DomainID, &t.TokenType, &t.Token, &t.DeviceID, &t.Created, &t.Updated); err != nil {
		return nil, mapErr(err)
	}
	return &t, nil
}

// SavePushToken registers a token (see PushTokens).
func (s *SQL) SavePushToken(ctx context.Context, t *PushToken, max int) error {
	return s.InTx(ctx, func(st Store) error {
		tx := st.(*SQL)
		now := Now()
		old, err := scanPushToken(tx.queryRow(ctx, `SELECT `+pushCols+` FROM push_tokens WHERE token_type = ? AND token = ?`, t.TokenType, t.Token))
		switch {
		case err == nil:
			t.ID, t.Created = old.ID, old.Created
		case errors.Is(err, ErrNotFound):
			t.ID, t.Created = NewID(), now
		default:
			return fmt.Errorf("find push token: %w", err)
		}
		t.Updated = now
		if t.DeviceID != "" {
			if _, err := tx.exec(ctx, `DELETE FROM push_tokens WHERE user_id = ? AND device_id = ? AND token_type = ? AND id <> ?`,
				t.UserID, t.DeviceID, t.TokenType, t.ID); err != nil {
				return fmt.Errorf("replace the device's push token: %w", err)
			}
		}
		if max > 0 {
			var n int
			if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM push_tokens WHERE user_id = ? AND id <> ?`, t.UserID, t.ID).Scan(&n); err != nil {
				return fmt.Errorf("count push tokens: %w", mapErr(err))
			}
			if n >= max {
				return ErrLimit
			}
		}
		if old != nil {
			_, err = tx.exec(ctx, `UPDATE push_tokens SET user_id = ?, domain_id = ?, device_id = ?, updated = ? WHERE id = ?`,
				t.UserID, t.DomainID, t.DeviceID, t.Updated, t.ID)
		} else {
			_, err = tx.exec(ctx, `INSERT INTO push_tokens (`+pushCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				t.ID, t.UserID, t.DomainID, t.TokenType, t.Token, t.DeviceID, t.Created, t.Updated)
		}
		if err != nil {
			return fmt.Errorf("save push token: %w", mapErr(err))
		}
		return nil
	})
}

// GetPushToken reads one token.
func (s *SQL) GetPushToken(ctx context.Context, id string) (*PushToken, error) {
	return scanPushToken(s.queryRow(ctx, `SELECT `+pushCols+` FROM push_tokens WHERE id = ?`, id))
}

// ListPushTokens lists a user's tokens, or some domains' (see PushTokens).
func (s *SQL) ListPushTokens(ctx context.Context, userID string, domainIDs []string, p Page) ([]*PushToken, error) {
	q, args := `SELECT `+pushCols+` FROM push_tokens WHERE 1 = 1`, []any{}
	if userID != "" {
		q, args = q+` AND user_id = ?`, append(args, userID)
	}
	cond, cargs := inList("domain_id", domainIDs)
	lim, largs := limitClause(p)
	rows, err := s.query(ctx, q+cond+` ORDER BY created, id`+lim, append(append(args, cargs...), largs...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*PushToken
	for rows.Next() {
		t, err := scanPushToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, mapErr(rows.Err())
}

// DeletePushToken removes a token by id.
func (s *SQL) DeletePushToken(ctx context.Context, id string) error {
	return s.execOne(ctx, `DELETE FROM push_tokens WHERE id = ?`, id)
}

// DeletePushTokenValue removes a token by its value.
func (s *SQL) DeletePushTokenValue(ctx context.Context, tokenType, token string) (bool, error) {
	res, err := s.exec(ctx, `DELETE FROM push_tokens WHERE token_type = ? AND token = ?`, tokenType, token)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
