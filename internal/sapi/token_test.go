package sapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
)

func TestPasswordGrant(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		// JSON body, as the seeds show: all four fields, Bearer, 3599 s.
		p := e.loginPair("admin@wac", adminPassword)
		if len(p.AccessToken) != 64 || len(p.RefreshToken) != 64 || p.TokenType != "Bearer" || p.ExpiresIn != 3599 {
			t.Fatalf("token answer %+v does not match the seeds' shape", p)
		}
		// Form body, as the seeds' curl example.
		r := e.want(e.postForm("/sapi/o/token", form("grant_type", "password", "username", "admin@wac", "password", adminPassword)), 200)
		if r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("token answer is cacheable: %v", r.header)
		}
		// The seeds' trailing slash works too.
		e.want(e.do("POST", "/sapi/o/token/", "", map[string]string{"grant_type": "password", "username": "admin@wac", "password": adminPassword}), 200)
		// A bare username means the default domain.
		e.want(e.grant(map[string]string{"grant_type": "password", "username": "admin", "password": adminPassword}), 200)
		// Upper case is the same account.
		e.want(e.grant(map[string]string{"grant_type": "password", "username": "ADMIN@WAC", "password": adminPassword}), 200)

		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			Code        int    `json:"code"`
			Message     string `json:"message"`
		}
		for _, c := range []struct {
			body   any
			status int
			code   string
		}{
			{map[string]string{"grant_type": "password", "username": "admin@wac", "password": "wrong-password"}, 400, "invalid_grant"},
			{map[string]string{"grant_type": "password", "username": "nobody@wac", "password": "whatever-pw"}, 400, "invalid_grant"},
			{map[string]string{"grant_type": "password", "username": "admin@nodomain", "password": "whatever-pw"}, 400, "invalid_grant"},
			{map[string]string{"grant_type": "password", "username": "admin@wac"}, 400, "invalid_request"},
			{map[string]string{"grant_type": "magic"}, 400, "unsupported_grant_type"},
			{map[string]string{"username": "admin@wac"}, 400, "invalid_request"},
			{`{"grant_type": 5}`, 400, "invalid_request"},
			{`{"grant_type": "password",`, 400, "invalid_request"},
			{map[string]string{"grant_type": "refresh_token", "refresh_token": "nope"}, 400, "invalid_grant"},
			{map[string]string{"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}, 401, "invalid_client"},
		} {
			r := e.grant(c.body)
			e.want(r, c.status)
			r.json(t, &oe)
			if oe.Error != c.code || oe.Code != c.status || oe.Message == "" || oe.Description == "" {
				t.Fatalf("%v: answer %s, want error %q", c.body, r.body, c.code)
			}
		}
		// A wrong type names the field.
		r = e.grant(`{"grant_type": 5}`)
		if !strings.Contains(string(r.body), `grant_type`) {
			t.Fatalf("type error does not name the field: %s", r.body)
		}
	})
}

func TestRefreshAndRevoke(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		p := e.loginPair("admin@wac", adminPassword)
		var q tokenPair
		e.want(e.grant(map[string]string{"grant_type": "refresh_token", "refresh_token": p.RefreshToken}), 200).json(t, &q)
		if q.AccessToken == p.AccessToken || q.RefreshToken == p.RefreshToken {
			t.Fatal("refresh did not rotate the tokens")
		}
		// The old pair stops working (a second use of the refresh token ends
		// the whole grant: TestRefreshTokenReuse).
		e.wantErr(e.do("GET", "/sapi/capabilities", p.AccessToken, nil), 401, "")
		e.want(e.do("GET", "/sapi/capabilities", q.AccessToken, nil), 200)

		// Logout (RFC 7009) with the refresh token ends the grant.
		e.want(e.do("POST", "/sapi/o/revoke", "", map[string]string{"token": q.RefreshToken}), 200)
		e.wantErr(e.do("GET", "/sapi/capabilities", q.AccessToken, nil), 401, "")
		// Logout with the own bearer token, no body.
		tok := e.login("admin@wac", adminPassword)
		e.want(e.do("POST", "/sapi/o/revoke", tok, nil), 200)
		e.wantErr(e.do("GET", "/sapi/capabilities", tok, nil), 401, "")
		// Unknown tokens are answered 200 (RFC 7009); nothing at all is 422.
		e.want(e.do("POST", "/sapi/o/revoke", "", map[string]string{"token": "unknown"}), 200)
		e.wantErr(e.do("POST", "/sapi/o/revoke", "", nil), 422, "token")
	})
}

func TestUnauthenticated(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	r := e.wantErr(e.do("GET", "/sapi/users", "", nil), 401, "")
	if !strings.HasPrefix(r.Message, "an access token is required") {
		t.Fatalf("message %q", r.Message)
	}
	e.wantErr(e.do("GET", "/sapi/users", "not-a-token", nil), 401, "")
	resp := e.do("GET", "/sapi/users", "", nil)
	if !strings.Contains(resp.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no WWW-Authenticate: %v", resp.header)
	}
	// ?token= works for clients that cannot set headers (WebSockets).
	e.want(e.do("GET", "/sapi/capabilities?token="+e.admin, "", nil), 200)
	e.wantErr(e.do("GET", "/sapi/nothing-here", e.admin, nil), 404, "")
}

func TestExclusiveLogin(t *testing.T) {
	eachDialect(t, func(c *config.Config) { c.Login.Exclusive = true }, func(t *testing.T, e *env) {
		first := e.admin
		second := e.login("admin@wac", adminPassword)
		e.wantErr(e.do("GET", "/sapi/capabilities", first, nil), 401, "")
		e.want(e.do("GET", "/sapi/capabilities", second, nil), 200)
	})
}

func TestMaxTokens(t *testing.T) {
	eachDialect(t, func(c *config.Config) { c.OAuth2Provider.MaxTokens = 2 }, func(t *testing.T, e *env) {
		first := e.admin
		time.Sleep(2 * time.Millisecond) // distinct creation times order the grants
		second := e.login("admin@wac", adminPassword)
		time.Sleep(2 * time.Millisecond)
		third := e.login("admin@wac", adminPassword)
		e.wantErr(e.do("GET", "/sapi/capabilities", first, nil), 401, "")
		e.want(e.do("GET", "/sapi/capabilities", second, nil), 200)
		e.want(e.do("GET", "/sapi/capabilities", third, nil), 200)
	})
}

func TestTokenExpiration(t *testing.T) {
	e := newEnv(t, "sqlite", func(c *config.Config) { c.OAuth2Provider.AccessTokenExpiration = time.Second })
	p := e.loginPair("admin@wac", adminPassword)
	if p.ExpiresIn != 1 {
		t.Fatalf("expires_in = %d, want 1", p.ExpiresIn)
	}
	e.want(e.do("GET", "/sapi/capabilities", p.AccessToken, nil), 200)
	time.Sleep(1100 * time.Millisecond)
	e.wantErr(e.do("GET", "/sapi/capabilities", p.AccessToken, nil), 401, "")
	// The refresh token outlives it.
	e.want(e.grant(map[string]string{"grant_type": "refresh_token", "refresh_token": p.RefreshToken}), 200)
}

func TestClientCredentials(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		var c struct {
			ID     string `json:"id"`
			Secret string `json:"client_secret"`
			Role   string `json:"role"`
		}
		e.want(e.do("POST", "/sapi/clients", e.admin, map[string]string{"name": "crm", "role": "user"}), 201).json(t, &c)
		if c.Secret == "" || c.Role != "user" {
			t.Fatalf("client answer %+v", c)
		}
		var p tokenPair
		e.want(e.grant(map[string]string{"grant_type": "client_credentials", "client_id": c.ID, "client_secret": c.Secret}), 200).json(t, &p)
		if p.RefreshToken != "" {
			t.Fatal("client_credentials issued a refresh token")
		}
		e.want(e.do("GET", "/sapi/capabilities", p.AccessToken, nil), 200)
		// A user-role client cannot administer.
		e.wantErr(e.do("POST", "/sapi/domains", p.AccessToken, map[string]string{"domain": "x.org"}), 403, "")
		// HTTP Basic client authentication works too.
		req, _ := http.NewRequest("POST", e.http.URL+"/sapi/o/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ID, c.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("basic client auth: %d", resp.StatusCode)
		}
		e.want(e.grant(map[string]string{"grant_type": "client_credentials", "client_id": c.ID, "client_secret": "wrong"}), 401)
		// The secret is never listed.
		r := e.want(e.do("GET", "/sapi/clients", e.admin, nil), 200)
		if strings.Contains(string(r.body), c.Secret) || strings.Contains(string(r.body), "client_secret") {
			t.Fatalf("client listing shows the secret: %s", r.body)
		}
		e.want(e.do("DELETE", "/sapi/clients/"+c.ID, e.admin, nil), 204)
		e.want(e.grant(map[string]string{"grant_type": "client_credentials", "client_id": c.ID, "client_secret": c.Secret}), 401)
		// The tokens it was given end with it, though they were cached.
		e.want(e.do("GET", "/sapi/capabilities", p.AccessToken, nil), 401)
	})
}

func TestAnonymousGrant(t *testing.T) {
	eachDialect(t, func(c *config.Config) { c.Login.SendStatic = true }, func(t *testing.T, e *env) {
		e.createDomain(e.admin, map[string]any{"domain": "closed.example"})
		demo := e.createDomain(e.admin, map[string]any{
			"domain": "demo.quobis.com", "origins": []string{"*.quobis.com", "quobis"},
			"enableAnonymous": true, "anonymousExpiration": 600000,
			"anonymousCapabilities": []string{"-audio-video-call", "+chat"},
		})
		// A pool ims credential for anonymous sessions (no user).
		e.want(e.do("POST", "/sapi/credentials", e.admin, map[string]any{
			"source": "wac", "type": "ims", "context": map[string]any{}, "domain": "demo.quobis.com",
			"data": map[string]any{"username": "anon1@quobis.com", "password": "pool-secret", "authserver": "wss://gw"}, "lease": 0,
		}), 201)

		var p tokenPair
		// By exact domain name, by an origins pattern, and by the Origin header.
		e.want(e.grant(map[string]string{"grant_type": "anonymous", "username": "@demo.quobis.com"}), 200).json(t, &p)
		if p.ExpiresIn != 599 || p.RefreshToken != "" {
			t.Fatalf("anonymous token %+v: want 599 s from anonymousExpiration and no refresh token", p)
		}
		e.want(e.grant(map[string]string{"grant_type": "anonymous", "username": "@shop.quobis.com"}), 200)
		e.want(e.do("POST", "/sapi/o/token", "", map[string]string{"grant_type": "anonymous", "username": "@whatever"},
			"Origin", "https://www.quobis.com"), 200)
		// Domains without enableAnonymous, unknown ones, and bad forms are refused.
		for _, u := range []string{"@closed.example", "@wac", "@unknown.org", "demo.quobis.com", "@"} {
			r := e.grant(map[string]string{"grant_type": "anonymous", "username": u})
			if r.status != 400 {
				t.Fatalf("anonymous %q: %d %s", u, r.status, r.body)
			}
		}
		// The anonymous session sees its own user, its domain's capabilities
		// changed by anonymousCapabilities, and the leased ims credential
		// with its password (it needs it to register).
		var me user
		e.want(e.do("GET", "/sapi/users/me", p.AccessToken, nil), 200).json(t, &me)
		if me.Role != "anonymous" || me.Domain != "demo.quobis.com" {
			t.Fatalf("anonymous user %+v", me)
		}
		var caps struct{ Domain, User, Capabilities []string }
		e.want(e.do("GET", "/sapi/capabilities", p.AccessToken, nil), 200).json(t, &caps)
		if contains(caps.Capabilities, "audio-video-call") || !contains(caps.Capabilities, "chat") || !contains(caps.Domain, "audio-video-call") {
			t.Fatalf("anonymous capabilities %+v", caps)
		}
		var creds []struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		e.want(e.do("GET", "/sapi/credentials", p.AccessToken, nil), 200).json(t, &creds)
		if len(creds) != 1 || creds[0].Type != "ims" || creds[0].Data["password"] != "pool-secret" {
			t.Fatalf("anonymous session credentials %+v", creds)
		}
		// Anonymous users administer nothing and see no one else.
		e.wantErr(e.do("POST", "/sapi/users", p.AccessToken, map[string]string{"username": "x"}), 403, "")
		var list []user
		e.want(e.do("GET", "/sapi/users", p.AccessToken, nil), 200).json(t, &list)
		if len(list) != 1 || list[0].ID != me.ID {
			t.Fatalf("anonymous user lists %+v", list)
		}
		e.wantErr(e.do("GET", "/sapi/domains/"+demo.ID+"/../"+e.domain, p.AccessToken, nil), 404, "")
	})
}

func TestFailedLoginAlarm(t *testing.T) {
	eachDialect(t, func(c *config.Config) { c.Login.LimitRateUnits, c.Login.LimitRateWindow = 3, 10*time.Second }, func(t *testing.T, e *env) {
		bad := map[string]string{"grant_type": "password", "username": "admin@wac", "password": "wrong-password"}
		for range 2 {
			e.want(e.grant(bad), 400)
		}
		var alarms []struct {
			Type    string         `json:"type"`
			Message string         `json:"message"`
			Data    map[string]any `json:"data"`
		}
		e.want(e.do("GET", "/sapi/alarms", e.admin, nil), 200).json(t, &alarms)
		if len(alarms) != 0 {
			t.Fatalf("alarm after 2 of 3 failures: %+v", alarms)
		}
		e.want(e.grant(bad), 400)
		e.want(e.do("GET", "/sapi/alarms", e.admin, nil), 200).json(t, &alarms)
		if len(alarms) != 1 || alarms[0].Type != "login-failures" || !strings.Contains(alarms[0].Message, "admin@wac") {
			t.Fatalf("alarms after 3 failures: %+v", alarms)
		}
		var stats []struct {
			Service string `json:"service"`
			Type    string `json:"type"`
		}
		e.want(e.do("GET", "/sapi/stats?service=Login", e.admin, nil), 200).json(t, &stats)
		if len(stats) != 3 || stats[0].Type != "Failed login" || stats[0].Service != "Login" {
			t.Fatalf("stats %+v", stats)
		}
		// Users do not see alarms; lastLogin is recorded on success.
		u := e.createUser(e.admin, "wac", "carol", "user", "carol-password")
		tok := e.login("carol@wac", "carol-password")
		e.wantErr(e.do("GET", "/sapi/alarms", tok, nil), 403, "")
		var me user
		e.want(e.do("GET", "/sapi/users/"+u.ID, tok, nil), 200).json(t, &me)
		if me.LastLogin == 0 {
			t.Fatal("lastLogin not recorded")
		}
	})
}

// The password never appears in any answer.
func TestPasswordsNeverReturned(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	u := e.createUser(e.admin, "wac", "dave", "user", "dave-password")
	for _, path := range []string{"/sapi/users", "/sapi/users/" + u.ID, "/sapi/credentials", "/sapi/credentials?user=" + u.ID} {
		r := e.want(e.do("GET", path, e.admin, nil), 200)
		if strings.Contains(string(r.body), "dave-password") || strings.Contains(string(r.body), "argon2") {
			t.Fatalf("%s leaks the password or its hash: %s", path, r.body)
		}
	}
	var creds []map[string]any
	e.want(e.do("GET", "/sapi/credentials?user="+u.ID, e.admin, nil), 200).json(t, &creds)
	if len(creds) != 1 || mustJSON(creds[0]["data"]) != "{}" {
		t.Fatalf("basic credential data shown: %+v", creds)
	}
	_ = json.Valid
}
