package auth

import (
	"net/http"
	"strings"
)

// BearerToken returns the access token of a request: the Authorization
// header's Bearer token or, when the request has no Authorization header,
// the token query parameter (browsers cannot set headers on a WebSocket).
// A header of another scheme gives no token.
func BearerToken(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		return HeaderToken(r)
	}
	return r.URL.Query().Get("token")
}

// HeaderToken returns the Bearer token of the request's Authorization
// header, or "" when it has none or another scheme.
func HeaderToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
