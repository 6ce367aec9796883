package grant

import (
	"errors"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1700000000, 0)
	g := Grant{Room: "room1", User: "5da6e65772aa8c46876107d6", Publish: true, Subscribe: true, Expires: now.Unix() + 60}
	tok := Sign(secret, g)
	got, err := Verify(secret, tok, now)
	if err != nil || got != g {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, g)
	}
	if _, err := Verify(secret, tok, now.Add(time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired grant: %v", err)
	}
	if _, err := Verify([]byte("other secret"), tok, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("wrong secret: %v", err)
	}
	forged := Sign(secret, Grant{Room: "room2", User: g.User, Expires: g.Expires})
	payload2, _, _ := cut(forged)
	_, sig1, _ := cut(tok)
	if _, err := Verify(secret, payload2+"."+sig1, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("swapped payload: %v", err)
	}
	for _, bad := range []string{"", "nodot", "a.b", "!!.??"} {
		if _, err := Verify(secret, bad, now); err == nil {
			t.Fatalf("Verify(%q) accepted", bad)
		}
	}
}

func cut(tok string) (string, string, bool) {
	for i := range tok {
		if tok[i] == '.' {
			return tok[:i], tok[i+1:], true
		}
	}
	return tok, "", false
}

func FuzzVerify(f *testing.F) {
	secret := []byte("secret")
	f.Add(Sign(secret, Grant{Room: "r", User: "u", Expires: 2e9}))
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, tok string) {
		g, err := Verify(secret, tok, time.Unix(1e9, 0))
		if err == nil && (g.Room == "" || g.User == "") {
			t.Fatalf("accepted a grant without room or user: %q", tok)
		}
	})
}
