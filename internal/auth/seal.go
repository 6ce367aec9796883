package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// Sealer encrypts secrets kept in the database (signing keys, the external
// providers' tokens and client secrets) with AES-256-GCM.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a sealer with a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("sealing key: %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealing key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// DeriveKey derives a 32-byte key for purpose from the cluster secret.
func DeriveKey(secret []byte, purpose string) ([]byte, error) {
	return hkdf.Key(sha256.New, secret, nil, "openwac "+purpose, 32)
}

// sealPrefix marks sealed values (and their format's version).
const sealPrefix = "gcm1:"

// Seal encrypts plain; the additional data binds the value to what it is
// (a row's id), so that a sealed value copied to another row does not open.
func (s *Sealer) Seal(plain []byte, additional string) string {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := s.aead.Seal(nonce, nonce, plain, []byte(additional))
	return sealPrefix + base64.RawStdEncoding.EncodeToString(out)
}

// ErrUnseal is a sealed value that does not open: another key, or altered.
var ErrUnseal = errors.New("sealed value does not open (another encryption key, or altered)")

// Open decrypts a value made by Seal with the same additional data.
func (s *Sealer) Open(sealed, additional string) ([]byte, error) {
	if len(sealed) < len(sealPrefix) || sealed[:len(sealPrefix)] != sealPrefix {
		return nil, ErrUnseal
	}
	raw, err := base64.RawStdEncoding.DecodeString(sealed[len(sealPrefix):])
	if err != nil || len(raw) < s.aead.NonceSize() {
		return nil, ErrUnseal
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(additional))
	if err != nil {
		return nil, ErrUnseal
	}
	return plain, nil
}
