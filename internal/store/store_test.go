package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/store"
	"github.com/openwac/wac/internal/store/storetest"
)

// eachDialect runs fn against a fresh store of every available dialect.
func eachDialect(t *testing.T, fn func(t *testing.T, st *store.SQL)) {
	for _, d := range storetest.Dialects() {
		t.Run(storetest.Name(d), func(t *testing.T) {
			st, _ := storetest.Open(t, d)
			fn(t, st)
		})
	}
}

func mustDomain(t *testing.T, st store.Store, name, parent string) *store.Domain {
	t.Helper()
	d := &store.Domain{Name: name, ParentID: parent, Services: map[string][]string{"login": {}}}
	if err := st.CreateDomain(context.Background(), d); err != nil {
		t.Fatalf("create domain %s: %v", name, err)
	}
	return d
}

func mustUser(t *testing.T, st store.Store, domainID, name string) *store.User {
	t.Helper()
	u := &store.User{DomainID: domainID, Username: name, Role: store.RoleUser}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

func TestMigrateIsIdempotent(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL) {
		n, err := st.Migrate(context.Background(), logging.Discard())
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("second migrate applied %d migrations, want 0", n)
		}
	})
}

func TestDomains(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL) {
		ctx := context.Background()
		root := mustDomain(t, st, "quobis", "")
		child := &store.Domain{
			Name: "demo.quobis.com", ParentID: root.ID, Origins: []string{"*.quobis.com"},
			EnableAnonymous: true, AnonymousExpiration: 600000, AnonymousCapabilities: []string{"-audio-video-call", "+chat"},
			Services: map[string][]string{"contacts": {"wac", "static"}, "login": {}},
		}
		if err := st.CreateDomain(ctx, child); err != nil {
			t.Fatal(err)
		}
		if !store.ValidID(child.ID) {
			t.Fatalf("id %q is not a 24-hex object id", child.ID)
		}
		got, err := st.GetDomainByName(ctx, "demo.quobis.com")
		if err != nil {
			t.Fatal(err)
		}
		if got.ParentID != root.ID || !got.EnableAnonymous || got.AnonymousExpiration != 600000 ||
			len(got.Origins) != 1 || got.Origins[0] != "*.quobis.com" || len(got.Services["contacts"]) != 2 ||
			got.AnonymousCapabilities[1] != "+chat" {
			t.Fatalf("round trip lost fields: %+v", got)
		}
		err = st.CreateDomain(ctx, &store.Domain{Name: "quobis"})
		if c, ok := store.IsConflict(err); !ok || c.Field != "domain" {
			t.Fatalf("duplicate domain: got %v, want conflict on domain", err)
		}
		got.Origins = []string{"a", "b"}
		got.EnableAnonymous = false
		if err := st.UpdateDomain(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, _ := st.GetDomain(ctx, got.ID)
		if len(again.Origins) != 2 || again.EnableAnonymous {
			t.Fatalf("update lost: %+v", again)
		}
		mustUser(t, st, child.ID, "alice")
		children, users, err := st.CountDomainDependents(ctx, root.ID)
		if err != nil || children != 1 || users != 0 {
			t.Fatalf("dependents of root = %d, %d, %v; want 1, 0", children, users, err)
		}
		if err := st.DeleteDomain(ctx, child.ID); !errors.Is(err, store.ErrReference) {
			t.Fatalf("delete domain with users: got %v, want ErrReference", err)
		}
		list, err := st.ListDomains(ctx)
		if err != nil || len(list) != 2 {
			t.Fatalf("list = %d domains, %v", len(list), err)
		}
		if _, err := st.GetDomain(ctx, store.NewID()); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown domain: got %v", err)
		}
		if err := st.UpdateDomain(ctx, &store.Domain{ID: store.NewID(), Name: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update unknown domain: got %v", err)
		}
	})
}

func TestUsers(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL) {
		ctx := context.Background()
		q := mustDomain(t, st, "quobis", "")
		acme := mustDomain(t, st, "acme", "")
		alice := &store.User{DomainID: q.ID, Username: "alice", Email: "alice@example.com", Role: store.RoleUser,
			Capabilities: []string{"+caller-extra-info", "-chat"}, MobilePhone: []string{"987654321"}, Alias: "masterOfTheUniverse"}
		if err := st.CreateUser(ctx, alice); err != nil {
			t.Fatal(err)
		}
		mustUser(t, st, q.ID, "bob")
		mustUser(t, st, acme.ID, "bob") // same name, other domain: allowed
		if err := st.CreateUser(ctx, &store.User{DomainID: q.ID, Username: "bob", Role: store.RoleUser}); err == nil {
			t.Fatal("duplicate username in a domain was accepted")
		} else if c, ok := store.IsConflict(err); !ok || c.Field != "username" {
			t.Fatalf("duplicate username: got %v", err)
		}
		err := st.CreateUser(ctx, &store.User{DomainID: q.ID, Username: "carol", Role: store.RoleUser, Alias: "masterOfTheUniverse"})
		if c, ok := store.IsConflict(err); !ok || c.Field != "alias" {
			t.Fatalf("duplicate alias: got %v", err)
		}
		got, err := st.GetUserByName(ctx, q.ID, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != alice.Email || got.Capabilities[1] != "-chat" || got.MobilePhone[0] != "987654321" || got.Alias != alice.Alias {
			t.Fatalf("round trip lost fields: %+v", got)
		}
		byAlias, err := st.GetUserByAlias(ctx, q.ID, "masterOfTheUniverse")
		if err != nil || byAlias.ID != alice.ID {
			t.Fatalf("by alias: %v %v", byAlias, err)
		}
		all, _ := st.ListUsers(ctx, store.UserFilter{}, store.Page{})
		inQ, _ := st.ListUsers(ctx, store.UserFilter{DomainIDs: []string{q.ID}}, store.Page{})
		none, _ := st.ListUsers(ctx, store.UserFilter{DomainIDs: []string{}}, store.Page{})
		search, _ := st.ListUsers(ctx, store.UserFilter{Search: "MASTER"}, store.Page{})
		if len(all) != 3 || len(inQ) != 2 || len(none) != 0 || len(search) != 1 {
			t.Fatalf("listing: all %d, quobis %d, none %d, search %d", len(all), len(inQ), len(none), len(search))
		}
		page, _ := st.ListUsers(ctx, store.UserFilter{}, store.Page{Offset: 1, Limit: 1})
		if len(page) != 1 || page[0].ID != all[1].ID {
			t.Fatalf("paging returned %v", page)
		}
		if err := st.TouchLastLogin(ctx, alice.ID, 1234); err != nil {
			t.Fatal(err)
		}
		got, _ = st.GetUser(ctx, alice.ID)
		if got.LastLogin != 1234 {
			t.Fatalf("lastLogin = %d", got.LastLogin)
		}
		anon := &store.User{DomainID: q.ID, Username: "anonymous-1", Role: store.RoleAnonymous, Expires: 10}
		if err := st.CreateUser(ctx, anon); err != nil {
			t.Fatal(err)
		}
		if n, err := st.DeleteExpiredUsers(ctx, 11); err != nil || n != 1 {
			t.Fatalf("expired users removed: %d, %v", n, err)
		}
		if err := st.DeleteUser(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteUser(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func TestCredentialsAndTokens(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL) {
		ctx := context.Background()
		q := mustDomain(t, st, "quobis", "")
		alice := mustUser(t, st, q.ID, "alice")
		basic := &store.Credential{Source: "wac", Type: "basic", DomainID: q.ID, UserID: alice.ID,
			Data: map[string]any{"hash": "$argon2id$..."}}
		if err := st.CreateCredential(ctx, basic); err != nil {
			t.Fatal(err)
		}
		err := st.CreateCredential(ctx, &store.Credential{Source: "wac", Type: "basic", DomainID: q.ID, UserID: alice.ID})
		if c, ok := store.IsConflict(err); !ok || c.Field != "user" {
			t.Fatalf("second basic credential: %v", err)
		}
		got, err := st.GetBasicCredential(ctx, alice.ID)
		if err != nil || got.Data["hash"] != "$argon2id$..." {
			t.Fatalf("basic credential: %+v %v", got, err)
		}
		// An anonymous pool of one ims credential: the first anonymous user
		// gets it, the second finds the pool empty.
		pool := &store.Credential{Source: "wac", Type: "ims", DomainID: q.ID, Data: map[string]any{"username": "anon1"}}
		if err := st.CreateCredential(ctx, pool); err != nil {
			t.Fatal(err)
		}
		a1 := &store.User{DomainID: q.ID, Username: "anonymous-a", Role: store.RoleAnonymous}
		a2 := &store.User{DomainID: q.ID, Username: "anonymous-b", Role: store.RoleAnonymous}
		st.CreateUser(ctx, a1)
		st.CreateUser(ctx, a2)
		leased, err := st.LeaseAnonymousCredential(ctx, q.ID, a1.ID)
		if err != nil || leased.ID != pool.ID || leased.HolderID != a1.ID {
			t.Fatalf("lease: %+v %v", leased, err)
		}
		if _, err := st.LeaseAnonymousCredential(ctx, q.ID, a2.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("lease from empty pool: %v", err)
		}
		held, _ := st.ListHeldCredentials(ctx, a1.ID)
		if len(held) != 1 {
			t.Fatalf("held = %d", len(held))
		}
		// Removing the holder frees the credential for the next one.
		if err := st.DeleteUser(ctx, a1.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.LeaseAnonymousCredential(ctx, q.ID, a2.ID); err != nil {
			t.Fatalf("lease after holder left: %v", err)
		}

		for i, g := range []string{"g1", "g1", "g2"} {
			kind := store.TokenAccess
			if i == 1 {
				kind = store.TokenRefresh
			}
			tok := &store.Token{Hash: fmt.Sprintf("h%d", i), Kind: kind, GrantID: g, UserID: alice.ID,
				Expires: 1000 + int64(i), Created: int64(i)}
			if err := st.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		grants, err := st.UserGrants(ctx, alice.ID, 0)
		if err != nil || len(grants) != 2 || grants[0] != "g1" {
			t.Fatalf("grants = %v, %v", grants, err)
		}
		tok, err := st.GetToken(ctx, "h1")
		if err != nil || tok.Kind != store.TokenRefresh || tok.GrantID != "g1" {
			t.Fatalf("token: %+v %v", tok, err)
		}
		hashes, err := st.DeleteGrant(ctx, "g1")
		if err != nil || len(hashes) != 2 {
			t.Fatalf("delete grant: %v %v", hashes, err)
		}
		if _, err := st.GetToken(ctx, "h0"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted token still there: %v", err)
		}
		if n, err := st.DeleteExpiredTokens(ctx, 5000); err != nil || n != 1 {
			t.Fatalf("expired tokens removed: %d %v", n, err)
		}
		// Deleting a user removes its credentials and tokens.
		st.CreateToken(ctx, &store.Token{Hash: "h9", Kind: store.TokenAccess, GrantID: "g9", UserID: alice.ID, Expires: 9e12})
		if err := st.DeleteUser(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetBasicCredential(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("credential of deleted user: %v", err)
		}
		if _, err := st.GetToken(ctx, "h9"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("token of deleted user: %v", err)
		}
	})
}

// An exchanged refresh token is claimed once, found again by its hash,
// forgotten with its grant, at its expiry, and with its user.
func TestUsedRefreshTokens(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL) {
		ctx := context.Background()
		q := mustDomain(t, st, "quobis", "")
		alice := mustUser(t, st, q.ID, "alice")
		used := &store.Token{Hash: "r1", GrantID: "g1", UserID: alice.ID, Expires: 2000}
		for i, want := range []bool{true, false} {
			ok, err := st.ClaimRefreshToken(ctx, used)
			if err != nil || ok != want {
				t.Fatalf("claim %d: %v %v, want %v", i+1, ok, err, want)
			}
		}
		got, err := st.GetUsedRefreshToken(ctx, "r1")
		if err != nil || got.GrantID != "g1" || got.UserID != alice.ID || got.Expires != 2000 {
			t.Fatalf("used token: %+v %v", got, err)
		}
		if _, err := st.GetUsedRefreshToken(ctx, "unknown"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown used token: %v", err)
		}
		st.ClaimRefreshToken(ctx, &store.Token{Hash: "r2", GrantID: "g1", UserID: alice.ID, Expires: 2000})
		st.ClaimRefreshToken(ctx, &store.Token{Hash: "r3", GrantID: "g2", UserID: alice.ID, Expires: 1000})
		st.ClaimRefreshToken(ctx, &store.Token{Hash: "r4", GrantID: "g3", UserID: alice.ID, Expires: 9000})
		if err := st.DeleteUsedRefreshTokens(ctx, "g1"); err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"r1", "r2"} {
			if _, err := st.GetUsedRefreshToken(ctx, h); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("%s of a forgotten grant: %v", h, err)
			}
		}
		if n, err := st.DeleteExpiredTokens(ctx, 1500); err != nil || n != 1 {
			t.Fatalf("expired records removed: %d %v", n, err)
		}
		if _, err := st.GetUsedRefreshToken(ctx, "r3"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired record kept: %v", err)
		}
		if err := st.DeleteUser(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetUsedRefreshToken(ctx, "r4"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("record of a deleted user: %v", err)
		}
	})
}

// PruneStats keeps the newest rows of one service and type only.
func TestPruneStats(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL) {
		ctx := context.Background()
		for i := range 7 {
			// Two rows share each creation time: the id breaks the tie.
			st.CreateStat(ctx, &store.Stat{Service: "Login", Type: "Failed login", Created: int64(10 + i/2),
				Data: map[string]any{"n": i}})
		}
		st.CreateStat(ctx, &store.Stat{Service: "Login", Type: "Other", Created: 1})
		if n, err := st.PruneStats(ctx, "Login", "Failed login", 3); err != nil || n != 4 {
			t.Fatalf("pruned %d, %v; want 4", n, err)
		}
		all, err := st.ListStats(ctx, nil, "Login", store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var kept []float64
		others := 0
		for _, s := range all {
			if s.Type == "Failed login" {
				kept = append(kept, s.Data["n"].(float64))
			} else {
				others++
			}
		}
		if len(kept) != 3 || others != 1 || kept[0] != 6 {
			t.Fatalf("kept %v and %d others, want the newest 3 (6 first) and 1", kept, others)
		}
		if n, err := st.PruneStats(ctx, "Login", "Failed login", 3); err != nil || n != 0 {
			t.Fatalf("second prune removed %d, %v", n, err)
		}
	})
}

func TestPermissionsEventsSettings(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL) {
		ctx := context.Background()
		q := mustDomain(t, st, "quobis", "")
		if _, err := st.GetPermission(ctx, "domain", q.ID, "receiveCalls"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unset permission: %v", err)
		}
		for _, en := range []bool{false, true, false} {
			if err := st.SetPermission(ctx, &store.Permission{Scope: "domain", TargetID: q.ID, Name: "receiveCalls", Enabled: en}); err != nil {
				t.Fatal(err)
			}
		}
		p, err := st.GetPermission(ctx, "domain", q.ID, "receiveCalls")
		if err != nil || p.Enabled {
			t.Fatalf("permission = %+v, %v", p, err)
		}
		list, _ := st.ListPermissions(ctx, "domain", q.ID)
		if len(list) != 1 {
			t.Fatalf("permissions listed: %d", len(list))
		}
		st.CreateAlarm(ctx, &store.Alarm{Type: "failed-login", DomainID: q.ID, Message: "m", Created: 1})
		st.CreateAlarm(ctx, &store.Alarm{Type: "failed-login", DomainID: "other", Message: "m", Created: 2})
		alarms, _ := st.ListAlarms(ctx, []string{q.ID}, store.Page{})
		all, _ := st.ListAlarms(ctx, nil, store.Page{})
		if len(alarms) != 1 || len(all) != 2 || all[0].Created != 2 {
			t.Fatalf("alarms: %d of %d", len(alarms), len(all))
		}
		st.CreateStat(ctx, &store.Stat{Service: "Login", Type: "Failed login", DomainID: q.ID, Data: map[string]any{"ip": "1.2.3.4"}})
		stats, _ := st.ListStats(ctx, []string{q.ID}, "Login", store.Page{})
		if len(stats) != 1 || stats[0].Data["ip"] != "1.2.3.4" {
			t.Fatalf("stats: %+v", stats)
		}
		// Concurrent first starts agree on one value.
		var wg sync.WaitGroup
		vals := make([]string, 8)
		for i := range vals {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := st.SettingOrInit(ctx, "secret", fmt.Sprint("v", i))
				if err != nil {
					t.Error(err)
				}
				vals[i] = v
			}()
		}
		wg.Wait()
		for _, v := range vals {
			if v != vals[0] {
				t.Fatalf("nodes disagree on the setting: %v", vals)
			}
		}
	})
}

func TestInTxRollsBack(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL) {
		ctx := context.Background()
		q := mustDomain(t, st, "quobis", "")
		boom := errors.New("boom")
		err := st.InTx(ctx, func(tx store.Store) error {
			if err := tx.CreateUser(ctx, &store.User{DomainID: q.ID, Username: "half", Role: store.RoleUser}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx returned %v", err)
		}
		if _, err := st.GetUserByName(ctx, q.ID, "half"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rolled back user exists: %v", err)
		}
	})
}

func TestCallsAndGroups(t *testing.T) {
	eachDialect(t, func(t *testing.T, st *store.SQL) {
		ctx := context.Background()
		q := mustDomain(t, st, "quobis", "")
		acme := mustDomain(t, st, "acme", "")
		alice, bob := mustUser(t, st, q.ID, "alice"), mustUser(t, st, q.ID, "bob")
		eve := mustUser(t, st, acme.ID, "eve")
		c := &store.Call{ID: store.NewID(), Room: "room1", OwnerID: alice.ID, Created: 100,
			Detail: store.CallDetail{Creator: alice.ID, Participants: []store.CallParticipant{{User: alice.ID, Session: "s1", Joined: 100}}}}
		if err := st.SaveCall(ctx, c, map[string]string{alice.ID: q.ID}); err != nil {
			t.Fatal(err)
		}
		c.Detail.Participants = append(c.Detail.Participants, store.CallParticipant{User: bob.ID, Session: "s2", Joined: 110, Left: 150, Code: 200})
		c.Finished = 160
		if err := st.SaveCall(ctx, c, map[string]string{alice.ID: q.ID, bob.ID: q.ID}); err != nil {
			t.Fatal(err)
		}
		other := &store.Call{ID: store.NewID(), Room: "room2", Created: 200}
		st.SaveCall(ctx, other, map[string]string{eve.ID: acme.ID})
		got, err := st.GetCall(ctx, c.ID)
		if err != nil || got.Finished != 160 || got.Detail.Creator != alice.ID || len(got.Detail.Participants) != 2 || got.Detail.Participants[1].Code != 200 {
			t.Fatalf("call: %+v %v", got, err)
		}
		bobs, _ := st.ListCalls(ctx, store.CallFilter{UserID: bob.ID}, store.Page{})
		inQ, _ := st.ListCalls(ctx, store.CallFilter{DomainIDs: []string{q.ID}}, store.Page{})
		all, _ := st.ListCalls(ctx, store.CallFilter{}, store.Page{})
		if len(bobs) != 1 || len(inQ) != 1 || len(all) != 2 || all[0].ID != other.ID {
			t.Fatalf("listings: bob %d, quobis %d, all %d", len(bobs), len(inQ), len(all))
		}
		users, _ := st.CallUsers(ctx, c.ID)
		if len(users) != 2 {
			t.Fatalf("call users %v", users)
		}
		if n, err := st.DeleteCallsFinishedBefore(ctx, 170); err != nil || n != 1 {
			t.Fatalf("retention removed %d, %v", n, err)
		}
		// The calls of a node that is gone are finished; another node's stay.
		dead := &store.Call{ID: store.NewID(), Room: "room3", Node: "n-dead", Created: 300}
		live := &store.Call{ID: store.NewID(), Room: "room4", Node: "n-live", Created: 300}
		st.SaveCall(ctx, dead, map[string]string{eve.ID: acme.ID})
		st.SaveCall(ctx, live, map[string]string{eve.ID: acme.ID})
		nodes, err := st.UnfinishedCallNodes(ctx)
		sort.Strings(nodes)
		if err != nil || strings.Join(nodes, ",") != ",n-dead,n-live" { // room2's call has no node
			t.Fatalf("nodes with unfinished calls: %v, %v", nodes, err)
		}
		if n, err := st.FinishNodeCalls(ctx, "n-dead", 400); err != nil || n != 1 {
			t.Fatalf("finished %d calls of the dead node, %v", n, err)
		}
		if got, _ := st.GetCall(ctx, dead.ID); got == nil || got.Finished != 400 || got.Node != "n-dead" {
			t.Fatalf("dead node's call: %+v", got)
		}
		if got, _ := st.GetCall(ctx, live.ID); got == nil || got.Finished != 0 {
			t.Fatalf("live node's call: %+v", got)
		}

		g := &store.Group{DomainID: q.ID, Name: "support", OwnerID: alice.ID}
		if err := st.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateGroup(ctx, &store.Group{DomainID: q.ID, Name: "support"}); err == nil {
			t.Fatal("duplicate group name accepted")
		} else if c, ok := store.IsConflict(err); !ok || c.Field != "name" {
			t.Fatalf("duplicate group: %v", err)
		}
		st.AddGroupMember(ctx, g.ID, bob.ID)
		st.AddGroupMember(ctx, g.ID, bob.ID)
		st.AddGroupMember(ctx, g.ID, eve.ID)
		members, _ := st.GroupMembers(ctx, g.ID)
		if len(members) != 2 {
			t.Fatalf("members %v", members)
		}
		if ok, _ := st.IsGroupMember(ctx, g.ID, bob.ID); !ok {
			t.Fatal("bob is not a member")
		}
		mine, _ := st.ListGroups(ctx, nil, bob.ID, store.Page{})
		owned, _ := st.ListGroups(ctx, nil, alice.ID, store.Page{})
		if len(mine) != 1 || len(owned) != 1 {
			t.Fatalf("groups of bob %d, of alice (owner) %d", len(mine), len(owned))
		}
		if n, _ := st.RemoveUserFromGroups(ctx, bob.ID); n != 1 {
			t.Fatalf("removed bob from %d groups", n)
		}
		if err := st.RemoveGroupMember(ctx, g.ID, bob.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("remove non-member: %v", err)
		}
		st.DeleteUser(ctx, eve.ID)
		members, _ = st.GroupMembers(ctx, g.ID)
		if len(members) != 0 {
			t.Fatalf("deleted user still a member: %v", members)
		}
		if err := st.DeleteGroup(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
	})
}
