// Package grant signs and checks room grants: the token in a room object
// that the media server accepts for joining that room's media. A grant names
// the room and the user and expires; it is signed with the cluster secret
// (HMAC-SHA256), so any media node can check it without a lookup.
package grant

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Grant is what a room token allows.
type Grant struct {
	Room      string `json:"r"`           // QSS room id (the room object's "room"/"uuid")
	User      string `json:"u"`           // user id
	Session   string `json:"s,omitempty"` // QSS session (device) id, when known
	Publish   bool   `json:"p"`           // may publish media
	Subscribe bool   `json:"b"`           // may subscribe to media
	Expires   int64  `json:"e"`           // unix seconds
}

// Errors of Verify.
var (
	ErrMalformed = errors.New("room token is malformed")
	ErrSignature = errors.New("room token signature does not match")
	ErrExpired   = errors.New("room token has expired")
)

var enc = base64.RawURLEncoding

// Sign returns the token of g: base64url(JSON) "." base64url(HMAC).
func Sign(secret []byte, g Grant) string {
	body, _ := json.Marshal(g)
	payload := enc.EncodeToString(body)
	return payload + "." + enc.EncodeToString(mac(secret, payload))
}

// Verify checks token's signature and expiry at now and returns its grant.
func Verify(secret []byte, token string, now time.Time) (Grant, error) {
	var g Grant
	if len(token) > 2048 {
		return g, ErrMalformed
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return g, ErrMalformed
	}
	got, err := enc.DecodeString(sig)
	if err != nil {
		return g, ErrMalformed
	}
	if !hmac.Equal(got, mac(secret, payload)) {
		return g, ErrSignature
	}
	body, err := enc.DecodeString(payload)
	if err != nil {
		return g, ErrMalformed
	}
	if err := json.Unmarshal(body, &g); err != nil {
		return g, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if g.Room == "" || g.User == "" {
		return g, ErrMalformed
	}
	if now.Unix() >= g.Expires {
		return g, ErrExpired
	}
	return g, nil
}

func mac(secret []byte, payload string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(payload))
	return h.Sum(nil)
}
