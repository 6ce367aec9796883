package auth

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// A hash is the PHC string of argon2id with the hasher's parameters, a
// 16-byte salt of its own and a 32-byte key.
func TestHashEncodesParameters(t *testing.T) {
	h := NewHasher(testMemoryKiB, 2, 1)
	ctx := context.Background()
	a, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, "$argon2id$v=19$m=256,t=2,p=1$") {
		t.Fatalf("hash %q does not carry the parameters", a)
	}
	parts := strings.Split(a, "$")
	if len(parts) != 6 {
		t.Fatalf("hash %q has %d parts, want 6", a, len(parts))
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) != 16 {
		t.Fatalf("salt %q: %d bytes, %v; want 16", parts[4], len(salt), err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) != 32 {
		t.Fatalf("key %q: %d bytes, %v; want 32", parts[5], len(key), err)
	}
	if a == b {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

// Verify reads the parameters from the hash, not from the hasher, so that
// hashes made before a change of password.memory or password.iterations
// keep working.
func TestVerifyUsesStoredParameters(t *testing.T) {
	ctx := context.Background()
	old := NewHasher(testMemoryKiB, 2, 1)
	hash, err := old.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	now := NewHasher(2*testMemoryKiB, 1, 2)
	for _, c := range []struct {
		password string
		want     bool
	}{
		{"correct horse", true},
		{"correct horse ", false},
		{"Correct horse", false},
		{"", false},
	} {
		ok, err := now.Verify(ctx, hash, c.password)
		if err != nil || ok != c.want {
			t.Errorf("verify %q: %v, %v; want %v", c.password, ok, err, c.want)
		}
	}
}

// A stored hash that is not a well-formed argon2id hash within the limits
// is refused with ErrBadHash, without computing anything.
func TestVerifyRefusesBadHashes(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testMemoryKiB, 1, 1)
	good, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	for name, hash := range map[string]string{
		"empty":            "",
		"plain text":       "pw",
		"bcrypt":           "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":          with(1, "argon2i"),
		"missing part":     strings.Join(parts[:5], "$"),
		"extra part":       good + "$x",
		"version 16":       with(2, "v=16"),
		"no version":       with(2, "v="),
		"zero memory":      with(3, "m=0,t=1,p=1"),
		"zero iterations":  with(3, "m=256,t=0,p=1"),
		"zero lanes":       with(3, "m=256,t=1,p=0"),
		"memory over 2GiB": with(3, fmt.Sprintf("m=%d,t=1,p=1", 1<<21+1)),
		"65 iterations":    with(3, "m=256,t=65,p=1"),
		"garbled params":   with(3, "m=lots"),
		"salt not base64":  with(4, "!!!"),
		"key not base64":   with(5, "***"),
		"empty key":        with(5, ""),
	} {
		ok, err := h.Verify(ctx, hash, "pw")
		if ok || !errors.Is(err, ErrBadHash) {
			t.Errorf("%s (%q): %v, %v; want ErrBadHash", name, hash, ok, err)
		}
	}
	if ok, err := h.Verify(ctx, good, "pw"); !ok || err != nil {
		t.Fatalf("the unaltered hash: %v, %v", ok, err)
	}
}

// At most one hash per CPU runs at once; a caller that finds every slot
// taken waits until its context ends, and gives its slot back either way.
func TestHasherSlots(t *testing.T) {
	h := NewHasher(testMemoryKiB, 1, 1)
	if cap(h.slots) != runtime.GOMAXPROCS(0) {
		t.Fatalf("%d slots, want one per CPU (%d)", cap(h.slots), runtime.GOMAXPROCS(0))
	}
	ctx := context.Background()
	hash, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	for range cap(h.slots) {
		h.slots <- struct{}{}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Hash(cancelled, "pw"); !errors.Is(err, context.Canceled) {
		t.Fatalf("hash with every slot taken: %v, want it to wait for its context", err)
	}
	if _, err := h.Verify(cancelled, hash, "pw"); !errors.Is(err, context.Canceled) {
		t.Fatalf("verify with every slot taken: %v, want it to wait for its context", err)
	}
	<-h.slots // one frees up
	if ok, err := h.Verify(ctx, hash, "pw"); !ok || err != nil {
		t.Fatalf("verify with a free slot: %v, %v", ok, err)
	}
	if n := len(h.slots); n != cap(h.slots)-1 {
		t.Fatalf("%d slots taken after a verify, want %d: the slot was not given back", n, cap(h.slots)-1)
	}
	for range cap(h.slots) - 1 {
		<-h.slots
	}
}
