package sapi

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/openwac/wac/internal/auth"
)

// tokenRequest is the body of POST /sapi/o/token, JSON or form-encoded.
type tokenRequest struct {
	GrantType    string `json:"grant_type"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	RefreshToken string `json:"refresh_token"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Scope        string `json:"scope"`
	Code         string `json:"code"`
	RedirectURI  string `json:"redirect_uri"`
	CodeVerifier string `json:"code_verifier"`
}

// oauthError is an RFC 6749 error answer, with the API's code and message too.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Code        int    `json:"code"`
	Message     string `json:"message"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, oauthError{Error: code, Description: msg, Code: status, Message: msg})
}

// readTokenRequest accepts application/json and
// application/x-www-form-urlencoded bodies.
func readTokenRequest(r *http.Request) (*tokenRequest, error) {
	var req tokenRequest
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			if e := bodyErr(err); e != nil {
				return nil, e
			}
			return nil, errorf(http.StatusBadRequest, "malformed form body: %v", err)
		}
		f := r.PostForm
		req = tokenRequest{
			GrantType: f.Get("grant_type"), Username: f.Get("username"), Password: f.Get("password"),
			RefreshToken: f.Get("refresh_token"), ClientID: f.Get("client_id"), ClientSecret: f.Get("client_secret"),
			Scope: f.Get("scope"), Code: f.Get("code"), RedirectURI: f.Get("redirect_uri"), CodeVerifier: f.Get("code_verifier"),
		}
	} else if err := decode(r, &req); err != nil {
		return nil, err
	}
	if id, secret, ok := r.BasicAuth(); ok && req.ClientID == "" {
		req.ClientID, req.ClientSecret = id, secret
	}
	return &req, nil
}

// token is POST /sapi/o/token: the password, anonymous, refresh_token,
// client_credentials and authorization_code grants.
func (a *API) token(w http.ResponseWriter, r *http.Request) error {
	req, err := readTokenRequest(r)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			writeOAuthError(w, e.Status, "invalid_request", e.Message)
			return nil
		}
		return err
	}
	info := auth.LoginInfo{ClientIP: a.clientIP(r), Origin: r.Header.Get("Origin"), ClientID: req.ClientID, ClientSecret: req.ClientSecret}
	var pair *auth.TokenPair
	switch req.GrantType {
	case "password":
		pair, err = a.auth.PasswordGrant(r.Context(), req.Username, req.Password, info)
	case "anonymous":
		pair, err = a.auth.AnonymousGrant(r.Context(), req.Username, info)
	case "refresh_token":
		pair, err = a.auth.RefreshGrant(r.Context(), req.RefreshToken, info)
	case "client_credentials":
		pair, err = a.auth.ClientCredentialsGrant(r.Context(), req.ClientID, req.ClientSecret)
	case "authorization_code":
		pair, err = a.auth.AuthorizationCodeGrant(r.Context(), a.issuer(r), req.Code, req.RedirectURI, req.CodeVerifier, info)
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", `field "grant_type": is required`)
		return nil
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type",
			`field "grant_type": `+quote(req.GrantType)+` is not one of password, anonymous, refresh_token, client_credentials, authorization_code`)
		return nil
	}
	var ge *auth.GrantError
	if errors.As(err, &ge) {
		status := http.StatusBadRequest
		switch {
		case ge.RetryAfter > 0:
			status = http.StatusTooManyRequests
			w.Header().Set("Retry-After", strconv.FormatInt(int64((ge.RetryAfter+time.Second-1)/time.Second), 10))
		case ge.Code == "invalid_client":
			status = http.StatusUnauthorized
			w.Header().Set("WWW-Authenticate", `Basic realm="wac"`)
		}
		writeOAuthError(w, status, ge.Code, ge.Message)
		return nil
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, pair)
	return nil
}

// revoke is POST /sapi/o/revoke (RFC 7009): it ends the grant of the token
// in the body (access or refresh), or of the request's own bearer token when
// the body names none. Unknown tokens are answered 200 too, as the RFC asks.
func (a *API) revoke(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Token         string `json:"token"`
		TokenTypeHint string `json:"token_type_hint"`
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return errorf(http.StatusBadRequest, "malformed form body: %v", err)
		}
		body.Token = r.PostForm.Get("token")
	case r.ContentLength != 0:
		if err := decode(r, &body); err != nil {
			return err
		}
	}
	token := body.Token
	if token == "" {
		token = auth.BearerToken(r)
	}
	if token == "" {
		return required("token")
	}
	if err := a.auth.Logout(r.Context(), token); err != nil && !errors.Is(err, auth.ErrInvalidToken) {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + s + `"`
}
