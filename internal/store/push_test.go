package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/openwac/wac/internal/store"
)

func TestPushTokens(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL) {
		ctx := context.Background()
		d := mustDomain(t, st, "acme", "")
		alice, bob := mustUser(t, st, d.ID, "alice"), mustUser(t, st, d.ID, "bob")
		save := func(u *store.User, typ, tok, dev string, max int) (*store.PushToken, error) {
			pt := &store.PushToken{UserID: u.ID, DomainID: u.DomainID, TokenType: typ, Token: tok, DeviceID: dev}
			return pt, st.SavePushToken(ctx, pt, max)
		}
		list := func(u *store.User) []*store.PushToken {
			l, err := st.ListPushTokens(ctx, u.ID, nil, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		a1, err := save(alice, store.PushAPNsVoIP, "aa01", "iphone", 3)
		if err != nil || a1.ID == "" || a1.Created == 0 {
			t.Fatalf("save: %+v %v", a1, err)
		}
		// The same token again keeps its id.
		again, err := save(alice, store.PushAPNsVoIP, "aa01", "iphone", 3)
		if err != nil || again.ID != a1.ID || again.Created != a1.Created {
			t.Fatalf("again: %+v %v", again, err)
		}
		// A device's new token of the same type replaces its old one; other
		// types and devices stay.
		a2, _ := save(alice, store.PushAPNsVoIP, "aa02", "iphone", 3)
		save(alice, store.PushAPNs, "aa03", "iphone", 3)
		save(alice, store.PushFCM, "fcm-1", "", 3)
		if l := list(alice); len(l) != 3 || !slices.ContainsFunc(l, func(p *store.PushToken) bool { return p.ID == a2.ID }) {
			t.Fatalf("alice's tokens: %d, without %s", len(l), a2.ID)
		}
		if _, err := st.GetPushToken(ctx, a1.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the replaced token: %v", err)
		}
		// The limit counts the user's other tokens.
		if _, err := save(alice, store.PushFCM, "fcm-2", "", 3); !errors.Is(err, store.ErrLimit) {
			t.Errorf("a fourth token: %v", err)
		}
		if _, err := save(alice, store.PushFCM, "fcm-1", "", 3); err != nil {
			t.Errorf("an existing token at the limit: %v", err)
		}
		// A token registered by another user moves to it.
		moved, err := save(bob, store.PushFCM, "fcm-1", "pixel", 3)
		if err != nil || len(list(alice)) != 2 || len(list(bob)) != 1 || list(bob)[0].ID != moved.ID || list(bob)[0].DeviceID != "pixel" {
			t.Fatalf("moved: %v %+v %+v", err, list(alice), list(bob))
		}
		// By domain, and removal by value.
		if l, _ := st.ListPushTokens(ctx, "", []string{d.ID}, store.Page{}); len(l) != 3 {
			t.Errorf("the domain's tokens: %d", len(l))
		}
		if l, _ := st.ListPushTokens(ctx, "", []string{}, store.Page{}); len(l) != 0 {
			t.Errorf("no domain: %d", len(l))
		}
		if gone, err := st.DeletePushTokenValue(ctx, store.PushFCM, "fcm-1"); !gone || err != nil {
			t.Errorf("delete by value: %v %v", gone, err)
		}
		if gone, _ := st.DeletePushTokenValue(ctx, store.PushFCM, "fcm-1"); gone {
			t.Error("deleted twice")
		}
		if err := st.DeletePushToken(ctx, a2.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.DeletePushToken(ctx, a2.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted twice: %v", err)
		}
		// A user's tokens go with the user.
		if err := st.DeleteUser(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if l, _ := st.ListPushTokens(ctx, alice.ID, nil, store.Page{}); len(l) != 0 {
			t.Errorf("a deleted user's tokens: %+v", l)
		}
	})
}
