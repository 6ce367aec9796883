package federation

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// CredentialType is the type of the credentials that hold a provider's
// tokens.
const CredentialType = "oauth2"

// Error is a failed federated login: Code is an OAuth2 error code, Message
// says what failed without secrets.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func fail(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Federation is the client role of OpenWAC's OAuth2 service.
type Federation struct {
	st     store.Store
	auth   *auth.Service
	cfg    *config.Config
	log    *slog.Logger
	sealer *auth.Sealer
	client *http.Client
	clock  func() time.Time

	files []*Provider // from oauth2client.providers

	mu        sync.Mutex
	discovery map[string]*discovered // by issuer
}

type discovered struct {
	p       *oidc.Provider
	extra   providerMeta
	fetched time.Time
}

type providerMeta struct {
	EndSession string `json:"end_session_endpoint"`
}

// discoveryTTL is how long a provider's discovery document is used before
// it is read again.
const discoveryTTL = 10 * time.Minute

// New sets up the federation: the providers directory is read now (an
// error names the file and field), the sealing key is oauth2client.encryptionKey
// or derived from the cluster secret.
func New(ctx context.Context, st store.Store, a *auth.Service, cfg *config.Config, log *slog.Logger, secret []byte) (*Federation, error) {
	key, err := SealingKey(cfg, secret)
	if err != nil {
		return nil, err
	}
	sealer, err := auth.NewSealer(key)
	if err != nil {
		return nil, err
	}
	f := &Federation{st: st, auth: a, cfg: cfg, log: log, sealer: sealer, clock: time.Now,
		client:    &http.Client{Timeout: cfg.OAuth2Client.HTTPTimeout},
		discovery: map[string]*discovered{}}
	files, err := LoadDir(cfg.OAuth2Client.Providers)
	if err != nil {
		return nil, err
	}
	for _, p := range files {
		name := p.Domain
		if name == "" {
			name = cfg.DefaultDomain
		}
		d, err := st.GetDomainByName(ctx, strings.ToLower(name))
		if err != nil {
			return nil, fmt.Errorf("oauth2client.providers: provider %q: domain %q: %w", p.Name, name, err)
		}
		p.Domain, p.domainID, p.ID = d.Name, d.ID, fileID(p.Name)
	}
	f.files = files
	a.SetHooks(auth.Hooks{PasswordLogin: f.passwordLogin, Refresh: f.refresh})
	return f, nil
}

// SealingKey is oauth2client.encryptionKey, or a key derived from the
// cluster secret.
func SealingKey(cfg *config.Config, secret []byte) ([]byte, error) {
	if k := cfg.OAuth2Client.EncryptionKey; k != "" {
		return base64.StdEncoding.DecodeString(k)
	}
	return auth.DeriveKey(secret, "oauth2client tokens")
}

// SetClock replaces the clock (tests).
func (f *Federation) SetClock(now func() time.Time) { f.clock = now }

// SetHTTPClient replaces the client that talks to providers (tests).
func (f *Federation) SetHTTPClient(c *http.Client) { f.client = c }

// fileID is the id of a file provider: stable, and an object id's shape.
func fileID(name string) string {
	sum := auth.HashToken("provider-file:" + name)
	return sum[:24]
}

// Providers lists every provider: the files' and the records'.
func (f *Federation) Providers(ctx context.Context) ([]*Provider, error) {
	out := append([]*Provider{}, f.files...)
	rows, err := f.st.ListIdentityProviders(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("list identity providers: %w", err)
	}
	for _, r := range rows {
		p, err := f.fromRecord(ctx, r)
		if err != nil {
			f.log.Error("unusable identity provider record", "provider", r.Name, "err", err)
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// Provider finds a provider by name or id (nil: none).
func (f *Federation) Provider(ctx context.Context, ref string) (*Provider, error) {
	for _, p := range f.files {
		if p.Name == ref || p.ID == ref {
			return p, nil
		}
	}
	r, err := f.st.GetIdentityProviderByName(ctx, ref)
	if errors.Is(err, store.ErrNotFound) && store.ValidID(ref) {
		r, err = f.st.GetIdentityProvider(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load identity provider: %w", err)
	}
	return f.fromRecord(ctx, r)
}

func (f *Federation) fromRecord(ctx context.Context, r *store.IdentityProvider) (*Provider, error) {
	var p Provider
	if err := json.Unmarshal([]byte(r.Config), &p); err != nil {
		return nil, fmt.Errorf("decode provider: %w", err)
	}
	if r.Secret != "" {
		sec, err := f.sealer.Open(r.Secret, "provider-secret:"+r.ID)
		if err != nil {
			return nil, fmt.Errorf("provider %s: client secret: %w", r.Name, err)
		}
		p.ClientSecret = string(sec)
	}
	d, err := f.auth.Domain(ctx, r.DomainID)
	if err != nil {
		return nil, fmt.Errorf("provider %s: domain: %w", r.Name, err)
	}
	p.ID, p.Name, p.Domain, p.domainID, p.Source = r.ID, r.Name, d.Name, d.ID, "api"
	return &p, nil
}

// ToRecord seals a provider's secret into a store record.
func (f *Federation) ToRecord(p *Provider, domainID string) (*store.IdentityProvider, error) {
	if p.ID == "" {
		p.ID = store.NewID()
	}
	secret := ""
	if p.ClientSecret != "" {
		secret = f.sealer.Seal([]byte(p.ClientSecret), "provider-secret:"+p.ID)
	}
	cp := *p
	cp.ClientSecret, cp.ID, cp.Domain, cp.Source = "", "", "", ""
	data, err := json.Marshal(cp)
	if err != nil {
		return nil, err
	}
	return &store.IdentityProvider{ID: p.ID, DomainID: domainID, Name: p.Name, Config: string(data), Secret: secret}, nil
}

// IsFile reports whether a provider comes from the providers directory
// (read-only through the API).
func (p *Provider) IsFile() bool { return p.Source == "file" }

// DomainID is the id of the provider's domain.
func (p *Provider) DomainID() string { return p.domainID }

// oidcProvider returns the provider's discovery (cached for discoveryTTL).
// Its key set is fetched when an id_token is checked, with a context that
// outlives the request.
func (f *Federation) oidcProvider(p *Provider) (*discovered, error) {
	f.mu.Lock()
	d, ok := f.discovery[p.Issuer]
	f.mu.Unlock()
	if ok && f.clock().Sub(d.fetched) < discoveryTTL {
		return d, nil
	}
	ctx := oidc.ClientContext(context.Background(), f.client)
	op, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, fail("invalid_request", "the identity provider %q answers for the issuer %q, not %q: check its issuer setting", p.Name, mismatch.Discovered, mismatch.Provided)
		}
		return nil, fail("temporarily_unavailable", "cannot read the discovery document of the identity provider %q: %v", p.Name, err)
	}
	d = &discovered{p: op, fetched: f.clock()}
	_ = op.Claims(&d.extra)
	f.mu.Lock()
	f.discovery[p.Issuer] = d
	f.mu.Unlock()
	return d, nil
}

func (f *Federation) oauthConfig(p *Provider, d *discovered, redirect string) *oauth2.Config {
	return &oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, Endpoint: d.p.Endpoint(),
		RedirectURL: redirect, Scopes: p.Scopes}
}

// flowState is what the browser's wac_fed cookie carries between the start
// of a login and its callback, sealed.
type flowState struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
	Created  int64  `json:"t"`
}

// flowTTL is how long a login at a provider may take.
const flowTTL = 10 * time.Minute

func randomString() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Start begins a login at the provider named: it returns the URL to send
// the browser to and the sealed value of the flow cookie.
func (f *Federation) Start(ctx context.Context, name, redirect, returnTo string) (authURL, cookie string, err error) {
	p, err := f.Provider(ctx, name)
	if err != nil {
		return "", "", err
	}
	if p == nil {
		return "", "", fail("invalid_request", "no identity provider is named %q", name)
	}
	d, err := f.oidcProvider(p)
	if err != nil {
		return "", "", err
	}
	st := flowState{Provider: p.Name, State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(),
		ReturnTo: returnTo, Created: f.clock().Unix()}
	raw, _ := json.Marshal(st)
	cookie = f.sealer.Seal(raw, "federation-flow")
	authURL = f.oauthConfig(p, d, redirect).AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier))
	return authURL, cookie, nil
}

// ReturnTo reads where a flow cookie sends the browser back to, for error
// answers ("/" when it cannot be read).
func (f *Federation) ReturnTo(cookie string) string {
	var st flowState
	if raw, err := f.sealer.Open(cookie, "federation-flow"); err == nil && json.Unmarshal(raw, &st) == nil && st.ReturnTo != "" {
		return st.ReturnTo
	}
	return "/"
}

// Callback is the provider's answer: it checks the state against the flow
// cookie, exchanges the code, verifies the id_token and logs the user in.
func (f *Federation) Callback(ctx context.Context, cookie, state, code, redirect string, info auth.LoginInfo) (*auth.TokenPair, error) {
	var st flowState
	raw, err := f.sealer.Open(cookie, "federation-flow")
	if err != nil || json.Unmarshal(raw, &st) != nil {
		return nil, fail("invalid_request", "the login's state cookie is missing or unreadable: start the login again from the same browser")
	}
	if state == "" || state != st.State {
		return nil, fail("invalid_request", "state mismatch: this answer does not belong to the login this browser started")
	}
	if f.clock().Sub(time.Unix(st.Created, 0)) > flowTTL {
		return nil, fail("invalid_request", "the login took longer than %s: start it again", flowTTL)
	}
	if code == "" {
		return nil, fail("invalid_request", `the provider's answer has no "code"`)
	}
	p, err := f.Provider(ctx, st.Provider)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fail("invalid_request", "the identity provider %q no longer exists", st.Provider)
	}
	d, err := f.oidcProvider(p)
	if err != nil {
		return nil, err
	}
	cctx := oidc.ClientContext(ctx, f.client)
	tok, err := f.oauthConfig(p, d, redirect).Exchange(cctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, fail("invalid_grant", "the identity provider %q refused the code: %s %s", p.Name, re.ErrorCode, re.ErrorDescription)
		}
		return nil, fail("temporarily_unavailable", "cannot reach the token endpoint of the identity provider %q: %v", p.Name, err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return nil, fail("invalid_grant", "the identity provider %q sent no id_token (is openid among its scopes?)", p.Name)
	}
	claims, err := f.verify(ctx, p, d, rawID, st.Nonce)
	if err != nil {
		return nil, err
	}
	if err := f.userinfo(cctx, p, d, tok, claims); err != nil {
		return nil, err
	}
	return f.login(ctx, p, claims, tok, rawID, info)
}

// userinfo completes the id_token's claims from the userinfo endpoint when
// a claim the mapping reads is not in the id_token (providers may keep
// profile claims out of it). The answer must be about the same subject.
func (f *Federation) userinfo(ctx context.Context, p *Provider, d *discovered, tok *oauth2.Token, claims map[string]any) error {
	missing := false
	for _, name := range []string{p.Claims.Username, p.Claims.Email, p.Claims.Groups} {
		if _, ok := claims[name]; name != "" && !ok {
			missing = true
		}
	}
	if !missing || d.p.UserInfoEndpoint() == "" {
		return nil
	}
	ui, err := d.p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fail("temporarily_unavailable", "cannot read the userinfo of the identity provider %q: %v", p.Name, err)
	}
	if ui.Subject != claims["sub"] {
		return fail("invalid_grant", "the userinfo of %q is about another subject than its id_token", p.Name)
	}
	var extra map[string]any
	if err := ui.Claims(&extra); err != nil {
		return fail("invalid_grant", "the userinfo of %q is unreadable", p.Name)
	}
	for k, v := range extra {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

// verify checks an id_token: signature (the provider's JWKS), issuer,
// audience, expiry and issue time within oauth2client.clockSkew, nonce.
func (f *Federation) verify(ctx context.Context, p *Provider, d *discovered, rawID, nonce string) (map[string]any, error) {
	skew := f.cfg.OAuth2Client.ClockSkew
	v := d.p.Verifier(&oidc.Config{ClientID: p.ClientID, Now: func() time.Time { return f.clock().Add(-skew) }})
	idt, err := v.Verify(ctx, rawID)
	if err != nil {
		var expired *oidc.TokenExpiredError
		msg := err.Error()
		switch {
		case errors.As(err, &expired):
			return nil, fail("invalid_grant", "the id_token of %q expired at %s (now %s, %s of clock skew allowed): check the clocks",
				p.Name, expired.Expiry.UTC().Format(time.RFC3339), f.clock().UTC().Format(time.RFC3339), skew)
		case strings.Contains(msg, "expected audience"):
			return nil, fail("invalid_grant", "the id_token of %q is for another client (wrong audience; expected %q)", p.Name, p.ClientID)
		case strings.Contains(msg, "id token issued by a different provider"):
			return nil, fail("invalid_grant", "the id_token of %q comes from an unknown issuer (expected %q)", p.Name, p.Issuer)
		case strings.Contains(msg, "fetching keys") || strings.Contains(msg, "get keys"):
			return nil, fail("temporarily_unavailable", "cannot fetch the signing keys (JWKS) of %q to check its id_token", p.Name)
		default:
			return nil, fail("invalid_grant", "the id_token of %q does not verify: %s", p.Name, strings.TrimPrefix(msg, "oidc: "))
		}
	}
	if idt.IssuedAt.After(f.clock().Add(skew)) {
		return nil, fail("invalid_grant", "the id_token of %q was issued in the future (%s; now %s, %s of clock skew allowed): check the clocks",
			p.Name, idt.IssuedAt.UTC().Format(time.RFC3339), f.clock().UTC().Format(time.RFC3339), skew)
	}
	if idt.Nonce != nonce {
		return nil, fail("invalid_grant", "the id_token of %q does not carry this login's nonce (a replayed token?)", p.Name)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, fail("invalid_grant", "the id_token of %q has unreadable claims", p.Name)
	}
	claims["iss"], claims["sub"] = idt.Issuer, idt.Subject
	return claims, nil
}

// storedTokens are a provider's tokens, sealed in a credential.
type storedTokens struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	IDToken      string    `json:"id_token,omitempty"`
	Expiry       time.Time `json:"expiry"`
}

func (f *Federation) sealTokens(t *storedTokens, credID string) string {
	raw, _ := json.Marshal(t)
	return f.sealer.Seal(raw, "provider-tokens:"+credID)
}

func (f *Federation) openTokens(c *store.Credential) (*storedTokens, error) {
	sealed, _ := c.Data["sealed"].(string)
	raw, err := f.sealer.Open(sealed, "provider-tokens:"+c.ID)
	if err != nil {
		return nil, err
	}
	var t storedTokens
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("decode provider tokens: %w", err)
	}
	return &t, nil
}

// grantCredential finds the credential holding the provider's tokens of
// a login (grant) of user (nil: the login was not through a provider).
func (f *Federation) grantCredential(ctx context.Context, userID, grantID string) (*store.Credential, error) {
	list, err := f.st.ListCredentials(ctx, nil, userID, store.Page{})
	if err != nil {
		return nil, fmt.Errorf("list credentials: %w", err)
	}
	for _, c := range list {
		if c.Type == CredentialType && c.UserID == userID {
			if g, _ := c.Context["grant"].(string); g == grantID {
				return c, nil
			}
		}
	}
	return nil, nil
}
