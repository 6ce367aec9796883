package sapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// The authorization-code flow on each database: a public app's login
// through the authorization page, consent, the code with PKCE, refresh
// rotation, userinfo, end_session ending the login, and the cleanup of
// what expired; the admin API of identity providers.
func TestAuthorizationCodeFlowOnEachDatabase(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		e.want(e.do("POST", "/sapi/users", e.admin, map[string]any{"username": "alice", "password": "alice-password"}), 201)
		var cl struct{ ID string }
		e.want(e.do("POST", "/sapi/clients", e.admin, map[string]any{"name": "SPA", "public": true,
			"redirectUris": []string{"http://localhost:5173/cb"}, "postLogoutRedirectUris": []string{"http://localhost:5173/"}}), 201).json(t, &cl)
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		send := func(method, target string, form url.Values) (int, string, string) {
			var body io.Reader
			if form != nil {
				body = strings.NewReader(form.Encode())
			}
			req, _ := http.NewRequest(method, target, body)
			if form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp, err := browser.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, resp.Header.Get("Location"), string(data)
		}
		post := func(page, action string, more url.Values) (int, string, string) {
			form := url.Values{"action": {action}}
			for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
				form.Set(m[1], html.UnescapeString(m[2]))
			}
			for k, v := range more {
				form[k] = v
			}
			return send("POST", e.http.URL+"/sapi/o/authorize", form)
		}
		verifier := strings.Repeat("v", 50)
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{"client_id": {cl.ID}, "response_type": {"code"}, "scope": {"openid profile"}, "state": {"s"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
		st, _, page := send("GET", e.http.URL+"/sapi/o/authorize?"+q.Encode(), nil)
		if st != 200 || !strings.Contains(page, `name="password"`) {
			t.Fatalf("login page: %d %.200s", st, page)
		}
		st, _, page = post(page, "login", url.Values{"username": {"alice"}, "password": {"alice-password"}})
		if st != 200 || !strings.Contains(page, `value="allow"`) {
			t.Fatalf("consent page: %d %.200s", st, page)
		}
		st, loc, _ := post(page, "allow", nil)
		u, _ := url.Parse(loc)
		if st != http.StatusSeeOther || u.Query().Get("code") == "" || u.Query().Get("state") != "s" {
			t.Fatalf("redirect: %d %q", st, loc)
		}
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			IDToken      string `json:"id_token"`
		}
		e.want(e.do("POST", "/sapi/o/token", "", map[string]string{"grant_type": "authorization_code", "code": u.Query().Get("code"),
			"redirect_uri": "http://localhost:5173/cb", "client_id": cl.ID, "code_verifier": verifier}), 200).json(t, &tok)
		if tok.IDToken == "" || tok.RefreshToken == "" {
			t.Fatalf("tokens: %+v", tok)
		}
		var info map[string]any
		e.want(e.do("GET", "/sapi/o/userinfo", tok.AccessToken, nil), 200).json(t, &info)
		if info["preferred_username"] != "alice" {
			t.Errorf("userinfo: %v", info)
		}
		e.want(e.do("POST", "/sapi/o/token", "", map[string]string{"grant_type": "refresh_token", "refresh_token": tok.RefreshToken}), 200).json(t, &tok)
		st, loc, _ = send("GET", e.http.URL+"/sapi/o/end_session?"+url.Values{"id_token_hint": {tok.IDToken},
			"post_logout_redirect_uri": {"http://localhost:5173/"}}.Encode(), nil)
		if st != http.StatusSeeOther || loc != "http://localhost:5173/" {
			t.Errorf("end_session: %d %q", st, loc)
		}
		e.want(e.do("GET", "/sapi/o/userinfo", tok.AccessToken, nil), 401)
		if err := e.srv.Auth.Cleanup(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}

		// Identity providers through the API; the secret is never shown.
		var prov struct {
			ID              string `json:"id"`
			ClientSecret    string `json:"clientSecret"`
			ClientSecretSet bool   `json:"clientSecretSet"`
		}
		e.want(e.do("POST", "/sapi/providers", e.admin, map[string]any{"name": "kc", "issuer": "https://kc.example.com/realms/x",
			"clientId": "wac", "clientSecret": "kc-secret"}), 201).json(t, &prov)
		if prov.ClientSecret != "" || !prov.ClientSecretSet {
			t.Errorf("created: %+v", prov)
		}
		e.want(e.do("POST", "/sapi/providers", e.admin, map[string]any{"name": "kc", "issuer": "https://kc.example.com", "clientId": "wac"}), 409)
		e.want(e.do("POST", "/sapi/providers", e.admin, map[string]any{"name": "Bad Name", "issuer": "https://x", "clientId": "c"}), 422)
		e.want(e.do("PUT", "/sapi/providers/"+prov.ID, e.admin, map[string]any{"name": "kc2", "issuer": "https://kc.example.com/realms/x",
			"clientId": "wac", "displayName": "Keycloak"}), 200).json(t, &prov)
		if !prov.ClientSecretSet {
			t.Errorf("the secret did not stay: %+v", prov)
		}
		e.want(e.do("DELETE", "/sapi/providers/"+prov.ID, e.admin, nil), 204)
		e.want(e.do("GET", "/sapi/providers/"+prov.ID, e.admin, nil), 404)
	})
}
