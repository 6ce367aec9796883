package sapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strings"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

// userJSON is a user as the seeds show it; domain is the domain's name.
type userJSON struct {
	ID             string   `json:"id"`
	Domain         string   `json:"domain"`
	Username       string   `json:"username"`
	Email          string   `json:"email"`
	Role           string   `json:"role"`
	Capabilities   []string `json:"capabilities"`
	MobilePhone    []string `json:"mobilePhone"`
	LandLineNumber string   `json:"landLineNumber"`
	Alias          string   `json:"alias"`
	Created        int64    `json:"created"`
	LastLogin      int64    `json:"lastLogin"`
	URI            string   `json:"uri"`
}

// directoryJSON is what users see of the other users of their domain.
type directoryJSON struct {
	ID       string `json:"id"`
	Domain   string `json:"domain"`
	Username string `json:"username"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	Alias    string `json:"alias"`
	URI      string `json:"uri"`
}

// userBody is what POST, PUT and PATCH accept. Read-only fields may be sent
// back as read; they are ignored. password (POST only) also creates the
// user's basic credential in the same transaction.
type userBody struct {
	ID             string    `json:"id"`
	Domain         *string   `json:"domain"`
	Username       *string   `json:"username"`
	Email          *string   `json:"email"`
	Role           *string   `json:"role"`
	Capabilities   *[]string `json:"capabilities"`
	MobilePhone    *[]string `json:"mobilePhone"`
	LandLineNumber *string   `json:"landLineNumber"`
	Alias          *string   `json:"alias"`
	Password       *string   `json:"password"`
	Created        int64     `json:"created"`
	LastLogin      int64     `json:"lastLogin"`
	URI            string    `json:"uri"`
}

var (
	// UsernamePattern is what a username may look like (lower case).
	UsernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]{0,63}$`)
	aliasPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
	phonePattern    = regexp.MustCompile(`^\+?[0-9][0-9 ()./-]{2,31}$`)
)

// domainNames caches domain names for one listing.
type domainNames map[string]string

// writeList answers a list: each record as conv makes it, the names of
// the domains looked up once per answer.
func writeList[R, J any](w http.ResponseWriter, list []R, conv func(names domainNames, rec R) (J, error)) error {
	names := domainNames{}
	out := make([]J, 0, len(list))
	for _, rec := range list {
		j, err := conv(names, rec)
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) domainName(ctx context.Context, names domainNames, id string) (string, error) {
	if n, ok := names[id]; ok {
		return n, nil
	}
	d, err := a.st.GetDomain(ctx, id)
	if err != nil {
		return "", err
	}
	names[id] = d.Name
	return d.Name, nil
}

func (a *API) userJSON(ctx context.Context, names domainNames, u *store.User) (*userJSON, error) {
	dn, err := a.domainName(ctx, names, u.DomainID)
	if err != nil {
		return nil, err
	}
	return &userJSON{
		ID: u.ID, Domain: dn, Username: u.Username, Email: u.Email, Role: u.Role,
		Capabilities: nonNil(u.Capabilities), MobilePhone: nonNil(u.MobilePhone), LandLineNumber: u.LandLineNumber,
		Alias: u.Alias, Created: u.Created, LastLogin: u.LastLogin, URI: auth.UserURI(u.ID),
	}, nil
}

func (a *API) directoryJSON(ctx context.Context, names domainNames, u *store.User) (*directoryJSON, error) {
	dn, err := a.domainName(ctx, names, u.DomainID)
	if err != nil {
		return nil, err
	}
	return &directoryJSON{ID: u.ID, Domain: dn, Username: u.Username, Email: u.Email, Role: u.Role,
		Alias: u.Alias, URI: auth.UserURI(u.ID)}, nil
}

// callableJSON is a user as a caller who may not see it learns of it: the
// id, the name it is called by, its domain and URI.
type callableJSON struct {
	ID       string `json:"id"`
	Domain   string `json:"domain"`
	Username string `json:"username"`
	URI      string `json:"uri"`
}

func (a *API) callableJSON(ctx context.Context, u *store.User) (*callableJSON, error) {
	dn, err := a.domainName(ctx, domainNames{}, u.DomainID)
	if err != nil {
		return nil, err
	}
	return &callableJSON{ID: u.ID, Domain: dn, Username: u.Username, URI: auth.UserURI(u.ID)}, nil
}

// userView writes u as p may see it: whole for admins of its domain and for
// the user itself, the directory fields for users of the same domain.
func (a *API) userView(ctx context.Context, names domainNames, p *auth.Principal, u *store.User) (any, error) {
	if p.UserID == u.ID || p.IsAdmin() {
		return a.userJSON(ctx, names, u)
	}
	return a.directoryJSON(ctx, names, u)
}

// visibleUser loads the user of the path if p may see it.
func (a *API) visibleUser(r *http.Request, p *auth.Principal) (*store.User, error) {
	id, err := pathID(r, "id", "user")
	if err != nil {
		return nil, err
	}
	u, err := a.st.GetUser(r.Context(), id)
	if err != nil {
		return nil, storeErr(err, "user")
	}
	if !a.canSee(r.Context(), p, u) {
		return nil, notFound("user")
	}
	return u, nil
}

// canSee: admins see their scope, users their own domain's non-anonymous
// users, anonymous users only themselves.
func (a *API) canSee(ctx context.Context, p *auth.Principal, u *store.User) bool {
	if u.ID == p.UserID {
		return true
	}
	if p.IsAnonymous() {
		return false
	}
	if p.IsAdmin() {
		scope, err := a.auth.Scope(ctx, p)
		return err == nil && auth.InScope(scope, u.DomainID)
	}
	return u.DomainID == p.DomainID && u.Role != store.RoleAnonymous
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	search, err := queryText(r, "search", maxSearch)
	if err != nil {
		return err
	}
	dn, err := queryText(r, "domain", maxQueryName)
	if err != nil {
		return err
	}
	f := store.UserFilter{Search: search, Role: r.URL.Query().Get("role")}
	if f.Role != "" && !validRole(f.Role) {
		return fieldErr(http.StatusBadRequest, "role", "%q is not admin, user or anonymous", f.Role)
	}
	switch {
	case p.IsAnonymous():
		u, err := a.st.GetUser(r.Context(), p.UserID)
		if err != nil {
			return storeErr(err, "user")
		}
		j, err := a.userJSON(r.Context(), domainNames{}, u)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, []*userJSON{j})
		return nil
	case p.IsAdmin():
		if f.DomainIDs, err = a.auth.Scope(r.Context(), p); err != nil {
			return err
		}
	default:
		f.DomainIDs = []string{p.DomainID}
		if f.Role == store.RoleAnonymous {
			f.DomainIDs = []string{} // users do not list visitors
		}
	}
	if dn != "" {
		d, err := a.findDomain(r.Context(), dn)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if d == nil || !auth.InScope(f.DomainIDs, d.ID) {
			f.DomainIDs = []string{}
		} else {
			f.DomainIDs = []string{d.ID}
		}
	}
	users, err := a.st.ListUsers(r.Context(), f, pg)
	if err != nil {
		return err
	}
	names := domainNames{}
	out := make([]any, 0, len(users))
	for _, u := range users {
		if !p.IsAdmin() && u.Role == store.RoleAnonymous {
			continue
		}
		v, err := a.userView(r.Context(), names, p, u)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	u, err := a.visibleUser(r, p)
	if err != nil {
		return err
	}
	v, err := a.userView(r.Context(), domainNames{}, p, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// getMe is GET /sapi/users/me: the caller's own record.
func (a *API) getMe(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if p.UserID == "" {
		return notFound("user (this token belongs to a client)")
	}
	u, err := a.st.GetUser(r.Context(), p.UserID)
	if err != nil {
		return storeErr(err, "user")
	}
	j, err := a.userJSON(r.Context(), domainNames{}, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// resolveUser is GET /sapi/users/resolve/{target}: who a name means for the
// caller (a bare username resolves in the caller's domain).
func (a *API) resolveUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	target := r.PathValue("target")
	u, err := a.auth.Resolve(r.Context(), p.DomainID, target)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.Role == store.RoleAnonymous && u.ID != p.UserID {
		return notFound("user " + quote(target))
	}
	if err != nil {
		return err
	}
	// Users of other domains are reachable by username@domain (the seeds'
	// domain visibility), but not visible: resolving one, or anyone for an
	// anonymous visitor, shows what it takes to call them and nothing else.
	var v any
	if a.canSee(r.Context(), p, u) && !p.IsAnonymous() {
		v, err = a.userView(r.Context(), domainNames{}, p, u)
	} else {
		v, err = a.callableJSON(r.Context(), u)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func validRole(r string) bool {
	return r == store.RoleAdmin || r == store.RoleUser || r == store.RoleAnonymous
}

// applyUserBody validates body onto u. When replace is true (POST, PUT)
// absent optional fields take their defaults; otherwise (PATCH) they stay.
func (a *API) applyUserBody(ctx context.Context, p *auth.Principal, body *userBody, u *store.User, replace bool) error {
	scope, err := a.auth.Scope(ctx, p)
	if err != nil {
		return err
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
		u.DomainID = d.ID
	case u.DomainID == "":
		// A new user without a domain: the default domain for system
		// admins, as the seeds say, and the admin's own domain otherwise.
		u.DomainID = p.DomainID
		if scope == nil {
			d, err := a.st.GetDomainByName(ctx, strings.ToLower(a.cfg.DefaultDomain))
			if err != nil {
				return err
			}
			u.DomainID = d.ID
		}
	}
	if body.Username != nil {
		name := strings.ToLower(strings.TrimSpace(*body.Username))
		if name == "" {
			return required("username")
		}
		if !UsernamePattern.MatchString(name) {
			return invalid("username", "%q must be 1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit", *body.Username)
		}
		u.Username = name
	} else if u.Username == "" || replace {
		return required("username")
	}
	if body.Role != nil {
		if !validRole(*body.Role) {
			return invalid("role", "%q is not admin, user or anonymous", *body.Role)
		}
		u.Role = *body.Role
	} else if replace && u.ID == "" {
		u.Role = store.RoleUser
	}
	if strings.HasPrefix(u.Username, "anonymous-") && u.Role != store.RoleAnonymous {
		return invalid("username", "names starting with \"anonymous-\" are kept for anonymous users")
	}
	if body.Email != nil || replace {
		u.Email = ""
		if body.Email != nil && *body.Email != "" {
			addr, err := mail.ParseAddress(*body.Email)
			if err != nil || addr.Address != *body.Email {
				return invalid("email", "%q is not an email address", *body.Email)
			}
			u.Email = *body.Email
		}
	}
	if body.Capabilities != nil || replace {
		u.Capabilities = []string{}
		if body.Capabilities != nil {
			for _, c := range *body.Capabilities {
				if _, _, ok := auth.ParseCapability(c); !ok {
					return invalid("capabilities", "%q must be +name (forced) or -name (pruned)", c)
				}
				u.Capabilities = append(u.Capabilities, c)
			}
		}
	}
	if body.MobilePhone != nil || replace {
		u.MobilePhone = []string{}
		if body.MobilePhone != nil {
			for _, n := range *body.MobilePhone {
				if !phonePattern.MatchString(n) {
					return invalid("mobilePhone", "%q is not a phone number", n)
				}
				u.MobilePhone = append(u.MobilePhone, n)
			}
		}
	}
	if body.LandLineNumber != nil || replace {
		u.LandLineNumber = ""
		if body.LandLineNumber != nil && *body.LandLineNumber != "" {
			if !phonePattern.MatchString(*body.LandLineNumber) {
				return invalid("landLineNumber", "%q is not a phone number", *body.LandLineNumber)
			}
			u.LandLineNumber = *body.LandLineNumber
		}
	}
	if body.Alias != nil || replace {
		u.Alias = ""
		if body.Alias != nil && *body.Alias != "" {
			if !aliasPattern.MatchString(*body.Alias) {
				return invalid("alias", "%q must be 1-64 letters, digits, '.', '_', '+' or '-'", *body.Alias)
			}
			u.Alias = *body.Alias
		}
	}
	// Names resolve by username first, then alias: neither may shadow the other.
	if u.Alias != "" {
		if other, err := a.st.GetUserByName(ctx, u.DomainID, strings.ToLower(u.Alias)); err == nil && other.ID != u.ID {
			return fieldErr(http.StatusConflict, "alias", "%q is the username of another user of the domain", u.Alias)
		}
	}
	if other, err := a.st.GetUserByAlias(ctx, u.DomainID, u.Username); err == nil && other.ID != u.ID {
		return fieldErr(http.StatusConflict, "username", "%q is the alias of another user of the domain", u.Username)
	}
	return nil
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	var body userBody
	if err := decode(r, &body); err != nil {
		return err
	}
	u := &store.User{}
	if err := a.applyUserBody(r.Context(), p, &body, u, true); err != nil {
		return err
	}
	var hash string
	if body.Password != nil {
		if err := a.checkPassword("password", *body.Password); err != nil {
			return err
		}
		var err error
		if hash, err = a.auth.Hasher().Hash(r.Context(), *body.Password); err != nil {
			return err
		}
	}
	err := a.st.InTx(r.Context(), func(tx store.Store) error {
		if err := tx.CreateUser(r.Context(), u); err != nil {
			return err
		}
		if hash == "" {
			return nil
		}
		return tx.CreateCredential(r.Context(), &store.Credential{
			Source: "wac", Type: "basic", DomainID: u.DomainID, UserID: u.ID, Data: map[string]any{"hash": hash},
		})
	})
	if err != nil {
		return storeErr(err, "user")
	}
	a.log.Info("user created", "user", u.Username, "id", u.ID, "role", u.Role, "by", p.Username)
	j, err := a.userJSON(r.Context(), domainNames{}, u)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/sapi/users/"+u.ID)
	writeJSON(w, http.StatusCreated, j)
	return nil
}

func (a *API) checkPassword(field, pw string) error {
	if len(pw) < a.cfg.Password.MinLength {
		return invalid(field, "must be at least %d characters", a.cfg.Password.MinLength)
	}
	if len(pw) > 1024 {
		return invalid(field, "must be at most 1024 characters")
	}
	return nil
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	return a.editUser(w, r, p, true)
}

func (a *API) patchUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	return a.editUser(w, r, p, false)
}

// editUser is PUT (replace) and PATCH (merge). Admins edit users of their
// scope; users edit their own contact fields only.
func (a *API) editUser(w http.ResponseWriter, r *http.Request, p *auth.Principal, replace bool) error {
	u, err := a.visibleUser(r, p)
	if err != nil {
		return err
	}
	if p.IsAnonymous() {
		// A visitor taking an alias or a name would capture the calls
		// meant for it: anonymous users change nothing of their record.
		return forbidden("anonymous users cannot change their user")
	}
	if !p.IsAdmin() && u.ID != p.UserID {
		return forbidden("you may only change your own user")
	}
	var body userBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Password != nil {
		return fieldErr(http.StatusBadRequest, "password", "is set through /sapi/credentials, not on the user")
	}
	before := *u
	before.Capabilities = slices.Clone(u.Capabilities)
	if err := a.applyUserBody(r.Context(), p, &body, u, replace); err != nil {
		return err
	}
	if !p.IsAdmin() {
		switch {
		case u.Username != before.Username:
			return fieldErr(http.StatusForbidden, "username", "only admins change usernames")
		case u.DomainID != before.DomainID:
			return fieldErr(http.StatusForbidden, "domain", "only admins move users between domains")
		case u.Role != before.Role:
			return fieldErr(http.StatusForbidden, "role", "only admins change roles")
		case !slices.Equal(u.Capabilities, before.Capabilities):
			return fieldErr(http.StatusForbidden, "capabilities", "only admins change capabilities")
		}
	}
	if u.ID == p.UserID && u.Role != before.Role {
		return fieldErr(http.StatusForbidden, "role", "you cannot change your own role")
	}
	err = a.st.InTx(r.Context(), func(tx store.Store) error {
		if err := tx.UpdateUser(r.Context(), u); err != nil {
			return err
		}
		if u.DomainID == before.DomainID {
			return nil
		}
		// Credentials follow their user to the new domain.
		creds, err := tx.ListCredentials(r.Context(), nil, u.ID, store.Page{})
		if err != nil {
			return err
		}
		for _, c := range creds {
			if c.UserID == u.ID {
				c.DomainID = u.DomainID
				if err := tx.UpdateCredential(r.Context(), c); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return storeErr(err, "user")
	}
	a.auth.InvalidateUser(u.ID)
	if u.Role != before.Role || u.DomainID != before.DomainID {
		// Rights come with the role and the domain: the user's tokens and
		// open sessions end, and the next login has the new ones.
		reason := "your role changed"
		if u.DomainID != before.DomainID {
			reason = "you were moved to another domain"
		}
		if err := a.auth.RevokeUser(context.WithoutCancel(r.Context()), u.ID, reason); err != nil {
			return err
		}
		a.log.Info("user signed out everywhere", "user", u.Username, "id", u.ID, "reason", reason, "by", p.Username)
	}
	j, err := a.userJSON(r.Context(), domainNames{}, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	u, err := a.visibleUser(r, p)
	if err != nil {
		return err
	}
	if u.ID == p.UserID {
		return errorf(http.StatusConflict, "you cannot delete yourself")
	}
	var hashes []string
	err = a.st.InTx(r.Context(), func(tx store.Store) error {
		var err error
		if hashes, err = tx.DeleteUserTokens(r.Context(), u.ID); err != nil {
			return err
		}
		if err := removeFromMeetings(r.Context(), tx, u.ID); err != nil {
			return fmt.Errorf("remove the user from its meetings: %w", err)
		}
		return tx.DeleteUser(r.Context(), u.ID)
	})
	if err != nil {
		return storeErr(err, "user")
	}
	a.auth.Announce(auth.Revocation{UserID: u.ID, Hashes: hashes, Reason: "user deleted"})
	a.auth.InvalidateUser(u.ID)
	a.log.Info("user deleted", "user", u.Username, "id", u.ID, "by", p.Username)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
