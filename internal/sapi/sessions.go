package sapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

// SessionDirectory is what the API needs of signaling: the live sessions
// (devices) of users, wherever they are connected, and a way to end one.
type SessionDirectory interface {
	// ListSessions returns the sessions of the users (nil = everyone) as
	// JSON objects with at least "id", "user" and "domainId".
	ListSessions(ctx context.Context, userIDs []string) ([]json.RawMessage, error)
	EndSession(ctx context.Context, userID, sessionID, reason string) error
}

// SetSessions connects the API to signaling's session directory.
func (a *API) SetSessions(d SessionDirectory) { a.sessions = d }

type sessionHead struct {
	ID       string `json:"id"`
	User     string `json:"user"`
	DomainID string `json:"domainId"`
}

// visibleSessions lists the sessions p may see: admins those of their
// scope (optionally of one user), users their own.
func (a *API) visibleSessions(r *http.Request, p *auth.Principal) ([]json.RawMessage, []sessionHead, error) {
	if a.sessions == nil {
		return nil, nil, errorf(http.StatusNotImplemented, "this node does not run signaling")
	}
	u, err := queryText(r, "user", maxQueryName)
	if err != nil {
		return nil, nil, err
	}
	var users []string
	if u != "" {
		users = []string{u}
	}
	var scope []string
	if p.IsAdmin() {
		if scope, err = a.auth.Scope(r.Context(), p); err != nil {
			return nil, nil, err
		}
	} else {
		if p.UserID == "" {
			return nil, nil, forbidden("clients have no sessions")
		}
		users, scope = []string{p.UserID}, []string{p.DomainID}
	}
	list, err := a.sessions.ListSessions(r.Context(), users)
	if err != nil {
		return nil, nil, err
	}
	var out []json.RawMessage
	var heads []sessionHead
	for _, raw := range list {
		var h sessionHead
		if json.Unmarshal(raw, &h) != nil || !auth.InScope(scope, h.DomainID) {
			continue
		}
		out = append(out, raw)
		heads = append(heads, h)
	}
	return out, heads, nil
}

// listSessions is GET /sapi/sessions: live signaling sessions (devices).
func (a *API) listSessions(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	list, _, err := a.visibleSessions(r, p)
	if err != nil {
		return err
	}
	if list == nil {
		list = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// endSession is DELETE /sapi/sessions/{id}: the session is told why and closed.
func (a *API) endSession(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		return notFound("session")
	}
	_, heads, err := a.visibleSessions(r, p)
	if err != nil {
		return err
	}
	for _, h := range heads {
		if h.ID == id {
			reason := "ended by " + p.Username
			if err := a.sessions.EndSession(r.Context(), h.User, id, reason); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	return notFound("session")
}
