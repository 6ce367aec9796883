package node_test

import (
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

// Node b logs a user in through a third party's OpenID Connect provider:
// zitadel/oidc's example OP, in process on loopback (discovery, its own
// login page, the code with PKCE, its id_token and JWKS).
func TestSSOWithZitadelExampleOP(t *testing.T) {
	p := startSSOPair(t, nil)
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	st := storage.NewStorage(storage.NewUserStore(issuer))
	storage.RegisterClients(storage.WebClient("wac-b", "zitadel-secret", p.bURL+"/sapi/o/federation/callback"))
	srv.Config.Handler = exampleop.SetupServer(issuer, st, nil, false)
	srv.Start()
	t.Cleanup(srv.Close)
	if code := apiJSON(t, "POST", p.bURL+"/sapi/providers", p.bAdmin, map[string]any{"name": "zitadel", "domain": "corp",
		"issuer": issuer, "clientId": "wac-b", "clientSecret": "zitadel-secret"}, &struct{}{}); code != 201 {
		t.Fatalf("create provider: %d", code)
	}
	br := newBrowser(t)
	loginPage := br.follow(p.bURL+"/sapi/o/federation/zitadel/start?return_to=/", nil)
	id := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(br.body)
	if !strings.HasPrefix(loginPage, issuer+"/login/username") || id == nil {
		t.Fatalf("zitadel's login page: %s %d %.300s", loginPage, br.status, br.body)
	}
	next := br.do("POST", issuer+"/login/username", url.Values{"id": {id[1]}, "username": {"test-user2"}, "password": {"verysecure"}})
	end := br.follow(next, func(u string) bool { return strings.HasPrefix(u, p.bURL+"/#") })
	frag := fragment(t, end)
	if frag.Get("sso_access_token") == "" {
		t.Fatalf("login through zitadel: %s", end)
	}
	var me struct{ Username, Domain, Email string }
	apiJSON(t, "GET", p.bURL+"/sapi/users/me", frag.Get("sso_access_token"), nil, &me)
	if me.Username != "test-user2" || me.Domain != "corp" || me.Email == "" {
		t.Errorf("the user made from zitadel's claims: %+v", me)
	}
}
