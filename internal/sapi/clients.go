package sapi

import (
	"errors"
	"net/http"
	"strings"
	"unicode"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

// clientJSON is a registered OAuth2 client. The secret is shown once, in
// the answer to its creation.
type clientJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Domain  string `json:"domain"`
	Role    string `json:"role"`
	Secret  string `json:"client_secret,omitempty"`
	Created int64  `json:"created"`
}

type clientBody struct {
	Name   *string `json:"name"`
	Domain *string `json:"domain"`
	Role   *string `json:"role"`
}

func (a *API) listClients(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return err
	}
	list, err := a.st.ListClients(r.Context(), scope)
	if err != nil {
		return err
	}
	names := domainNames{}
	out := make([]clientJSON, 0, len(list))
	for _, c := range list {
		dn, err := a.domainName(r.Context(), names, c.DomainID)
		if err != nil {
			return err
		}
		out = append(out, clientJSON{ID: c.ID, Name: c.Name, Domain: dn, Role: c.Role, Created: c.Created})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createClient registers a client for the client_credentials grant. Its
// tokens act with the given role (admin or user) in the given domain.
func (a *API) createClient(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	var body clientBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Name == nil || strings.TrimSpace(*body.Name) == "" {
		return required("name")
	}
	if len(*body.Name) > 128 {
		return invalid("name", "must be at most 128 characters")
	}
	if strings.ContainsFunc(*body.Name, unicode.IsControl) {
		return invalid("name", "must not contain control characters")
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return err
	}
	c := &store.Client{Name: strings.TrimSpace(*body.Name), DomainID: p.DomainID, Role: store.RoleUser}
	if body.Domain != nil && *body.Domain != "" {
		d, err := a.findDomain(r.Context(), *body.Domain)
		if errors.Is(err, store.ErrNotFound) || err == nil && !auth.InScope(scope, d.ID) {
			return invalid("domain", "domain %q does not exist", *body.Domain)
		}
		if err != nil {
			return err
		}
		c.DomainID = d.ID
	}
	if body.Role != nil {
		if *body.Role != store.RoleAdmin && *body.Role != store.RoleUser {
			return invalid("role", "%q is not admin or user", *body.Role)
		}
		c.Role = *body.Role
	}
	secret, hash := auth.NewClientSecret()
	c.SecretHash = hash
	if err := a.st.CreateClient(r.Context(), c); err != nil {
		return storeErr(err, "client")
	}
	dn, err := a.domainName(r.Context(), domainNames{}, c.DomainID)
	if err != nil {
		return err
	}
	a.log.Info("oauth2 client created", "client", c.ID, "name", c.Name, "by", p.Username)
	w.Header().Set("Location", "/sapi/clients/"+c.ID)
	writeJSON(w, http.StatusCreated, clientJSON{ID: c.ID, Name: c.Name, Domain: dn, Role: c.Role, Secret: secret, Created: c.Created})
	return nil
}

func (a *API) deleteClient(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	id, err := pathID(r, "id", "client")
	if err != nil {
		return err
	}
	c, err := a.st.GetClient(r.Context(), id)
	if err != nil {
		return storeErr(err, "client")
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return err
	}
	if !auth.InScope(scope, c.DomainID) {
		return notFound("client")
	}
	// Its tokens end at once on every node, not when their cache entries
	// expire; they go with the client in one transaction, as a user's do.
	var hashes []string
	err = a.st.InTx(r.Context(), func(tx store.Store) error {
		var err error
		if hashes, err = tx.DeleteClientTokens(r.Context(), id); err != nil {
			return err
		}
		return tx.DeleteClient(r.Context(), id)
	})
	if err != nil {
		return storeErr(err, "client")
	}
	a.auth.Announce(auth.Revocation{Hashes: hashes, Reason: "client deleted"})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
