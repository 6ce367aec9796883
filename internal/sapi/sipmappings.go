package sapi

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

// sipMappingJSON is a SIP mapping as the API shows it (the seeds'
// sipMappings): the password is never shown, only whether one is set.
type sipMappingJSON struct {
	ID         string            `json:"id"`
	OwnerURI   string            `json:"ownerUri"`
	Domain     string            `json:"domain"`
	Credential sipCredentialJSON `json:"credential"`
	Created    int64             `json:"created"`
	Updated    int64             `json:"updated"`
	// Dynamic: an anonymous user's identity, made on request
	// (sipmappings.dynamicMappingPrefix); it has no id and is not stored.
	Dynamic bool `json:"dynamic,omitempty"`
}

type sipCredentialJSON struct {
	Username    string `json:"username"`
	PasswordSet bool   `json:"passwordSet"`
}

// sipMappingBody is what POST and PUT accept.
type sipMappingBody struct {
	ID         string `json:"id"`
	OwnerURI   string `json:"ownerUri"`
	Credential *struct {
		Username string  `json:"username"`
		Password *string `json:"password"`
	} `json:"credential"`
}

// sipUsernamePattern is what a SIP username (the user part the trunk
// knows the owner by: a number, an extension) may hold.
var sipUsernamePattern = regexp.MustCompile(`^[A-Za-z0-9+*#._-]{1,64}$`)

// maxSipPassword bounds a SIP mapping's password.
const maxSipPassword = 128

func sipOwnerURI(m *store.SipMapping) string {
	if m.OwnerType == store.SipOwnerGroup {
		return "wac-group:" + m.OwnerID
	}
	return "wac-user:" + m.OwnerID
}

func (a *API) sipMappingJSON(ctx context.Context, names domainNames, m *store.SipMapping) (*sipMappingJSON, error) {
	dn, err := a.domainName(ctx, names, m.DomainID)
	if err != nil {
		return nil, err
	}
	return &sipMappingJSON{ID: m.ID, OwnerURI: sipOwnerURI(m), Domain: dn,
		Credential: sipCredentialJSON{Username: m.Username, PasswordSet: m.Password != ""},
		Created:    m.Created, Updated: m.Updated, Dynamic: m.Dynamic}, nil
}

// sipMappingInScope loads the mapping of the path if the admin p may see it.
func (a *API) sipMappingInScope(r *http.Request, p *auth.Principal) (*store.SipMapping, []string, error) {
	if err := requireAdmin(p); err != nil {
		return nil, nil, err
	}
	id, err := pathID(r, "id", "SIP mapping")
	if err != nil {
		return nil, nil, err
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return nil, nil, err
	}
	m, err := a.st.GetSipMapping(r.Context(), id)
	if err != nil {
		return nil, nil, storeErr(err, "SIP mapping")
	}
	if !auth.InScope(scope, m.DomainID) {
		return nil, nil, notFound("SIP mapping")
	}
	return m, scope, nil
}

// sipOwner resolves an ownerUri (wac-user:<id> or wac-group:<id>) to its
// type, id and domain; an owner outside the admin's scope does not exist.
func (a *API) sipOwner(ctx context.Context, scope []string, uri string) (kind, id, domainID string, err error) {
	prefix, id, ok := strings.Cut(uri, ":")
	if !ok || !store.ValidID(id) {
		return "", "", "", invalid("ownerUri", "%q is not wac-user:<id> or wac-group:<id>", truncate(uri, 80))
	}
	switch prefix {
	case "wac-user":
		u, err := a.st.GetUser(ctx, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && (!auth.InScope(scope, u.DomainID) || u.Role == store.RoleAnonymous) {
			return "", "", "", invalid("ownerUri", "user %s does not exist", id)
		}
		if err != nil {
			return "", "", "", err
		}
		return store.SipOwnerUser, id, u.DomainID, nil
	case "wac-group":
		g, err := a.st.GetGroup(ctx, id)
		if errors.Is(err, store.ErrNotFound) || err == nil && !auth.InScope(scope, g.DomainID) {
			return "", "", "", invalid("ownerUri", "group %s does not exist", id)
		}
		if err != nil {
			return "", "", "", err
		}
		return store.SipOwnerGroup, id, g.DomainID, nil
	}
	return "", "", "", invalid("ownerUri", "%q is not wac-user:<id> or wac-group:<id>", truncate(uri, 80))
}

// dynamicSipMapping is the dynamic mapping of the anonymous user owner
// names (wac-user:<id>, in scope), where sipmappings.dynamicMappingPrefix
// is set; nil otherwise.
func (a *API) dynamicSipMapping(ctx context.Context, scope []string, owner string) *store.SipMapping {
	prefix := a.cfg.SipMappings.DynamicMappingPrefix
	id, ok := strings.CutPrefix(owner, "wac-user:")
	if prefix == "" || !ok || !store.ValidID(id) {
		return nil
	}
	u, err := a.st.GetUser(ctx, id)
	if err != nil || !auth.InScope(scope, u.DomainID) {
		return nil
	}
	return store.DynamicSipMapping(prefix, u)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// readSipMapping decodes and checks a body into m (a new mapping, or the
// stored one for PUT: a PUT without a password keeps the stored one).
func (a *API) readSipMapping(r *http.Request, scope []string, m *store.SipMapping) error {
	var body sipMappingBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.OwnerURI == "" {
		return required("ownerUri")
	}
	if body.Credential == nil || body.Credential.Username == "" {
		return required("credential.username")
	}
	if !sipUsernamePattern.MatchString(body.Credential.Username) {
		return invalid("credential.username", "%q must be 1-64 letters, digits or + * # . _ -", truncate(body.Credential.Username, 80))
	}
	if p := a.cfg.SipMappings.DynamicMappingPrefix; p != "" && strings.HasPrefix(body.Credential.Username, p) {
		// Such a username would be taken for an anonymous user's.
		return invalid("credential.username", "%q starts with %q, the prefix of anonymous users' identities (sipmappings.dynamicMappingPrefix)",
			truncate(body.Credential.Username, 80), p)
	}
	kind, id, domainID, err := a.sipOwner(r.Context(), scope, body.OwnerURI)
	if err != nil {
		return err
	}
	if m.ID == "" {
		m.ID = store.NewID()
	}
	m.OwnerType, m.OwnerID, m.DomainID, m.Username = kind, id, domainID, body.Credential.Username
	if pw := body.Credential.Password; pw != nil {
		switch {
		case len(*pw) > maxSipPassword:
			return invalid("credential.password", "is longer than %d bytes", maxSipPassword)
		case *pw == "":
			m.Password = ""
		case a.sipSealer == nil:
			return errorf(http.StatusServiceUnavailable, "SIP passwords cannot be sealed on this node")
		default:
			m.Password = a.sipSealer.Seal([]byte(*pw), "sip-mapping:"+m.ID)
		}
	}
	return nil
}

func (a *API) listSipMappings(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
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
	var list []*store.SipMapping
	owner := r.URL.Query().Get("ownerUri")
	if m := a.dynamicSipMapping(r.Context(), scope, owner); m != nil {
		// An anonymous user's mapping, made on request.
		list = append(list, m)
	} else if owner != "" {
		// The seeds' GET /sipMappings: the mapping of one owner.
		kind, id, _, err := a.sipOwner(r.Context(), scope, owner)
		if err != nil {
			return err
		}
		m, err := a.st.SipMappingByOwner(r.Context(), kind, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if m != nil {
			list = append(list, m)
		}
	} else if list, err = a.st.ListSipMappings(r.Context(), scope, pg); err != nil {
		return err
	}
	return writeList(w, list, func(names domainNames, m *store.SipMapping) (*sipMappingJSON, error) {
		return a.sipMappingJSON(r.Context(), names, m)
	})
}

func (a *API) createSipMapping(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return err
	}
	var m store.SipMapping
	if err := a.readSipMapping(r, scope, &m); err != nil {
		return err
	}
	a.log.Info("Trying to add mapping with data: "+sipOwnerURI(&m)+" as "+m.Username, "by", p.Username)
	if err := a.st.CreateSipMapping(r.Context(), &m); err != nil {
		return storeErr(err, "SIP mapping")
	}
	j, err := a.sipMappingJSON(r.Context(), domainNames{}, &m)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/sapi/sipMappings/"+m.ID)
	writeJSON(w, http.StatusCreated, j)
	return nil
}

func (a *API) getSipMapping(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	m, _, err := a.sipMappingInScope(r, p)
	if err != nil {
		return err
	}
	j, err := a.sipMappingJSON(r.Context(), domainNames{}, m)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (a *API) updateSipMapping(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	m, scope, err := a.sipMappingInScope(r, p)
	if err != nil {
		return err
	}
	if err := a.readSipMapping(r, scope, m); err != nil {
		return err
	}
	a.log.Info("Trying to update mapping with data "+sipOwnerURI(m)+" as "+m.Username, "mapping", m.ID, "by", p.Username)
	if err := a.st.UpdateSipMapping(r.Context(), m); err != nil {
		return storeErr(err, "SIP mapping")
	}
	j, err := a.sipMappingJSON(r.Context(), domainNames{}, m)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (a *API) deleteSipMapping(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	m, _, err := a.sipMappingInScope(r, p)
	if err != nil {
		return err
	}
	if err := a.st.DeleteSipMapping(r.Context(), m.ID); err != nil {
		return storeErr(err, "SIP mapping")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
