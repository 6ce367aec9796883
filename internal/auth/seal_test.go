package auth

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Sealed values open with the same key and additional data only; a value
// altered or moved to another row does not open.
func TestSealer(t *testing.T) {
	key, err := DeriveKey([]byte("cluster secret"), "test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal([]byte("provider refresh token"), "row-1")
	if !strings.HasPrefix(sealed, "gcm1:") || strings.Contains(sealed, "refresh") {
		t.Fatalf("sealed: %q", sealed)
	}
	if plain, err := s.Open(sealed, "row-1"); err != nil || !bytes.Equal(plain, []byte("provider refresh token")) {
		t.Errorf("open: %q %v", plain, err)
	}
	if _, err := s.Open(sealed, "row-2"); !errors.Is(err, ErrUnseal) {
		t.Errorf("another row: %v", err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if _, err := s.Open(tampered, "row-1"); !errors.Is(err, ErrUnseal) {
		t.Errorf("altered: %v", err)
	}
	other, _ := DeriveKey([]byte("another secret"), "test")
	s2, _ := NewSealer(other)
	if _, err := s2.Open(sealed, "row-1"); !errors.Is(err, ErrUnseal) {
		t.Errorf("another key: %v", err)
	}
	if _, err := NewSealer([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}
