package sapi_test

import (
	"strings"
	"testing"
)

func TestDomains(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		// The seeds' creation example, parent by name.
		d := e.createDomain(e.admin, map[string]any{
			"domain": "demo.quobis.com", "parent": "wac", "origins": []string{"demo.quobis.*"},
			"enableAnonymous": true,
			"services":        map[string]any{"login": []string{}, "presence": []string{}, "callcontrol": []string{}, "contacts": []string{"wac", "static"}},
		})
		if d.Parent == nil || *d.Parent != "wac" || !d.EnableAnonymous || len(d.Services["contacts"]) != 2 || len(d.ID) != 24 {
			t.Fatalf("created domain %+v", d)
		}
		var got domain
		e.want(e.do("GET", "/sapi/domains/"+d.ID, e.admin, nil), 200).json(t, &got)
		if got.Domain != "demo.quobis.com" {
			t.Fatalf("get domain %+v", got)
		}
		// The seeds' update example: PUT with every field.
		var upd domain
		e.want(e.do("PUT", "/sapi/domains/"+d.ID, e.admin, map[string]any{
			"domain": "demo.quobis.com", "parent": "wac", "origins": []string{"demo.quobis.com", "showcase.quobis.com"},
			"enableAnonymous": false, "services": map[string]any{"login": []string{}},
		}), 200).json(t, &upd)
		if upd.EnableAnonymous || len(upd.Origins) != 2 || len(upd.Services) != 1 {
			t.Fatalf("updated domain %+v", upd)
		}
		// The seeds' listing shape: an array with "origins": [null] accepted on input.
		e.createDomain(e.admin, map[string]any{"domain": "acme", "parent": nil, "origins": []any{nil}})
		var list []domain
		e.want(e.do("GET", "/sapi/domains", e.admin, nil), 200).json(t, &list)
		if len(list) != 3 {
			t.Fatalf("listed %d domains", len(list))
		}
		for _, l := range list {
			if l.Domain == "acme" && (l.Parent != nil || len(l.Origins) != 0) {
				t.Fatalf("acme listed as %+v", l)
			}
		}

		// Bad input: each answer names what was wrong.
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, `{"domain": "x.org",`), 400, "")
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, `{"domain": 42}`), 400, "domain")
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, `{"domain": "x.org", "enableAnonymous": "yes"}`), 400, "enableAnonymous")
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, `{"domain": "x.org", "colour": "blue"}`), 400, "colour")
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, `{"origins": []}`), 422, "domain")
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, `{"domain": "not a name!"}`), 422, "domain")
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, `{"domain": "x.org", "parent": "nowhere"}`), 422, "parent")
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, `{"domain": "x.org", "anonymousCapabilities": ["chat"]}`), 422, "anonymousCapabilities")
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, `{"domain": "x.org", "anonymousExpiration": -1}`), 422, "anonymousExpiration")
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, `{"domain": "acme"}`), 409, "domain")
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, `[1,2]`), 400, "")
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, `{"domain": "x.org"} {"domain": "y.org"}`), 400, "")
		e.wantErr(e.do("POST", "/sapi/domains", e.admin, ``), 400, "")
		r := e.do("POST", "/sapi/domains", e.admin, `{"domain":"x.org"}`, "Content-Type", "text/plain")
		e.wantErr(r, 415, "")
		e.wantErr(e.do("GET", "/sapi/domains/"+strings.Repeat("a", 24), e.admin, nil), 404, "")
		e.wantErr(e.do("GET", "/sapi/domains/not-an-id", e.admin, nil), 404, "")
		e.wantErr(e.do("PATCH", "/sapi/domains/"+d.ID, e.admin, nil), 405, "")
		// A domain cannot become its own ancestor.
		child := e.createDomain(e.admin, map[string]any{"domain": "child.demo", "parent": "demo.quobis.com"})
		e.wantErr(e.do("PUT", "/sapi/domains/"+d.ID, e.admin, map[string]any{"domain": "demo.quobis.com", "parent": "child.demo"}), 422, "parent")
		// Deletion: refused while users or children remain; the default domain stays.
		e.wantErr(e.do("DELETE", "/sapi/domains/"+e.domain, e.admin, nil), 409, "")
		e.createUser(e.admin, "child.demo", "kid", "user", "kid-password")
		e.wantErr(e.do("DELETE", "/sapi/domains/"+d.ID, e.admin, nil), 409, "")
		e.wantErr(e.do("DELETE", "/sapi/domains/"+child.ID, e.admin, nil), 409, "")
		// Nothing half-written: the failed requests left exactly these domains.
		e.want(e.do("GET", "/sapi/domains", e.admin, nil), 200).json(t, &list)
		if len(list) != 4 {
			t.Fatalf("after bad requests %d domains exist, want 4", len(list))
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		e.createDomain(e.admin, map[string]any{"domain": "quobis"})
		acme := e.createDomain(e.admin, map[string]any{"domain": "acme"})
		sub := e.createDomain(e.admin, map[string]any{"domain": "sales.acme", "parent": "acme"})
		qa := e.createUser(e.admin, "quobis", "alice", "user", "alice-password")
		qb := e.createUser(e.admin, "quobis", "bob", "user", "bob-password")
		ab := e.createUser(e.admin, "acme", "bob", "user", "bob2-password")
		aadm := e.createUser(e.admin, "acme", "boss", "admin", "boss-password")
		sales := e.createUser(e.admin, "sales.acme", "sam", "user", "sam-password")

		alice := e.login("alice@quobis", "alice-password")
		boss := e.login("boss@acme", "boss-password")

		// A tenant admin may rename its domain and set its origins, but not
		// widen the limits it was given; below it, it sets them.
		e.wantErr(e.do("PUT", "/sapi/domains/"+acme.ID, boss, map[string]any{"domain": "acme", "enableAnonymous": true}), 403, "enableAnonymous")
		e.wantErr(e.do("PUT", "/sapi/domains/"+acme.ID, boss, map[string]any{"domain": "acme",
			"services": map[string]any{"login": []string{}, "callcontrol": []string{}, "contacts": []string{}, "meetings": []string{}}}), 403, "services")
		e.want(e.do("PUT", "/sapi/domains/"+acme.ID, boss, map[string]any{"domain": "acme", "origins": []string{"acme.example"}}), 200)
		e.want(e.do("PUT", "/sapi/domains/"+sub.ID, boss, map[string]any{"domain": "sales.acme", "enableAnonymous": true}), 200)

		// Bare names resolve in the caller's domain; username@domain reaches others.
		var u user
		e.want(e.do("GET", "/sapi/users/resolve/bob", alice, nil), 200).json(t, &u)
		if u.ID != qb.ID {
			t.Fatalf("alice's bob is %+v, want bob@quobis", u)
		}
		e.want(e.do("GET", "/sapi/users/resolve/bob@acme", alice, nil), 200).json(t, &u)
		if u.ID != ab.ID || u.URI != "wac-user:"+ab.ID {
			t.Fatalf("bob@acme is %+v", u)
		}
		e.want(e.do("GET", "/sapi/users/resolve/wac-user:"+qb.ID, alice, nil), 200)
		e.wantErr(e.do("GET", "/sapi/users/resolve/carol", alice, nil), 404, "")

		// Users list their own domain only, with directory fields.
		var list []map[string]any
		e.want(e.do("GET", "/sapi/users", alice, nil), 200).json(t, &list)
		if len(list) != 2 {
			t.Fatalf("alice lists %d users, want the 2 of quobis", len(list))
		}
		for _, l := range list {
			if l["domain"] != "quobis" {
				t.Fatalf("alice sees %+v", l)
			}
			if l["id"] == qb.ID && l["capabilities"] != nil {
				t.Fatalf("alice sees bob's capabilities: %+v", l)
			}
		}
		e.wantErr(e.do("GET", "/sapi/users/"+ab.ID, alice, nil), 404, "")
		// Domain READ for users of the domain only.
		var doms []domain
		e.want(e.do("GET", "/sapi/domains", alice, nil), 200).json(t, &doms)
		if len(doms) != 1 || doms[0].Domain != "quobis" {
			t.Fatalf("alice lists domains %+v", doms)
		}
		e.wantErr(e.do("GET", "/sapi/domains/"+sub.ID, alice, nil), 404, "")
		e.wantErr(e.do("POST", "/sapi/domains", alice, map[string]string{"domain": "mine.org"}), 403, "")
		e.wantErr(e.do("DELETE", "/sapi/users/"+qb.ID, alice, nil), 403, "")

		// A domain admin administers its domain and those below it, nothing else.
		e.want(e.do("GET", "/sapi/users", boss, nil), 200).json(t, &list)
		if len(list) != 3 {
			t.Fatalf("boss lists %d users, want bob, boss, sam", len(list))
		}
		e.want(e.do("GET", "/sapi/users/"+sales.ID, boss, nil), 200)
		e.wantErr(e.do("GET", "/sapi/users/"+qa.ID, boss, nil), 404, "")
		e.wantErr(e.do("PUT", "/sapi/users/"+qa.ID, boss, map[string]any{"username": "alice"}), 404, "")
		e.wantErr(e.do("DELETE", "/sapi/users/"+qa.ID, boss, nil), 404, "")
		e.wantErr(e.do("POST", "/sapi/users", boss, map[string]any{"domain": "quobis", "username": "mole"}), 422, "domain")
		e.want(e.do("GET", "/sapi/domains", boss, nil), 200).json(t, &doms)
		if len(doms) != 2 {
			t.Fatalf("boss lists domains %+v", doms)
		}
		// A domain admin's new domain goes below its own.
		var nd domain
		e.want(e.do("POST", "/sapi/domains", boss, map[string]any{"domain": "support.acme"}), 201).json(t, &nd)
		if nd.Parent == nil || *nd.Parent != "acme" {
			t.Fatalf("boss created %+v", nd)
		}
		e.wantErr(e.do("POST", "/sapi/domains", boss, map[string]any{"domain": "x.acme", "parent": "quobis"}), 422, "parent")
		e.want(e.do("DELETE", "/sapi/users/"+sales.ID, boss, nil), 204)
		var creds []map[string]any
		e.want(e.do("GET", "/sapi/credentials", boss, nil), 200).json(t, &creds)
		for _, c := range creds {
			if c["domain"] != "acme" && c["domain"] != "sales.acme" {
				t.Fatalf("boss sees credential %+v", c)
			}
		}
		e.wantErr(e.do("GET", "/sapi/permissions/user/"+qa.ID, boss, nil), 404, "")
		_ = aadm
	})
}

func TestUsers(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		// The seeds' creation example; domain left empty means the default.
		var alice user
		e.want(e.do("POST", "/sapi/users", e.admin, map[string]any{
			"username": "alice", "email": "alice@demo.quobis.com", "role": "user",
			"capabilities": []string{}, "mobilePhone": []string{"987654321"},
		}), 201).json(t, &alice)
		if alice.Domain != "wac" || alice.Role != "user" || alice.MobilePhone[0] != "987654321" ||
			alice.URI != "wac-user:"+alice.ID || alice.Created == 0 || len(alice.ID) != 24 {
			t.Fatalf("created %+v", alice)
		}
		// The seeds' edit example: forced and pruned capabilities, alias.
		var upd user
		e.want(e.do("PUT", "/sapi/users/"+alice.ID, e.admin, map[string]any{
			"domain": "wac", "username": "alice", "email": "imalice@demo.quobis.com", "role": "user",
			"capabilities": []string{"+caller-extra-info", "-chat"}, "mobilePhone": []string{"1111111"},
			"alias": "masterOfTheUniverse",
		}), 200).json(t, &upd)
		if upd.Alias != "masterOfTheUniverse" || len(upd.Capabilities) != 2 || upd.Email != "imalice@demo.quobis.com" {
			t.Fatalf("updated %+v", upd)
		}
		// PUT replaces: a field left out returns to its default; PATCH merges.
		e.want(e.do("PATCH", "/sapi/users/"+alice.ID, e.admin, map[string]any{"landLineNumber": "+34 986 999 888"}), 200).json(t, &upd)
		if upd.Alias != "masterOfTheUniverse" || upd.LandLineNumber != "+34 986 999 888" {
			t.Fatalf("patched %+v", upd)
		}
		e.want(e.do("PUT", "/sapi/users/"+alice.ID, e.admin, map[string]any{"username": "alice", "role": "user"}), 200).json(t, &upd)
		if upd.Alias != "" || len(upd.Capabilities) != 0 || upd.Email != "" {
			t.Fatalf("PUT did not replace: %+v", upd)
		}
		// Read-only fields sent back as read are accepted.
		e.want(e.do("PUT", "/sapi/users/"+alice.ID, e.admin, upd), 200)

		// Bad input names the field; nothing is half-written.
		e.wantErr(e.do("POST", "/sapi/users", e.admin, map[string]any{"email": "x@y.z"}), 422, "username")
		e.wantErr(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "alice"}), 409, "username")
		e.wantErr(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "Bad Name"}), 422, "username")
		e.wantErr(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "bob", "role": "god"}), 422, "role")
		e.wantErr(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "bob", "email": "nope"}), 422, "email")
		e.wantErr(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "bob", "capabilities": []string{"chat"}}), 422, "capabilities")
		e.wantErr(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "bob", "mobilePhone": "123"}), 400, "mobilePhone")
		e.wantErr(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "bob", "mobilePhone": []string{"call me"}}), 422, "mobilePhone")
		e.wantErr(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "bob", "domain": "nowhere"}), 422, "domain")
		e.wantErr(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "bob", "password": "short"}), 422, "password")
		e.wantErr(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "anonymous-x"}), 422, "username")
		e.wantErr(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "bob", "alias": "alice"}), 409, "alias")
		var list []user
		e.want(e.do("GET", "/sapi/users", e.admin, nil), 200).json(t, &list)
		if len(list) != 2 {
			t.Fatalf("after bad requests %d users exist, want admin and alice", len(list))
		}
		if e.grant(map[string]string{"grant_type": "password", "username": "bob@wac", "password": "short"}).status != 400 {
			t.Fatal("a refused user can log in")
		}

		// A user edits their own contact fields, nothing else.
		bob := e.createUser(e.admin, "wac", "bob", "user", "bob-password")
		tok := e.login("bob@wac", "bob-password")
		e.want(e.do("PATCH", "/sapi/users/"+bob.ID, tok, map[string]any{"email": "bob@example.com", "alias": "bobby"}), 200)
		e.wantErr(e.do("PATCH", "/sapi/users/"+bob.ID, tok, map[string]any{"role": "admin"}), 403, "role")
		e.wantErr(e.do("PATCH", "/sapi/users/"+bob.ID, tok, map[string]any{"capabilities": []string{"+god"}}), 403, "capabilities")
		e.wantErr(e.do("PATCH", "/sapi/users/"+bob.ID, tok, map[string]any{"username": "robert"}), 403, "username")
		e.wantErr(e.do("PATCH", "/sapi/users/"+alice.ID, tok, map[string]any{"email": "x@y.z"}), 403, "")
		e.wantErr(e.do("DELETE", "/sapi/users/"+alice.ID, tok, nil), 403, "")
		var me user
		e.want(e.do("GET", "/sapi/users/me", tok, nil), 200).json(t, &me)
		if me.Email != "bob@example.com" || me.Alias != "bobby" || me.Role != "user" {
			t.Fatalf("bob is %+v", me)
		}
		var byAlias user
		e.want(e.do("GET", "/sapi/users/resolve/bobby", e.admin, nil), 200).json(t, &byAlias)
		if byAlias.ID != bob.ID {
			t.Fatalf("alias resolved to %+v", byAlias)
		}
		// Changing a user's role takes effect at once, cache or not: the
		// user's tokens end, and the next login has the new role.
		e.want(e.do("PATCH", "/sapi/users/"+bob.ID, e.admin, map[string]any{"role": "admin"}), 200)
		e.wantErr(e.do("GET", "/sapi/alarms", tok, nil), 401, "")
		tok = e.login("bob@wac", "bob-password")
		e.want(e.do("GET", "/sapi/alarms", tok, nil), 200)
		e.wantErr(e.do("PATCH", "/sapi/users/"+bob.ID, tok, map[string]any{"role": "user"}), 403, "role")

		// Deleting a user ends its sessions and removes its credentials.
		e.wantErr(e.do("DELETE", "/sapi/users/"+e.mustMe(e.admin).ID, e.admin, nil), 409, "")
		e.want(e.do("DELETE", "/sapi/users/"+bob.ID, e.admin, nil), 204)
		e.wantErr(e.do("GET", "/sapi/capabilities", tok, nil), 401, "")
		e.wantErr(e.do("GET", "/sapi/users/"+bob.ID, e.admin, nil), 404, "")
		e.wantErr(e.do("DELETE", "/sapi/users/"+bob.ID, e.admin, nil), 404, "")
		var creds []map[string]any
		e.want(e.do("GET", "/sapi/credentials?user="+bob.ID, e.admin, nil), 200).json(t, &creds)
		if len(creds) != 0 {
			t.Fatalf("credentials of a deleted user remain: %+v", creds)
		}
		// Paging and search.
		e.want(e.do("GET", "/sapi/users?limit=1&offset=1", e.admin, nil), 200).json(t, &list)
		if len(list) != 1 {
			t.Fatalf("page of 1 has %d", len(list))
		}
		e.wantErr(e.do("GET", "/sapi/users?limit=x", e.admin, nil), 400, "limit")
		e.want(e.do("GET", "/sapi/users?search=ALI", e.admin, nil), 200).json(t, &list)
		if len(list) != 1 || list[0].ID != alice.ID {
			t.Fatalf("search found %+v", list)
		}
	})
}

func (e *env) mustMe(token string) user {
	e.t.Helper()
	var u user
	e.want(e.do("GET", "/sapi/users/me", token, nil), 200).json(e.t, &u)
	return u
}

func TestCredentials(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		var alice user
		e.want(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "alice"}), 201).json(t, &alice)
		// The seeds' basic credential example.
		var basic map[string]any
		e.want(e.do("POST", "/sapi/credentials", e.admin, map[string]any{
			"source": "wac", "type": "basic", "context": map[string]any{}, "domain": "wac",
			"user": alice.ID, "data": map[string]any{"password": "alice-password"}, "lease": 0,
		}), 201).json(t, &basic)
		if basic["user"] != alice.ID || basic["domain"] != "wac" || mustJSON(basic["data"]) != "{}" {
			t.Fatalf("basic credential answer %+v", basic)
		}
		aliceTok := e.login("alice@wac", "alice-password")
		aliceTok2 := e.login("alice@wac", "alice-password")
		e.wantErr(e.do("POST", "/sapi/credentials", e.admin, map[string]any{
			"type": "basic", "user": alice.ID, "data": map[string]any{"password": "other-password"}}), 409, "user")

		// The seeds' ims example: secrets shown to their user only.
		var ims map[string]any
		e.want(e.do("POST", "/sapi/credentials", e.admin, map[string]any{
			"source": "wac", "type": "ims", "context": map[string]any{}, "domain": "wac", "user": alice.ID,
			"data": map[string]any{
				"username": "alice@quobiscom", "userauthname": "123@10.2.3.4", "password": "23t6iyb3r5yliu",
				"authserver": "wss://sipowsgw.quobis.com",
				"iceserver":  []any{map[string]any{"urls": "turn:158.61.103.18", "credential": "secret", "username": "alice"}},
			}, "lease": 0,
		}), 201).json(t, &ims)
		if strings.Contains(mustJSON(ims), "23t6iyb3r5yliu") || strings.Contains(mustJSON(ims), `"secret"`) {
			t.Fatalf("admin sees ims secrets: %+v", ims)
		}
		var mine []map[string]any
		e.want(e.do("GET", "/sapi/credentials", aliceTok, nil), 200).json(t, &mine)
		if len(mine) != 2 || !strings.Contains(mustJSON(mine), "23t6iyb3r5yliu") {
			t.Fatalf("alice's credentials %+v", mine)
		}

		// Bad input.
		e.wantErr(e.do("POST", "/sapi/credentials", e.admin, map[string]any{"user": alice.ID}), 422, "type")
		e.wantErr(e.do("POST", "/sapi/credentials", e.admin, map[string]any{"type": "basic", "data": map[string]any{"password": "long-enough"}}), 422, "user")
		e.wantErr(e.do("POST", "/sapi/credentials", e.admin, map[string]any{"type": "basic", "user": alice.ID}), 422, "data.password")
		e.wantErr(e.do("POST", "/sapi/credentials", e.admin, map[string]any{"type": "basic", "user": alice.ID, "data": map[string]any{"password": 5}}), 400, "data.password")
		e.wantErr(e.do("POST", "/sapi/credentials", e.admin, map[string]any{"type": "ims", "data": map[string]any{"password": "x"}}), 422, "data.username")
		e.wantErr(e.do("POST", "/sapi/credentials", e.admin, map[string]any{"type": "ims", "data": map[string]any{"username": "u", "iceserver": "turn:x"}}), 400, "data.iceserver")
		e.wantErr(e.do("POST", "/sapi/credentials", e.admin, map[string]any{"type": "ims", "user": "000000000000000000000000", "data": map[string]any{"username": "u"}}), 422, "user")
		e.wantErr(e.do("POST", "/sapi/credentials", e.admin, map[string]any{"type": "ims", "lease": "long", "data": map[string]any{"username": "u"}}), 400, "lease")
		e.wantErr(e.do("POST", "/sapi/credentials", aliceTok, map[string]any{"type": "ims", "data": map[string]any{"username": "u"}}), 403, "")

		// Alice changes her password: she must give the current one; her
		// other sessions end, this one stays.
		id := basic["id"].(string)
		e.wantErr(e.do("PUT", "/sapi/credentials/"+id, aliceTok, map[string]any{"data": map[string]any{"password": "new-password-1"}}), 422, "data.currentPassword")
		e.wantErr(e.do("PUT", "/sapi/credentials/"+id, aliceTok, map[string]any{"data": map[string]any{"password": "new-password-1", "currentPassword": "wrong-one"}}), 403, "data.currentPassword")
		e.want(e.do("PUT", "/sapi/credentials/"+id, aliceTok, map[string]any{"data": map[string]any{"password": "new-password-1", "currentPassword": "alice-password"}}), 200)
		e.want(e.do("GET", "/sapi/capabilities", aliceTok, nil), 200)
		e.wantErr(e.do("GET", "/sapi/capabilities", aliceTok2, nil), 401, "")
		e.want(e.grant(map[string]string{"grant_type": "password", "username": "alice@wac", "password": "alice-password"}), 400)
		e.login("alice@wac", "new-password-1")
		e.wantErr(e.do("PUT", "/sapi/credentials/"+ims["id"].(string), aliceTok, map[string]any{"type": "ims", "data": map[string]any{"username": "x"}}), 403, "")
		// An admin reset ends every session of the user.
		e.want(e.do("PUT", "/sapi/credentials/"+id, e.admin, map[string]any{"type": "basic", "user": alice.ID, "data": map[string]any{"password": "reset-password"}}), 200)
		e.wantErr(e.do("GET", "/sapi/capabilities", aliceTok, nil), 401, "")
		e.want(e.do("DELETE", "/sapi/credentials/"+ims["id"].(string), e.admin, nil), 204)
		e.wantErr(e.do("GET", "/sapi/credentials/"+ims["id"].(string), e.admin, nil), 404, "")
	})
}

func TestUsersGroups(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		e.createDomain(e.admin, map[string]any{"domain": "acme"})
		bob := e.createUser(e.admin, "wac", "bob", "user", "bob-password")
		carol := e.createUser(e.admin, "wac", "carol", "user", "carol-password")
		eve := e.createUser(e.admin, "acme", "eve", "user", "eve-password")
		bt := e.login("bob@wac", "bob-password")
		ct := e.login("carol@wac", "carol-password")
		et := e.login("eve@acme", "eve-password")
		type group struct {
			ID           string   `json:"id"`
			Name         string   `json:"name"`
			Owner        string   `json:"owner"`
			Participants []string `json:"participants"`
			URI          string   `json:"uri"`
		}
		var g group
		e.want(e.do("POST", "/sapi/usersGroup", bt, map[string]any{"name": "support", "participants": []string{"carol"}}), 201).json(t, &g)
		if g.Owner != bob.ID || len(g.Participants) != 1 || g.Participants[0] != carol.ID || g.URI != "wac-group:"+g.ID {
			t.Fatalf("group %+v", g)
		}
		e.wantErr(e.do("POST", "/sapi/usersGroup", bt, map[string]any{}), 422, "name")
		e.wantErr(e.do("POST", "/sapi/usersGroup", ct, map[string]any{"name": "support"}), 409, "name")
		e.wantErr(e.do("POST", "/sapi/usersGroup", bt, map[string]any{"name": "x", "participants": []string{"nobody"}}), 422, "participants")
		e.wantErr(e.do("POST", "/sapi/usersGroup", bt, map[string]any{"name": "y", "participants": []string{"eve@acme"}}), 422, "participants")
		e.wantErr(e.do("POST", "/sapi/usersGroup", bt, map[string]any{"name": "z", "domain": "acme"}), 403, "domain")
		// Only the owner (or an admin) manages it.
		r := e.wantErr(e.do("POST", "/sapi/usersGroup/"+g.ID+"/participants", ct, map[string]any{"participants": []string{"bob"}}), 403, "")
		if !strings.Contains(r.Message, "is not the owner of the group") {
			t.Fatalf("message %q", r.Message)
		}
		e.wantErr(e.do("PUT", "/sapi/usersGroup/"+g.ID, ct, map[string]any{"name": "mine"}), 403, "")
		e.want(e.do("PUT", "/sapi/usersGroup/"+g.ID, e.admin, map[string]any{"name": "helpdesk"}), 200).json(t, &g)
		if g.Name != "helpdesk" {
			t.Fatalf("renamed %+v", g)
		}
		// Another tenant sees nothing of it.
		e.wantErr(e.do("GET", "/sapi/usersGroup/"+g.ID, et, nil), 404, "")
		var list []group
		e.want(e.do("GET", "/sapi/usersGroup", et, nil), 200).json(t, &list)
		if len(list) != 0 {
			t.Fatalf("eve lists %+v", list)
		}
		// Membership checks, leave, clear.
		e.want(e.do("HEAD", "/sapi/usersGroup/"+g.ID+"/participants/"+carol.ID, bt, nil), 200)
		e.want(e.do("HEAD", "/sapi/usersGroup/"+g.ID+"/participants/"+eve.ID, bt, nil), 404)
		e.want(e.do("DELETE", "/sapi/usersGroup/"+g.ID+"/leave", ct, nil), 204)
		e.wantErr(e.do("DELETE", "/sapi/usersGroup/"+g.ID+"/leave", ct, nil), 404, "")
		e.want(e.do("POST", "/sapi/usersGroup/"+g.ID+"/participants", bt, map[string]any{"user": "carol"}), 200)
		e.want(e.do("DELETE", "/sapi/usersGroup/"+g.ID+"/participants", bt, map[string]any{"participants": []string{carol.ID}}), 200).json(t, &g)
		if len(g.Participants) != 0 {
			t.Fatalf("after removing carol %+v", g)
		}
		e.wantErr(e.do("DELETE", "/sapi/usersGroup/"+g.ID+"/participants", bt, map[string]any{"participants": []string{carol.ID}}), 422, "participants")
		e.want(e.do("POST", "/sapi/usersGroup/"+g.ID+"/participants", bt, map[string]any{"participants": []string{"carol", "bob"}}), 200)
		e.want(e.do("DELETE", "/sapi/usersGroup/"+g.ID+"/participations", bt, nil), 204)
		e.want(e.do("GET", "/sapi/usersGroup/"+g.ID, bt, nil), 200).json(t, &g)
		if len(g.Participants) != 0 {
			t.Fatalf("after clearing %+v", g)
		}
		e.wantErr(e.do("DELETE", "/sapi/usersGroup/participations?user="+carol.ID, ct+"x", nil), 401, "")
		e.wantErr(e.do("DELETE", "/sapi/usersGroup/participations?user="+bob.ID, ct, nil), 403, "")
		e.want(e.do("DELETE", "/sapi/usersGroup/"+g.ID, bt, nil), 204)
		e.wantErr(e.do("GET", "/sapi/usersGroup/"+g.ID, bt, nil), 404, "")
		// Without signaling on this node, sessions are not available.
		e.wantErr(e.do("GET", "/sapi/sessions", e.admin, nil), 501, "")
	})
}
