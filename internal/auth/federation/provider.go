// Package federation logs users in through external OpenID Connect
// providers (the seeds' oauth2client): the providers a domain configured
// (JSON files of the providers directory, or records its admins made
// through /sapi), the authorization-code flow with PKCE against them, the
// mapping of their claims onto OpenWAC users, domains, roles and groups,
// and the providers' tokens, kept sealed as credentials and refreshed.
package federation

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// Claims names the id_token claims a provider's users are read from.
type Claims struct {
	// Username is the claim of the OpenWAC username (default
	// preferred_username; the part before an @ is taken).
	Username string `json:"username,omitempty"`
	// Email is the claim of the email address (default email).
	Email string `json:"email,omitempty"`
	// Domain is the claim of the OpenWAC domain (empty: the provider's
	// domain; "email" takes the part after the @ of the email claim).
	Domain string `json:"domain,omitempty"`
	// Groups is the claim that lists the user's groups (for groupMap).
	Groups string `json:"groups,omitempty"`
}

// GroupRule is what membership of a provider's group gives in OpenWAC.
type GroupRule struct {
	Role   string   `json:"role,omitempty"`   // admin or user
	Groups []string `json:"groups,omitempty"` // hunt groups of the user's domain
}

// Provider is an external OpenID Connect provider.
type Provider struct {
	ID string `json:"id"`
	// Name is the provider's name in URLs (/sapi/o/federation/{name}/start).
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	// Domain is the domain the provider belongs to: its users log into it
	// or the domains below it ("" in a file: the default domain).
	Domain       string   `json:"domain"`
	Issuer       string   `json:"issuer"`
	ClientID     string   `json:"clientId"`
	ClientSecret string   `json:"clientSecret,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	Claims       Claims   `json:"claims"`
	// GroupMap maps the values of the groups claim to roles and groups.
	GroupMap map[string]GroupRule `json:"groupMap,omitempty"`
	// DisablePasswordLogin refuses password logins of the users of the
	// provider's domain and the domains below it.
	DisablePasswordLogin bool `json:"disablePasswordLogin"`
	// Listed shows the provider on the web app's login page.
	Listed bool `json:"listed"`
	// Source is "file" or "api".
	Source string `json:"source"`

	domainID string
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// FieldError is a provider setting that is wrong, naming its field.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Message) }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Check validates a provider's settings and fills in defaults.
func (p *Provider) Check() error {
	if !nameRE.MatchString(p.Name) {
		return fieldErr("name", "%q must be 1 to 63 lower-case letters, digits and dashes", p.Name)
	}
	if p.DisplayName == "" {
		p.DisplayName = p.Name
	}
	if len(p.DisplayName) > 64 || strings.ContainsFunc(p.DisplayName, unicode.IsControl) {
		return fieldErr("displayName", "must be at most 64 characters without control characters")
	}
	u, err := url.Parse(p.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fieldErr("issuer", "%q is not an http(s) URL (the issuer, whose /.well-known/openid-configuration is read)", p.Issuer)
	}
	p.Issuer = strings.TrimSuffix(p.Issuer, "/.well-known/openid-configuration")
	if p.ClientID == "" || len(p.ClientID) > 256 {
		return fieldErr("clientId", "is required (at most 256 characters)")
	}
	if len(p.ClientSecret) > 1024 {
		return fieldErr("clientSecret", "is longer than 1024 characters")
	}
	if len(p.Scopes) == 0 {
		p.Scopes = []string{"openid", "profile", "email"}
	}
	hasOpenID := false
	for _, s := range p.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") || len(s) > 128 {
			return fieldErr("scopes", "%q is not a scope", s)
		}
		hasOpenID = hasOpenID || s == "openid"
	}
	if !hasOpenID {
		return fieldErr("scopes", "must include openid")
	}
	if p.Claims.Username == "" {
		p.Claims.Username = "preferred_username"
	}
	if p.Claims.Email == "" {
		p.Claims.Email = "email"
	}
	if len(p.GroupMap) > 0 && p.Claims.Groups == "" {
		return fieldErr("claims.groups", "is required with groupMap")
	}
	for g, rule := range p.GroupMap {
		if rule.Role != "" && rule.Role != "admin" && rule.Role != "user" {
			return fieldErr("groupMap", "group %q: role %q is not admin or user", g, rule.Role)
		}
	}
	return nil
}

// LoadDir reads the providers directory: one JSON object per *.json file.
func LoadDir(dir string) ([]*Provider, error) {
	if dir == "" {
		return nil, nil
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("oauth2client.providers: %w", err)
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("oauth2client.providers: %w", err)
	}
	sort.Strings(names)
	var out []*Provider
	seen := map[string]string{}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("oauth2client.providers: %w", err)
		}
		var p Provider
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("oauth2client.providers: %s: %w", name, err)
		}
		if p.Name == "" {
			p.Name = strings.TrimSuffix(filepath.Base(name), ".json")
		}
		if err := p.Check(); err != nil {
			return nil, fmt.Errorf("oauth2client.providers: %s: %w", name, err)
		}
		if prev, ok := seen[p.Name]; ok {
			return nil, fmt.Errorf("oauth2client.providers: %s and %s both name the provider %q", prev, name, p.Name)
		}
		seen[p.Name] = name
		p.Source = "file"
		out = append(out, &p)
	}
	return out, nil
}
