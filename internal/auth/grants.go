package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/openwac/wac/internal/origin"
	"github.com/openwac/wac/internal/store"
)

// GrantError is a refused grant: Code is the RFC 6749 error code.
type GrantError struct {
	Code    string // invalid_request, invalid_grant, invalid_client, unauthorized_client, too_many_requests
	Message string
	// RetryAfter, when set, is how long the client must wait before trying
	// again (too_many_requests: HTTP 429 with Retry-After).
	RetryAfter time.Duration
}

func (e *GrantError) Error() string { return e.Message }

func grantErr(code, format string, args ...any) error {
	return &GrantError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// LoginInfo is what the token endpoint knows of the request.
type LoginInfo struct {
	ClientIP string
	Origin   string // the Origin header, for anonymous domain matching
	// ClientID and ClientSecret authenticate the client of a refresh_token
	// or authorization_code grant (form fields or HTTP Basic).
	ClientID     string
	ClientSecret string
}

// SplitUsername splits "alice@quobis" into its parts; a bare name gets the
// default domain. Both are lower-cased.
func (s *Service) SplitUsername(full string) (username, domain string) {
	full = strings.ToLower(strings.TrimSpace(full))
	if i := strings.LastIndexByte(full, '@'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return full, strings.ToLower(s.cfg.DefaultDomain)
}

// PasswordGrant logs a user in with username@domain and password. An
// account, or a client address, that failed too often waits before its next
// attempt: attempts made earlier are refused (too_many_requests) without
// looking the user up or hashing the password.
func (s *Service) PasswordGrant(ctx context.Context, fullName, password string, info LoginInfo) (*TokenPair, error) {
	user, domain, err := s.AuthenticatePassword(ctx, fullName, password, info)
	if err != nil {
		return nil, err
	}
	pair, err := s.IssueLogin(ctx, user, "", nil)
	if err != nil {
		return nil, err
	}
	s.count("password", true)
	s.log.Info("login", "user", user.Username+"@"+domain.Name, "ip", info.ClientIP)
	return pair, nil
}

// AuthenticatePassword checks username@domain and password, throttled as
// PasswordGrant says, and returns the user: the token endpoint's password
// grant and the authorization page's form both go through it.
func (s *Service) AuthenticatePassword(ctx context.Context, fullName, password string, info LoginInfo) (*store.User, *store.Domain, error) {
	if err := checkUsername(fullName); err != nil {
		return nil, nil, err
	}
	if password == "" {
		return nil, nil, grantErr("invalid_request", `field "password": is required`)
	}
	username, domainName := s.SplitUsername(fullName)
	ticket, refused := s.guard.admit(username+"@"+domainName, info.ClientIP, s.now())
	if refused != nil {
		s.log.Debug("login refused", "user", clip(username+"@"+domainName), "ip", info.ClientIP, "reason", refused.Message)
		return nil, nil, refused
	}
	user, domain, err := s.verifyPassword(ctx, username, domainName, password, info)
	var ge *GrantError
	switch {
	case err == nil:
		ticket.succeeded()
	case errors.Is(err, errPasswordOff):
		ticket.succeeded() // the password was right
		return nil, nil, err.(*passwordOffError).GrantError
	case errors.As(err, &ge) && ge.Code == "invalid_grant":
		ticket.failed()
	default:
		ticket.aborted()
	}
	return user, domain, err
}

// errPasswordOff marks a right password of a domain that logs in through an
// external provider only.
var errPasswordOff = errors.New("password login is disabled")

type passwordOffError struct{ *GrantError }

func (e *passwordOffError) Is(target error) bool { return target == errPasswordOff }

// verifyPassword checks the password of username@domainName.
func (s *Service) verifyPassword(ctx context.Context, username, domainName, password string, info LoginInfo) (*store.User, *store.Domain, error) {
	user, domain, hash, err := s.findLogin(ctx, username, domainName)
	if err != nil {
		return nil, nil, err
	}
	if hash == "" {
		// Spend the same time as a real check, so that response times do not
		// tell which usernames exist.
		if _, err := s.hasher.Verify(ctx, s.dummy(ctx), password); err != nil && !errors.Is(err, ErrBadHash) {
			return nil, nil, err
		}
		s.loginFailed(ctx, username+"@"+domainName, domain, "", info, "unknown user")
		return nil, nil, grantErr("invalid_grant", "invalid username or password")
	}
	ok, err := s.hasher.Verify(ctx, hash, password)
	if err != nil && !errors.Is(err, ErrBadHash) {
		return nil, nil, err
	}
	if !ok {
		s.loginFailed(ctx, username+"@"+domainName, domain, user.ID, info, "wrong password")
		return nil, nil, grantErr("invalid_grant", "invalid username or password")
	}
	if s.hooks.PasswordLogin != nil {
		if err := s.hooks.PasswordLogin(ctx, user, domain); err != nil {
			var ge *GrantError
			if errors.As(err, &ge) {
				s.log.Info("password login refused: the domain signs in through its identity provider",
					"user", username+"@"+domainName, "ip", info.ClientIP)
				return nil, nil, &passwordOffError{ge}
			}
			return nil, nil, err
		}
	}
	return user, domain, nil
}

// IssueLogin issues the tokens of a new login of user (for clientID when an
// app logs the user in), applies exclusive login and maxTokens, and records
// the login time. inTx, when set, runs in the same transaction (what the
// login brings along, such as a provider's tokens).
func (s *Service) IssueLogin(ctx context.Context, user *store.User, clientID string, inTx func(tx store.Store, grant string) error) (*TokenPair, error) {
	return s.issueLogin(ctx, user, clientID, true, inTx)
}

func (s *Service) issueLogin(ctx context.Context, user *store.User, clientID string, refresh bool, inTx func(tx store.Store, grant string) error) (*TokenPair, error) {
	var pair *TokenPair
	var revoked []string
	ttl := s.cfg.OAuth2Provider.AccessTokenExpiration
	err := s.st.InTx(ctx, func(tx store.Store) error {
		var grant string
		var err error
		pair, grant, err = s.issue(ctx, tx, user.ID, clientID, "", ttl, refresh)
		if err != nil {
			return err
		}
		if inTx != nil {
			if err := inTx(tx, grant); err != nil {
				return err
			}
		}
		revoked, err = s.limitGrants(ctx, tx, user.ID, grant)
		if err != nil {
			return err
		}
		return tx.TouchLastLogin(ctx, user.ID, s.now().UnixMilli())
	})
	if err != nil {
		return nil, fmt.Errorf("issue tokens: %w", err)
	}
	if len(revoked) > 0 {
		reason := "maxTokens"
		if s.cfg.Login.Exclusive {
			reason = "exclusive login: the user logged in elsewhere"
		}
		if err := s.revokeGrants(ctx, user.ID, revoked, reason); err != nil {
			return nil, err
		}
	}
	return pair, nil
}

// findLogin loads a user with its password hash; hash is "" when the user
// cannot log in with a password.
func (s *Service) findLogin(ctx context.Context, username, domainName string) (*store.User, *store.Domain, string, error) {
	d, err := s.st.GetDomainByName(ctx, domainName)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, "", nil
	}
	if err != nil {
		return nil, nil, "", fmt.Errorf("load domain: %w", err)
	}
	u, err := s.st.GetUserByName(ctx, d.ID, username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, d, "", nil
	}
	if err != nil {
		return nil, d, "", fmt.Errorf("load user: %w", err)
	}
	if u.Role == store.RoleAnonymous {
		return u, d, "", nil
	}
	c, err := s.st.GetBasicCredential(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return u, d, "", nil
	}
	if err != nil {
		return nil, d, "", fmt.Errorf("load credential: %w", err)
	}
	hash, _ := c.Data["hash"].(string)
	return u, d, hash, nil
}

// limitGrants applies exclusive login and maxTokens after grant was issued,
// returning the grants to revoke (oldest first).
func (s *Service) limitGrants(ctx context.Context, st store.Store, userID, keep string) ([]string, error) {
	limit := s.cfg.OAuth2Provider.MaxTokens
	if s.cfg.Login.Exclusive {
		limit = 1
	}
	if limit <= 0 {
		return nil, nil
	}
	grants, err := st.UserGrants(ctx, userID, s.now().UnixMilli())
	if err != nil {
		return nil, err
	}
	var drop []string
	excess := len(grants) - limit
	for _, g := range grants {
		if excess <= 0 {
			break
		}
		if g == keep {
			continue
		}
		drop = append(drop, g)
		excess--
	}
	return drop, nil
}

func (s *Service) dummy(ctx context.Context) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dummyHash == "" {
		s.dummyHash, _ = s.hasher.Hash(ctx, "not a password")
	}
	return s.dummyHash
}

func (s *Service) count(grant string, ok bool) {
	if s.Metrics != nil {
		s.Metrics.Login(grant, ok)
	}
}

// RefreshGrant exchanges a refresh token for new tokens of the same grant;
// the old pair stops working. A refresh token that comes back after it was
// exchanged is taken for a stolen copy (the thief or the owner used it
// first): every token of its grant is revoked, the revocation is announced
// so that the sessions opened with them close, and an alarm is raised.
func (s *Service) RefreshGrant(ctx context.Context, refresh string, info LoginInfo) (*TokenPair, error) {
	if refresh == "" {
		return nil, grantErr("invalid_request", `field "refresh_token": is required`)
	}
	hash := HashToken(refresh)
	t, err := s.st.GetToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.refreshUnknown(ctx, hash, info)
	}
	if err != nil {
		return nil, fmt.Errorf("look up refresh token: %w", err)
	}
	if t.Kind != store.TokenRefresh || t.Expires <= s.now().UnixMilli() {
		s.count("refresh_token", false)
		return nil, errRefreshInvalid
	}
	if t.UserID != "" && t.ClientID != "" {
		// An app's login: the app authenticates as it did for the code.
		if _, err := s.authenticateClient(ctx, t.ClientID, info); err != nil {
			s.count("refresh_token", false)
			return nil, err
		}
	}
	if s.hooks.Refresh != nil && t.UserID != "" {
		if err := s.hooks.Refresh(ctx, t.UserID, t.GrantID); err != nil {
			s.count("refresh_token", false)
			return nil, err
		}
	}
	var pair *TokenPair
	var old []string
	ttl := s.cfg.OAuth2Provider.AccessTokenExpiration
	err = s.st.InTx(ctx, func(tx store.Store) error {
		claimed, err := tx.ClaimRefreshToken(ctx, t)
		if err != nil {
			return err
		}
		if !claimed {
			return errRefreshClaimed // exchanged at this moment by another request
		}
		if old, err = tx.DeleteGrant(ctx, t.GrantID); err != nil {
			return err
		}
		if !slices.Contains(old, hash) {
			return errRefreshInvalid // revoked since it was looked up
		}
		pair, _, err = s.issue(ctx, tx, t.UserID, t.ClientID, t.GrantID, ttl, true)
		return err
	})
	if errors.Is(err, errRefreshClaimed) {
		return nil, s.refreshUnknown(ctx, hash, info)
	}
	if err != nil {
		var ge *GrantError
		if errors.As(err, &ge) {
			s.count("refresh_token", false)
			return nil, ge
		}
		return nil, fmt.Errorf("refresh: %w", err)
	}
	s.cache.drop(old) // same grant, new tokens: sessions opened with it stay
	s.count("refresh_token", true)
	return pair, nil
}

var (
	errRefreshInvalid = grantErr("invalid_grant", "refresh_token is invalid or expired")
	errRefreshClaimed = errors.New("refresh token already claimed")
)

// refreshUnknown answers a refresh token that is not a live one: if it was
// exchanged before, its grant is revoked.
func (s *Service) refreshUnknown(ctx context.Context, hash string, info LoginInfo) error {
	s.count("refresh_token", false)
	used, err := s.st.GetUsedRefreshToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return errRefreshInvalid
	}
	if err != nil {
		return fmt.Errorf("look up used refresh token: %w", err)
	}
	if err := s.refreshReused(context.WithoutCancel(ctx), used, info); err != nil {
		return err
	}
	return grantErr("invalid_grant", "refresh_token was already used: every token of its login is revoked, log in again")
}

// refreshReused revokes the grant of a refresh token used again and
// raises the alarm. The grant's records of used tokens go first, so that
// further replays find nothing and raise no more alarms.
func (s *Service) refreshReused(ctx context.Context, used *store.Token, info LoginInfo) error {
	if err := s.st.DeleteUsedRefreshTokens(ctx, used.GrantID); err != nil {
		return fmt.Errorf("forget used refresh tokens: %w", err)
	}
	if err := s.revokeGrants(ctx, used.UserID, []string{used.GrantID}, "refresh token reused"); err != nil {
		return err
	}
	who, domainID := "client "+used.ClientID, ""
	if used.UserID != "" {
		who = "user " + used.UserID
		if u, err := s.st.GetUser(ctx, used.UserID); err == nil {
			if d, err := s.Domain(ctx, u.DomainID); err == nil {
				who, domainID = u.Username+"@"+d.Name, d.ID
			}
		}
	}
	s.log.Warn("refresh token reused: its grant is revoked", "user", who, "grant", used.GrantID, "ip", info.ClientIP)
	if err := s.st.CreateAlarm(ctx, &store.Alarm{
		Type: "refresh-token-reuse", DomainID: domainID, UserID: used.UserID,
		Message: fmt.Sprintf("a refresh token of %s was used again after it was exchanged (from %s): the login is revoked", who, info.ClientIP),
		Data:    map[string]any{"grant": used.GrantID, "ip": info.ClientIP},
	}); err != nil {
		s.log.Error("store refresh-token-reuse alarm", "err", err)
	}
	return nil
}

// ClientCredentialsGrant issues an access token to a registered client.
func (s *Service) ClientCredentialsGrant(ctx context.Context, clientID, secret string) (*TokenPair, error) {
	if clientID == "" || secret == "" {
		return nil, grantErr("invalid_client", "client_id and client_secret are required")
	}
	if !store.ValidID(clientID) {
		s.count("client_credentials", false)
		return nil, grantErr("invalid_client", "unknown client or wrong secret")
	}
	c, err := s.st.GetClient(ctx, clientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load client: %w", err)
	}
	if c == nil || subtle.ConstantTimeCompare([]byte(HashToken(secret)), []byte(c.SecretHash)) != 1 {
		s.count("client_credentials", false)
		return nil, grantErr("invalid_client", "unknown client or wrong secret")
	}
	if !slices.Contains(c.GrantTypes, GrantClientCredentials) {
		s.count("client_credentials", false)
		return nil, grantErr("unauthorized_client", "this client may not use the client_credentials grant (its grant types: %s)", strings.Join(c.GrantTypes, ", "))
	}
	ttl := s.cfg.OAuth2Provider.AccessTokenExpiration
	pair, _, err := s.issue(ctx, s.st, "", c.ID, "", ttl, false)
	if err != nil {
		return nil, err
	}
	s.count("client_credentials", true)
	return pair, nil
}

// NewClientSecret returns a fresh client secret and the hash to store.
func NewClientSecret() (secret, hash string) {
	secret = newTokenValue()
	return secret, HashToken(secret)
}

// AnonymousGrant logs an anonymous visitor into the domain that "@name"
// designates: the domain of that name, or else the domain whose origins
// match it or the request's Origin most specifically (see package origin).
// The domain must have enableAnonymous; the session lasts
// anonymousExpiration. Attempts per client address, and logins per domain,
// are limited within a window (login.anonymousPerAddress,
// login.anonymousPerDomain).
func (s *Service) AnonymousGrant(ctx context.Context, username string, info LoginInfo) (*TokenPair, error) {
	if err := checkUsername(username); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(username, "@") || len(username) < 2 {
		return nil, grantErr("invalid_request", `field "username": must have the form "@domain" for the anonymous grant`)
	}
	if refused := s.guard.anonymousFrom(info.ClientIP, s.now()); refused != nil {
		s.log.Debug("anonymous login refused", "ip", info.ClientIP, "reason", refused.Message)
		return nil, refused
	}
	d, err := s.anonymousDomain(ctx, strings.ToLower(username[1:]), info.Origin)
	if err != nil {
		return nil, err
	}
	if d == nil {
		s.count("anonymous", false)
		return nil, grantErr("invalid_grant", "no domain accepts anonymous users for %q", clip(username))
	}
	if refused := s.guard.anonymousInto(d.ID, d.Name, s.now()); refused != nil {
		s.log.Debug("anonymous login refused", "domain", d.Name, "ip", info.ClientIP, "reason", refused.Message)
		return nil, refused
	}
	ttl := s.cfg.OAuth2Provider.AccessTokenExpiration
	if d.AnonymousExpiration > 0 {
		ttl = time.Duration(d.AnonymousExpiration) * time.Millisecond
	}
	id := store.NewID()
	u := &store.User{
		ID: id, DomainID: d.ID, Username: "anonymous-" + id, Role: store.RoleAnonymous,
		Created: s.now().UnixMilli(), LastLogin: s.now().UnixMilli(),
		Expires: s.now().Add(ttl).UnixMilli(),
	}
	var pair *TokenPair
	err = s.st.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		var err error
		pair, _, err = s.issue(ctx, tx, u.ID, "", "", ttl, false)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("anonymous login: %w", err)
	}
	if s.cfg.Login.SendStatic {
		if _, err := s.st.LeaseAnonymousCredential(ctx, d.ID, u.ID); errors.Is(err, store.ErrNotFound) {
			s.log.Warn("anonymous ims credential pool is empty", "domain", d.Name)
		} else if err != nil {
			s.log.Error("lease anonymous credential", "domain", d.Name, "err", err)
		}
	}
	s.count("anonymous", true)
	s.log.Info("anonymous login", "domain", d.Name, "user", u.ID, "ip", info.ClientIP)
	return pair, nil
}

func (s *Service) anonymousDomain(ctx context.Context, name, originHeader string) (*store.Domain, error) {
	d, err := s.st.GetDomainByName(ctx, name)
	if err == nil {
		if d.EnableAnonymous {
			return d, nil
		}
		return nil, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load domain: %w", err)
	}
	domains, err := s.st.ListDomains(ctx)
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	// The most specific pattern wins (an exact host over a wildcard, a
	// longer wildcard over a shorter, the system admin's globs and "*"
	// last), so that a catch-all never takes visitors another domain names.
	var best *store.Domain
	bestRank := -1
	for _, d := range domains {
		if !d.EnableAnonymous {
			continue
		}
		for _, raw := range d.Origins {
			p, err := origin.Parse(raw)
			if err != nil {
				continue // written before patterns were checked: matches nothing
			}
			if !p.MatchName(name) && (originHeader == "" || !p.MatchOrigin(originHeader)) {
				continue
			}
			if rank := p.Specificity(); rank > bestRank {
				best, bestRank = d, rank
			}
		}
	}
	return best, nil
}

// failureWindow counts failed logins per account in a sliding window.
type failureWindow struct {
	mu     sync.Mutex
	events map[string][]time.Time
}

// add records a failure of key at now and reports whether units failures
// fell within window; the count restarts after an alarm.
func (f *failureWindow) add(key string, now time.Time, units int, window time.Duration) (bool, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.events[key][:0]
	for _, t := range f.events[key] {
		if now.Sub(t) < window {
			kept = append(kept, t)
		}
	}
	kept = append(kept, now)
	if units > 0 && len(kept) >= units {
		n := len(kept)
		delete(f.events, key)
		return true, n
	}
	f.events[key] = kept
	if len(f.events) > 100000 { // bound memory under a flood of names
		for k, ts := range f.events {
			if now.Sub(ts[len(ts)-1]) >= window {
				delete(f.events, k)
			}
		}
	}
	return false, len(kept)
}

// loginFailed records a 'Failed login' stat (up to failedLoginRows per
// account and per address in a window; past that, one summary per window)
// and raises the alarms: limitRateUnits failures of the account within
// limitRateSeconds, and sprayAccounts different accounts failing from the
// address within failureWindow.
func (s *Service) loginFailed(ctx context.Context, account string, d *store.Domain, userID string, info LoginInfo, reason string) {
	s.count("password", false)
	domainID := ""
	if d != nil {
		domainID = d.ID
	}
	shown := clip(account)
	s.log.Warn("failed login", "user", shown, "ip", info.ClientIP, "reason", reason)
	ctx = context.WithoutCancel(ctx)
	now := s.now()
	write, due := s.guard.failedRow(failedLogin{account: account, shown: shown, addr: info.ClientIP, domainID: domainID, user: userID}, now)
	if write {
		due = append(due, &store.Stat{
			Service: "Login", Type: "Failed login", DomainID: domainID, UserID: userID, Created: now.UnixMilli(),
			Data: map[string]any{"username": shown, "ip": info.ClientIP, "reason": reason},
		})
	}
	s.writeStats(ctx, due)
	if alarm, n := s.guard.sprayed(info.ClientIP, account, now); alarm {
		s.sprayAlarm(ctx, info.ClientIP, n)
	}
	units, window := s.cfg.Login.LimitRateUnits, s.cfg.Login.LimitRateWindow
	secs := int64(window / time.Second)
	alarm, n := s.failures.add(account, now, units, window)
	if !alarm {
		return
	}
	msg := fmt.Sprintf("%d failed logins for %s within %d seconds", n, shown, secs)
	s.log.Warn("failed-login alarm", "user", shown, "failures", n, "seconds", secs, "ip", info.ClientIP)
	if err := s.st.CreateAlarm(ctx, &store.Alarm{
		Type: "login-failures", DomainID: domainID, UserID: userID, Message: msg,
		Data: map[string]any{"username": shown, "failures": n, "seconds": secs, "ip": info.ClientIP},
	}); err != nil {
		s.log.Error("store failed-login alarm", "err", err)
	}
}

// sprayAlarm raises the alarm of one address failing logins to n different
// accounts.
func (s *Service) sprayAlarm(ctx context.Context, addr string, n int) {
	secs := int64(s.cfg.Login.FailureWindow / time.Second)
	s.log.Warn("password-spraying alarm", "ip", addr, "accounts", n, "seconds", secs)
	if err := s.st.CreateAlarm(ctx, &store.Alarm{
		Type:    "password-spraying",
		Message: fmt.Sprintf("failed logins to %d different accounts from %s within %d seconds", n, addr, secs),
		Data:    map[string]any{"ip": addr, "accounts": n, "seconds": secs},
	}); err != nil {
		s.log.Error("store password-spraying alarm", "err", err)
	}
}

// writeStats stores failed-login stats.
func (s *Service) writeStats(ctx context.Context, stats []*store.Stat) {
	for _, st := range stats {
		if err := s.st.CreateStat(ctx, st); err != nil {
			s.log.Error("store failed-login stat", "err", err)
		}
	}
}

// MaxUsernameLength is the longest username (user@domain) a grant accepts.
const MaxUsernameLength = 320

// maxShown is how much of a value the client chose is logged or stored.
const maxShown = 128

// clip shortens a value the client chose to maxShown bytes for logs and
// records, marking the cut.
func clip(v string) string {
	if len(v) <= maxShown {
		return v
	}
	cut := maxShown
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return fmt.Sprintf("%s...[%d more bytes]", v[:cut], len(v)-cut)
}

// checkUsername refuses a missing or overlong username before anything
// looks it up.
func checkUsername(v string) error {
	if v == "" {
		return grantErr("invalid_request", `field "username": is required`)
	}
	if n := utf8.RuneCountInString(v); n > MaxUsernameLength {
		return grantErr("invalid_request", `field "username": %d characters is longer than the %d allowed`, n, MaxUsernameLength)
	}
	return nil
}
