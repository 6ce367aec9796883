package sapi_test

import (
	"testing"
)

// TestGroupsStayInTheirTenant: a tenant admin cannot put another tenant's
// users in its hunt groups, as participants or owner; the system admin
// cannot either put users of one tenant in another's group; and a
// participant can always leave.
func TestGroupsStayInTheirTenant(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		e.createDomain(e.admin, map[string]any{"domain": "acme"})
		e.createDomain(e.admin, map[string]any{"domain": "team.acme", "parent": "acme"})
		e.createDomain(e.admin, map[string]any{"domain": "globex"})
		e.createUser(e.admin, "acme", "boss", "admin", "boss-password")
		ann := e.createUser(e.admin, "acme", "ann", "user", "ann-password")
		tim := e.createUser(e.admin, "team.acme", "tim", "user", "tim-password")
		gus := e.createUser(e.admin, "globex", "gus", "user", "gus-password")
		boss := e.login("boss@acme", "boss-password")

		var g struct {
			ID           string   `json:"id"`
			Owner        string   `json:"owner"`
			Participants []string `json:"participants"`
		}
		e.want(e.do("POST", "/sapi/usersGroup", boss, map[string]any{"name": "sales", "participants": []string{"ann"}}), 201).json(t, &g)
		// Another tenant's users do not exist for acme's admin, by name or id.
		for _, name := range []string{"gus@globex", gus.ID, "wac-user:" + gus.ID} {
			e.wantErr(e.do("POST", "/sapi/usersGroup", boss, map[string]any{"name": "x", "participants": []string{name}}), 422, "participants")
			e.wantErr(e.do("POST", "/sapi/usersGroup/"+g.ID+"/participants", boss, map[string]any{"participants": []string{name}}), 422, "participants")
			e.wantErr(e.do("PUT", "/sapi/usersGroup/"+g.ID, boss, map[string]any{"participants": []string{"ann", name}}), 422, "participants")
			e.wantErr(e.do("PUT", "/sapi/usersGroup/"+g.ID, boss, map[string]any{"owner": name}), 422, "owner")
		}
		// Users of the domains it administers may be in them.
		e.want(e.do("POST", "/sapi/usersGroup/"+g.ID+"/participants", boss, map[string]any{"participants": []string{"tim@team.acme"}}), 200).json(t, &g)
		if len(g.Participants) != 2 || !contains(g.Participants, tim.ID) || !contains(g.Participants, ann.ID) {
			t.Fatalf("participants %v", g.Participants)
		}
		e.want(e.do("GET", "/sapi/usersGroup/"+g.ID, e.admin, nil), 200).json(t, &g)
		if contains(g.Participants, gus.ID) {
			t.Fatalf("gus is in acme's group: %v", g.Participants)
		}
		// A participant who cannot see the group (a sub-domain's user)
		// still leaves it.
		e.want(e.do("DELETE", "/sapi/usersGroup/"+g.ID+"/leave", e.login("tim@team.acme", "tim-password"), nil), 204)
		e.wantErr(e.do("DELETE", "/sapi/usersGroup/"+g.ID+"/leave", e.login("gus@globex", "gus-password"), nil), 404, "")
	})
}

// TestAnonymousUsersChangeNothingOfTheirRecord: a visitor cannot take an
// alias, a name or an email.
func TestAnonymousUsersChangeNothingOfTheirRecord(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		e.createDomain(e.admin, map[string]any{"domain": "shop", "enableAnonymous": true})
		var p tokenPair
		e.want(e.grant(map[string]string{"grant_type": "anonymous", "username": "@shop"}), 200).json(t, &p)
		me := e.mustMe(p.AccessToken)
		for _, body := range []map[string]any{{"alias": "support"}, {"email": "ceo@shop.example"},
			{"mobilePhone": []string{"+34600000000"}}, {"username": "support"}} {
			e.wantErr(e.do("PATCH", "/sapi/users/"+me.ID, p.AccessToken, body), 403, "")
		}
		e.wantErr(e.do("PUT", "/sapi/users/"+me.ID, p.AccessToken, map[string]any{"username": me.Username, "alias": "support"}), 403, "")
		after := e.mustMe(p.AccessToken)
		if after.Alias != "" || after.Email != "" || after.Username != me.Username {
			t.Fatalf("the visitor's record changed: %+v", after)
		}
		// An admin of the domain still manages it.
		e.want(e.do("PATCH", "/sapi/users/"+me.ID, e.admin, map[string]any{"email": "visitor@shop.example"}), 200)
	})
}

// TestResolveAcrossDomains: another domain's users are reachable but not
// visible; anonymous visitors learn only how to call.
func TestResolveAcrossDomains(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		e.createDomain(e.admin, map[string]any{"domain": "acme", "enableAnonymous": true})
		e.createDomain(e.admin, map[string]any{"domain": "globex"})
		e.want(e.do("POST", "/sapi/users", e.admin, map[string]any{"domain": "globex", "username": "gus", "role": "admin",
			"email": "gus@globex.example", "alias": "boss", "password": "gus-password"}), 201)
		e.want(e.do("POST", "/sapi/users", e.admin, map[string]any{"domain": "acme", "username": "ann",
			"email": "ann@acme.example", "alias": "helpdesk", "password": "ann-password"}), 201)
		e.createUser(e.admin, "acme", "al", "user", "al-password")
		al := e.login("al@acme", "al-password")
		var visitor tokenPair
		e.want(e.grant(map[string]string{"grant_type": "anonymous", "username": "@acme"}), 200).json(t, &visitor)

		var raw map[string]any
		check := func(token, target string, wantKeys ...string) {
			t.Helper()
			raw = nil
			e.want(e.do("GET", "/sapi/users/resolve/"+target, token, nil), 200).json(t, &raw)
			for _, k := range []string{"email", "role", "alias", "capabilities", "mobilePhone"} {
				if _, ok := raw[k]; ok && !contains(wantKeys, k) {
					t.Fatalf("resolve %s shows %q: %v", target, k, raw)
				}
			}
			for _, k := range append([]string{"id", "username", "domain", "uri"}, wantKeys...) {
				if _, ok := raw[k]; !ok {
					t.Fatalf("resolve %s lacks %q: %v", target, k, raw)
				}
			}
		}
		check(al, "gus@globex")                                                               // another tenant: callable only
		check(visitor.AccessToken, "ann")                                                     // a visitor: callable only
		check(visitor.AccessToken, "gus@globex")                                              // a visitor, another tenant
		check(al, "ann", "email", "role", "alias")                                            // own domain: the directory
		check(e.admin, "gus@globex", "email", "role", "alias", "capabilities", "mobilePhone") // the system admin sees all
	})
}

// TestOriginsOfTenants: a tenant's origins may not overlap another's, "*"
// and regular expressions are the system admin's, and matching is exact.
func TestOriginsOfTenants(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		acme := e.createDomain(e.admin, map[string]any{"domain": "acme", "enableAnonymous": true,
			"origins": []string{"app.acme.example", "*.acme-shop.example"}})
		evil := e.createDomain(e.admin, map[string]any{"domain": "evil", "enableAnonymous": true})
		e.createUser(e.admin, "evil", "mallory", "admin", "mallory-password")
		m := e.login("mallory@evil", "mallory-password")
		set := func(origins ...string) *response {
			return e.do("PUT", "/sapi/domains/"+evil.ID, m, map[string]any{"domain": "evil", "enableAnonymous": true, "origins": origins})
		}
		for _, o := range []string{"*", "^.*$", "*.example", "app.acme.*", "*.com"} {
			e.wantErr(set(o), 403, "origins")
		}
		for _, o := range []string{"app.acme.example", "*.acme.example", "http://app.acme.example:8080", "x.acme-shop.example", "*.acme-shop.example"} {
			e.wantErr(set(o), 409, "origins")
		}
		e.wantErr(set("app..acme"), 422, "origins")
		e.want(set("evil.example", "https://app.evil.example:8443"), 200)
		// A visitor is placed by the exact pattern; look-alike hosts
		// (dots are not wildcards) go nowhere.
		anon := func(username, origin string) string {
			var p tokenPair
			r := e.do("POST", "/sapi/o/token", "", map[string]string{"grant_type": "anonymous", "username": username}, "Origin", origin)
			if r.status != 200 {
				return ""
			}
			r.json(t, &p)
			return e.mustMe(p.AccessToken).Domain
		}
		if d := anon("@app.acme.example", ""); d != "acme" {
			t.Fatalf("@app.acme.example went to %q", d)
		}
		if d := anon("@x", "https://app.acme.example"); d != "acme" {
			t.Fatalf("Origin https://app.acme.example went to %q", d)
		}
		if d := anon("@x", "https://app-acme.example"); d != "" {
			t.Fatalf("Origin https://app-acme.example went to %q", d)
		}
		if d := anon("@x", "https://app.evil.example"); d != "" {
			t.Fatalf("Origin https://app.evil.example (port 443, not 8443) went to %q", d)
		}
		if d := anon("@x", "https://app.evil.example:8443"); d != "evil" {
			t.Fatalf("Origin https://app.evil.example:8443 went to %q", d)
		}
		// The system admin may write a catch-all; it takes only the
		// visitors no exact pattern names.
		e.want(e.do("PUT", "/sapi/domains/"+evil.ID, e.admin, map[string]any{"domain": "evil", "enableAnonymous": true,
			"origins": []string{"*"}}), 200)
		if d := anon("@app.acme.example", ""); d != "acme" {
			t.Fatalf("with a catch-all elsewhere, @app.acme.example went to %q", d)
		}
		if d := anon("@nobody.example", ""); d != "evil" {
			t.Fatalf("the catch-all did not take @nobody.example: %q", d)
		}
		_ = acme
	})
}
