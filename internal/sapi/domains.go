package sapi

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/origin"
	"github.com/openwac/wac/internal/store"
)

// domainJSON is a domain as the seeds show it. parent is the parent's name.
type domainJSON struct {
	ID                    string              `json:"id"`
	Parent                *string             `json:"parent"`
	Domain                string              `json:"domain"`
	Origins               []string            `json:"origins"`
	EnableAnonymous       bool                `json:"enableAnonymous"`
	AnonymousExpiration   int64               `json:"anonymousExpiration"`
	AnonymousCapabilities []string            `json:"anonymousCapabilities"`
	Services              map[string][]string `json:"services"`
	// RecordingRetentionDays is how long the domain keeps recordings, in
	// days; 0 = recording.retentionDays.
	RecordingRetentionDays int   `json:"recordingRetentionDays"`
	Created                int64 `json:"created"`
	Updated                int64 `json:"updated"`
}

// domainBody is what POST and PUT accept. id, created and updated may be
// sent back as read; they are ignored.
type domainBody struct {
	ID                     string               `json:"id"`
	Parent                 *string              `json:"parent"`
	Domain                 *string              `json:"domain"`
	Origins                []*string            `json:"origins"`
	EnableAnonymous        *bool                `json:"enableAnonymous"`
	AnonymousExpiration    *int64               `json:"anonymousExpiration"`
	AnonymousCapabilities  []string             `json:"anonymousCapabilities"`
	Services               map[string][]*string `json:"services"`
	RecordingRetentionDays *int                 `json:"recordingRetentionDays"`
	Created                int64                `json:"created"`
	Updated                int64                `json:"updated"`
}

// DomainNamePattern is what a domain name may look like.
var DomainNamePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
var serviceName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)

func (a *API) domainJSON(ctx context.Context, d *store.Domain) (*domainJSON, error) {
	out := &domainJSON{
		ID: d.ID, Domain: d.Name, Origins: nonNil(d.Origins), EnableAnonymous: d.EnableAnonymous,
		AnonymousExpiration: d.AnonymousExpiration, AnonymousCapabilities: nonNil(d.AnonymousCapabilities),
		Services: d.Services, RecordingRetentionDays: d.RecordingRetentionDays, Created: d.Created, Updated: d.Updated,
	}
	if out.Services == nil {
		out.Services = map[string][]string{}
	}
	if d.ParentID != "" {
		p, err := a.st.GetDomain(ctx, d.ParentID)
		if err != nil {
			return nil, err
		}
		out.Parent = &p.Name
	}
	return out, nil
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// findDomain resolves a domain given by id or name.
func (a *API) findDomain(ctx context.Context, ref string) (*store.Domain, error) {
	if store.ValidID(ref) {
		d, err := a.st.GetDomain(ctx, ref)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return d, err
		}
	}
	return a.st.GetDomainByName(ctx, strings.ToLower(ref))
}

func (a *API) listDomains(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return err
	}
	all, err := a.st.ListDomains(r.Context())
	if err != nil {
		return err
	}
	out := []*domainJSON{}
	for _, d := range all {
		if !auth.InScope(scope, d.ID) {
			continue
		}
		j, err := a.domainJSON(r.Context(), d)
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getDomain(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	d, err := a.scopedDomain(r, p)
	if err != nil {
		return err
	}
	j, err := a.domainJSON(r.Context(), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// scopedDomain loads the domain of the path that p may read; others are 404
// so that ids of other tenants are not revealed.
func (a *API) scopedDomain(r *http.Request, p *auth.Principal) (*store.Domain, error) {
	id, err := pathID(r, "id", "domain")
	if err != nil {
		return nil, err
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return nil, err
	}
	if !auth.InScope(scope, id) {
		return nil, notFound("domain")
	}
	d, err := a.st.GetDomain(r.Context(), id)
	if err != nil {
		return nil, storeErr(err, "domain")
	}
	return d, nil
}

// applyDomainBody validates body onto d. For a new domain the parent
// defaults to the caller's domain unless the caller administers everything.
func (a *API) applyDomainBody(ctx context.Context, p *auth.Principal, scope []string, body *domainBody, d *store.Domain) error {
	if body.Domain == nil || strings.TrimSpace(*body.Domain) == "" {
		return required("domain")
	}
	name := strings.ToLower(strings.TrimSpace(*body.Domain))
	if len(name) > 253 || !DomainNamePattern.MatchString(name) {
		return invalid("domain", "%q is not a valid domain name (letters, digits, dots and hyphens)", *body.Domain)
	}
	d.Name = name
	switch {
	case body.Parent != nil && *body.Parent != "":
		parent, err := a.findDomain(ctx, *body.Parent)
		if errors.Is(err, store.ErrNotFound) || err == nil && !auth.InScope(scope, parent.ID) {
			return invalid("parent", "domain %q does not exist", *body.Parent)
		}
		if err != nil {
			return err
		}
		if d.ID != "" {
			chain, err := a.auth.DomainChain(ctx, parent.ID)
			if err != nil {
				return err
			}
			for _, anc := range chain {
				if anc.ID == d.ID {
					return invalid("parent", "domain %q is this domain or below it: the hierarchy would have a cycle", *body.Parent)
				}
			}
		}
		d.ParentID = parent.ID
	case d.ID != "" && body.Parent == nil:
		// An update without "parent" keeps the domain where it is.
	case scope == nil:
		d.ParentID = "" // top level; "parent": "" moves a domain there
	case d.ID == p.DomainID:
		// A domain admin cannot move its own domain.
	default:
		d.ParentID = p.DomainID // domain admins create below their domain
	}
	if err := a.applyOrigins(ctx, scope, body.Origins, d); err != nil {
		return err
	}
	d.EnableAnonymous = body.EnableAnonymous != nil && *body.EnableAnonymous
	d.AnonymousExpiration = 0
	if body.AnonymousExpiration != nil {
		if *body.AnonymousExpiration < 0 {
			return invalid("anonymousExpiration", "must not be negative (milliseconds)")
		}
		d.AnonymousExpiration = *body.AnonymousExpiration
	}
	d.RecordingRetentionDays = 0
	if v := body.RecordingRetentionDays; v != nil {
		if *v < 0 || *v > 36500 {
			return invalid("recordingRetentionDays", "must be between 0 (recording.retentionDays) and 36500 days, not %d", *v)
		}
		d.RecordingRetentionDays = *v
	}
	d.AnonymousCapabilities = []string{}
	for _, c := range body.AnonymousCapabilities {
		if _, _, ok := auth.ParseCapability(c); !ok {
			return invalid("anonymousCapabilities", "%q must be +name or -name", c)
		}
		d.AnonymousCapabilities = append(d.AnonymousCapabilities, c)
	}
	d.Services = map[string][]string{}
	for svc, backends := range body.Services {
		if !serviceName.MatchString(svc) {
			return invalid("services", "%q is not a service name", svc)
		}
		list := []string{}
		for _, b := range backends {
			if b != nil && *b != "" {
				list = append(list, *b)
			}
		}
		d.Services[svc] = list
	}
	return nil
}

// applyOrigins validates a domain's origins: the patterns that send
// anonymous visitors to it. A domain's patterns may not overlap another
// domain's, or one tenant would take the visitors meant for another; the
// admins of tenants write exact patterns only (a host, *.host below a
// registered name, scheme://host:port), and only the system's admins the
// seeds' globs, "*" and regular expressions, which cannot be compared and
// rank below every exact pattern when a visitor is placed.
func (a *API) applyOrigins(ctx context.Context, scope []string, items []*string, d *store.Domain) error {
	var patterns []origin.Pattern
	var index []int // the item each pattern was
	d.Origins = d.Origins[:0]
	for i, o := range items {
		if o == nil || *o == "" {
			continue // the seeds list [null] for no origins
		}
		p, err := origin.Parse(*o)
		if err != nil {
			return invalid("origins", "item %d: %v", i, err)
		}
		if scope != nil && !p.Simple() {
			return fieldErr(http.StatusForbidden, "origins", "item %d (%s): only the system's admins write patterns with * or regular expressions; write a host, *.host or scheme://host:port", i, quote(*o))
		}
		if scope != nil && p.Broad() {
			return fieldErr(http.StatusForbidden, "origins", "item %d (%s) covers a whole top-level domain; name a domain below it", i, quote(*o))
		}
		patterns = append(patterns, p)
		index = append(index, i)
		d.Origins = append(d.Origins, *o)
	}
	if len(patterns) == 0 {
		return nil
	}
	domains, err := a.st.ListDomains(ctx)
	if err != nil {
		return err
	}
	for _, other := range domains {
		if other.ID == d.ID {
			continue
		}
		for _, raw := range other.Origins {
			q, err := origin.Parse(raw)
			if err != nil || !q.Simple() {
				continue
			}
			for i, p := range patterns {
				if p.Simple() && p.Overlaps(q) {
					return fieldErr(http.StatusConflict, "origins", "item %d (%s) overlaps the origins of another domain", index[i], quote(p.String()))
				}
			}
		}
	}
	return nil
}

func (a *API) createDomain(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	var body domainBody
	if err := decode(r, &body); err != nil {
		return err
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return err
	}
	d := &store.Domain{}
	if err := a.applyDomainBody(r.Context(), p, scope, &body, d); err != nil {
		return err
	}
	if err := a.st.CreateDomain(r.Context(), d); err != nil {
		return storeErr(err, "domain")
	}
	a.log.Info("domain created", "domain", d.Name, "by", p.Username)
	j, err := a.domainJSON(r.Context(), d)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/sapi/domains/"+d.ID)
	writeJSON(w, http.StatusCreated, j)
	return nil
}

func (a *API) updateDomain(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	d, err := a.scopedDomain(r, p)
	if err != nil {
		return err
	}
	var body domainBody
	if err := decode(r, &body); err != nil {
		return err
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return err
	}
	oldName := d.Name
	before := *d
	if err := a.applyDomainBody(r.Context(), p, scope, &body, d); err != nil {
		return err
	}
	if scope != nil && d.ID == p.DomainID {
		// Limits come from above: the admin of a tenant may rename its
		// domain and set its origins, not widen what it was given.
		if field := changedLimit(&before, d); field != "" {
			return forbidden("%q of your own domain can only be changed by an admin above it", field)
		}
	}
	if strings.EqualFold(oldName, a.cfg.DefaultDomain) && d.Name != oldName {
		return invalid("domain", "the default domain %q cannot be renamed", oldName)
	}
	if err := a.st.UpdateDomain(r.Context(), d); err != nil {
		return storeErr(err, "domain")
	}
	a.auth.InvalidateDomains()
	j, err := a.domainJSON(r.Context(), d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// changedLimit names the first limit of a domain that differs between a
// and b, or returns "".
func changedLimit(a, b *store.Domain) string {
	switch {
	case a.EnableAnonymous != b.EnableAnonymous:
		return "enableAnonymous"
	case a.AnonymousExpiration != b.AnonymousExpiration:
		return "anonymousExpiration"
	case !slices.Equal(a.AnonymousCapabilities, b.AnonymousCapabilities):
		return "anonymousCapabilities"
	case !maps.EqualFunc(a.Services, b.Services, slices.Equal[[]string]):
		return "services"
	case a.RecordingRetentionDays != b.RecordingRetentionDays:
		return "recordingRetentionDays"
	}
	return ""
}

func (a *API) deleteDomain(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if err := requireAdmin(p); err != nil {
		return err
	}
	d, err := a.scopedDomain(r, p)
	if err != nil {
		return err
	}
	if strings.EqualFold(d.Name, a.cfg.DefaultDomain) {
		return errorf(http.StatusConflict, "the default domain %q cannot be deleted", d.Name)
	}
	if d.ID == p.DomainID {
		return errorf(http.StatusConflict, "you cannot delete your own domain")
	}
	children, users, err := a.st.CountDomainDependents(r.Context(), d.ID)
	if err != nil {
		return err
	}
	if children > 0 || users > 0 {
		return errorf(http.StatusConflict, "domain %q still has %d users and %d child domains; remove them first", d.Name, users, children)
	}
	err = a.st.InTx(r.Context(), func(tx store.Store) error {
		creds, err := tx.ListCredentials(r.Context(), []string{d.ID}, "", store.Page{})
		if err != nil {
			return err
		}
		for _, c := range creds {
			if err := tx.DeleteCredential(r.Context(), c.ID); err != nil {
				return err
			}
		}
		clients, err := tx.ListClients(r.Context(), []string{d.ID})
		if err != nil {
			return err
		}
		for _, c := range clients {
			if err := tx.DeleteClient(r.Context(), c.ID); err != nil {
				return err
			}
		}
		return tx.DeleteDomain(r.Context(), d.ID)
	})
	if err != nil {
		return storeErr(err, "domain")
	}
	a.auth.InvalidateDomains()
	a.log.Info("domain deleted", "domain", d.Name, "by", p.Username)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
