// Package sapi is the REST API under /sapi: OAuth2 tokens, domains, users,
// credentials, capabilities, permissions, alarms and stats, with the seeds'
// field names. Every handler authenticates and authorizes by role and domain.
package sapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/auth/federation"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/metrics"
	"github.com/openwac/wac/internal/store"
)

// ClientIP returns the caller's address as the server determined it; the
// server package sets it up.
type ClientIP func(r *http.Request) string

// API serves /sapi.
type API struct {
	st       store.Store
	auth     *auth.Service
	cfg      *config.Config
	log      *slog.Logger
	clientIP ClientIP

	mux      *http.ServeMux
	patterns []string
	openAPI  []byte
	sessions SessionDirectory
	// csrfKey signs the authorization pages' anti-forgery values
	// (EnableSSO).
	csrfKey    []byte
	fed        *federation.Federation
	recordings RecordingFiles
	linkKey    []byte       // signs the play links of recording files
	sipSealer  *auth.Sealer // seals the passwords of SIP mappings (EnableSSO)
	meetings   MeetingInvitations
	// invitesLimit bounds the invitations of each user's meetings.
	invitesLimit invitationLimiter
}

// New builds the API and its routes.
func New(st store.Store, a *auth.Service, cfg *config.Config, log *slog.Logger, clientIP ClientIP) *API {
	doc, err := OpenAPI()
	if err != nil {
		panic(err) // the embedded document is checked by the tests
	}
	api := &API{st: st, auth: a, cfg: cfg, log: log, clientIP: clientIP, mux: http.NewServeMux(), openAPI: doc}
	api.routes()
	return api
}

// ServeHTTP dispatches a /sapi request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := a.mux.Handler(r)
	if pattern == "" {
		// No route: say whether the path exists with another method.
		var allowed []string
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, p := a.mux.Handler(probe); p != "" {
				allowed = append(allowed, m)
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, errorf(http.StatusMethodNotAllowed,
				"method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
			return
		}
		writeJSON(w, http.StatusNotFound, errorf(http.StatusNotFound, "no API endpoint %s %s", r.Method, r.URL.Path))
		return
	}
	metrics.SetRoute(r.Context(), pattern)
	a.mux.ServeHTTP(w, r) // routes again, so that r.PathValue works in handlers
}

// Patterns lists every route as "METHOD /path/{param}", for the OpenAPI check.
func (a *API) Patterns() []string {
	out := append([]string{}, a.patterns...)
	sort.Strings(out)
	return out
}

// Handle adds a route served by h to the API (other packages add theirs).
func (a *API) Handle(pattern string, h http.Handler) {
	a.patterns = append(a.patterns, pattern)
	a.mux.Handle(pattern, h)
}

// handlerFunc is an authenticated handler; a returned *Error is written as
// is, any other error as a 500 that is logged but not shown.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error

// Authed wraps h with token authentication for other packages' routes.
func (a *API) Authed(h func(w http.ResponseWriter, r *http.Request, p *auth.Principal) error) http.Handler {
	return a.authed(h)
}

func (a *API) authed(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := auth.BearerToken(r)
		if token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wac"`)
			a.fail(w, r, errorf(http.StatusUnauthorized, "an access token is required (Authorization: Bearer <token>)"))
			return
		}
		p, err := a.auth.Authenticate(r.Context(), token)
		if errors.Is(err, auth.ErrInvalidToken) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wac", error="invalid_token"`)
			a.fail(w, r, errorf(http.StatusUnauthorized, "the access token is invalid or expired"))
			return
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if err := h(w, r, p); err != nil {
			a.fail(w, r, err)
		}
	})
}

// public wraps an unauthenticated handler.
func (a *API) public(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.fail(w, r, err)
		}
	})
}

// Fail writes err as an API error response.
func (a *API) Fail(w http.ResponseWriter, r *http.Request, err error) { a.fail(w, r, err) }

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if errors.As(err, &e) {
		writeJSON(w, e.Status, e)
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The work was cut short (the client left, or the server's
		// shutdown drain ended): never a success. Writes run in
		// transactions, so nothing half done stays behind.
		a.log.Warn("request cancelled before it completed", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, errorf(http.StatusServiceUnavailable,
			"the request was cancelled before it completed (the server is shutting down or the request was abandoned); retry it"))
		return
	}
	a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, errorf(http.StatusInternalServerError, "internal error"))
}

func requireAdmin(p *auth.Principal) error {
	if !p.IsAdmin() {
		return forbidden("this operation needs the admin role")
	}
	return nil
}

// page reads ?offset= and ?limit=.
func page(r *http.Request) (store.Page, error) {
	var p store.Page
	q := r.URL.Query()
	for _, f := range []struct {
		name string
		dst  *int
	}{{"offset", &p.Offset}, {"limit", &p.Limit}} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return p, fieldErr(http.StatusBadRequest, f.name, "must be a non-negative integer")
			}
			*f.dst = n
		}
	}
	if p.Limit > 1000 {
		return p, fieldErr(http.StatusBadRequest, "limit", "must be at most 1000")
	}
	return p, nil
}

// Limits of query parameters: a search's text, and a name or id.
const (
	maxSearch    = 128
	maxQueryName = 255
)

// queryText reads the query parameter name, which must be UTF-8 text
// without control characters and at most max characters long: values that
// are not would fail in the database (PostgreSQL refuses invalid UTF-8 and
// NUL) or cost it dearly (long LIKE patterns), a 500 instead of a 400.
func queryText(r *http.Request, name string, max int) (string, error) {
	v := r.URL.Query().Get(name)
	if !utf8.ValidString(v) {
		return "", fieldErr(http.StatusBadRequest, name, "must be UTF-8 text")
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return "", fieldErr(http.StatusBadRequest, name, "must not contain control characters")
	}
	if n := utf8.RuneCountInString(v); n > max {
		return "", fieldErr(http.StatusBadRequest, name, "must be at most %d characters, not %d", max, n)
	}
	return v, nil
}

// pathID reads an object id from the path.
func pathID(r *http.Request, name, what string) (string, error) {
	id := r.PathValue(name)
	if !store.ValidID(id) {
		return "", notFound(what)
	}
	return id, nil
}

func (a *API) routes() {
	a.Handle("POST /sapi/o/token", a.public(a.token))
	a.Handle("POST /sapi/o/token/", a.public(a.token))
	a.Handle("POST /sapi/o/revoke", a.public(a.revoke))
	a.Handle("GET /sapi/o/authorize", a.public(a.authorize))
	a.Handle("POST /sapi/o/authorize", a.public(a.authorizePost))
	a.Handle("GET /sapi/o/login.css", http.HandlerFunc(a.serveLoginCSS))
	a.Handle("GET /sapi/o/jwks", a.public(a.jwks))
	a.Handle("GET /sapi/o/userinfo", a.authed(a.userinfo))
	a.Handle("POST /sapi/o/userinfo", a.authed(a.userinfo))
	a.Handle("GET /sapi/o/end_session", a.public(a.oidcEndSession))
	a.Handle("POST /sapi/o/end_session", a.public(a.oidcEndSession))
	a.Handle("GET /sapi/o/providers", a.public(a.loginProviders))
	a.Handle("GET /sapi/o/federation/{name}/start", a.public(a.federationStart))
	a.Handle("GET /sapi/o/federation/callback", a.public(a.federationCallback))
	a.Handle("POST /sapi/o/federation/logout", a.authed(a.federationLogout))

	a.Handle("GET /sapi/sipMappings", a.authed(a.listSipMappings))
	a.Handle("POST /sapi/sipMappings", a.authed(a.createSipMapping))
	a.Handle("GET /sapi/sipMappings/{id}", a.authed(a.getSipMapping))
	a.Handle("PUT /sapi/sipMappings/{id}", a.authed(a.updateSipMapping))
	a.Handle("DELETE /sapi/sipMappings/{id}", a.authed(a.deleteSipMapping))
	a.Handle("GET /sapi/providers", a.authed(a.listProviders))
	a.Handle("POST /sapi/providers", a.authed(a.createProvider))
	a.Handle("GET /sapi/providers/{id}", a.authed(a.getProvider))
	a.Handle("PUT /sapi/providers/{id}", a.authed(a.updateProvider))
	a.Handle("DELETE /sapi/providers/{id}", a.authed(a.deleteProvider))

	a.Handle("GET /sapi/domains", a.authed(a.listDomains))
	a.Handle("POST /sapi/domains", a.authed(a.createDomain))
	a.Handle("GET /sapi/domains/{id}", a.authed(a.getDomain))
	a.Handle("PUT /sapi/domains/{id}", a.authed(a.updateDomain))
	a.Handle("DELETE /sapi/domains/{id}", a.authed(a.deleteDomain))

	a.Handle("GET /sapi/users", a.authed(a.listUsers))
	a.Handle("POST /sapi/users", a.authed(a.createUser))
	a.Handle("GET /sapi/users/me", a.authed(a.getMe))
	a.Handle("GET /sapi/users/resolve/{target}", a.authed(a.resolveUser))
	a.Handle("GET /sapi/users/{id}", a.authed(a.getUser))
	a.Handle("PUT /sapi/users/{id}", a.authed(a.updateUser))
	a.Handle("PATCH /sapi/users/{id}", a.authed(a.patchUser))
	a.Handle("DELETE /sapi/users/{id}", a.authed(a.deleteUser))

	a.Handle("GET /sapi/credentials", a.authed(a.listCredentials))
	a.Handle("POST /sapi/credentials", a.authed(a.createCredential))
	a.Handle("GET /sapi/credentials/{id}", a.authed(a.getCredential))
	a.Handle("PUT /sapi/credentials/{id}", a.authed(a.updateCredential))
	a.Handle("DELETE /sapi/credentials/{id}", a.authed(a.deleteCredential))

	a.Handle("GET /sapi/meetings", a.authed(a.listMeetings))
	a.Handle("POST /sapi/meetings", a.authed(a.createMeeting))
	a.Handle("GET /sapi/meetings/{id}", a.authed(a.getMeeting))
	a.Handle("PUT /sapi/meetings/{id}", a.authed(a.updateMeeting))
	a.Handle("DELETE /sapi/meetings/{id}", a.authed(a.deleteMeeting))

	a.Handle("GET /sapi/capabilities", a.authed(a.capabilities))
	a.Handle("GET /sapi/capabilities/", a.authed(a.capabilities))

	a.Handle("POST /sapi/permissions/user/{id}", a.authed(a.setUserPermission))
	a.Handle("GET /sapi/permissions/user/{id}", a.authed(a.getUserPermission))
	a.Handle("POST /sapi/permissions/domain/{id}", a.authed(a.setDomainPermission))
	a.Handle("GET /sapi/permissions/domain/{id}", a.authed(a.getDomainPermission))

	a.Handle("GET /sapi/alarms", a.authed(a.listAlarms))
	a.Handle("GET /sapi/stats", a.authed(a.listStats))

	a.Handle("GET /sapi/clients", a.authed(a.listClients))
	a.Handle("POST /sapi/clients", a.authed(a.createClient))
	a.Handle("DELETE /sapi/clients/{id}", a.authed(a.deleteClient))

	a.Handle("GET /sapi/sessions", a.authed(a.listSessions))
	a.Handle("DELETE /sapi/sessions/{id}", a.authed(a.endSession))

	a.Handle("GET /sapi/pushTokens", a.authed(a.listPushTokens))
	a.Handle("POST /sapi/pushTokens", a.authed(a.createPushToken))
	a.Handle("GET /sapi/pushTokens/{id}", a.authed(a.getPushToken))
	a.Handle("DELETE /sapi/pushTokens/{id}", a.authed(a.deletePushToken))

	a.Handle("GET /sapi/calls", a.authed(a.listCalls))
	a.Handle("GET /sapi/calls/{id}", a.authed(a.getCall))

	a.Handle("GET /sapi/recordings", a.authed(a.listRecordings))
	a.Handle("GET /sapi/recordings/{id}", a.authed(a.getRecording))
	a.Handle("DELETE /sapi/recordings/{id}", a.authed(a.deleteRecording))
	a.Handle("GET /sapi/recordings/{id}/media", a.signedOrAuthed(func(*http.Request) string { return "media" }, a.recordingMedia))
	a.Handle("GET /sapi/recordings/{id}/tracks/{index}", a.signedOrAuthed(func(r *http.Request) string {
		return "tracks/" + r.PathValue("index")
	}, a.recordingTrack))

	a.Handle("GET /sapi/usersGroup", a.authed(a.listGroups))
	a.Handle("POST /sapi/usersGroup", a.authed(a.createGroup))
	a.Handle("DELETE /sapi/usersGroup/participations", a.authed(a.leaveAllGroups))
	a.Handle("GET /sapi/usersGroup/{groupId}", a.authed(a.getGroup))
	a.Handle("PUT /sapi/usersGroup/{groupId}", a.authed(a.updateGroup))
	a.Handle("DELETE /sapi/usersGroup/{groupId}", a.authed(a.deleteGroup))
	a.Handle("POST /sapi/usersGroup/{groupId}/participants", a.authed(a.addGroupParticipants))
	a.Handle("DELETE /sapi/usersGroup/{groupId}/participants", a.authed(a.removeGroupParticipants))
	a.Handle("DELETE /sapi/usersGroup/{groupId}/participations", a.authed(a.clearGroup))
	a.Handle("HEAD /sapi/usersGroup/{groupId}/participants/{userId}", a.authed(a.isGroupParticipant))
	a.Handle("DELETE /sapi/usersGroup/{groupId}/leave", a.authed(a.leaveGroup))

	a.Handle("GET /sapi/openapi.json", http.HandlerFunc(a.serveOpenAPI))
}
