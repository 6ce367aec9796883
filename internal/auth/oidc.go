package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/openwac/wac/internal/store"
)

// Grant types a registered client may be allowed.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	// GrantImplicit is the seeds' implicit grant: legacy, off unless a
	// client is registered with it.
	GrantImplicit = "implicit"
)

// DefaultScopes are the scopes a client may ask for when it was registered
// without a list.
var DefaultScopes = []string{"openid", "profile", "email", "offline_access"}

// AuthRequest is an authorization request (/sapi/o/authorize).
type AuthRequest struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string
	Scope               string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              string
}

// Implicit reports whether the request asks for tokens in the redirect
// (the implicit grant) rather than a code.
func (r *AuthRequest) Implicit() bool { return r.ResponseType != "code" }

// AuthorizeError is a refused authorization request. Redirect tells whether
// the answer may go to the client's redirect_uri (RFC 6749 §4.1.2.1): not
// while the client or its redirect_uri is in doubt, lest the server send
// its users to an attacker's page.
type AuthorizeError struct {
	Code        string
	Description string
	Redirect    bool
}

func (e *AuthorizeError) Error() string { return e.Code + ": " + e.Description }

func authzErr(redirect bool, code, format string, args ...any) *AuthorizeError {
	return &AuthorizeError{Code: code, Description: fmt.Sprintf(format, args...), Redirect: redirect}
}

// Client returns a registered client (ErrNotFound: none with that id).
func (s *Service) Client(ctx context.Context, id string) (*store.Client, error) {
	if !store.ValidID(id) {
		return nil, store.ErrNotFound
	}
	return s.st.GetClient(ctx, id)
}

// CheckAuthRequest validates an authorization request and fills in its
// defaults (the one registered redirect_uri, the scope openid), returning
// the client.
func (s *Service) CheckAuthRequest(ctx context.Context, r *AuthRequest) (*store.Client, error) {
	if r.ClientID == "" {
		return nil, authzErr(false, "invalid_request", `field "client_id": is required`)
	}
	c, err := s.Client(ctx, r.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, authzErr(false, "invalid_client", "client_id %q is not a registered client", clip(r.ClientID))
	}
	if err != nil {
		return nil, fmt.Errorf("load client: %w", err)
	}
	switch {
	case r.RedirectURI == "" && len(c.RedirectURIs) == 1:
		r.RedirectURI = c.RedirectURIs[0]
	case r.RedirectURI == "":
		return nil, authzErr(false, "invalid_request", `field "redirect_uri": is required (the client has %d registered)`, len(c.RedirectURIs))
	case !slices.Contains(c.RedirectURIs, r.RedirectURI):
		// Exact matching, as OAuth 2.1 requires: no prefixes, no patterns.
		return nil, authzErr(false, "invalid_request", `field "redirect_uri": %q is not registered for this client`, clip(r.RedirectURI))
	}
	switch r.ResponseType {
	case "code":
		if !slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
			return nil, authzErr(true, "unauthorized_client", "this client may not use the authorization_code grant")
		}
	case "token", "id_token", "id_token token", "token id_token":
		if !slices.Contains(c.GrantTypes, GrantImplicit) {
			return nil, authzErr(true, "unauthorized_client", "this client may not use the implicit grant (response_type %q): use response_type=code with PKCE", r.ResponseType)
		}
		if strings.Contains(r.ResponseType, "id_token") && r.Nonce == "" {
			return nil, authzErr(true, "invalid_request", `field "nonce": is required when response_type includes id_token`)
		}
	case "":
		return nil, authzErr(true, "invalid_request", `field "response_type": is required`)
	default:
		return nil, authzErr(true, "unsupported_response_type", "response_type %q is not code (or, for clients allowed the implicit grant, token or id_token)", clip(r.ResponseType))
	}
	if r.Scope == "" {
		r.Scope = "openid"
	}
	allowed := c.Scopes
	if len(allowed) == 0 {
		allowed = DefaultScopes
	}
	for _, sc := range strings.Fields(r.Scope) {
		if !slices.Contains(allowed, sc) {
			return nil, authzErr(true, "invalid_scope", "scope %q is not allowed for this client (allowed: %s)", clip(sc), strings.Join(allowed, " "))
		}
	}
	if r.ResponseType == "code" {
		if err := checkChallenge(c, r); err != nil {
			return nil, err
		}
	}
	if r.Prompt != "" && r.Prompt != "none" && r.Prompt != "login" && r.Prompt != "consent" {
		return nil, authzErr(true, "invalid_request", `field "prompt": %q is not none, login or consent`, clip(r.Prompt))
	}
	return c, nil
}

// checkChallenge applies PKCE (RFC 7636): a public client must send an S256
// code_challenge; plain is refused for them, as a challenge an attacker
// can read in the request protects nothing.
func checkChallenge(c *store.Client, r *AuthRequest) error {
	if r.CodeChallenge == "" {
		if r.CodeChallengeMethod != "" {
			return authzErr(true, "invalid_request", `field "code_challenge": is required with code_challenge_method`)
		}
		if c.Public {
			return authzErr(true, "invalid_request", `field "code_challenge": is required for a public client (PKCE with code_challenge_method=S256)`)
		}
		return nil
	}
	if r.CodeChallengeMethod == "" {
		r.CodeChallengeMethod = "plain" // RFC 7636's default
	}
	switch r.CodeChallengeMethod {
	case "S256":
	case "plain":
		if c.Public {
			return authzErr(true, "invalid_request", `field "code_challenge_method": plain is refused for a public client; use S256`)
		}
	default:
		return authzErr(true, "invalid_request", `field "code_challenge_method": %q is not S256 or plain`, clip(r.CodeChallengeMethod))
	}
	if n := len(r.CodeChallenge); n < 43 || n > 128 {
		return authzErr(true, "invalid_request", `field "code_challenge": %d characters, want 43 to 128`, n)
	}
	return nil
}

// IssueCode makes an authorization code for u, valid for
// oauth2provider.authCodeExpiration.
func (s *Service) IssueCode(ctx context.Context, r *AuthRequest, c *store.Client, u *store.User, sid string, authTime time.Time) (string, error) {
	code := newTokenValue()
	now := s.now()
	err := s.st.CreateAuthCode(ctx, &store.AuthCode{
		Hash: HashToken(code), ClientID: c.ID, UserID: u.ID, RedirectURI: r.RedirectURI, Scope: r.Scope,
		Nonce: r.Nonce, Challenge: r.CodeChallenge, ChallengeMethod: r.CodeChallengeMethod, SID: sid,
		AuthTime: authTime.UnixMilli(), Created: now.UnixMilli(),
		Expires: now.Add(s.cfg.OAuth2Provider.AuthCodeExpiration).UnixMilli(),
	})
	if err != nil {
		return "", fmt.Errorf("store authorization code: %w", err)
	}
	return code, nil
}

// IssueImplicit answers an implicit-grant request with an access token
// (no refresh token) and, when asked, an id_token, as the fields of the
// redirect's fragment.
func (s *Service) IssueImplicit(ctx context.Context, issuer string, r *AuthRequest, c *store.Client, u *store.User, sid string, authTime time.Time) (url.Values, error) {
	v := url.Values{}
	pair, err := s.issueLogin(ctx, u, c.ID, false, func(tx store.Store, grant string) error {
		return s.sessionGrant(ctx, tx, sid, grant)
	})
	if err != nil {
		return nil, err
	}
	if strings.Contains(r.ResponseType, "token") && r.ResponseType != "id_token" {
		v.Set("access_token", pair.AccessToken)
		v.Set("token_type", "Bearer")
		v.Set("expires_in", fmt.Sprint(pair.ExpiresIn))
	}
	if strings.Contains(r.ResponseType, "id_token") {
		at := pair.AccessToken
		if r.ResponseType == "id_token" {
			at = ""
		}
		idt, err := s.idToken(ctx, issuer, c.ID, u, r.Nonce, sid, authTime.Unix(), at)
		if err != nil {
			return nil, err
		}
		v.Set("id_token", idt)
	}
	v.Set("scope", r.Scope)
	s.count("implicit", true)
	return v, nil
}

// sessionGrant records that grant was issued in the provider session sid,
// so that ending the session (end_session) ends the grant.
func (s *Service) sessionGrant(ctx context.Context, tx store.Store, sid, grant string) error {
	if sid == "" {
		return nil
	}
	exp := s.now().Add(s.cfg.OAuth2Provider.RefreshTokenExpiration).UnixMilli()
	return tx.AddSSOGrant(ctx, sid, grant, exp)
}

// authenticateClient checks the client of a code or refresh grant: the
// client_id sent (if any) must be the one the code or token was issued
// to, and a confidential client must give its secret.
func (s *Service) authenticateClient(ctx context.Context, issuedTo string, info LoginInfo) (*store.Client, error) {
	if info.ClientID != "" && info.ClientID != issuedTo {
		return nil, grantErr("invalid_grant", "the code or token was issued to another client")
	}
	c, err := s.Client(ctx, issuedTo)
	if errors.Is(err, store.ErrNotFound) {
		return nil, grantErr("invalid_client", "the client is no longer registered")
	}
	if err != nil {
		return nil, fmt.Errorf("load client: %w", err)
	}
	if c.SecretHash == "" {
		return c, nil // public: PKCE (or the refresh token itself) proves it
	}
	if info.ClientSecret == "" {
		return nil, grantErr("invalid_client", "client authentication is required (client_secret, or HTTP Basic)")
	}
	if subtle.ConstantTimeCompare([]byte(HashToken(info.ClientSecret)), []byte(c.SecretHash)) != 1 {
		return nil, grantErr("invalid_client", "unknown client or wrong secret")
	}
	return c, nil
}

// AuthorizationCodeGrant exchanges an authorization code for tokens and, for
// the openid scope, an id_token. The code works once: a second exchange
// (a copy the attacker kept) revokes what the first one issued.
func (s *Service) AuthorizationCodeGrant(ctx context.Context, issuer, code, redirectURI, verifier string, info LoginInfo) (*TokenPair, error) {
	pair, err := s.codeGrant(ctx, issuer, code, redirectURI, verifier, info)
	s.count(GrantAuthorizationCode, err == nil)
	return pair, err
}

func (s *Service) codeGrant(ctx context.Context, issuer, code, redirectURI, verifier string, info LoginInfo) (*TokenPair, error) {
	if code == "" {
		return nil, grantErr("invalid_request", `field "code": is required`)
	}
	if len(code) > 256 {
		return nil, grantErr("invalid_grant", "the authorization code is invalid or expired")
	}
	hash := HashToken(code)
	ac, err := s.st.GetAuthCode(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, grantErr("invalid_grant", "the authorization code is invalid or expired")
	}
	if err != nil {
		return nil, fmt.Errorf("look up authorization code: %w", err)
	}
	c, err := s.authenticateClient(ctx, ac.ClientID, info)
	if err != nil {
		return nil, err
	}
	if ac.GrantID != "" {
		if err := s.revokeGrants(context.WithoutCancel(ctx), ac.UserID, []string{ac.GrantID}, "authorization code reused"); err != nil {
			return nil, err
		}
		s.log.Warn("authorization code used twice: the tokens issued with it are revoked", "client", c.ID, "user", ac.UserID, "ip", info.ClientIP)
		return nil, grantErr("invalid_grant", "the authorization code was already used: the tokens issued with it are revoked")
	}
	if ac.Expires <= s.now().UnixMilli() {
		return nil, grantErr("invalid_grant", "the authorization code expired (codes last %s): start the login again", s.cfg.OAuth2Provider.AuthCodeExpiration)
	}
	if redirectURI != ac.RedirectURI {
		return nil, grantErr("invalid_grant", `field "redirect_uri": is not the redirect_uri of the authorization request`)
	}
	if err := checkVerifier(ac, verifier); err != nil {
		return nil, err
	}
	u, err := s.st.GetUser(ctx, ac.UserID)
	if err != nil {
		return nil, grantErr("invalid_grant", "the user of the authorization code no longer exists")
	}
	refresh := slices.Contains(c.GrantTypes, GrantRefreshToken)
	var claimed bool
	pair, err := s.issueLogin(ctx, u, c.ID, refresh, func(tx store.Store, grant string) error {
		var err error
		if claimed, err = tx.ClaimAuthCode(ctx, hash, grant); err != nil {
			return err
		}
		if !claimed {
			return errCodeClaimed // exchanged at this moment by another request
		}
		return s.sessionGrant(ctx, tx, ac.SID, grant)
	})
	if errors.Is(err, errCodeClaimed) {
		return nil, grantErr("invalid_grant", "the authorization code was already used")
	}
	if err != nil {
		return nil, err
	}
	pair.Scope = ac.Scope
	if slices.Contains(strings.Fields(ac.Scope), "openid") {
		if pair.IDToken, err = s.idToken(ctx, issuer, c.ID, u, ac.Nonce, ac.SID, ac.AuthTime/1000, pair.AccessToken); err != nil {
			return nil, err
		}
	}
	s.log.Info("login", "user", u.ID, "client", c.ID, "grant", GrantAuthorizationCode, "ip", info.ClientIP)
	return pair, nil
}

var errCodeClaimed = errors.New("authorization code already claimed")

// checkVerifier checks the PKCE code_verifier against the code's challenge.
func checkVerifier(ac *store.AuthCode, verifier string) error {
	if ac.Challenge == "" {
		if verifier != "" {
			return grantErr("invalid_grant", `field "code_verifier": the authorization request had no code_challenge`)
		}
		return nil
	}
	if verifier == "" {
		return grantErr("invalid_request", `field "code_verifier": is required (the authorization request had a code_challenge)`)
	}
	if n := len(verifier); n < 43 || n > 128 {
		return grantErr("invalid_grant", `field "code_verifier": %d characters, want 43 to 128`, n)
	}
	want := verifier
	if ac.ChallengeMethod == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(ac.Challenge)) != 1 {
		return grantErr("invalid_grant", `field "code_verifier": does not match the code_challenge`)
	}
	return nil
}

// IDClaims are the claims of the provider's id_tokens.
type IDClaims struct {
	Issuer            string `json:"iss"`
	Subject           string `json:"sub"`
	Audience          string `json:"aud"`
	Expiry            int64  `json:"exp"`
	IssuedAt          int64  `json:"iat"`
	AuthTime          int64  `json:"auth_time,omitempty"`
	Nonce             string `json:"nonce,omitempty"`
	SID               string `json:"sid,omitempty"`
	AZP               string `json:"azp,omitempty"`
	AtHash            string `json:"at_hash,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	Domain            string `json:"domain,omitempty"`
	Role              string `json:"role,omitempty"`
}

// idToken signs the id_token of u for client.
func (s *Service) idToken(ctx context.Context, issuer, clientID string, u *store.User, nonce, sid string, authTime int64, accessToken string) (string, error) {
	d, err := s.Domain(ctx, u.DomainID)
	if err != nil {
		return "", fmt.Errorf("load user's domain: %w", err)
	}
	now := s.now()
	c := IDClaims{
		Issuer: issuer, Subject: u.ID, Audience: clientID, AZP: clientID, IssuedAt: now.Unix(),
		Expiry:   now.Add(s.cfg.OAuth2Provider.AccessTokenExpiration).Unix(),
		AuthTime: authTime, Nonce: nonce, SID: sid,
		PreferredUsername: u.Username, Email: u.Email, Domain: d.Name, Role: u.Role,
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c.AtHash = base64.RawURLEncoding.EncodeToString(sum[:16])
	}
	return s.sign(ctx, c)
}

// UserInfo answers the OpenID Connect userinfo endpoint for a token's user.
func (s *Service) UserInfo(ctx context.Context, p *Principal) (map[string]any, error) {
	if p.UserID == "" {
		return nil, ErrInvalidToken
	}
	u, err := s.st.GetUser(ctx, p.UserID)
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	out := map[string]any{"sub": u.ID, "preferred_username": u.Username, "domain": p.DomainName, "role": u.Role}
	if u.Email != "" {
		out["email"] = u.Email
	}
	return out, nil
}

// StartSession opens a browser session of the provider's login page for
// user and returns the cookie value.
func (s *Service) StartSession(ctx context.Context, userID string) (string, *store.SSOSession, error) {
	cookie := newTokenValue()
	now := s.now()
	ss := &store.SSOSession{Hash: HashToken(cookie), SID: store.NewID(), UserID: userID, AuthTime: now.UnixMilli(),
		Expires: now.Add(s.cfg.OAuth2Provider.SessionExpiration).UnixMilli()}
	if err := s.st.CreateSSOSession(ctx, ss); err != nil {
		return "", nil, fmt.Errorf("store provider session: %w", err)
	}
	return cookie, ss, nil
}

// Session finds the live browser session of a cookie value (nil: none).
func (s *Service) Session(ctx context.Context, cookie string) (*store.SSOSession, error) {
	if cookie == "" || len(cookie) > 256 {
		return nil, nil
	}
	ss, err := s.st.GetSSOSession(ctx, HashToken(cookie))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load provider session: %w", err)
	}
	if ss.Expires <= s.now().UnixMilli() {
		return nil, nil
	}
	return ss, nil
}

// EndSession ends a provider session and every grant issued in it.
func (s *Service) EndSession(ctx context.Context, sid, userID string) error {
	grants, err := s.st.DeleteSSOSession(ctx, sid)
	if err != nil {
		return fmt.Errorf("end provider session: %w", err)
	}
	if len(grants) == 0 {
		return nil
	}
	return s.revokeGrants(ctx, userID, grants, "signed out (end_session)")
}

// IDTokenHint reads an id_token this provider issued (end_session's
// id_token_hint): its signature must be ours; it may have expired.
func (s *Service) IDTokenHint(ctx context.Context, raw string) (*IDClaims, error) {
	var c IDClaims
	if err := s.verifyOwn(ctx, raw, &c); err != nil {
		return nil, fmt.Errorf("id_token_hint: %w", err)
	}
	return &c, nil
}

// HasConsent reports whether user allowed client every scope of scopes.
func (s *Service) HasConsent(ctx context.Context, userID, clientID string, scopes []string) (bool, error) {
	given, err := s.st.GetConsent(ctx, userID, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("load consent: %w", err)
	}
	for _, sc := range scopes {
		if !slices.Contains(given, sc) {
			return false, nil
		}
	}
	return true, nil
}

// GiveConsent records that user allowed client the scopes.
func (s *Service) GiveConsent(ctx context.Context, userID, clientID string, scopes []string) error {
	if err := s.st.SetConsent(ctx, userID, clientID, scopes); err != nil {
		return fmt.Errorf("store consent: %w", err)
	}
	return nil
}

// User loads a user.
func (s *Service) User(ctx context.Context, id string) (*store.User, error) {
	return s.st.GetUser(ctx, id)
}
