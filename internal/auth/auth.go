// Package auth authenticates users and clients: password hashing, the OAuth2
// grants of /sapi/o/token, opaque tokens and their validation, roles,
// capabilities and permissions.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// Principal is who a request acts as.
type Principal struct {
	UserID     string
	Username   string
	DomainID   string
	DomainName string
	Role       string
	ClientID   string // set for client_credentials tokens
	GrantID    string
	Expires    int64 // unix ms when the access token ends
}

// IsAdmin reports whether the principal has the admin role.
func (p *Principal) IsAdmin() bool { return p.Role == store.RoleAdmin }

// IsAnonymous reports whether the principal is an anonymous visitor.
func (p *Principal) IsAnonymous() bool { return p.Role == store.RoleAnonymous }

// URI is the principal's user URI, wac-user:<id>.
func (p *Principal) URI() string { return UserURI(p.UserID) }

// UserURI is the seeds' URI of a user id.
func UserURI(id string) string { return "wac-user:" + id }

// TokenPair is what a grant answers, with the seeds' field names.
type TokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	TokenType    string `json:"token_type"`
	// IDToken and Scope answer the authorization_code grant (OpenID Connect).
	IDToken string `json:"id_token,omitempty"`
	Scope   string `json:"scope,omitempty"`
	// GrantID names the login; it is not sent.
	GrantID string `json:"-"`
}

// Errors of authentication.
var (
	ErrInvalidToken = errors.New("invalid or expired token")
	ErrInvalidGrant = errors.New("invalid credentials")
)

// Revocation tells listeners that grants ended (logout, exclusive login,
// deletion, maxTokens), so that sessions opened with them close.
type Revocation struct {
	UserID   string
	GrantIDs []string
	Hashes   []string
	Reason   string
}

// Metrics counts authentication outcomes; nil fields are skipped.
type Metrics interface {
	Login(grant string, ok bool)
}

// Service issues and validates tokens.
type Service struct {
	st     store.Store
	cfg    *config.Config
	log    *slog.Logger
	hasher *Hasher
	// Metrics is optional.
	Metrics Metrics

	cache    tokenCache
	cacheTTL time.Duration
	capsMu   sync.Mutex
	caps     map[string]capsEntry
	domains  ttlCache[*store.Domain]
	resolved ttlCache[*store.User]
	perms    ttlCache[bool]
	invalid  []func(Invalidation)
	failures failureWindow
	guard    *loginGuard

	mu        sync.Mutex
	listeners []func(Revocation)
	clock     atomic.Pointer[func() time.Time]
	dummyHash string

	// Single sign-on (EnableSSO): the sealer of stored secrets and the
	// id_token signing keys.
	sealer *Sealer
	keySet keySet
	hooks  Hooks
}

// Hooks let the federation (logins through external providers) take part
// in the grants; nil fields do nothing.
type Hooks struct {
	// PasswordLogin refuses a password login of u (in domain d) with a
	// message, when the domain signs in through an external provider only.
	PasswordLogin func(ctx context.Context, u *store.User, d *store.Domain) error
	// Refresh runs before a refresh_token grant of grantID is honoured: a
	// login through an external provider refreshes the provider's tokens
	// there, and fails when the provider no longer accepts them.
	Refresh func(ctx context.Context, userID, grantID string) error
}

// SetHooks installs the federation's hooks; call it before serving.
func (s *Service) SetHooks(h Hooks) { s.hooks = h }

// EnableSSO sets up the provider's sealed signing keys with a key derived
// from the cluster secret.
func (s *Service) EnableSSO(secret []byte) error {
	key, err := DeriveKey(secret, "signing keys")
	if err != nil {
		return fmt.Errorf("derive signing-key sealer: %w", err)
	}
	if s.sealer, err = NewSealer(key); err != nil {
		return err
	}
	return nil
}

// New returns the authentication service.
func New(st store.Store, cfg *config.Config, log *slog.Logger) *Service {
	s := &Service{
		st:       st,
		cfg:      cfg,
		log:      log,
		hasher:   NewHasher(cfg.Password.Memory, cfg.Password.Iterations, cfg.Password.Parallelism),
		cacheTTL: 30 * time.Second,
		guard:    newLoginGuard(&cfg.Login, maxTracked),
	}
	s.SetClock(time.Now)
	s.cache.entries = make(map[string]*cacheEntry)
	s.caps = make(map[string]capsEntry)
	s.failures.events = make(map[string][]time.Time)
	return s
}

// SetClock replaces the service's clock (time.Now), so that tests can move
// time forward: token expiry, login throttling and quotas follow it.
func (s *Service) SetClock(now func() time.Time) { s.clock.Store(&now) }

func (s *Service) now() time.Time { return (*s.clock.Load())() }

// Hasher is the service's password hasher.
func (s *Service) Hasher() *Hasher { return s.hasher }

// OnRevoke registers fn to hear of every revocation made on this node.
func (s *Service) OnRevoke(fn func(Revocation)) {
	s.mu.Lock()
	s.listeners = append(s.listeners, fn)
	s.mu.Unlock()
}

// Forget drops cached tokens, for revocations made on another node.
func (s *Service) Forget(hashes []string) { s.cache.drop(hashes) }

// Announce tells this node's listeners of a revocation whose tokens were
// already deleted (in the caller's transaction).
func (s *Service) Announce(r Revocation) { s.notify(r) }

func (s *Service) notify(r Revocation) {
	s.cache.drop(r.Hashes)
	s.mu.Lock()
	ls := append([]func(Revocation){}, s.listeners...)
	s.mu.Unlock()
	for _, fn := range ls {
		fn(r)
	}
}

// HashToken is how a token value is stored.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func newTokenValue() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Authenticate validates an access token. Valid tokens are answered from
// memory for up to 30 s, so most requests cost no database round trip;
// revocations on this node (and, through the bus, on others) drop them at once.
func (s *Service) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if len(token) == 0 || len(token) > 256 {
		return nil, ErrInvalidToken
	}
	hash := HashToken(token)
	now := s.now()
	if p, ok := s.cache.get(hash, now); ok {
		return p, nil
	}
	t, err := s.st.GetToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	if t.Kind != store.TokenAccess || t.Expires <= now.UnixMilli() {
		return nil, ErrInvalidToken
	}
	p, err := s.principal(ctx, t)
	if err != nil {
		return nil, err
	}
	until := now.Add(s.cacheTTL)
	if exp := time.UnixMilli(t.Expires); exp.Before(until) {
		until = exp
	}
	s.cache.put(hash, p, until)
	return p, nil
}

// principal builds the identity a token stands for.
func (s *Service) principal(ctx context.Context, t *store.Token) (*Principal, error) {
	p := &Principal{GrantID: t.GrantID, Expires: t.Expires, ClientID: t.ClientID}
	var domainID string
	switch {
	case t.UserID != "":
		u, err := s.st.GetUser(ctx, t.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrInvalidToken
		}
		if err != nil {
			return nil, fmt.Errorf("load token user: %w", err)
		}
		p.UserID, p.Username, p.Role, domainID = u.ID, u.Username, u.Role, u.DomainID
	case t.ClientID != "":
		c, err := s.st.GetClient(ctx, t.ClientID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ErrInvalidToken
		}
		if err != nil {
			return nil, fmt.Errorf("load token client: %w", err)
		}
		p.Username, p.Role, domainID = "client:"+c.Name, c.Role, c.DomainID
	default:
		return nil, ErrInvalidToken
	}
	d, err := s.st.GetDomain(ctx, domainID)
	if err != nil {
		return nil, fmt.Errorf("load token domain: %w", err)
	}
	p.DomainID, p.DomainName = d.ID, d.Name
	return p, nil
}

// issue stores tokens of a grant (a new one when grant is "") for a user or
// a client and returns them. A refresh token is issued when refresh is true.
func (s *Service) issue(ctx context.Context, st store.Store, userID, clientID, grant string, accessTTL time.Duration, refresh bool) (*TokenPair, string, error) {
	now := s.now()
	if grant == "" {
		grant = store.NewID()
	}
	access := newTokenValue()
	if err := st.CreateToken(ctx, &store.Token{
		Hash: HashToken(access), Kind: store.TokenAccess, GrantID: grant, UserID: userID, ClientID: clientID,
		Expires: now.Add(accessTTL).UnixMilli(), Created: now.UnixMilli(),
	}); err != nil {
		return nil, "", fmt.Errorf("store access token: %w", err)
	}
	pair := &TokenPair{AccessToken: access, GrantID: grant, ExpiresIn: int64(accessTTL/time.Second) - 1, TokenType: "Bearer"}
	if pair.ExpiresIn < 1 {
		pair.ExpiresIn = 1
	}
	if refresh {
		pair.RefreshToken = newTokenValue()
		if err := st.CreateToken(ctx, &store.Token{
			Hash: HashToken(pair.RefreshToken), Kind: store.TokenRefresh, GrantID: grant, UserID: userID, ClientID: clientID,
			Expires: now.Add(s.cfg.OAuth2Provider.RefreshTokenExpiration).UnixMilli(),
			Created: now.UnixMilli(),
		}); err != nil {
			return nil, "", fmt.Errorf("store refresh token: %w", err)
		}
	}
	return pair, grant, nil
}

// Logout revokes the grant of token (access or refresh).
func (s *Service) Logout(ctx context.Context, token string) error {
	t, err := s.st.GetToken(ctx, HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return ErrInvalidToken
	}
	if err != nil {
		return fmt.Errorf("look up token: %w", err)
	}
	return s.revokeGrants(ctx, t.UserID, []string{t.GrantID}, "logout")
}

// RevokeGrant ends one grant.
func (s *Service) RevokeGrant(ctx context.Context, userID, grantID, reason string) error {
	return s.revokeGrants(ctx, userID, []string{grantID}, reason)
}

func (s *Service) revokeGrants(ctx context.Context, userID string, grants []string, reason string) error {
	var hashes []string
	for _, g := range grants {
		h, err := s.st.DeleteGrant(ctx, g)
		if err != nil {
			return fmt.Errorf("revoke grant: %w", err)
		}
		hashes = append(hashes, h...)
	}
	s.notify(Revocation{UserID: userID, GrantIDs: grants, Hashes: hashes, Reason: reason})
	return nil
}

// RevokeUser ends every grant of a user (deletion, password change).
func (s *Service) RevokeUser(ctx context.Context, userID, reason string) error {
	hashes, err := s.st.DeleteUserTokens(ctx, userID)
	if err != nil {
		return fmt.Errorf("revoke user tokens: %w", err)
	}
	s.notify(Revocation{UserID: userID, Hashes: hashes, Reason: reason})
	return nil
}

// RevokeOtherGrants ends every grant of a user but keep (a password change
// made from the session that keeps working).
func (s *Service) RevokeOtherGrants(ctx context.Context, userID, keep, reason string) error {
	grants, err := s.st.UserGrants(ctx, userID, 0)
	if err != nil {
		return fmt.Errorf("list grants: %w", err)
	}
	var drop []string
	for _, g := range grants {
		if g != keep {
			drop = append(drop, g)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	return s.revokeGrants(ctx, userID, drop, reason)
}

// Cleanup removes expired tokens and anonymous users, writes the summaries
// of failed logins whose window ended, and keeps the newest
// login.maxFailedLoginRows 'Failed login' stats; run it periodically.
func (s *Service) Cleanup(ctx context.Context) error {
	now := s.now().UnixMilli()
	if n, err := s.st.DeleteExpiredTokens(ctx, now); err != nil {
		return fmt.Errorf("remove expired tokens: %w", err)
	} else if n > 0 {
		s.log.Debug("removed expired tokens", "count", n)
	}
	if n, err := s.st.DeleteExpiredUsers(ctx, now); err != nil {
		return fmt.Errorf("remove expired anonymous users: %w", err)
	} else if n > 0 {
		s.log.Debug("removed expired anonymous users", "count", n)
	}
	s.cache.sweep(s.now())
	s.writeStats(ctx, s.guard.sweep(s.now()))
	if keep := s.cfg.Login.MaxFailedLoginRows; keep > 0 {
		if n, err := s.st.PruneStats(ctx, "Login", "Failed login", keep); err != nil {
			return fmt.Errorf("remove old failed-login stats: %w", err)
		} else if n > 0 {
			s.log.Debug("removed old failed-login stats", "count", n, "kept", keep)
		}
	}
	return nil
}

type cacheEntry struct {
	p     *Principal
	until time.Time
}

type tokenCache struct {
	mu      sync.RWMutex
	entries map[string]*cacheEntry
}

func (c *tokenCache) get(hash string, now time.Time) (*Principal, bool) {
	c.mu.RLock()
	e, ok := c.entries[hash]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.p, true
}

func (c *tokenCache) put(hash string, p *Principal, until time.Time) {
	c.mu.Lock()
	c.entries[hash] = &cacheEntry{p: p, until: until}
	c.mu.Unlock()
}

func (c *tokenCache) drop(hashes []string) {
	if len(hashes) == 0 {
		return
	}
	c.mu.Lock()
	for _, h := range hashes {
		delete(c.entries, h)
	}
	c.mu.Unlock()
}

func (c *tokenCache) dropUser(userID string) {
	c.mu.Lock()
	for h, e := range c.entries {
		if e.p.UserID == userID {
			delete(c.entries, h)
		}
	}
	c.mu.Unlock()
}

func (c *tokenCache) sweep(now time.Time) {
	c.mu.Lock()
	for h, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, h)
		}
	}
	c.mu.Unlock()
}
