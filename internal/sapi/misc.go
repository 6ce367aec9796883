package sapi

import (
	"net/http"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

// capabilities is GET /sapi/capabilities: the caller's capabilities.
func (a *API) capabilities(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	caps, err := a.auth.Capabilities(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, caps)
	return nil
}

// permissionJSON is the body of the permissions endpoints.
type permissionJSON struct {
	ReceiveCalls *struct {
		Enabled *bool `json:"enabled"`
	} `json:"receiveCalls"`
}

type permissionOut struct {
	ReceiveCalls struct {
		Enabled bool `json:"enabled"`
		// Inherited is true when no switch is set here and the value comes
		// from the domain (or the default, enabled).
		Inherited bool `json:"inherited"`
	} `json:"receiveCalls"`
}

func (a *API) setUserPermission(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	u, err := a.visibleUser(r, p)
	if err != nil {
		return err
	}
	return a.setPermission(w, r, "user", u.ID)
}

func (a *API) setDomainPermission(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	d, err := a.scopedDomain(r, p)
	if err != nil {
		return err
	}
	return a.setPermission(w, r, "domain", d.ID)
}

func (a *API) setPermission(w http.ResponseWriter, r *http.Request, scope, id string) error {
	var body permissionJSON
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.ReceiveCalls == nil {
		return required("receiveCalls")
	}
	if body.ReceiveCalls.Enabled == nil {
		return required("receiveCalls.enabled")
	}
	perm := &store.Permission{Scope: scope, TargetID: id, Name: auth.PermissionReceiveCalls, Enabled: *body.ReceiveCalls.Enabled}
	if err := a.st.SetPermission(r.Context(), perm); err != nil {
		return err
	}
	a.auth.InvalidatePermissions()
	var out permissionOut
	out.ReceiveCalls.Enabled = perm.Enabled
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// getUserPermission answers the user's effective receiveCalls: the user's
// own switch, else the domain's, else enabled.
func (a *API) getUserPermission(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	u, err := a.visibleUser(r, p)
	if err != nil {
		return err
	}
	if !p.IsAdmin() && u.ID != p.UserID {
		return notFound("user")
	}
	enabled, err := a.auth.Permission(r.Context(), auth.PermissionReceiveCalls, u.ID, u.DomainID)
	if err != nil {
		return err
	}
	_, ownErr := a.st.GetPermission(r.Context(), "user", u.ID, auth.PermissionReceiveCalls)
	var out permissionOut
	out.ReceiveCalls.Enabled = enabled
	out.ReceiveCalls.Inherited = ownErr != nil
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getDomainPermission(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	d, err := a.scopedDomain(r, p)
	if err != nil {
		return err
	}
	chain, err := a.auth.DomainChain(r.Context(), d.ID)
	if err != nil {
		return err
	}
	var out permissionOut
	out.ReceiveCalls.Enabled, out.ReceiveCalls.Inherited = true, true
	for i, dd := range chain {
		perm, err := a.st.GetPermission(r.Context(), "domain", dd.ID, auth.PermissionReceiveCalls)
		if err == nil {
			out.ReceiveCalls.Enabled, out.ReceiveCalls.Inherited = perm.Enabled, i > 0
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type alarmJSON struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	Domain  string         `json:"domain"`
	User    string         `json:"user"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data"`
	Created int64          `json:"created"`
}

// listAlarms is GET /sapi/alarms for admins, newest first.
func (a *API) listAlarms(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return err
	}
	list, err := a.st.ListAlarms(r.Context(), scope, pg)
	if err != nil {
		return err
	}
	out := make([]alarmJSON, 0, len(list))
	for _, al := range list {
		out = append(out, alarmJSON{ID: al.ID, Type: al.Type, Domain: al.DomainID, User: al.UserID,
			Message: al.Message, Data: al.Data, Created: al.Created})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type statJSON struct {
	ID      string         `json:"id"`
	Service string         `json:"service"`
	Type    string         `json:"type"`
	Domain  string         `json:"domain"`
	User    string         `json:"user"`
	Data    map[string]any `json:"data"`
	Created int64          `json:"created"`
}

// listStats is GET /sapi/stats?service= for admins, newest first.
func (a *API) listStats(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return err
	}
	service, err := queryText(r, "service", maxQueryName)
	if err != nil {
		return err
	}
	list, err := a.st.ListStats(r.Context(), scope, service, pg)
	if err != nil {
		return err
	}
	out := make([]statJSON, 0, len(list))
	for _, s := range list {
		out = append(out, statJSON{ID: s.ID, Service: s.Service, Type: s.Type, Domain: s.DomainID, User: s.UserID,
			Data: s.Data, Created: s.Created})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
