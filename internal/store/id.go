package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// NewID returns a new 24-hex object id, as the seeds use: four bytes of
// creation time in seconds followed by eight random bytes, so that ids sort
// roughly by creation.
func NewID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(time.Now().Unix()))
	_, _ = rand.Read(b[4:])
	return hex.EncodeToString(b[:])
}

// ValidID reports whether s has the shape of an object id.
func ValidID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Now is the current time in unix milliseconds, the unit of every stored time.
func Now() int64 { return time.Now().UnixMilli() }
