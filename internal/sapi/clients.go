package sapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

// clientJSON is a registered OAuth2 client. The secret is shown once, in
// the answer to its creation.
type clientJSON struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	Domain                 string   `json:"domain"`
	Role                   string   `json:"role"`
	Secret                 string   `json:"client_secret,omitempty"`
	Created                int64    `json:"created"`
	RedirectURIs           []string `json:"redirectUris"`
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris"`
	GrantTypes             []string `json:"grantTypes"`
	Scopes                 []string `json:"scopes"`
	Public                 bool     `json:"public"`
}

type clientBody struct {
	Name                   *string  `json:"name"`
	Domain                 *string  `json:"domain"`
	Role                   *string  `json:"role"`
	RedirectURIs           []string `json:"redirectUris"`
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris"`
	GrantTypes             []string `json:"grantTypes"`
	Scopes                 []string `json:"scopes"`
	Public                 bool     `json:"public"`
}

func toClientJSON(c *store.Client, domain, secret string) clientJSON {
	return clientJSON{ID: c.ID, Name: c.Name, Domain: domain, Role: c.Role, Secret: secret, Created: c.Created,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), Public: c.Public}
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
		out = append(out, toClientJSON(c, dn, ""))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createClient registers a client: a service of the client_credentials
// grant, whose tokens act with the given role (admin or user) in the given
// domain, or an application that logs users in (authorization_code), with
// its redirect URIs.
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
	if err := checkClientFlows(&body, c); err != nil {
		return err
	}
	secret := ""
	if !c.Public {
		secret, c.SecretHash = auth.NewClientSecret()
	}
	if err := a.st.CreateClient(r.Context(), c); err != nil {
		return storeErr(err, "client")
	}
	dn, err := a.domainName(r.Context(), domainNames{}, c.DomainID)
	if err != nil {
		return err
	}
	a.log.Info("oauth2 client created", "client", c.ID, "name", c.Name, "by", p.Username)
	w.Header().Set("Location", "/sapi/clients/"+c.ID)
	writeJSON(w, http.StatusCreated, toClientJSON(c, dn, secret))
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

// Limits of a client's lists.
const (
	maxRedirectURIs  = 20
	maxRedirectBytes = 2000
)

// checkClientFlows validates the grant types, redirect URIs and scopes of
// a new client and sets them on c. Without grantTypes, a client with
// redirect URIs gets authorization_code and refresh_token, one without
// gets client_credentials. The implicit grant (legacy) is only had by
// asking for it.
func checkClientFlows(body *clientBody, c *store.Client) error {
	c.Public = body.Public
	grants := body.GrantTypes
	if grants == nil {
		grants = []string{auth.GrantClientCredentials}
		if len(body.RedirectURIs) > 0 {
			grants = []string{auth.GrantAuthorizationCode, auth.GrantRefreshToken}
		}
	}
	seen := map[string]bool{}
	for _, g := range grants {
		switch g {
		case auth.GrantClientCredentials, auth.GrantAuthorizationCode, auth.GrantRefreshToken, auth.GrantImplicit:
		default:
			return invalid("grantTypes", "%q is not client_credentials, authorization_code, refresh_token or implicit", g)
		}
		if seen[g] {
			return invalid("grantTypes", "%q is listed twice", g)
		}
		seen[g] = true
	}
	if len(grants) == 0 {
		return invalid("grantTypes", "must name at least one grant type")
	}
	if c.Public && seen[auth.GrantClientCredentials] {
		return invalid("grantTypes", "a public client has no secret, so it cannot use client_credentials")
	}
	if (seen[auth.GrantAuthorizationCode] || seen[auth.GrantImplicit]) && len(body.RedirectURIs) == 0 {
		return required("redirectUris")
	}
	if seen[auth.GrantRefreshToken] && !seen[auth.GrantAuthorizationCode] {
		return invalid("grantTypes", "refresh_token goes with authorization_code")
	}
	for _, f := range []struct {
		name string
		list []string
	}{{"redirectUris", body.RedirectURIs}, {"postLogoutRedirectUris", body.PostLogoutRedirectURIs}} {
		if len(f.list) > maxRedirectURIs {
			return invalid(f.name, "at most %d URIs", maxRedirectURIs)
		}
		for _, u := range f.list {
			if err := checkRedirectURI(u); err != "" {
				return invalid(f.name, "%q %s", clipLog(u), err)
			}
		}
	}
	for _, sc := range body.Scopes {
		if !containsString(auth.DefaultScopes, sc) {
			return invalid("scopes", "%q is not one of %s", sc, strings.Join(auth.DefaultScopes, ", "))
		}
	}
	c.GrantTypes, c.RedirectURIs, c.PostLogoutRedirectURIs, c.Scopes = grants, body.RedirectURIs, body.PostLogoutRedirectURIs, body.Scopes
	return nil
}

// checkRedirectURI says what is wrong with a redirect URI ("" if nothing):
// an absolute URL without fragment, https, or http on the loopback
// interface only (apps on the user's machine), or an app's own scheme
// (com.example.app:/callback, with a dot, as RFC 8252 asks).
func checkRedirectURI(raw string) string {
	if len(raw) > maxRedirectBytes {
		return fmt.Sprintf("is longer than %d bytes", maxRedirectBytes)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return "is not an absolute URI"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not have a fragment"
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return "has no host"
		}
	case "http":
		if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" && h != "::1" {
			return "must be https (http only for localhost, 127.0.0.1 and [::1])"
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return "must be https, http on loopback, or an app's reverse-DNS scheme (com.example.app:/callback)"
		}
	}
	return ""
}
