package federation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeProvider(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The providers directory holds one JSON file per provider; the name
// defaults to the file's, and a wrong setting names the file and field.
func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	writeProvider(t, dir, "keycloak.json", `{"displayName": "Keycloak", "issuer": "https://kc.example.com/realms/acme",
		"clientId": "openwac", "clientSecret": "s", "claims": {"groups": "groups"},
		"groupMap": {"wac-admins": {"role": "admin"}}, "listed": true}`)
	writeProvider(t, dir, "notes.txt", "not a provider")
	list, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("providers: %d", len(list))
	}
	p := list[0]
	if p.Name != "keycloak" || p.Source != "file" || p.Claims.Username != "preferred_username" || p.Claims.Email != "email" ||
		strings.Join(p.Scopes, " ") != "openid profile email" {
		t.Errorf("defaults: %+v", p)
	}
	for _, c := range []struct{ body, want string }{
		{`{"issuer": "ftp://x", "clientId": "c"}`, `bad.json: field "issuer"`},
		{`{"issuer": "https://x", "clientId": ""}`, `field "clientId"`},
		{`{"issuer": "https://x", "clientId": "c", "scopes": ["email"]}`, "must include openid"},
		{`{"issuer": "https://x", "clientId": "c", "groupMap": {"g": {"role": "root"}}, "claims": {"groups": "g"}}`, `role "root"`},
		{`{"issuer": "https://x", "clientId": "c", "groupMap": {"g": {"role": "user"}}}`, `field "claims.groups"`},
		{`{"issuer": "https://x", "clientId": "c", "secret": "typo"}`, `unknown field "secret"`},
	} {
		bad := t.TempDir()
		writeProvider(t, bad, "bad.json", c.body)
		if _, err := LoadDir(bad); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.body, err, c.want)
		}
	}
	if _, err := LoadDir(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "oauth2client.providers") {
		t.Errorf("a missing directory: %v", err)
	}
}

// Claims map to the username (the part before an @), the domain (a claim,
// or the email's), and roles and groups through groupMap.
func TestMapClaims(t *testing.T) {
	p := &Provider{Name: "x", Issuer: "https://x", ClientID: "c", Claims: Claims{Username: "upn", Domain: "email", Groups: "groups"},
		GroupMap: map[string]GroupRule{"admins": {Role: "admin"}, "staff": {Role: "user", Groups: []string{"support"}}, "sales": {Groups: []string{"sales"}}}}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	id, err := mapClaims(p, map[string]any{"iss": "https://x", "sub": "1", "upn": "Carol@Corp.example", "email": "carol@corp.example",
		"groups": []any{"staff", "admins"}})
	if err != nil {
		t.Fatal(err)
	}
	if id.username != "carol" || id.domain != "corp.example" || id.role != "admin" || strings.Join(id.wacGroups, ",") != "support" ||
		len(id.managed) != 2 {
		t.Errorf("identity: %+v", id)
	}
	if _, err := mapClaims(p, map[string]any{"sub": "1", "upn": "a b"}); err == nil || !strings.Contains(err.Error(), `"upn"`) {
		t.Errorf("a username with a space: %v", err)
	}
}
