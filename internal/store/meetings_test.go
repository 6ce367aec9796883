package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/openwac/wac/internal/store"
)

// A meeting is found by its dial-in PIN, and only by its own; a meeting
// without a PIN is never found by the empty one.
func TestMeetingByPIN(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL) {
		ctx := context.Background()
		d := mustDomain(t, st, "acme.example", "")
		owner := mustUser(t, st, d.ID, "alice")
		m := &store.Meeting{DomainID: d.ID, OwnerID: owner.ID, Name: "weekly", ValidSince: 1000, ValidUntil: 2000, PIN: "12345678"}
		if err := st.SaveMeeting(ctx, m); err != nil {
			t.Fatal(err)
		}
		noPIN := &store.Meeting{DomainID: d.ID, OwnerID: owner.ID, Name: "no dial-in", ValidSince: 1000, ValidUntil: 2000}
		if err := st.SaveMeeting(ctx, noPIN); err != nil {
			t.Fatal(err)
		}
		got, err := st.MeetingByPIN(ctx, "12345678")
		if err != nil || got.ID != m.ID || got.Name != "weekly" {
			t.Fatalf("by PIN: %+v %v", got, err)
		}
		for _, pin := range []string{"87654321", ""} {
			if _, err := st.MeetingByPIN(ctx, pin); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("PIN %q: %v, want ErrNotFound", pin, err)
			}
		}
		err = st.SaveMeeting(ctx, &store.Meeting{DomainID: d.ID, OwnerID: owner.ID, Name: "same pin", ValidSince: 1, ValidUntil: 2, PIN: "12345678"})
		if err == nil {
			t.Fatal("a second meeting took a PIN in use")
		}
	})
}
