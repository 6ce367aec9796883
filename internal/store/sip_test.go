package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/openwac/wac/internal/store"
)

// A SIP username belongs to one owner across the installation; an owner has
// one mapping; lookups by owner and username find it; a domain's removal
// removes its mappings.
func TestSipMappings(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL) {
		ctx := context.Background()
		acme := mustDomain(t, st, "acme.example", "")
		globex := mustDomain(t, st, "globex.example", "")
		m := &store.SipMapping{DomainID: acme.ID, OwnerType: store.SipOwnerUser, OwnerID: store.NewID(), Username: "205", Password: "sealed"}
		if err := st.CreateSipMapping(ctx, m); err != nil {
			t.Fatal(err)
		}
		err := st.CreateSipMapping(ctx, &store.SipMapping{DomainID: globex.ID, OwnerType: store.SipOwnerUser, OwnerID: store.NewID(), Username: "205"})
		if c, ok := store.IsConflict(err); !ok || c.Field != "credential.username" {
			t.Fatalf("a taken username in another tenant: %v", err)
		}
		err = st.CreateSipMapping(ctx, &store.SipMapping{DomainID: acme.ID, OwnerType: store.SipOwnerUser, OwnerID: m.OwnerID, Username: "206"})
		if c, ok := store.IsConflict(err); !ok || c.Field != "ownerUri" {
			t.Fatalf("a second mapping of one owner: %v", err)
		}
		got, err := st.SipMappingByUsername(ctx, "205")
		if err != nil || got.ID != m.ID || got.Password != "sealed" || got.DomainID != acme.ID {
			t.Fatalf("by username: %+v %v", got, err)
		}
		if got, err = st.SipMappingByOwner(ctx, store.SipOwnerUser, m.OwnerID); err != nil || got.ID != m.ID {
			t.Fatalf("by owner: %+v %v", got, err)
		}
		g := &store.SipMapping{DomainID: globex.ID, OwnerType: store.SipOwnerGroup, OwnerID: store.NewID(), Username: "300"}
		if err := st.CreateSipMapping(ctx, g); err != nil {
			t.Fatal(err)
		}
		list, err := st.ListSipMappings(ctx, []string{acme.ID}, store.Page{})
		if err != nil || len(list) != 1 || list[0].ID != m.ID {
			t.Fatalf("acme's list: %v %v", list, err)
		}
		if list, _ = st.ListSipMappings(ctx, nil, store.Page{}); len(list) != 2 {
			t.Fatalf("every domain's list: %d", len(list))
		}
		m.Username, m.Password = "207", ""
		if err := st.UpdateSipMapping(ctx, m); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SipMappingByUsername(ctx, "205"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the old username still maps: %v", err)
		}
		if err := st.DeleteDomain(ctx, globex.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetSipMapping(ctx, g.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the removed domain's mapping: %v", err)
		}
		if err := st.DeleteSipMapping(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteSipMapping(ctx, m.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted twice: %v", err)
		}
	})
}
