// Package config holds OpenWAC's one configuration file: a YAML document whose
// every key has a default and can be overridden by an environment variable.
//
// Keys keep the names the seeds give them (login.exclusive,
// oauth2provider.maxTokens, rooms.removeAfter ...). The environment variable
// of a key is WAC_ followed by its path in upper snake case:
// login.limitRateUnits is WAC_LOGIN_LIMIT_RATE_UNITS.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/openwac/wac/internal/origin"

	"github.com/openwac/wac/internal/logging"
)

// Config is the whole configuration of a node.
type Config struct {
	// DataDir holds the SQLite database and the generated admin password.
	DataDir string `yaml:"dataDir" doc:"directory for the SQLite database and generated files"`
	// DefaultDomain is created on the first start with its admin user.
	DefaultDomain string `yaml:"defaultDomain" doc:"name of the domain created on the first start"`
	// Roles this node runs; all of them by default.
	Roles []string `yaml:"roles" doc:"roles this node runs: api, signaling, media, sip (sip also runs whenever trunk.address is set on a signaling node)"`

	Log            Log            `yaml:"log"`
	Wiface         Wifaces        `yaml:"wiface"`
	HTTP           HTTP           `yaml:"http"`
	Database       Database       `yaml:"database"`
	Login          Login          `yaml:"login"`
	OAuth2Provider OAuth2Provider `yaml:"oauth2provider"`
	OAuth2Client   OAuth2Client   `yaml:"oauth2client"`
	Password       Password       `yaml:"password"`
	Capabilities   Capabilities   `yaml:"capabilities"`
	Metrics        Metrics        `yaml:"metrics"`
	Media          Media          `yaml:"media"`
	TURN           TURN           `yaml:"turn"`
	Recording      Recording      `yaml:"recording"`
	Trunk          Trunk          `yaml:"trunk"`
	SipMappings    SipMappings    `yaml:"sipmappings"`
	Meetings       Meetings       `yaml:"meetings"`
	Mailer         Mailer         `yaml:"mailer"`
	Jobs           Jobs           `yaml:"jobs"`
	Push           Push           `yaml:"push"`
	SendSMS        SendSMS        `yaml:"sendsms"`

	IO              IO              `yaml:"io"`
	QSS             QSS             `yaml:"qss"`
	Rooms           Rooms           `yaml:"rooms"`
	ConferenceState ConferenceState `yaml:"conferenceState"`
	Invites         Invites         `yaml:"invites"`
	Watchdog        Watchdog        `yaml:"watchdog"`
	QuickConference QuickConference `yaml:"quickConference"`
	CallHistoryDays int             `yaml:"callHistoryDays" doc:"days finished calls are kept in the call history, 0 = forever"`
	Bus             Bus             `yaml:"bus"`
	Runtime         Runtime         `yaml:"runtime"`
}

// Runtime tunes the Go runtime of the process.
type Runtime struct {
	GCPercent   int `yaml:"gcPercent" doc:"heap growth, in percent of the live heap, that starts a garbage collection (Go's GOGC; the GOGC variable wins); higher spends memory to save CPU, -1 = off"`
	MemoryLimit int `yaml:"memoryLimit" doc:"soft memory limit in MiB: the collector works harder as the process nears it (Go's GOMEMLIMIT; the variable wins), 0 = none"`
	Procs       int `yaml:"procs" doc:"processors the Go scheduler runs goroutines on (Go's GOMAXPROCS; the variable wins); 0 = follow the load, from 1 up to the cores (or container CPU limit) Go sees at start"`
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level" doc:"silly, debug, info, warn or error"`
	Format string `yaml:"format" doc:"text or json"`
}

// Wifaces are the seeds' web interfaces: public for clients, internal for
// operators (metrics) and other nodes.
type Wifaces struct {
	Public   Iface `yaml:"public"`
	Internal Iface `yaml:"internal"`
}

// Iface is one listening interface. Port 0 disables the plain listener,
// port_secure 0 the TLS one.
type Iface struct {
	Iface        string `yaml:"iface" doc:"address to listen on"`
	Port         int    `yaml:"port" doc:"plain HTTP port, 0 = off"`
	PortSecure   int    `yaml:"port_secure" doc:"HTTPS port (needs key and cert), 0 = off"`
	Key          string `yaml:"key" doc:"TLS private key file (PEM)"`
	Cert         string `yaml:"cert" doc:"TLS certificate file (PEM)"`
	Public       string `yaml:"public" doc:"external http URL of this interface, as clients see it"`
	PublicSecure string `yaml:"public_secure" doc:"external https URL of this interface, as clients see it"`
}

// HTTP holds limits and protections of the HTTP server.
type HTTP struct {
	MaxBodyBytes      int64         `yaml:"maxBodyBytes" doc:"largest request body accepted"`
	ReadHeaderTimeout time.Duration `yaml:"readHeaderTimeout" unit:"s" doc:"seconds to read request headers"`
	ReadTimeout       time.Duration `yaml:"readTimeout" unit:"s" doc:"seconds a client has to send a request's body once its headers arrived (408 and the connection closed past it); WebSocket connections are not affected"`
	IdleTimeout       time.Duration `yaml:"idleTimeout" unit:"s" doc:"seconds a keep-alive connection may idle"`
	ShutdownTimeout   time.Duration `yaml:"shutdownTimeout" unit:"s" doc:"seconds the requests in flight get to finish on shutdown (SIGTERM) before they are cancelled (answered 503)"`
	DDoSProtection    bool          `yaml:"ddosProtection" doc:"per-IP request rate limiting (429 when exceeded)"`
	RPS               float64       `yaml:"rps" doc:"requests per second per client IP on the API"`
	RPSHigh           float64       `yaml:"rpsHigh" doc:"requests per second per client IP on the web app's files"`
	CORSDomains       string        `yaml:"corsDomains" doc:"allowed cross origins: host patterns joined by a vertical bar (app.example.com = https on 443 only, *.example.com, http://localhost:5173), parts that are not host patterns being regular expressions on the host; empty = same origin only"`
	TrustedProxies    []string      `yaml:"trustedProxies" doc:"peers (CIDR) whose forwarded-for header is believed; empty = none (set it to the reverse proxy's addresses when there is one)"`
	CSPConnectSrc     []string      `yaml:"cspConnectSrc" doc:"more sources the web app may connect to, in its Content-Security-Policy's connect-src (the page's own host and media.publicUrl are in it already): media nodes on other hosts, e.g. wss://media-1.example.com"`
}

// Database selects and configures the store.
type Database struct {
	Driver       string `yaml:"driver" doc:"sqlite or postgres"`
	DSN          string `yaml:"dsn" doc:"PostgreSQL connection string, or SQLite file (default: <dataDir>/wac.db)"`
	MaxOpenConns int    `yaml:"maxOpenConns" doc:"connection pool size"`
}

// Login holds the seeds' login access control options.
type Login struct {
	Exclusive       bool          `yaml:"exclusive" doc:"a new login ends the user's older sessions"`
	LimitRateUnits  int           `yaml:"limitRateUnits" doc:"failed logins within limitRateSeconds that raise an alarm, 0 = off"`
	LimitRateWindow time.Duration `yaml:"limitRateSeconds" unit:"s" doc:"seconds of the window of the failed-login alarm"`
	RequestHeader   string        `yaml:"requestHeader" doc:"header with the client's real IP (empty = X-Forwarded-For)"`
	SendStatic      bool          `yaml:"sendStatic" doc:"hand anonymous sessions a free ims credential"`

	// Throttling of password guessing (not in the seeds).
	AccountFailures int           `yaml:"accountFailures" doc:"failed logins of one account (user@domain, existing or not) after which its next attempts wait (429), 0 = off"`
	AddressFailures int           `yaml:"addressFailures" doc:"failed logins from one client address after which its next attempts wait (429), 0 = off"`
	FailureWindow   time.Duration `yaml:"failureWindow" unit:"s" doc:"seconds without a failed login, once any wait has run out, after which an account's or address's failures are forgotten"`
	RetryDelay      time.Duration `yaml:"retryDelay" unit:"s" doc:"seconds of the first wait; each further failure doubles it"`
	MaxRetryDelay   time.Duration `yaml:"maxRetryDelay" unit:"s" doc:"seconds the wait grows to at most"`
	// Alarms and records of failed logins.
	SprayAccounts      int `yaml:"sprayAccounts" doc:"different accounts failing logins from one client address within failureWindow that raise a password-spraying alarm, 0 = off"`
	FailedLoginRows    int `yaml:"failedLoginRows" doc:"'Failed login' stats written per account and per client address within failureWindow; further failures are counted and written as one summary stat"`
	MaxFailedLoginRows int `yaml:"maxFailedLoginRows" doc:"'Failed login' stats kept: the periodic cleanup removes the oldest beyond it, 0 = keep all"`
	// Quotas of anonymous logins, each of which creates a user.
	AnonymousPerAddress int           `yaml:"anonymousPerAddress" doc:"anonymous login attempts per client address within anonymousWindow (429 beyond), 0 = unlimited"`
	AnonymousPerDomain  int           `yaml:"anonymousPerDomain" doc:"anonymous logins into one domain within anonymousWindow (429 beyond), 0 = unlimited"`
	AnonymousWindow     time.Duration `yaml:"anonymousWindow" unit:"s" doc:"seconds of the anonymous-login quotas' window"`
	// The seeds' options of logins through an external OAuth2 provider.
	CreateOAuthUser       bool   `yaml:"createOAuthUser" doc:"create a user on its first login through an external identity provider (oauth2client); false = only users that exist (or were linked before) may log in that way"`
	OAuthUserForcedDomain string `yaml:"OAuthUserForcedDomain" doc:"domain every user created through an external identity provider goes to, instead of the provider's mapped or own domain (empty = none)"`
	NewUserCaps           string `yaml:"newUserCaps" doc:"capabilities given to users created through an external identity provider, comma separated (+cap forces, -cap prunes)"`
}

// OAuth2Provider holds the seeds' oauth2provider options.
type OAuth2Provider struct {
	MaxTokens              int           `yaml:"maxTokens" doc:"simultaneous tokens per user, 0 = unlimited"`
	AccessTokenExpiration  time.Duration `yaml:"accessTokenExpiration" unit:"s" doc:"seconds an access token is valid"`
	RefreshTokenExpiration time.Duration `yaml:"refreshTokenExpiration" unit:"s" doc:"seconds a refresh token is valid"`
	// OpenID Connect provider.
	Issuer             string        `yaml:"issuer" doc:"this provider's OpenID Connect issuer, the https URL apps see (iss of id_tokens); empty = the scheme and host of each request, fine on one name but set it in production"`
	IDTokenAlg         string        `yaml:"idTokenAlg" doc:"algorithm that signs id_tokens: RS256 or ES256"`
	KeyRotation        time.Duration `yaml:"keyRotation" unit:"s" doc:"seconds a signing key signs before a new one takes over; the old one stays in the JWKS for as long again"`
	AuthCodeExpiration time.Duration `yaml:"authCodeExpiration" unit:"s" doc:"seconds an authorization code may wait to be exchanged"`
	SessionExpiration  time.Duration `yaml:"sessionExpiration" unit:"s" doc:"seconds a login on the authorization page (/sapi/o/authorize) is remembered by the browser, so that other apps sign in without a password"`
}

// OAuth2Client is the seeds' oauth2client: logins through external
// OpenID Connect providers.
type OAuth2Client struct {
	Providers     string        `yaml:"providers" doc:"directory of JSON files, one per external identity provider (docs/sso.md); empty = none from files"`
	EncryptionKey string        `yaml:"encryptionKey" doc:"base64 of 32 bytes: the AES-256-GCM key that seals the providers' tokens and client secrets in the database; empty = derived from the cluster secret"`
	ClockSkew     time.Duration `yaml:"clockSkew" unit:"s" doc:"seconds of clock difference with a provider tolerated when checking its id_token's times"`
	HTTPTimeout   time.Duration `yaml:"httpTimeout" unit:"s" doc:"seconds a request to a provider (discovery, JWKS, token) may take"`
}

// Password sets the argon2id parameters for new password hashes.
type Password struct {
	Memory      uint32 `yaml:"memory" doc:"argon2id memory in KiB"`
	Iterations  uint32 `yaml:"iterations" doc:"argon2id passes"`
	Parallelism uint8  `yaml:"parallelism" doc:"argon2id lanes"`
	MinLength   int    `yaml:"minLength" doc:"shortest password accepted"`
}

// Capabilities lists what this deployment's services and stack provide.
type Capabilities struct {
	Services []string `yaml:"services" doc:"services (the seeds' names) this deployment offers; each brings its capabilities"`
	Stack    []string `yaml:"stack" doc:"capabilities of the media stack (our SFU)"`
	Options  []string `yaml:"options" doc:"application options granted to every user"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	Enabled bool   `yaml:"enabled" doc:"serve Prometheus metrics on /metrics"`
	Pprof   bool   `yaml:"pprof" doc:"serve Go profiles on /debug/pprof/ next to /metrics (for diagnosis; keep it off in production)"`
	Token   string `yaml:"token" doc:"bearer token that /metrics and /debug/pprof/ require (Authorization: Bearer); with it they are also served on the public interface when there is no internal one. Empty: only on the internal interface (wiface.internal), without a token"`
}

// Default returns the configuration used when no file is given.
func Default() Config {
	c := Config{
		DataDir:       "data",
		DefaultDomain: "wac",
		Roles:         []string{"api", "signaling", "media"},
		Log:           Log{Level: "info", Format: "text"},
		Wiface: Wifaces{
			Public:   Iface{Iface: "127.0.0.1", Port: 8000},
			Internal: Iface{Iface: "127.0.0.1"},
		},
		HTTP: HTTP{
			MaxBodyBytes:      1 << 20,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ShutdownTimeout:   25 * time.Second,
			DDoSProtection:    true,
			RPS:               50,
			RPSHigh:           200,
		},
		Database: Database{Driver: "sqlite", MaxOpenConns: 8},
		Login: Login{
			LimitRateUnits:      5,
			LimitRateWindow:     10 * time.Second,
			AccountFailures:     5,
			AddressFailures:     20,
			FailureWindow:       15 * time.Minute,
			RetryDelay:          time.Second,
			MaxRetryDelay:       15 * time.Minute,
			SprayAccounts:       10,
			FailedLoginRows:     10,
			MaxFailedLoginRows:  100000,
			AnonymousPerAddress: 30,
			AnonymousPerDomain:  1000,
			AnonymousWindow:     10 * time.Minute,
		},
		OAuth2Provider: OAuth2Provider{
			MaxTokens:              0,
			AccessTokenExpiration:  time.Hour,
			RefreshTokenExpiration: 14 * 24 * time.Hour,
			IDTokenAlg:             "RS256",
			KeyRotation:            90 * 24 * time.Hour,
			AuthCodeExpiration:     time.Minute,
			SessionExpiration:      8 * time.Hour,
		},
		OAuth2Client: OAuth2Client{ClockSkew: time.Minute, HTTPTimeout: 10 * time.Second},
		// OWASP's argon2id recommendation: m=19 MiB, t=2, p=1.
		Password: Password{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, MinLength: 8},
		Capabilities: Capabilities{
			Services: []string{"login", "callcontrol", "contacts", "recording", "meetings"},
			Stack: []string{"audio-call", "video-call", "audio-video-call", "screen-sharing", "conferences",
				"hold", "conference-hold", "blind-transfer", "attended-transfer", "datachannel", "media-update",
				"multicall", "stats-reporting"},
			Options: []string{"make-calls", "view-call-history", "view-contacts", "change-camera", "call-rehydration"},
		},
		Metrics: Metrics{Enabled: true},
		// A signaling node's live heap is small (tens of MiB) and churns
		// fast; at Go's default of 100 a call set-up spent a sixth of its
		// CPU collecting.
		Runtime:   Runtime{GCPercent: 400},
		Media:     defaultMedia(),
		TURN:      defaultTURN(),
		Recording: defaultRecording(),
		Trunk:     defaultTrunk(),
		Meetings:  defaultMeetings(),
		Mailer:    defaultMailer(),
		Jobs:      defaultJobs(),
		Push:      defaultPush(),
		SendSMS:   defaultSendSMS(),
	}
	defaultSignaling(&c)
	return c
}

// Load reads the file at path (if not empty) over the defaults, then applies
// WAC_* environment variables from environ, then validates. The warnings
// name keys of the file that were accepted but have no effect (the seeds'
// keys OpenWAC does not need: SeedKeys).
func Load(path string, environ []string) (Config, []Warning, error) {
	cfg := Default()
	var warnings []Warning
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, nil, fmt.Errorf("read config: %w", err)
		}
		warnings, err = Decode(bytes.NewReader(data), &cfg)
		if err != nil {
			return cfg, nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := ApplyEnv(&cfg, environ); err != nil {
		return cfg, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, err
	}
	return cfg, warnings, nil
}

// Decode reads YAML into cfg, refusing keys that do not exist. The seeds'
// keys are read as SeedKeys says: aliases as their OpenWAC keys, ignored
// keys dropped with a warning each, refused keys as errors that say why.
func Decode(r io.Reader, cfg *Config) ([]Warning, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	warnings, refusals, found := seedRewrite(&doc)
	durLines, durErrs := durationNodes(&doc)
	refusals = append(refusals, durErrs...)
	// The strict decoder checks the file as written, so that the errors
	// keep their line numbers; what it says of the seeds' keys is dropped.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var scratch Config
	if err := dec.Decode(&scratch); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, errors.Join(append(refusals, err)...)
		}
		if rest := dropDurationErrors(dropSeedErrors(te.Errors, found), durLines); len(rest) > 0 {
			return nil, errors.Join(append(refusals, &yaml.TypeError{Errors: rest})...)
		}
	}
	if len(refusals) > 0 {
		return nil, errors.Join(refusals...)
	}
	if err := doc.Decode(cfg); err != nil {
		return nil, err
	}
	return warnings, nil
}

// dropSeedErrors removes the strict decoder's "field not found" errors of
// the seeds' keys found in the file.
func dropSeedErrors(errs []string, found []seedMatch) []string {
	var rest []string
next:
	for _, e := range errs {
		for _, f := range found {
			if strings.HasPrefix(e, fmt.Sprintf("line %d: field %s not found in type ", f.line, f.name)) {
				continue next
			}
		}
		rest = append(rest, e)
	}
	return rest
}

// Validate checks values that would otherwise fail later, naming the key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config key %s: %s", key, fmt.Sprintf(format, args...)))
	}
	if _, err := logging.ParseLevel(c.Log.Level); err != nil {
		bad("log.level", "%v", err)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "%q is not text or json", c.Log.Format)
	}
	if c.Runtime.GCPercent < -1 || c.Runtime.GCPercent == 0 {
		bad("runtime.gcPercent", "%d is not a percentage above 0 (or -1 for off)", c.Runtime.GCPercent)
	}
	if c.Runtime.MemoryLimit < 0 {
		bad("runtime.memoryLimit", "%d MiB is negative", c.Runtime.MemoryLimit)
	}
	if c.Runtime.Procs < 0 {
		bad("runtime.procs", "%d is negative (0 = follow the load)", c.Runtime.Procs)
	}
	if c.DefaultDomain == "" || strings.ContainsAny(c.DefaultDomain, "@/ ") {
		bad("defaultDomain", "%q is not a domain name", c.DefaultDomain)
	}
	for _, r := range c.Roles {
		switch r {
		case "api", "signaling", "media", "sip":
		default:
			bad("roles", "unknown role %q (want api, signaling, media or sip)", r)
		}
	}
	for name, ifc := range map[string]Iface{"public": c.Wiface.Public, "internal": c.Wiface.Internal} {
		key := "wiface." + name
		if ifc.Port < 0 || ifc.Port > 65535 {
			bad(key+".port", "%d is not a port", ifc.Port)
		}
		if ifc.PortSecure < 0 || ifc.PortSecure > 65535 {
			bad(key+".port_secure", "%d is not a port", ifc.PortSecure)
		}
		if ifc.PortSecure != 0 && (ifc.Key == "" || ifc.Cert == "") {
			bad(key+".port_secure", "needs both %s.key and %s.cert", key, key)
		}
		if ifc.Iface != "" && net.ParseIP(ifc.Iface) == nil && ifc.Iface != "localhost" {
			bad(key+".iface", "%q is not an IP address", ifc.Iface)
		}
	}
	if c.Wiface.Public.Port == 0 && c.Wiface.Public.PortSecure == 0 {
		bad("wiface.public.port", "the public interface needs port or port_secure")
	}
	if c.HTTP.MaxBodyBytes <= 0 {
		bad("http.maxBodyBytes", "must be positive")
	}
	for _, t := range []struct {
		key string
		d   time.Duration
	}{{"http.readHeaderTimeout", c.HTTP.ReadHeaderTimeout}, {"http.readTimeout", c.HTTP.ReadTimeout}, {"http.idleTimeout", c.HTTP.IdleTimeout}} {
		if t.d <= 0 {
			bad(t.key, "%s is not positive", t.d)
		}
	}
	if c.HTTP.ShutdownTimeout < 0 {
		bad("http.shutdownTimeout", "%s is negative (0 = cancel the requests in flight at once)", c.HTTP.ShutdownTimeout)
	}
	if c.HTTP.DDoSProtection && (c.HTTP.RPS <= 0 || c.HTTP.RPSHigh <= 0) {
		bad("http.rps", "rps and rpsHigh must be positive when ddosProtection is on")
	}
	if c.HTTP.CORSDomains != "" {
		if _, err := origin.CORS(c.HTTP.CORSDomains); err != nil {
			bad("http.corsDomains", "%v", err)
		}
	}
	for _, src := range c.HTTP.CSPConnectSrc {
		if src == "" || strings.ContainsAny(src, " \t\r\n;,'\"") {
			bad("http.cspConnectSrc", "%q is not one source (scheme://host[:port], or scheme: alone)", src)
		}
	}
	for _, p := range c.HTTP.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil {
			bad("http.trustedProxies", "%q is not a CIDR", p)
		}
	}
	switch c.Database.Driver {
	case "sqlite":
	case "postgres":
		if c.Database.DSN == "" {
			bad("database.dsn", "required with the postgres driver")
		}
	default:
		bad("database.driver", "%q is not sqlite or postgres", c.Database.Driver)
	}
	if c.Database.MaxOpenConns <= 0 {
		bad("database.maxOpenConns", "must be positive")
	}
	if c.Login.LimitRateUnits < 0 {
		bad("login.limitRateUnits", "must not be negative")
	}
	if c.Login.LimitRateUnits > 0 && c.Login.LimitRateWindow <= 0 {
		bad("login.limitRateSeconds", "must be positive when limitRateUnits is set")
	}
	c.validateLogin(bad)
	if c.OAuth2Provider.MaxTokens < 0 {
		bad("oauth2provider.maxTokens", "must not be negative")
	}
	if c.OAuth2Provider.AccessTokenExpiration <= 0 {
		bad("oauth2provider.accessTokenExpiration", "must be positive (0 would expire every token at once)")
	}
	if c.OAuth2Provider.RefreshTokenExpiration <= 0 {
		bad("oauth2provider.refreshTokenExpiration", "must be positive (0 would expire every token at once)")
	}
	c.validateSSO(bad)
	if c.Password.Memory < 8*1024 || c.Password.Iterations < 1 || c.Password.Parallelism < 1 {
		bad("password", "argon2id needs memory >= 8192 KiB, iterations >= 1, parallelism >= 1")
	}
	if c.Password.MinLength < 1 {
		bad("password.minLength", "must be positive")
	}
	if t := c.Metrics.Token; t != "" && (len(t) < 16 || strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r > '~' })) {
		bad("metrics.token", "must be at least 16 printable ASCII characters without spaces")
	}
	c.validateMedia(bad)
	c.validateRecording(bad)
	c.validateTrunk(bad)
	c.validateMeetings(bad)
	c.validatePush(bad)
	c.validateSendSMS(bad)
	c.validateSignaling(bad)
	return errors.Join(errs...)
}

// validateLogin checks the login throttle's keys.
func (c *Config) validateLogin(bad func(key, format string, args ...any)) {
	l := &c.Login
	if l.AccountFailures < 0 {
		bad("login.accountFailures", "%d is negative (0 = off)", l.AccountFailures)
	}
	if l.AddressFailures < 0 {
		bad("login.addressFailures", "%d is negative (0 = off)", l.AddressFailures)
	}
	if l.FailureWindow <= 0 {
		bad("login.failureWindow", "%s is not positive", l.FailureWindow)
	}
	if l.SprayAccounts < 0 {
		bad("login.sprayAccounts", "%d is negative (0 = off)", l.SprayAccounts)
	}
	if l.FailedLoginRows <= 0 {
		bad("login.failedLoginRows", "%d is not positive", l.FailedLoginRows)
	}
	if l.MaxFailedLoginRows < 0 {
		bad("login.maxFailedLoginRows", "%d is negative (0 = keep all)", l.MaxFailedLoginRows)
	}
	if l.AnonymousPerAddress < 0 {
		bad("login.anonymousPerAddress", "%d is negative (0 = unlimited)", l.AnonymousPerAddress)
	}
	if l.AnonymousPerDomain < 0 {
		bad("login.anonymousPerDomain", "%d is negative (0 = unlimited)", l.AnonymousPerDomain)
	}
	if (l.AnonymousPerAddress > 0 || l.AnonymousPerDomain > 0) && l.AnonymousWindow <= 0 {
		bad("login.anonymousWindow", "%s is not positive", l.AnonymousWindow)
	}
	if l.AccountFailures == 0 && l.AddressFailures == 0 {
		return
	}
	if l.RetryDelay <= 0 {
		bad("login.retryDelay", "%s is not positive", l.RetryDelay)
	}
	if l.MaxRetryDelay < l.RetryDelay {
		bad("login.maxRetryDelay", "%s is less than login.retryDelay (%s)", l.MaxRetryDelay, l.RetryDelay)
	}
}

// HasRole reports whether this node runs role.
func (c *Config) HasRole(role string) bool {
	for _, r := range c.Roles {
		if r == role {
			return true
		}
	}
	return false
}
