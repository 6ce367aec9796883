package sapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

//go:embed pages
var pageFiles embed.FS

var pages = template.Must(template.ParseFS(pageFiles, "pages/page.html"))

// Cookies of the authorization pages, scoped to /sapi/o/.
const (
	sessionCookie = "wac_sso"   // the provider's browser session
	csrfCookie    = "wac_authz" // the anti-forgery value of the forms
)

// pageTexts are the pages' words, by language.
var pageTexts = map[string]map[string]string{
	"en": {
		"login": "Log in", "signInTo": "Log in to continue to", "username": "Username", "password": "Password",
		"logIn": "Log in", "consent": "Allow access", "wants": "asks to:", "signedInAs": "Logged in as",
		"allow": "Allow", "deny": "Deny", "error": "Cannot log in", "signedOut": "Signed out",
		"signedOutMsg": "You are signed out.", "wrong": "Wrong username or password.",
		"scope.openid": "know who you are", "scope.profile": "see your username, domain and role",
		"scope.email": "see your email address", "scope.offline_access": "stay signed in",
		"expired": "This page expired. Go back to the application and start again.",
	},
	"es": {
		"login": "Iniciar sesión", "signInTo": "Inicia sesión para continuar en", "username": "Usuario",
		"password": "Contraseña", "logIn": "Entrar", "consent": "Permitir el acceso", "wants": "solicita:",
		"signedInAs": "Sesión iniciada como", "allow": "Permitir", "deny": "Denegar", "error": "No se puede iniciar sesión",
		"signedOut": "Sesión cerrada", "signedOutMsg": "Has cerrado la sesión.", "wrong": "Usuario o contraseña incorrectos.",
		"scope.openid": "saber quién eres", "scope.profile": "ver tu usuario, dominio y rol",
		"scope.email": "ver tu dirección de correo", "scope.offline_access": "mantener la sesión abierta",
		"expired": "Esta página ha caducado. Vuelve a la aplicación y empieza de nuevo.",
	},
}

// lang picks en or es from ui_locales, then Accept-Language.
func lang(r *http.Request) string {
	prefs := strings.Fields(r.FormValue("ui_locales"))
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		prefs = append(prefs, tag)
	}
	for _, p := range prefs {
		base, _, _ := strings.Cut(strings.ToLower(p), "-")
		if _, ok := pageTexts[base]; ok {
			return base
		}
	}
	return "en"
}

type hiddenField struct{ Name, Value string }

// pageData is what page.html shows.
type pageData struct {
	Lang, Kind, Title, Message, Error string
	T                                 map[string]string
	ClientName, Username, CSRF        string
	Scopes                            []string
	Hidden                            []hiddenField
}

// renderPage writes an authorization page under a policy that allows only
// its stylesheet, and forms that post to this server and (after a
// redirect) to formTarget, the client's redirect_uri.
func (a *API) renderPage(w http.ResponseWriter, status int, d *pageData, formTarget string) {
	formAction := "'self'"
	if src := cspSource(formTarget); src != "" {
		formAction += " " + src
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action "+
		formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, "page", d); err != nil {
		a.log.Error("render authorization page", "err", err)
	}
}

// cspSource is the CSP source of a redirect URI: its origin, or its scheme
// for an app's own scheme (com.example.app:/callback).
func cspSource(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return ""
	}
	if u.Host == "" {
		return u.Scheme + ":"
	}
	if !validCSPHost(u.Host) {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func validCSPHost(h string) bool {
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return false
		}
	}
	return h != ""
}

// serveLoginCSS serves the pages' stylesheet.
func (a *API) serveLoginCSS(w http.ResponseWriter, r *http.Request) {
	css, _ := pageFiles.ReadFile("pages/login.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(css)
}

// issuer is the provider's issuer URL: oauth2provider.issuer, or the
// request's scheme and host.
func (a *API) issuer(r *http.Request) string {
	if a.cfg.OAuth2Provider.Issuer != "" {
		return strings.TrimSuffix(a.cfg.OAuth2Provider.Issuer, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// authRequest reads the authorization request's parameters (query, or the
// form's hidden fields).
func authRequest(r *http.Request) *auth.AuthRequest {
	return &auth.AuthRequest{
		ClientID: r.FormValue("client_id"), RedirectURI: r.FormValue("redirect_uri"),
		ResponseType: r.FormValue("response_type"), Scope: r.FormValue("scope"), State: r.FormValue("state"),
		Nonce: r.FormValue("nonce"), CodeChallenge: r.FormValue("code_challenge"),
		CodeChallengeMethod: r.FormValue("code_challenge_method"), Prompt: r.FormValue("prompt"),
	}
}

// hiddenOf carries the request through the pages' forms.
func hiddenOf(ar *auth.AuthRequest) []hiddenField {
	var out []hiddenField
	for _, f := range []hiddenField{{"client_id", ar.ClientID}, {"redirect_uri", ar.RedirectURI},
		{"response_type", ar.ResponseType}, {"scope", ar.Scope}, {"state", ar.State}, {"nonce", ar.Nonce},
		{"code_challenge", ar.CodeChallenge}, {"code_challenge_method", ar.CodeChallengeMethod}} {
		if f.Value != "" {
			out = append(out, f)
		}
	}
	return out
}

// csrfFor is the form field that proves a POST comes from our page: an
// HMAC of the browser's wac_authz cookie, which another site can neither
// read nor set.
func (a *API) csrfFor(cookie string) string {
	m := hmac.New(sha256.New, a.csrfKey)
	m.Write([]byte("authorize-form:" + cookie))
	return hex.EncodeToString(m.Sum(nil))
}

// csrfCookieValue returns the browser's anti-forgery cookie, setting a new
// one when it has none.
func (a *API) csrfCookieValue(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 64 {
		return c.Value
	}
	v := store.NewID() + store.NewID() + store.NewID()[:16]
	http.SetCookie(w, a.cookie(r, csrfCookie, v, 0))
	return v
}

func (a *API) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/sapi/o/", MaxAge: maxAge, HttpOnly: true,
		Secure: strings.HasPrefix(a.issuer(r), "https:"), SameSite: http.SameSiteLaxMode}
}

// authorizeFail answers a refused authorization request: back to the
// client when its redirect_uri is trusted, else a page saying why.
func (a *API) authorizeFail(w http.ResponseWriter, r *http.Request, ar *auth.AuthRequest, err error) {
	var ae *auth.AuthorizeError
	if !errors.As(err, &ae) {
		a.log.Error("authorization request failed", "err", err)
		ae = &auth.AuthorizeError{Code: "server_error", Description: "internal error", Redirect: ar.RedirectURI != ""}
	}
	a.log.Info("authorization refused", "client", clipLog(ar.ClientID), "error", ae.Code, "reason", ae.Description, "ip", a.clientIP(r))
	if !ae.Redirect {
		l := lang(r)
		a.renderPage(w, http.StatusBadRequest, &pageData{Lang: l, Kind: "error", T: pageTexts[l], Title: pageTexts[l]["error"],
			Error: ae.Code, Message: ae.Code + ": " + ae.Description}, "")
		return
	}
	v := url.Values{"error": {ae.Code}, "error_description": {ae.Description}}
	a.redirectBack(w, r, ar, v)
}

// redirectBack sends the browser to the client's redirect_uri with v (in
// the query, or the fragment for the implicit grant), state and iss.
func (a *API) redirectBack(w http.ResponseWriter, r *http.Request, ar *auth.AuthRequest, v url.Values) {
	if ar.State != "" {
		v.Set("state", ar.State)
	}
	v.Set("iss", a.issuer(r)) // RFC 9207: the answer names its issuer
	target := ar.RedirectURI
	sep := "?"
	if ar.Implicit() {
		sep = "#"
	} else if strings.Contains(target, "?") {
		sep = "&"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target+sep+v.Encode(), http.StatusSeeOther)
}

func clipLog(v string) string {
	if len(v) > 64 {
		return v[:64] + "..."
	}
	return v
}

// authorize is GET /sapi/o/authorize: the start of the authorization-code
// (and, for the clients allowed it, implicit) flow.
func (a *API) authorize(w http.ResponseWriter, r *http.Request) error {
	ar := authRequest(r)
	c, err := a.auth.CheckAuthRequest(r.Context(), ar)
	if err != nil {
		a.authorizeFail(w, r, ar, err)
		return nil
	}
	var ss *store.SSOSession
	if ar.Prompt != "login" {
		if ck, err := r.Cookie(sessionCookie); err == nil {
			if ss, err = a.auth.Session(r.Context(), ck.Value); err != nil {
				return err
			}
		}
	}
	if ss == nil {
		if ar.Prompt == "none" {
			a.authorizeFail(w, r, ar, &auth.AuthorizeError{Code: "login_required", Description: "the user is not logged in", Redirect: true})
			return nil
		}
		a.loginPage(w, r, ar, c, "", "", http.StatusOK)
		return nil
	}
	return a.afterLogin(w, r, ar, c, ss)
}

// loginPage shows the password form.
func (a *API) loginPage(w http.ResponseWriter, r *http.Request, ar *auth.AuthRequest, c *store.Client, username, msg string, status int) {
	l := lang(r)
	a.renderPage(w, status, &pageData{Lang: l, Kind: "login", T: pageTexts[l], Title: pageTexts[l]["login"],
		ClientName: c.Name, Username: username, Error: msg, CSRF: a.csrfFor(a.csrfCookieValue(w, r)), Hidden: hiddenOf(ar)}, ar.RedirectURI)
}

// afterLogin asks for consent if the user has not given it for these
// scopes, else finishes the flow.
func (a *API) afterLogin(w http.ResponseWriter, r *http.Request, ar *auth.AuthRequest, c *store.Client, ss *store.SSOSession) error {
	u, err := a.auth.User(r.Context(), ss.UserID)
	if err != nil {
		return err
	}
	scopes := strings.Fields(ar.Scope)
	ok, err := a.auth.HasConsent(r.Context(), u.ID, c.ID, scopes)
	if err != nil {
		return err
	}
	if !ok || ar.Prompt == "consent" {
		if ar.Prompt == "none" {
			a.authorizeFail(w, r, ar, &auth.AuthorizeError{Code: "consent_required", Description: "the user has not allowed this client", Redirect: true})
			return nil
		}
		l := lang(r)
		var shown []string
		for _, s := range scopes {
			shown = append(shown, pageTexts[l]["scope."+s])
		}
		a.renderPage(w, http.StatusOK, &pageData{Lang: l, Kind: "consent", T: pageTexts[l], Title: pageTexts[l]["consent"],
			ClientName: c.Name, Username: u.Username, Scopes: shown, CSRF: a.csrfFor(a.csrfCookieValue(w, r)),
			Hidden: hiddenOf(ar)}, ar.RedirectURI)
		return nil
	}
	return a.finishAuthorize(w, r, ar, c, u, ss)
}

// finishAuthorize issues the code (or the implicit grant's tokens) and
// sends the browser back to the client.
func (a *API) finishAuthorize(w http.ResponseWriter, r *http.Request, ar *auth.AuthRequest, c *store.Client, u *store.User, ss *store.SSOSession) error {
	authTime := time.UnixMilli(ss.AuthTime)
	if ar.Implicit() {
		v, err := a.auth.IssueImplicit(r.Context(), a.issuer(r), ar, c, u, ss.SID, authTime)
		if err != nil {
			return err
		}
		a.redirectBack(w, r, ar, v)
		return nil
	}
	code, err := a.auth.IssueCode(r.Context(), ar, c, u, ss.SID, authTime)
	if err != nil {
		return err
	}
	a.redirectBack(w, r, ar, url.Values{"code": {code}})
	return nil
}

// authorizePost is POST /sapi/o/authorize: the login and consent forms.
func (a *API) authorizePost(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		if e := bodyErr(err); e != nil {
			return e
		}
		return errorf(http.StatusBadRequest, "malformed form body: %v", err)
	}
	ar := authRequest(r)
	c, err := a.auth.CheckAuthRequest(r.Context(), ar)
	if err != nil {
		a.authorizeFail(w, r, ar, err)
		return nil
	}
	ck, cerr := r.Cookie(csrfCookie)
	if cerr != nil || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(a.csrfFor(ck.Value))) {
		l := lang(r)
		a.log.Info("authorization form refused: no or wrong anti-forgery value", "client", c.ID, "ip", a.clientIP(r))
		a.renderPage(w, http.StatusForbidden, &pageData{Lang: l, Kind: "error", T: pageTexts[l], Title: pageTexts[l]["error"],
			Error: "csrf", Message: pageTexts[l]["expired"]}, "")
		return nil
	}
	switch r.PostForm.Get("action") {
	case "login":
		return a.authorizeLogin(w, r, ar, c)
	case "allow", "deny":
		var ss *store.SSOSession
		if sc, err := r.Cookie(sessionCookie); err == nil {
			if ss, err = a.auth.Session(r.Context(), sc.Value); err != nil {
				return err
			}
		}
		if ss == nil {
			a.loginPage(w, r, ar, c, "", pageTexts[lang(r)]["expired"], http.StatusOK)
			return nil
		}
		if r.PostForm.Get("action") == "deny" {
			a.redirectBack(w, r, ar, url.Values{"error": {"access_denied"}, "error_description": {"the user denied the request"}})
			return nil
		}
		if err := a.auth.GiveConsent(r.Context(), ss.UserID, c.ID, strings.Fields(ar.Scope)); err != nil {
			return err
		}
		u, err := a.auth.User(r.Context(), ss.UserID)
		if err != nil {
			return err
		}
		return a.finishAuthorize(w, r, ar, c, u, ss)
	default:
		return fieldErr(http.StatusBadRequest, "action", "must be login, allow or deny")
	}
}

// authorizeLogin checks the login form's password, throttled as the token
// endpoint's password grant is, and opens the browser session.
func (a *API) authorizeLogin(w http.ResponseWriter, r *http.Request, ar *auth.AuthRequest, c *store.Client) error {
	username := r.PostForm.Get("username")
	info := auth.LoginInfo{ClientIP: a.clientIP(r), Origin: r.Header.Get("Origin")}
	u, _, err := a.auth.AuthenticatePassword(r.Context(), username, r.PostForm.Get("password"), info)
	var ge *auth.GrantError
	if errors.As(err, &ge) {
		status, msg := http.StatusOK, ge.Message
		switch {
		case ge.RetryAfter > 0:
			status = http.StatusTooManyRequests
			w.Header().Set("Retry-After", strconv.FormatInt(int64((ge.RetryAfter+time.Second-1)/time.Second), 10))
		case ge.Message == "invalid username or password":
			msg = pageTexts[lang(r)]["wrong"]
		}
		a.loginPage(w, r, ar, c, username, msg, status)
		return nil
	}
	if err != nil {
		return err
	}
	cookie, ss, err := a.auth.StartSession(r.Context(), u.ID)
	if err != nil {
		return err
	}
	http.SetCookie(w, a.cookie(r, sessionCookie, cookie, int(a.cfg.OAuth2Provider.SessionExpiration/time.Second)))
	a.log.Info("logged in on the authorization page", "user", u.ID, "client", c.ID, "ip", info.ClientIP)
	return a.afterLogin(w, r, ar, c, ss)
}

// userinfo is GET and POST /sapi/o/userinfo (OpenID Connect).
func (a *API) userinfo(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if p.UserID == "" {
		return forbidden("userinfo needs a user's token, not a client's")
	}
	info, err := a.auth.UserInfo(r.Context(), p)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, info)
	return nil
}

// jwks is GET /sapi/o/jwks: the keys that sign id_tokens.
func (a *API) jwks(w http.ResponseWriter, r *http.Request) error {
	set, err := a.auth.JWKS(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	writeJSON(w, http.StatusOK, set)
	return nil
}

// Discovery serves /.well-known/openid-configuration.
func (a *API) Discovery(w http.ResponseWriter, r *http.Request) {
	iss := a.issuer(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/sapi/o/authorize",
		"token_endpoint":                                 iss + "/sapi/o/token",
		"userinfo_endpoint":                              iss + "/sapi/o/userinfo",
		"jwks_uri":                                       iss + "/sapi/o/jwks",
		"end_session_endpoint":                           iss + "/sapi/o/end_session",
		"revocation_endpoint":                            iss + "/sapi/o/revoke",
		"response_types_supported":                       []string{"code", "token", "id_token", "id_token token"},
		"response_modes_supported":                       []string{"query", "fragment"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials", "password", "implicit"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{a.cfg.OAuth2Provider.IDTokenAlg},
		"scopes_supported":                               auth.DefaultScopes,
		"token_endpoint_auth_methods_supported":          []string{"client_secret_basic", "client_secret_post", "none"},
		"code_challenge_methods_supported":               []string{"S256", "plain"},
		"claims_supported":                               []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash", "preferred_username", "email", "domain", "role"},
		"ui_locales_supported":                           []string{"en", "es"},
		"authorization_response_iss_parameter_supported": true,
	})
}

// oidcEndSession is GET and POST /sapi/o/end_session (OpenID Connect
// RP-initiated logout): it ends the browser session and the grants issued
// in it, then returns to the client's registered post_logout_redirect_uri.
func (a *API) oidcEndSession(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "malformed request: %v", err)
	}
	l := lang(r)
	fail := func(msg string) error {
		a.renderPage(w, http.StatusBadRequest, &pageData{Lang: l, Kind: "error", T: pageTexts[l], Title: pageTexts[l]["error"],
			Error: "invalid_request", Message: "invalid_request: " + msg}, "")
		return nil
	}
	var hint *auth.IDClaims
	if raw := r.FormValue("id_token_hint"); raw != "" {
		var err error
		if hint, err = a.auth.IDTokenHint(r.Context(), raw); err != nil {
			a.log.Info("end_session refused", "reason", err.Error(), "ip", a.clientIP(r))
			return fail(err.Error())
		}
	}
	clientID := r.FormValue("client_id")
	if hint != nil {
		if clientID != "" && clientID != hint.Audience {
			return fail("client_id is not the audience of id_token_hint")
		}
		clientID = hint.Audience
	}
	target := r.FormValue("post_logout_redirect_uri")
	if target != "" {
		if clientID == "" {
			return fail("post_logout_redirect_uri needs id_token_hint or client_id")
		}
		c, err := a.auth.Client(r.Context(), clientID)
		if err != nil || !containsString(c.PostLogoutRedirectURIs, target) {
			return fail(fmt.Sprintf("post_logout_redirect_uri %q is not registered for the client", clipLog(target)))
		}
	}
	ended := false
	if ck, err := r.Cookie(sessionCookie); err == nil {
		ss, err := a.auth.Session(r.Context(), ck.Value)
		if err != nil {
			return err
		}
		if ss != nil && (hint == nil || hint.Subject == ss.UserID) {
			if err := a.auth.EndSession(r.Context(), ss.SID, ss.UserID); err != nil {
				return err
			}
			ended = true
		}
	}
	if !ended && hint != nil && hint.SID != "" {
		if err := a.auth.EndSession(r.Context(), hint.SID, hint.Subject); err != nil {
			return err
		}
	}
	http.SetCookie(w, a.cookie(r, sessionCookie, "", -1))
	if target != "" {
		v := url.Values{}
		if st := r.FormValue("state"); st != "" {
			v.Set("state", st)
		}
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		if len(v) == 0 {
			sep = ""
		}
		http.Redirect(w, r, target+sep+v.Encode(), http.StatusSeeOther)
		return nil
	}
	a.renderPage(w, http.StatusOK, &pageData{Lang: l, Kind: "message", T: pageTexts[l], Title: pageTexts[l]["signedOut"],
		Message: pageTexts[l]["signedOutMsg"]}, "")
	return nil
}

func containsString(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// EnableSSO keys the authorization pages' anti-forgery values with a key
// derived from the cluster secret.
func (a *API) EnableSSO(secret []byte) error {
	key, err := auth.DeriveKey(secret, "authorize csrf")
	if err != nil {
		return err
	}
	a.csrfKey = key
	sipKey, err := auth.DeriveKey(secret, "sip mapping passwords")
	if err != nil {
		return err
	}
	if a.sipSealer, err = auth.NewSealer(sipKey); err != nil {
		return err
	}
	return nil
}
