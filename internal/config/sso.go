package config

import (
	"encoding/base64"
	"net/url"
	"strings"
	"time"
)

// validateSSO checks the keys of the OpenID Connect provider and of logins
// through external providers.
func (c *Config) validateSSO(bad func(key, format string, args ...any)) {
	p := &c.OAuth2Provider
	if p.Issuer != "" {
		u, err := url.Parse(p.Issuer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("oauth2provider.issuer", "%q is not an http(s) URL without query or fragment", p.Issuer)
		}
	}
	if p.IDTokenAlg != "RS256" && p.IDTokenAlg != "ES256" {
		bad("oauth2provider.idTokenAlg", "%q is not RS256 or ES256", p.IDTokenAlg)
	}
	if p.KeyRotation < time.Hour {
		bad("oauth2provider.keyRotation", "%s is less than an hour", p.KeyRotation)
	}
	if p.AuthCodeExpiration < time.Second || p.AuthCodeExpiration > 10*time.Minute {
		bad("oauth2provider.authCodeExpiration", "%s is not between 1s and 10m (RFC 6749 recommends at most 10 minutes)", p.AuthCodeExpiration)
	}
	if p.SessionExpiration < 0 {
		bad("oauth2provider.sessionExpiration", "%s is negative (0 = ask for the password every time)", p.SessionExpiration)
	}
	o := &c.OAuth2Client
	if o.EncryptionKey != "" {
		if k, err := base64.StdEncoding.DecodeString(o.EncryptionKey); err != nil || len(k) != 32 {
			bad("oauth2client.encryptionKey", "must be the base64 of 32 bytes (openssl rand -base64 32)")
		}
	}
	if o.ClockSkew < 0 || o.ClockSkew > 10*time.Minute {
		bad("oauth2client.clockSkew", "%s is not between 0 and 10m", o.ClockSkew)
	}
	if o.HTTPTimeout <= 0 {
		bad("oauth2client.httpTimeout", "%s is not positive", o.HTTPTimeout)
	}
	for _, cap := range NewUserCaps(c.Login.NewUserCaps) {
		if len(cap) < 2 || (cap[0] != '+' && cap[0] != '-') {
			bad("login.newUserCaps", "%q is not +capability or -capability", cap)
		}
	}
	if d := c.Login.OAuthUserForcedDomain; d != "" && strings.ContainsAny(d, "@/ ") {
		bad("login.OAuthUserForcedDomain", "%q is not a domain name", d)
	}
}

// NewUserCaps splits login.newUserCaps ("+a,-b") into its capabilities.
func NewUserCaps(v string) []string {
	var out []string
	for _, c := range strings.Split(v, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}
