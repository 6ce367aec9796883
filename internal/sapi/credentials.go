package sapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

// credentialJSON is a credential as the seeds show it. A basic credential's
// data is always {}: neither the password nor its hash leaves the server.
// Secret fields of other credentials are shown only to the user who uses
// them (the owner, or the anonymous session holding a pool credential).
type credentialJSON struct {
	ID      string         `json:"id"`
	Source  string         `json:"source"`
	Type    string         `json:"type"`
	Context map[string]any `json:"context"`
	Domain  string         `json:"domain"`
	User    *string        `json:"user"`
	Data    map[string]any `json:"data"`
	Lease   int64          `json:"lease"`
	Holder  *string        `json:"holder,omitempty"`
	Created int64          `json:"created"`
	Updated int64          `json:"updated"`
}

// credentialBody is what POST and PUT accept, with the seeds' fields.
type credentialBody struct {
	ID      string         `json:"id"`
	Source  *string        `json:"source"`
	Type    *string        `json:"type"`
	Context map[string]any `json:"context"`
	Domain  *string        `json:"domain"`
	User    *string        `json:"user"`
	Data    map[string]any `json:"data"`
	Lease   *int64         `json:"lease"`
	Holder  *string        `json:"holder"`
	Created int64          `json:"created"`
	Updated int64          `json:"updated"`
}

var credentialType = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// secretKeys are redacted from credential data for everyone but its user.
var secretKeys = []string{"password", "credential", "secret", "token", "hash", "sealed"}

func (a *API) credentialJSON(ctx context.Context, names domainNames, p *auth.Principal, c *store.Credential) (*credentialJSON, error) {
	dn, err := a.domainName(ctx, names, c.DomainID)
	if err != nil {
		return nil, err
	}
	out := &credentialJSON{ID: c.ID, Source: c.Source, Type: c.Type, Context: c.Context, Domain: dn,
		Lease: c.Lease, Created: c.Created, Updated: c.Updated, Data: map[string]any{}}
	if out.Context == nil {
		out.Context = map[string]any{}
	}
	if c.UserID != "" {
		out.User = &c.UserID
	}
	if c.HolderID != "" {
		out.Holder = &c.HolderID
	}
	if c.Type == "basic" {
		return out, nil
	}
	user := p.UserID != "" && (p.UserID == c.UserID || p.UserID == c.HolderID)
	for k, v := range c.Data {
		out.Data[k] = v
	}
	if !user {
		redact(out.Data)
	}
	return out, nil
}

// redact replaces secrets in credential data, including inside lists of
// objects such as ims iceserver entries.
func redact(m map[string]any) {
	for k, v := range m {
		switch vv := v.(type) {
		case map[string]any:
			redact(vv)
		case []any:
			for _, item := range vv {
				if obj, ok := item.(map[string]any); ok {
					redact(obj)
				}
			}
		default:
			for _, s := range secretKeys {
				if k == s {
					m[k] = "********"
				}
			}
		}
	}
}

// visibleCredential loads the credential of the path if p may see it.
func (a *API) visibleCredential(r *http.Request, p *auth.Principal) (*store.Credential, error) {
	id, err := pathID(r, "id", "credential")
	if err != nil {
		return nil, err
	}
	c, err := a.st.GetCredential(r.Context(), id)
	if err != nil {
		return nil, storeErr(err, "credential")
	}
	if p.IsAdmin() {
		scope, err := a.auth.Scope(r.Context(), p)
		if err != nil {
			return nil, err
		}
		if auth.InScope(scope, c.DomainID) {
			return c, nil
		}
	}
	if p.UserID != "" && (c.UserID == p.UserID || c.HolderID == p.UserID) {
		return c, nil
	}
	return nil, notFound("credential")
}

func (a *API) listCredentials(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	var domains []string
	userID, err := queryText(r, "user", maxQueryName)
	if err != nil {
		return err
	}
	if p.IsAdmin() {
		if domains, err = a.auth.Scope(r.Context(), p); err != nil {
			return err
		}
	} else {
		domains, userID = []string{p.DomainID}, p.UserID
		if userID == "" {
			domains = []string{}
		}
	}
	list, err := a.st.ListCredentials(r.Context(), domains, userID, pg)
	if err != nil {
		return err
	}
	return writeList(w, list, func(names domainNames, c *store.Credential) (*credentialJSON, error) {
		return a.credentialJSON(r.Context(), names, p, c)
	})
}

func (a *API) getCredential(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := a.visibleCredential(r, p)
	if err != nil {
		return err
	}
	j, err := a.credentialJSON(r.Context(), domainNames{}, p, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// applyCredentialBody validates body onto c (a new one when c.ID is "").
func (a *API) applyCredentialBody(ctx context.Context, p *auth.Principal, body *credentialBody, c *store.Credential) error {
	scope, err := a.auth.Scope(ctx, p)
	if err != nil {
		return err
	}
	c.Source = "wac"
	if body.Source != nil && *body.Source != "" {
		c.Source = *body.Source
	}
	if body.Type == nil || *body.Type == "" {
		return required("type")
	}
	if !credentialType.MatchString(*body.Type) {
		return invalid("type", "%q is not a credential type (basic, ims, ...)", *body.Type)
	}
	if c.ID != "" && *body.Type != c.Type {
		return invalid("type", "cannot change from %q to %q; create a new credential", c.Type, *body.Type)
	}
	c.Type = *body.Type
	c.Context = body.Context
	var user *store.User
	if body.User != nil && *body.User != "" {
		u, err := a.st.GetUser(ctx, *body.User)
		if !store.ValidID(*body.User) || errors.Is(err, store.ErrNotFound) || err == nil && !auth.InScope(scope, u.DomainID) {
			return invalid("user", "user %q does not exist", *body.User)
		}
		if err != nil {
			return err
		}
		user = u
		c.UserID = u.ID
	} else {
		c.UserID = ""
	}
	switch {
	case body.Domain != nil && *body.Domain != "":
		d, err := a.findDomain(ctx, *body.Domain)
		if errors.Is(err, store.ErrNotFound) || err == nil && !auth.InScope(scope, d.ID) {
			return invalid("domain", "domain %q does not exist", *body.Domain)
		}
		if err != nil {
			return err
		}
		c.DomainID = d.ID
	case user != nil:
		c.DomainID = user.DomainID
	case c.DomainID == "":
		c.DomainID = p.DomainID
	}
	if user != nil && user.DomainID != c.DomainID {
		return invalid("domain", "the user belongs to another domain")
	}
	c.Lease = 0
	if body.Lease != nil {
		if *body.Lease < 0 {
			return invalid("lease", "must not be negative")
		}
		c.Lease = *body.Lease
	}
	switch c.Type {
	case "basic":
		if user == nil {
			return required("user")
		}
		pw, ok := body.Data["password"].(string)
		if _, present := body.Data["password"]; present && !ok {
			return fieldErr(http.StatusBadRequest, "data.password", "must be a string")
		}
		if !ok || pw == "" {
			return required("data.password")
		}
		if err := a.checkPassword("data.password", pw); err != nil {
			return err
		}
		hash, err := a.auth.Hasher().Hash(ctx, pw)
		if err != nil {
			return err
		}
		c.Data = map[string]any{"hash": hash}
	case "ims":
		if err := validateIMS(body.Data); err != nil {
			return err
		}
		c.Data = body.Data
	default:
		c.Data = body.Data
	}
	return nil
}

// validateIMS checks the seeds' ims data fields.
func validateIMS(data map[string]any) error {
	if data == nil {
		return required("data")
	}
	for _, k := range []string{"username", "userauthname", "password", "authserver"} {
		if v, ok := data[k]; ok {
			if _, isStr := v.(string); !isStr {
				return fieldErr(http.StatusBadRequest, "data."+k, "must be a string")
			}
		}
	}
	if s, _ := data["username"].(string); s == "" {
		return required("data.username")
	}
	if v, ok := data["iceserver"]; ok {
		list, isList := v.([]any)
		if !isList {
			return fieldErr(http.StatusBadRequest, "data.iceserver", "must be an array of ICE servers")
		}
		for _, item := range list {
			obj, isObj := item.(map[string]any)
			if !isObj {
				return fieldErr(http.StatusBadRequest, "data.iceserver", "must be an array of objects with urls")
			}
			if _, ok := obj["urls"]; !ok {
				return required("data.iceserver.urls")
			}
		}
	}
	return nil
}

func (a *API) createCredential(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	var body credentialBody
	if err := decode(r, &body); err != nil {
		return err
	}
	c := &store.Credential{}
	if err := a.applyCredentialBody(r.Context(), p, &body, c); err != nil {
		return err
	}
	if err := a.st.CreateCredential(r.Context(), c); err != nil {
		return storeErr(err, "credential")
	}
	a.log.Info("credential created", "type", c.Type, "id", c.ID, "user", c.UserID, "by", p.Username)
	j, err := a.credentialJSON(r.Context(), domainNames{}, p, c)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/sapi/credentials/"+c.ID)
	writeJSON(w, http.StatusCreated, j)
	return nil
}

// updateCredential replaces a credential. Admins update any in scope; a
// user may change the password of their own basic credential by giving
// data.currentPassword too. A new password ends the user's other sessions.
func (a *API) updateCredential(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	c, err := a.visibleCredential(r, p)
	if err != nil {
		return err
	}
	var body credentialBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if !p.IsAdmin() {
		if c.Type != "basic" || c.UserID != p.UserID {
			return forbidden("users may only change their own password")
		}
		current, _ := body.Data["currentPassword"].(string)
		if current == "" {
			return required("data.currentPassword")
		}
		hash, _ := c.Data["hash"].(string)
		ok, err := a.auth.Hasher().Verify(r.Context(), hash, current)
		if err != nil && !errors.Is(err, auth.ErrBadHash) {
			return err
		}
		if !ok {
			return fieldErr(http.StatusForbidden, "data.currentPassword", "is not your current password")
		}
		delete(body.Data, "currentPassword")
		if body.User == nil {
			body.User = &c.UserID
		}
		if body.User == nil || *body.User != c.UserID {
			return fieldErr(http.StatusForbidden, "user", "cannot move a credential to another user")
		}
	}
	if body.Type == nil {
		body.Type = &c.Type
	}
	oldUser := c.UserID
	if err := a.applyCredentialBody(r.Context(), p, &body, c); err != nil {
		return err
	}
	if err := a.st.UpdateCredential(r.Context(), c); err != nil {
		return storeErr(err, "credential")
	}
	if c.Type == "basic" {
		if err := a.revokeForPassword(r.Context(), p, c.UserID, oldUser); err != nil {
			return err
		}
	}
	j, err := a.credentialJSON(r.Context(), domainNames{}, p, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// revokeTimeout bounds the revocations that follow a committed password
// change.
const revokeTimeout = 10 * time.Second

// revokeForPassword ends the sessions a password change leaves behind: the
// user's other grants (all of them when an admin changed it), and the
// grants of oldUser when the credential moved away from them. The change is
// committed already, so this runs to its end even if the request is
// cancelled now (the client left, or the shutdown drain ended): a new
// password must never leave the old sessions alive.
func (a *API) revokeForPassword(ctx context.Context, p *auth.Principal, user, oldUser string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
	defer cancel()
	var err error
	if p.UserID == user {
		err = a.auth.RevokeOtherGrants(ctx, user, p.GrantID, "password changed")
	} else {
		err = a.auth.RevokeUser(ctx, user, "password changed")
	}
	if err != nil {
		return fmt.Errorf("revoke the grants of user %s after a password change: %w", user, err)
	}
	if oldUser != "" && oldUser != user {
		if err := a.auth.RevokeUser(ctx, oldUser, "password removed"); err != nil {
			return fmt.Errorf("revoke the grants of user %s after its password moved: %w", oldUser, err)
		}
	}
	return nil
}

func (a *API) deleteCredential(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	c, err := a.visibleCredential(r, p)
	if err != nil {
		return err
	}
	if err := a.st.DeleteCredential(r.Context(), c.ID); err != nil {
		return storeErr(err, "credential")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
