// Package store persists OpenWAC's records. The interfaces here are what the
// rest of the server uses; SQL implements them for SQLite and PostgreSQL from
// one set of queries and one set of migrations.
package store

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotFound is returned when the record asked for does not exist.
var ErrNotFound = errors.New("not found")

// ConflictError is returned when a write would break a uniqueness rule.
type ConflictError struct {
	Field string // the API field whose value is taken
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s already exists", e.Field)
}

// IsConflict reports whether err is a ConflictError and returns it.
func IsConflict(err error) (*ConflictError, bool) {
	var c *ConflictError
	ok := errors.As(err, &c)
	return c, ok
}

// Roles of users.
const (
	RoleAdmin     = "admin"
	RoleUser      = "user"
	RoleAnonymous = "anonymous"
)

// Domain is a tenant: users, services and anonymous access rules.
type Domain struct {
	ID                    string
	ParentID              string // "" for a top-level domain
	Name                  string
	Origins               []string
	EnableAnonymous       bool
	AnonymousExpiration   int64 // milliseconds
	AnonymousCapabilities []string
	Services              map[string][]string
	// RecordingRetentionDays is how long the domain keeps recordings;
	// 0 = the configuration's recording.retentionDays.
	RecordingRetentionDays int
	Created                int64 // unix milliseconds
	Updated                int64
}

// User is a person or an anonymous visitor of a domain.
type User struct {
	ID             string
	DomainID       string
	Username       string
	Email          string
	Role           string
	Capabilities   []string
	MobilePhone    []string
	LandLineNumber string
	Alias          string
	Created        int64
	LastLogin      int64
	Expires        int64 // anonymous users: when the record may be removed; 0 = never
}

// Credential is a basic password, an ims identity, or another secret of a user.
type Credential struct {
	ID       string
	Source   string
	Type     string
	Context  map[string]any
	DomainID string
	UserID   string // "" for unlinked (anonymous pool) credentials
	Data     map[string]any
	Lease    int64
	HolderID string // anonymous user currently holding an unlinked credential
	Created  int64
	Updated  int64
}

// Token is an issued OAuth2 token, stored by the SHA-256 of its value.
type Token struct {
	Hash     string
	Kind     string // "access" or "refresh"
	GrantID  string // the access and refresh tokens of one grant share it
	UserID   string
	ClientID string
	Expires  int64
	Created  int64
}

// Token kinds.
const (
	TokenAccess  = "access"
	TokenRefresh = "refresh"
)

// Client is a registered OAuth2 client: a service using client_credentials,
// or an application logging users in with the authorization-code flow.
type Client struct {
	ID         string
	Name       string
	SecretHash string // "" for a public client
	DomainID   string
	Role       string
	Created    int64
	// RedirectURIs are the exact redirect_uri values the client may use;
	// PostLogoutRedirectURIs those of end_session.
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// GrantTypes the client may use: client_credentials, authorization_code,
	// refresh_token, implicit.
	GrantTypes []string
	// Scopes the client may ask for (empty: openid, profile, email).
	Scopes []string
	// Public clients (apps in a browser or on a phone) have no secret and
	// must use PKCE with S256.
	Public bool
}

// AuthCode is an authorization code, stored by the SHA-256 of its value.
type AuthCode struct {
	Hash            string
	ClientID        string
	UserID          string
	RedirectURI     string
	Scope           string
	Nonce           string
	Challenge       string
	ChallengeMethod string
	SID             string // the provider session it was issued in
	AuthTime        int64
	GrantID         string // set once the code was exchanged
	Expires         int64
	Created         int64
}

// SigningKey is a key that signs id_tokens; Private is sealed.
type SigningKey struct {
	KID       string
	Alg       string
	Private   string
	NotBefore int64 // signs from then on
	Expires   int64 // published until then
	Created   int64
}

// SSOSession is a browser session of the provider's login page.
type SSOSession struct {
	Hash     string // SHA-256 of the cookie value
	SID      string
	UserID   string
	AuthTime int64
	Expires  int64
}

// IdentityProvider is an external OpenID Connect provider a domain's admin
// registered. Config is its JSON settings; Secret its sealed client secret.
type IdentityProvider struct {
	ID       string
	DomainID string
	Name     string
	Config   string
	Secret   string
	Created  int64
	Updated  int64
}

// IdentityLink ties an external identity to a user.
type IdentityLink struct {
	Issuer   string
	Subject  string
	UserID   string
	Provider string
	Created  int64
}

// Permission is a named switch on a user or a domain (receiveCalls).
type Permission struct {
	Scope    string // "user" or "domain"
	TargetID string
	Name     string
	Enabled  bool
	Updated  int64
}

// Alarm is a notable event for admins (failed-login bursts, ...).
type Alarm struct {
	ID       string
	Type     string
	DomainID string
	UserID   string
	Message  string
	Data     map[string]any
	Created  int64
}

// Stat is a counted event (a failed login, ...).
type Stat struct {
	ID       string
	Service  string
	Type     string
	DomainID string
	UserID   string
	Data     map[string]any
	Created  int64
}

// Page limits a listing.
type Page struct {
	Offset int
	Limit  int // 0 = the store's default
}

// UserFilter narrows a user listing.
type UserFilter struct {
	DomainIDs []string // nil = every domain
	Role      string
	Search    string // matched against username, alias and email
}

// Domains stores tenants.
type Domains interface {
	CreateDomain(ctx context.Context, d *Domain) error
	UpdateDomain(ctx context.Context, d *Domain) error
	DeleteDomain(ctx context.Context, id string) error
	GetDomain(ctx context.Context, id string) (*Domain, error)
	GetDomainByName(ctx context.Context, name string) (*Domain, error)
	ListDomains(ctx context.Context) ([]*Domain, error)
	CountDomainDependents(ctx context.Context, id string) (children, users int, err error)
}

// Users stores users.
type Users interface {
	CreateUser(ctx context.Context, u *User) error
	UpdateUser(ctx context.Context, u *User) error
	DeleteUser(ctx context.Context, id string) error
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByName(ctx context.Context, domainID, username string) (*User, error)
	GetUserByAlias(ctx context.Context, domainID, alias string) (*User, error)
	ListUsers(ctx context.Context, f UserFilter, p Page) ([]*User, error)
	TouchLastLogin(ctx context.Context, id string, at int64) error
	DeleteExpiredUsers(ctx context.Context, now int64) (int, error)
}

// Credentials stores credentials.
type Credentials interface {
	CreateCredential(ctx context.Context, c *Credential) error
	UpdateCredential(ctx context.Context, c *Credential) error
	DeleteCredential(ctx context.Context, id string) error
	GetCredential(ctx context.Context, id string) (*Credential, error)
	GetBasicCredential(ctx context.Context, userID string) (*Credential, error)
	ListCredentials(ctx context.Context, domainIDs []string, userID string, p Page) ([]*Credential, error)
	// LeaseAnonymousCredential links a free unlinked ims credential of the
	// domain to holder; ErrNotFound when the pool is empty.
	LeaseAnonymousCredential(ctx context.Context, domainID, holderID string) (*Credential, error)
	ListHeldCredentials(ctx context.Context, holderID string) ([]*Credential, error)
}

// Tokens stores issued tokens.
type Tokens interface {
	CreateToken(ctx context.Context, t *Token) error
	GetToken(ctx context.Context, hash string) (*Token, error)
	// DeleteGrant removes every token of a grant and returns their hashes.
	DeleteGrant(ctx context.Context, grantID string) ([]string, error)
	// DeleteUserTokens removes every token of a user and returns their hashes.
	DeleteUserTokens(ctx context.Context, userID string) ([]string, error)
	// DeleteClientTokens removes every token issued to a client and returns their hashes.
	DeleteClientTokens(ctx context.Context, clientID string) ([]string, error)
	// UserGrants lists a user's live grant ids, oldest first.
	UserGrants(ctx context.Context, userID string, now int64) ([]string, error)
	// DeleteExpiredTokens removes tokens, and records of used refresh
	// tokens, past their expiry.
	DeleteExpiredTokens(ctx context.Context, now int64) (int, error)
	// ClaimRefreshToken records that the refresh token t (its hash, grant,
	// owner and expiry) was exchanged; false when it already was.
	ClaimRefreshToken(ctx context.Context, t *Token) (bool, error)
	// GetUsedRefreshToken finds the record of an exchanged refresh token.
	GetUsedRefreshToken(ctx context.Context, hash string) (*Token, error)
	// DeleteUsedRefreshTokens forgets the exchanged refresh tokens of a grant.
	DeleteUsedRefreshTokens(ctx context.Context, grantID string) error
}

// Clients stores OAuth2 clients.
type Clients interface {
	CreateClient(ctx context.Context, c *Client) error
	GetClient(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context, domainIDs []string) ([]*Client, error)
	DeleteClient(ctx context.Context, id string) error
}

// SSO stores what single sign-on needs: authorization codes, signing keys,
// the provider's browser sessions and consents, external identity providers
// and the identities linked to users.
type SSO interface {
	CreateAuthCode(ctx context.Context, c *AuthCode) error
	GetAuthCode(ctx context.Context, hash string) (*AuthCode, error)
	// ClaimAuthCode records that the code was exchanged for grantID;
	// false when it already was.
	ClaimAuthCode(ctx context.Context, hash, grantID string) (bool, error)

	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys lists the keys not expired at now, newest first.
	ListSigningKeys(ctx context.Context, now int64) ([]*SigningKey, error)

	CreateSSOSession(ctx context.Context, s *SSOSession) error
	GetSSOSession(ctx context.Context, hash string) (*SSOSession, error)
	// DeleteSSOSession ends a session and returns the grants issued in it.
	DeleteSSOSession(ctx context.Context, sid string) ([]string, error)
	AddSSOGrant(ctx context.Context, sid, grantID string, expires int64) error

	// GetConsent returns the scopes a user allowed a client (ErrNotFound: none).
	GetConsent(ctx context.Context, userID, clientID string) ([]string, error)
	SetConsent(ctx context.Context, userID, clientID string, scopes []string) error

	CreateIdentityProvider(ctx context.Context, p *IdentityProvider) error
	UpdateIdentityProvider(ctx context.Context, p *IdentityProvider) error
	DeleteIdentityProvider(ctx context.Context, id string) error
	GetIdentityProvider(ctx context.Context, id string) (*IdentityProvider, error)
	GetIdentityProviderByName(ctx context.Context, name string) (*IdentityProvider, error)
	// ListIdentityProviders lists the providers of some domains (nil = all).
	ListIdentityProviders(ctx context.Context, domainIDs []string) ([]*IdentityProvider, error)

	GetIdentityLink(ctx context.Context, issuer, subject string) (*IdentityLink, error)
	CreateIdentityLink(ctx context.Context, l *IdentityLink) error
}

// Permissions stores permission switches.
type Permissions interface {
	SetPermission(ctx context.Context, p *Permission) error
	GetPermission(ctx context.Context, scope, targetID, name string) (*Permission, error)
	ListPermissions(ctx context.Context, scope, targetID string) ([]*Permission, error)
}

// Events stores alarms and stats.
type Events interface {
	CreateAlarm(ctx context.Context, a *Alarm) error
	ListAlarms(ctx context.Context, domainIDs []string, p Page) ([]*Alarm, error)
	CreateStat(ctx context.Context, s *Stat) error
	ListStats(ctx context.Context, domainIDs []string, service string, p Page) ([]*Stat, error)
	// PruneStats keeps the newest keep stats of a service and type and
	// removes the others, returning how many it removed.
	PruneStats(ctx context.Context, service, typ string, keep int) (int, error)
}

// Settings stores server-wide values (the cluster secret).
type Settings interface {
	// SettingOrInit returns the value of key, storing init first if the key
	// has none. Every node sees the same value.
	SettingOrInit(ctx context.Context, key, init string) (string, error)
}

// Calls stores call records.
type Calls interface {
	SaveCall(ctx context.Context, c *Call, users map[string]string) error
	GetCall(ctx context.Context, id string) (*Call, error)
	CallUsers(ctx context.Context, id string) (map[string]string, error)
	ListCalls(ctx context.Context, f CallFilter, p Page) ([]*Call, error)
	DeleteCallsFinishedBefore(ctx context.Context, t int64) (int, error)
	UnfinishedCallNodes(ctx context.Context) ([]string, error)
	FinishNodeCalls(ctx context.Context, node string, t int64) (int, error)
}

// Groups stores hunt groups.
type Groups interface {
	CreateGroup(ctx context.Context, g *Group) error
	UpdateGroup(ctx context.Context, g *Group) error
	DeleteGroup(ctx context.Context, id string) error
	GetGroup(ctx context.Context, id string) (*Group, error)
	GetGroupByName(ctx context.Context, domainID, name string) (*Group, error)
	ListGroups(ctx context.Context, domainIDs []string, memberID string, p Page) ([]*Group, error)
	AddGroupMember(ctx context.Context, groupID, userID string) error
	RemoveGroupMember(ctx context.Context, groupID, userID string) error
	RemoveGroupMembers(ctx context.Context, groupID string) error
	RemoveUserFromGroups(ctx context.Context, userID string) (int, error)
	IsGroupMember(ctx context.Context, groupID, userID string) (bool, error)
	GroupMembers(ctx context.Context, groupID string) ([]string, error)
}

// Store is everything persisted.
type Store interface {
	Domains
	Users
	Credentials
	Tokens
	Clients
	Permissions
	Events
	Settings
	Calls
	Groups
	SSO
	Recordings
	SipMappings
	Meetings
	Jobs
	PushTokens
	// InTx runs fn in one transaction: every write in it lands or none does.
	InTx(ctx context.Context, fn func(Store) error) error
	Ping(ctx context.Context) error
	Close() error
}
