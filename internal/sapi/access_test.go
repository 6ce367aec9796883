package sapi_test

import (
	"testing"
)

type capsAnswer struct {
	Domain       []string `json:"domain"`
	User         []string `json:"user"`
	Capabilities []string `json:"capabilities"`
}

func TestCapabilities(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		var admin capsAnswer
		e.want(e.do("GET", "/sapi/capabilities", e.admin, nil), 200).json(t, &admin)
		for _, c := range []string{"login", "callcontrol", "call-history", "credentials", "sessions", "audio-video-call"} {
			if !contains(admin.Capabilities, c) {
				t.Fatalf("default domain lacks %q: %+v", c, admin)
			}
		}
		// A parent that narrows its services narrows its children's too.
		e.createDomain(e.admin, map[string]any{"domain": "corp", "services": map[string]any{"login": []string{}, "contacts": []string{}}})
		e.createDomain(e.admin, map[string]any{"domain": "team.corp", "parent": "corp",
			"services": map[string]any{"login": []string{}, "contacts": []string{}, "callcontrol": []string{}}})
		e.createUser(e.admin, "team.corp", "tess", "user", "tess-password")
		var u user
		e.want(e.do("POST", "/sapi/users", e.admin, map[string]any{"domain": "team.corp", "username": "tom",
			"capabilities": []string{"+caller-extra-info", "-contacts"}, "password": "tom-password"}), 201).json(t, &u)

		var tess, tom capsAnswer
		e.want(e.do("GET", "/sapi/capabilities/", e.login("tess@team.corp", "tess-password"), nil), 200).json(t, &tess)
		if contains(tess.Capabilities, "callcontrol") || !contains(tess.Capabilities, "contacts") || !contains(tess.Capabilities, "login") {
			t.Fatalf("team.corp user: parent corp does not run callcontrol, so neither may the child: %+v", tess)
		}
		e.want(e.do("GET", "/sapi/capabilities", e.login("tom@team.corp", "tom-password"), nil), 200).json(t, &tom)
		if !contains(tom.Capabilities, "caller-extra-info") || contains(tom.Capabilities, "contacts") ||
			len(tom.User) != 2 || tom.User[0] != "+caller-extra-info" || !contains(tom.Domain, "contacts") {
			t.Fatalf("tom's forced and pruned capabilities: %+v", tom)
		}
		// The call history needs the call-history capability (callcontrol brings it).
		e.want(e.do("GET", "/sapi/calls", e.login("tess@team.corp", "tess-password"), nil), 403)
		// Changing the domain takes effect at once.
		var corp []domain
		e.want(e.do("GET", "/sapi/domains", e.admin, nil), 200).json(t, &corp)
		for _, d := range corp {
			if d.Domain == "corp" {
				e.want(e.do("PUT", "/sapi/domains/"+d.ID, e.admin, map[string]any{"domain": "corp",
					"services": map[string]any{"login": []string{}, "contacts": []string{}, "callcontrol": []string{}}}), 200)
			}
		}
		e.want(e.do("GET", "/sapi/capabilities", e.login("tess@team.corp", "tess-password"), nil), 200).json(t, &tess)
		if !contains(tess.Capabilities, "callcontrol") {
			t.Fatalf("after the parent gained callcontrol: %+v", tess)
		}
		e.want(e.do("GET", "/sapi/calls", e.login("tess@team.corp", "tess-password"), nil), 200)
	})
}

func TestReceiveCallsPermission(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		d := e.createDomain(e.admin, map[string]any{"domain": "quobis"})
		bob := e.createUser(e.admin, "quobis", "bob", "user", "bob-password")
		carl := e.createUser(e.admin, "quobis", "carl", "user", "carl-password")
		type perm struct {
			ReceiveCalls struct {
				Enabled   bool `json:"enabled"`
				Inherited bool `json:"inherited"`
			} `json:"receiveCalls"`
		}
		get := func(path, tok string) perm {
			var p perm
			e.want(e.do("GET", path, tok, nil), 200).json(t, &p)
			return p
		}
		if p := get("/sapi/permissions/user/"+bob.ID, e.admin); !p.ReceiveCalls.Enabled || !p.ReceiveCalls.Inherited {
			t.Fatalf("default permission %+v, want enabled by default", p)
		}
		// The seeds' examples answer 201 Created.
		e.want(e.do("POST", "/sapi/permissions/domain/"+d.ID, e.admin, map[string]any{"receiveCalls": map[string]any{"enabled": false}}), 201)
		e.want(e.do("POST", "/sapi/permissions/user/"+bob.ID, e.admin, map[string]any{"receiveCalls": map[string]any{"enabled": true}}), 201)
		if p := get("/sapi/permissions/user/"+bob.ID, e.admin); !p.ReceiveCalls.Enabled || p.ReceiveCalls.Inherited {
			t.Fatalf("bob: the user's own switch overrides the domain: %+v", p)
		}
		if p := get("/sapi/permissions/user/"+carl.ID, e.admin); p.ReceiveCalls.Enabled || !p.ReceiveCalls.Inherited {
			t.Fatalf("carl inherits the domain's switch: %+v", p)
		}
		if p := get("/sapi/permissions/domain/"+d.ID, e.admin); p.ReceiveCalls.Enabled {
			t.Fatalf("domain switch %+v", p)
		}
		// Users read their own; only admins write.
		tok := e.login("carl@quobis", "carl-password")
		if p := get("/sapi/permissions/user/"+carl.ID, tok); p.ReceiveCalls.Enabled {
			t.Fatal("carl reads a different value")
		}
		e.wantErr(e.do("GET", "/sapi/permissions/user/"+bob.ID, tok, nil), 404, "")
		e.wantErr(e.do("POST", "/sapi/permissions/user/"+carl.ID, tok, map[string]any{"receiveCalls": map[string]any{"enabled": true}}), 403, "")
		e.wantErr(e.do("POST", "/sapi/permissions/user/"+carl.ID, e.admin, map[string]any{"receiveCalls": map[string]any{}}), 422, "receiveCalls.enabled")
		e.wantErr(e.do("POST", "/sapi/permissions/user/"+carl.ID, e.admin, map[string]any{"receiveCalls": map[string]any{"enabled": "no"}}), 400, "receiveCalls.enabled")
		e.wantErr(e.do("POST", "/sapi/permissions/user/"+carl.ID, e.admin, map[string]any{}), 422, "receiveCalls")
		e.wantErr(e.do("POST", "/sapi/permissions/user/000000000000000000000000", e.admin, map[string]any{"receiveCalls": map[string]any{"enabled": true}}), 404, "")
	})
}
