package sapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/auth/federation"
	"github.com/openwac/wac/internal/store"
)

// flowCookie carries a login at an external provider from its start to the
// callback, sealed.
const flowCookie = "wac_fed"

// SetFederation enables logins through external providers.
func (a *API) SetFederation(f *federation.Federation) { a.fed = f }

// publicBase is this server's URL as browsers see it: wiface.public's
// public_secure or public, else the request's scheme and host.
func (a *API) publicBase(r *http.Request) string {
	if u := a.cfg.Wiface.Public.PublicSecure; u != "" {
		return strings.TrimSuffix(u, "/")
	}
	if u := a.cfg.Wiface.Public.Public; u != "" {
		return strings.TrimSuffix(u, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (a *API) callbackURL(r *http.Request) string {
	return a.publicBase(r) + "/sapi/o/federation/callback"
}

// safeReturn keeps return_to a path of this server ("/" otherwise), so
// that the login cannot be used to send tokens elsewhere.
func safeReturn(v string) string {
	if v == "" || !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.HasPrefix(v, "/\\") ||
		strings.ContainsAny(v, "#\r\n") || len(v) > 512 {
		return "/"
	}
	return v
}

type loginProvider struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	Domain      string `json:"domain"`
	Start       string `json:"start"`
}

// loginProviders is GET /sapi/o/providers: the providers the login page
// offers (listed ones; with ?domain=, also that domain's).
func (a *API) loginProviders(w http.ResponseWriter, r *http.Request) error {
	domain, err := queryText(r, "domain", maxQueryName)
	if err != nil {
		return err
	}
	out := []loginProvider{}
	if a.fed != nil {
		all, err := a.fed.Providers(r.Context())
		if err != nil {
			return err
		}
		for _, p := range all {
			if p.Listed || (domain != "" && strings.EqualFold(p.Domain, domain)) {
				out = append(out, loginProvider{Name: p.Name, DisplayName: p.DisplayName, Domain: p.Domain,
					Start: "/sapi/o/federation/" + p.Name + "/start"})
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// federationStart is GET /sapi/o/federation/{name}/start: the browser goes
// on to the provider's login.
func (a *API) federationStart(w http.ResponseWriter, r *http.Request) error {
	returnTo := safeReturn(r.URL.Query().Get("return_to"))
	if a.fed == nil {
		a.federationFail(w, r, returnTo, &federation.Error{Code: "invalid_request", Message: "no identity provider is configured"})
		return nil
	}
	target, cookie, err := a.fed.Start(r.Context(), r.PathValue("name"), a.callbackURL(r), returnTo)
	if err != nil {
		a.federationFail(w, r, returnTo, err)
		return nil
	}
	c := a.cookie(r, flowCookie, cookie, 600)
	c.Path = "/sapi/o/federation/"
	http.SetCookie(w, c)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// federationFail logs a failed federated login and sends the browser back
// to the app with the error in the fragment (sso_error,
// sso_error_description), where the login page shows it.
func (a *API) federationFail(w http.ResponseWriter, r *http.Request, returnTo string, err error) {
	var fe *federation.Error
	var ge *auth.GrantError
	switch {
	case errors.As(err, &fe):
	case errors.As(err, &ge):
		fe = &federation.Error{Code: ge.Code, Message: ge.Message}
	default:
		a.log.Error("federated login failed", "err", err, "ip", a.clientIP(r))
		fe = &federation.Error{Code: "server_error", Message: "internal error"}
	}
	a.log.Warn("federated login refused", "error", fe.Code, "reason", fe.Message, "ip", a.clientIP(r))
	c := a.cookie(r, flowCookie, "", -1)
	c.Path = "/sapi/o/federation/"
	http.SetCookie(w, c)
	w.Header().Set("Cache-Control", "no-store")
	v := url.Values{"sso_error": {fe.Code}, "sso_error_description": {fe.Message}}
	http.Redirect(w, r, returnTo+"#"+v.Encode(), http.StatusSeeOther)
}

// federationCallback is GET /sapi/o/federation/callback: the provider's
// answer. It ends at the app with OpenWAC's tokens in the fragment.
func (a *API) federationCallback(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	cookie := ""
	if c, err := r.Cookie(flowCookie); err == nil {
		cookie = c.Value
	}
	returnTo := "/"
	if a.fed != nil {
		returnTo = safeReturn(a.fed.ReturnTo(cookie))
	}
	if a.fed == nil {
		a.federationFail(w, r, returnTo, &federation.Error{Code: "invalid_request", Message: "no identity provider is configured"})
		return nil
	}
	if e := q.Get("error"); e != "" {
		desc := q.Get("error_description")
		if len(desc) > 200 {
			desc = desc[:200]
		}
		a.federationFail(w, r, returnTo, &federation.Error{Code: clipLog(e), Message: "the identity provider refused: " + desc})
		return nil
	}
	info := auth.LoginInfo{ClientIP: a.clientIP(r)}
	pair, err := a.fed.Callback(r.Context(), cookie, q.Get("state"), q.Get("code"), a.callbackURL(r), info)
	if err != nil {
		a.federationFail(w, r, returnTo, err)
		return nil
	}
	c := a.cookie(r, flowCookie, "", -1)
	c.Path = "/sapi/o/federation/"
	http.SetCookie(w, c)
	w.Header().Set("Cache-Control", "no-store")
	v := url.Values{"sso_access_token": {pair.AccessToken}, "sso_refresh_token": {pair.RefreshToken},
		"sso_expires_in": {jsonNumber(pair.ExpiresIn)}, "sso_token_type": {pair.TokenType}}
	http.Redirect(w, r, returnTo+"#"+v.Encode(), http.StatusSeeOther)
	return nil
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// federationLogout is POST /sapi/o/federation/logout: it ends the
// caller's login and answers where to send the browser to end the
// provider's session too (endSessionUrl, empty when the login was not
// through a provider that offers it).
func (a *API) federationLogout(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if p.UserID == "" {
		return forbidden("a client's token has no login to end")
	}
	target := ""
	if a.fed != nil {
		var err error
		if target, err = a.fed.Logout(r.Context(), p.UserID, p.GrantID, a.publicBase(r)+"/"); err != nil {
			return err
		}
	} else if err := a.auth.RevokeGrant(r.Context(), p.UserID, p.GrantID, "logout"); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"endSessionUrl": target})
	return nil
}

// providerJSON is an external provider as the API shows it: never its
// client secret.
type providerJSON struct {
	federation.Provider
	ClientSecret    string `json:"clientSecret,omitempty"`
	ClientSecretSet bool   `json:"clientSecretSet"`
}

func showProvider(p *federation.Provider) providerJSON {
	return providerJSON{Provider: *p, ClientSecretSet: p.ClientSecret != ""}
}

// providerInScope loads a provider an admin may see (404 otherwise).
func (a *API) providerInScope(r *http.Request, p *auth.Principal) (*federation.Provider, []string, error) {
	if err := requireAdmin(p); err != nil {
		return nil, nil, err
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return nil, nil, err
	}
	id := r.PathValue("id")
	if !store.ValidID(id) || a.fed == nil {
		return nil, nil, notFound("identity provider")
	}
	prov, err := a.fed.Provider(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	if prov == nil || prov.ID != id || !auth.InScope(scope, prov.DomainID()) {
		return nil, nil, notFound("identity provider")
	}
	return prov, scope, nil
}

func (a *API) listProviders(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return err
	}
	out := []providerJSON{}
	if a.fed != nil {
		all, err := a.fed.Providers(r.Context())
		if err != nil {
			return err
		}
		for _, prov := range all {
			if auth.InScope(scope, prov.DomainID()) {
				out = append(out, showProvider(prov))
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getProvider(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	prov, _, err := a.providerInScope(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, showProvider(prov))
	return nil
}

// readProvider decodes and checks a provider body; the domain must be in
// the admin's scope.
func (a *API) readProvider(r *http.Request, scope []string, p *auth.Principal) (*federation.Provider, *store.Domain, error) {
	var body federation.Provider
	if err := decode(r, &body); err != nil {
		return nil, nil, err
	}
	if err := body.Check(); err != nil {
		var fe *federation.FieldError
		if errors.As(err, &fe) {
			return nil, nil, invalid(fe.Field, "%s", fe.Message)
		}
		return nil, nil, err
	}
	domain := body.Domain
	if domain == "" {
		domain = p.DomainID
	}
	d, err := a.findDomain(r.Context(), domain)
	if errors.Is(err, store.ErrNotFound) || err == nil && !auth.InScope(scope, d.ID) {
		return nil, nil, invalid("domain", "domain %q does not exist", domain)
	}
	if err != nil {
		return nil, nil, err
	}
	return &body, d, nil
}

func (a *API) createProvider(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	if a.fed == nil {
		return errorf(http.StatusServiceUnavailable, "logins through identity providers are not set up on this node")
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return err
	}
	prov, d, err := a.readProvider(r, scope, p)
	if err != nil {
		return err
	}
	if existing, err := a.fed.Provider(r.Context(), prov.Name); err != nil {
		return err
	} else if existing != nil {
		return fieldErr(http.StatusConflict, "name", "an identity provider named %q exists", prov.Name)
	}
	prov.ID = ""
	rec, err := a.fed.ToRecord(prov, d.ID)
	if err != nil {
		return err
	}
	if err := a.st.CreateIdentityProvider(r.Context(), rec); err != nil {
		return storeErr(err, "identity provider")
	}
	saved, err := a.fed.Provider(r.Context(), rec.ID)
	if err != nil {
		return err
	}
	a.log.Info("identity provider created", "provider", prov.Name, "domain", d.Name, "by", p.Username)
	w.Header().Set("Location", "/sapi/providers/"+rec.ID)
	writeJSON(w, http.StatusCreated, showProvider(saved))
	return nil
}

// updateProvider replaces a provider; without clientSecret the stored one
// stays.
func (a *API) updateProvider(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	old, scope, err := a.providerInScope(r, p)
	if err != nil {
		return err
	}
	if old.IsFile() {
		return errorf(http.StatusConflict, "the identity provider %q is defined in the providers directory (oauth2client.providers): change its file", old.Name)
	}
	prov, d, err := a.readProvider(r, scope, p)
	if err != nil {
		return err
	}
	if prov.Name != old.Name {
		if existing, err := a.fed.Provider(r.Context(), prov.Name); err != nil {
			return err
		} else if existing != nil {
			return fieldErr(http.StatusConflict, "name", "an identity provider named %q exists", prov.Name)
		}
	}
	if prov.ClientSecret == "" {
		prov.ClientSecret = old.ClientSecret
	}
	prov.ID = old.ID
	rec, err := a.fed.ToRecord(prov, d.ID)
	if err != nil {
		return err
	}
	if err := a.st.UpdateIdentityProvider(r.Context(), rec); err != nil {
		return storeErr(err, "identity provider")
	}
	saved, err := a.fed.Provider(r.Context(), rec.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, showProvider(saved))
	return nil
}

func (a *API) deleteProvider(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	prov, _, err := a.providerInScope(r, p)
	if err != nil {
		return err
	}
	if prov.IsFile() {
		return errorf(http.StatusConflict, "the identity provider %q is defined in the providers directory (oauth2client.providers): remove its file", prov.Name)
	}
	if err := a.st.DeleteIdentityProvider(r.Context(), prov.ID); err != nil {
		return storeErr(err, "identity provider")
	}
	a.log.Info("identity provider deleted", "provider", prov.Name, "by", p.Username)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
