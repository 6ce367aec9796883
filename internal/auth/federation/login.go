package federation

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// identity is what the claims say of the user.
type identity struct {
	issuer, subject string
	username, email string
	domain          string // from the domain claim ("" = none)
	groups          []string
	role            string   // from groupMap ("" = none)
	wacGroups       []string // from groupMap
	managed         []string // every group groupMap names
}

func claimString(claims map[string]any, name string) string {
	if name == "" {
		return ""
	}
	s, _ := claims[name].(string)
	return s
}

// mapClaims reads the identity from the id_token's claims as the
// provider's claims and groupMap say.
func mapClaims(p *Provider, claims map[string]any) (*identity, error) {
	id := &identity{issuer: claimString(claims, "iss"), subject: claimString(claims, "sub")}
	id.email = claimString(claims, p.Claims.Email)
	id.username = strings.ToLower(strings.TrimSpace(claimString(claims, p.Claims.Username)))
	if i := strings.IndexByte(id.username, '@'); i >= 0 {
		id.username = id.username[:i]
	}
	if id.username == "" || len(id.username) > 128 || strings.ContainsFunc(id.username, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '/'
	}) {
		return nil, fail("invalid_grant", "the claim %q does not give a usable username", p.Claims.Username)
	}
	switch p.Claims.Domain {
	case "":
	case "email":
		if i := strings.LastIndexByte(id.email, '@'); i >= 0 {
			id.domain = strings.ToLower(id.email[i+1:])
		}
	default:
		id.domain = strings.ToLower(claimString(claims, p.Claims.Domain))
	}
	if p.Claims.Groups != "" {
		switch v := claims[p.Claims.Groups].(type) {
		case []any:
			for _, g := range v {
				if s, ok := g.(string); ok {
					id.groups = append(id.groups, s)
				}
			}
		case string:
			id.groups = strings.Fields(v)
		}
	}
	for g, rule := range p.GroupMap {
		id.managed = append(id.managed, rule.Groups...)
		if !slices.Contains(id.groups, g) {
			continue
		}
		if rule.Role == store.RoleAdmin || (rule.Role == store.RoleUser && id.role == "") {
			id.role = rule.Role
		}
		id.wacGroups = append(id.wacGroups, rule.Groups...)
	}
	return id, nil
}

// login finds or creates the user of the identity, applies the group map,
// keeps the provider's tokens and issues OpenWAC's.
func (f *Federation) login(ctx context.Context, p *Provider, claims map[string]any, tok *oauth2.Token, rawID string, info auth.LoginInfo) (*auth.TokenPair, error) {
	id, err := mapClaims(p, claims)
	if err != nil {
		return nil, err
	}
	u, err := f.findUser(ctx, p, id)
	if err != nil {
		return nil, err
	}
	d, err := f.auth.Domain(ctx, u.DomainID)
	if err != nil {
		return nil, err
	}
	if err := f.applyGroups(ctx, p, id, u); err != nil {
		return nil, err
	}
	credID := store.NewID()
	stored := &storedTokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, IDToken: rawID, Expiry: tok.Expiry}
	pair, err := f.auth.IssueLogin(ctx, u, "", func(tx store.Store, grant string) error {
		return tx.CreateCredential(ctx, &store.Credential{ID: credID, Source: p.Name, Type: CredentialType, DomainID: u.DomainID,
			UserID: u.ID, Context: map[string]any{"provider": p.Name, "issuer": id.issuer, "subject": id.subject, "grant": grant},
			Data: map[string]any{"sealed": f.sealTokens(stored, credID)}})
	})
	if err != nil {
		return nil, err
	}
	f.log.Info("login through an identity provider", "provider", p.Name, "user", u.Username+"@"+d.Name, "ip", info.ClientIP)
	return pair, nil
}

// findUser returns the user an identity is: the one linked to it before,
// else the user of that name in the mapped (or the provider's) domain,
// else, with login.createOAuthUser, a new user in login.OAuthUserForcedDomain
// or that domain. A provider reaches its own domain and those below it
// only.
func (f *Federation) findUser(ctx context.Context, p *Provider, id *identity) (*store.User, error) {
	link, err := f.st.GetIdentityLink(ctx, id.issuer, id.subject)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("look up identity link: %w", err)
	}
	if link != nil {
		u, err := f.st.GetUser(ctx, link.UserID)
		if err != nil {
			return nil, fmt.Errorf("load linked user: %w", err)
		}
		if err := f.inReach(ctx, p, u.DomainID); err != nil {
			return nil, err
		}
		return u, nil
	}
	domainName := id.domain
	if domainName == "" {
		domainName = p.Domain
	}
	d, err := f.st.GetDomainByName(ctx, domainName)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load domain: %w", err)
	}
	if d != nil {
		if err := f.inReach(ctx, p, d.ID); err != nil {
			return nil, err
		}
		u, err := f.st.GetUserByName(ctx, d.ID, id.username)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("load user: %w", err)
		}
		if u != nil {
			if u.Role == store.RoleAnonymous {
				return nil, fail("access_denied", "%s@%s is an anonymous user", id.username, d.Name)
			}
			if err := f.link(ctx, p, id, u); err != nil {
				return nil, err
			}
			return u, nil
		}
	}
	if !f.cfg.Login.CreateOAuthUser {
		return nil, fail("access_denied", "there is no OpenWAC user %s@%s, and users are not created on their first login "+
			"(login.createOAuthUser is off): ask an administrator to create it", id.username, domainName)
	}
	if forced := f.cfg.Login.OAuthUserForcedDomain; forced != "" {
		domainName = strings.ToLower(forced)
		if d, err = f.st.GetDomainByName(ctx, domainName); err != nil {
			return nil, fail("server_error", "login.OAuthUserForcedDomain names the domain %q, which does not exist", domainName)
		}
		if err := f.inReach(ctx, p, d.ID); err != nil {
			return nil, err
		}
	}
	if d == nil {
		return nil, fail("access_denied", "the domain %q of the identity does not exist", domainName)
	}
	return f.createUser(ctx, p, id, d)
}

// inReach refuses a domain the provider may not log users into.
func (f *Federation) inReach(ctx context.Context, p *Provider, domainID string) error {
	ok, err := f.auth.Administers(ctx, p.domainID, p.Domain, domainID)
	if err != nil {
		return err
	}
	if !ok {
		return fail("access_denied", "the identity provider %q of the domain %q may not log users into another domain", p.Name, p.Domain)
	}
	return nil
}

func (f *Federation) link(ctx context.Context, p *Provider, id *identity, u *store.User) error {
	err := f.st.CreateIdentityLink(ctx, &store.IdentityLink{Issuer: id.issuer, Subject: id.subject, UserID: u.ID, Provider: p.Name})
	if _, dup := store.IsConflict(err); err != nil && !dup {
		return fmt.Errorf("link identity: %w", err)
	}
	return nil
}

// createUser makes the user of a first login with login.newUserCaps.
func (f *Federation) createUser(ctx context.Context, p *Provider, id *identity, d *store.Domain) (*store.User, error) {
	role := id.role
	if role == "" {
		role = store.RoleUser
	}
	u := &store.User{ID: store.NewID(), DomainID: d.ID, Username: id.username, Email: id.email, Role: role,
		Capabilities: config.NewUserCaps(f.cfg.Login.NewUserCaps), Created: store.Now()}
	err := f.st.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		return tx.CreateIdentityLink(ctx, &store.IdentityLink{Issuer: id.issuer, Subject: id.subject, UserID: u.ID, Provider: p.Name})
	})
	if _, dup := store.IsConflict(err); dup {
		return nil, fail("access_denied", "the username %s@%s is taken", id.username, d.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	f.log.Info("user created on its first login through an identity provider", "provider", p.Name, "user", u.Username+"@"+d.Name)
	return u, nil
}

// applyGroups gives the user the role and hunt groups its provider
// groups map to, and takes it out of the mapped groups it no longer has.
// A role change ends the user's other logins, as through the API.
func (f *Federation) applyGroups(ctx context.Context, p *Provider, id *identity, u *store.User) error {
	if len(p.GroupMap) == 0 {
		return nil
	}
	if id.role != "" && id.role != u.Role {
		u.Role = id.role
		if err := f.st.UpdateUser(ctx, u); err != nil {
			return fmt.Errorf("set role from groups: %w", err)
		}
		if err := f.auth.RevokeUser(ctx, u.ID, "role changed by the identity provider's groups"); err != nil {
			return err
		}
	}
	for _, name := range id.managed {
		g, err := f.st.GetGroupByName(ctx, u.DomainID, name)
		if errors.Is(err, store.ErrNotFound) {
			f.log.Warn("groupMap names a group the user's domain does not have", "provider", p.Name, "group", name)
			continue
		}
		if err != nil {
			return fmt.Errorf("load group: %w", err)
		}
		in, err := f.st.IsGroupMember(ctx, g.ID, u.ID)
		if err != nil {
			return err
		}
		want := slices.Contains(id.wacGroups, name)
		switch {
		case want && !in:
			err = f.st.AddGroupMember(ctx, g.ID, u.ID)
		case !want && in:
			err = f.st.RemoveGroupMember(ctx, g.ID, u.ID)
		}
		if err != nil {
			return fmt.Errorf("group membership from the provider's groups: %w", err)
		}
	}
	return nil
}

// passwordLogin refuses password logins in a domain whose provider (of the
// domain or above it) has disablePasswordLogin, except for the admins of
// the default domain, who must always be able to get in.
func (f *Federation) passwordLogin(ctx context.Context, u *store.User, d *store.Domain) error {
	if u.Role == store.RoleAdmin && strings.EqualFold(d.Name, f.cfg.DefaultDomain) {
		return nil
	}
	all, err := f.Providers(ctx)
	if err != nil {
		return err
	}
	for _, p := range all {
		if !p.DisablePasswordLogin {
			continue
		}
		if ok, err := f.auth.Administers(ctx, p.domainID, p.Domain, d.ID); err != nil {
			return err
		} else if ok {
			return &auth.GrantError{Code: "invalid_grant",
				Message: fmt.Sprintf("password login is disabled for the domain %s: sign in with %s", d.Name, p.DisplayName)}
		}
	}
	return nil
}

// refresh is run before a refresh_token grant: for a login through a
// provider, the provider's tokens are refreshed there once they expired;
// if the provider refuses, the login ends.
func (f *Federation) refresh(ctx context.Context, userID, grantID string) error {
	c, err := f.grantCredential(ctx, userID, grantID)
	if err != nil || c == nil {
		return err
	}
	t, err := f.openTokens(c)
	if err != nil {
		return fmt.Errorf("open provider tokens: %w", err)
	}
	if t.Expiry.IsZero() || f.clock().Before(t.Expiry) {
		return nil
	}
	if t.RefreshToken == "" {
		return nil // the provider gave no refresh token: nothing to ask it
	}
	p, err := f.Provider(ctx, c.Source)
	if err != nil {
		return err
	}
	ended := func(why string) error {
		if err := f.auth.RevokeGrant(context.WithoutCancel(ctx), userID, grantID, "the identity provider ended the login"); err != nil {
			return err
		}
		f.log.Info("login ended: its identity provider refused to refresh it", "provider", c.Source, "user", userID, "reason", why)
		return &auth.GrantError{Code: "invalid_grant", Message: "the identity provider no longer accepts this login: log in again"}
	}
	if p == nil {
		return ended("provider removed")
	}
	d, err := f.oidcProvider(p)
	if err != nil {
		return err
	}
	cctx := oidc.ClientContext(ctx, f.client)
	nt, err := f.oauthConfig(p, d, "").TokenSource(cctx, &oauth2.Token{RefreshToken: t.RefreshToken}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return ended(re.ErrorCode)
		}
		return &auth.GrantError{Code: "temporarily_unavailable", Message: fmt.Sprintf("cannot reach the identity provider %q to refresh the login", p.Name)}
	}
	t.AccessToken, t.Expiry = nt.AccessToken, nt.Expiry
	if nt.RefreshToken != "" {
		t.RefreshToken = nt.RefreshToken
	}
	if idt, _ := nt.Extra("id_token").(string); idt != "" {
		t.IDToken = idt
	}
	c.Data = map[string]any{"sealed": f.sealTokens(t, c.ID)}
	if err := f.st.UpdateCredential(ctx, c); err != nil {
		return fmt.Errorf("store refreshed provider tokens: %w", err)
	}
	f.log.Debug("provider tokens refreshed", "provider", p.Name, "user", userID)
	return nil
}

// Logout ends a login (grant) of user and, when it was through a provider
// that has an end_session_endpoint, returns the URL that ends the
// provider's session too (RP-initiated logout), sending the browser back
// to postLogout.
func (f *Federation) Logout(ctx context.Context, userID, grantID, postLogout string) (string, error) {
	c, err := f.grantCredential(ctx, userID, grantID)
	if err != nil {
		return "", err
	}
	target := ""
	if c != nil {
		if p, _ := f.Provider(ctx, c.Source); p != nil {
			if d, err := f.oidcProvider(p); err == nil && d.extra.EndSession != "" {
				v := url.Values{"client_id": {p.ClientID}}
				if t, err := f.openTokens(c); err == nil && t.IDToken != "" {
					v.Set("id_token_hint", t.IDToken)
				}
				if postLogout != "" {
					v.Set("post_logout_redirect_uri", postLogout)
				}
				sep := "?"
				if strings.Contains(d.extra.EndSession, "?") {
					sep = "&"
				}
				target = d.extra.EndSession + sep + v.Encode()
			}
		}
		if err := f.st.DeleteCredential(ctx, c.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("delete provider tokens: %w", err)
		}
	}
	if err := f.auth.RevokeGrant(ctx, userID, grantID, "logout"); err != nil {
		return "", err
	}
	return target, nil
}
