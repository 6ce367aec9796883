package sapi

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/store"
)

// groupJSON is a hunt group (the seeds' usersGroup): calling it rings every
// participant at once and the first to answer takes the call.
type groupJSON struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Domain       string   `json:"domain"`
	Owner        string   `json:"owner"`
	Participants []string `json:"participants"`
	URI          string   `json:"uri"`
	Created      int64    `json:"created"`
	Updated      int64    `json:"updated"`
}

// groupBody is what POST and PUT accept.
type groupBody struct {
	ID           string    `json:"id"`
	Name         *string   `json:"name"`
	Domain       *string   `json:"domain"`
	Owner        *string   `json:"owner"`
	Participants *[]string `json:"participants"`
	URI          string    `json:"uri"`
	Created      int64     `json:"created"`
	Updated      int64     `json:"updated"`
}

// participantsBody names users to add or remove: "participants" (ids or
// names) or a single "user".
type participantsBody struct {
	Participants []string `json:"participants"`
	User         string   `json:"user"`
}

var groupNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,63}$`)

func (a *API) groupJSON(ctx context.Context, names domainNames, g *store.Group) (*groupJSON, error) {
	dn, err := a.domainName(ctx, names, g.DomainID)
	if err != nil {
		return nil, err
	}
	members, err := a.st.GroupMembers(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	if members == nil {
		members = []string{}
	}
	return &groupJSON{ID: g.ID, Name: g.Name, Domain: dn, Owner: g.OwnerID, Participants: members,
		URI: "wac-group:" + g.ID, Created: g.Created, Updated: g.Updated}, nil
}

// visibleGroup loads the group of the path if p may see it: admins their
// scope, users the groups of their domain.
func (a *API) visibleGroup(r *http.Request, p *auth.Principal) (*store.Group, error) {
	id, err := pathID(r, "groupId", "group")
	if err != nil {
		return nil, err
	}
	g, err := a.st.GetGroup(r.Context(), id)
	if err != nil {
		return nil, storeErr(err, "group")
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return nil, err
	}
	if p.IsAnonymous() || !auth.InScope(scope, g.DomainID) {
		return nil, notFound("group")
	}
	return g, nil
}

// owns reports whether p may manage g: its owner, or an admin of its domain.
func owns(p *auth.Principal, g *store.Group) error {
	if p.IsAdmin() || p.UserID != "" && p.UserID == g.OwnerID {
		return nil
	}
	return forbidden("User %s is not the owner of the group", p.UserID)
}

func (a *API) listGroups(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if p.IsAnonymous() {
		writeJSON(w, http.StatusOK, []groupJSON{})
		return nil
	}
	pg, err := page(r)
	if err != nil {
		return err
	}
	scope, err := a.auth.Scope(r.Context(), p)
	if err != nil {
		return err
	}
	member := ""
	if r.URL.Query().Get("mine") == "true" {
		member = p.UserID
	}
	list, err := a.st.ListGroups(r.Context(), scope, member, pg)
	if err != nil {
		return err
	}
	return writeList(w, list, func(names domainNames, g *store.Group) (*groupJSON, error) {
		return a.groupJSON(r.Context(), names, g)
	})
}

func (a *API) getGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	g, err := a.visibleGroup(r, p)
	if err != nil {
		return err
	}
	j, err := a.groupJSON(r.Context(), domainNames{}, g)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// resolveMembers turns ids or names into users who may be in g: users of
// the group's domain, and for admins users of the domains they administer.
// Nobody puts another tenant's users in a group (a call to the group would
// ring them, and they could not leave a group they cannot see); to the
// caller they do not exist.
func (a *API) resolveMembers(ctx context.Context, p *auth.Principal, g *store.Group, field string, names []string) ([]*store.User, error) {
	var scope []string
	if p.IsAdmin() {
		var err error
		if scope, err = a.auth.Scope(ctx, p); err != nil {
			return nil, err
		}
	}
	var out []*store.User
	for _, n := range names {
		u, err := a.auth.Resolve(ctx, g.DomainID, n)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		allowed := err == nil && u.Role != store.RoleAnonymous &&
			(u.DomainID == g.DomainID || p.IsAdmin() && auth.InScope(scope, u.DomainID))
		if !allowed {
			return nil, invalid(field, "Specified participant does not exist: %s", quote(n))
		}
		out = append(out, u)
	}
	return out, nil
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if p.IsAnonymous() || p.UserID == "" && !p.IsAdmin() {
		return forbidden("anonymous users cannot create groups")
	}
	var body groupBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Name == nil || strings.TrimSpace(*body.Name) == "" {
		return required("name")
	}
	name := strings.TrimSpace(*body.Name)
	if !groupNamePattern.MatchString(name) {
		return invalid("name", "%q must be 1-64 letters, digits, spaces, '.', '_', '+' or '-'", *body.Name)
	}
	g := &store.Group{Name: name, DomainID: p.DomainID, OwnerID: p.UserID}
	if body.Domain != nil && *body.Domain != "" {
		if !p.IsAdmin() {
			return fieldErr(http.StatusForbidden, "domain", "only admins create groups in other domains")
		}
		scope, err := a.auth.Scope(r.Context(), p)
		if err != nil {
			return err
		}
		d, err := a.findDomain(r.Context(), *body.Domain)
		if errors.Is(err, store.ErrNotFound) || err == nil && !auth.InScope(scope, d.ID) {
			return invalid("domain", "domain %q does not exist", *body.Domain)
		}
		if err != nil {
			return err
		}
		g.DomainID = d.ID
	}
	var members []*store.User
	if body.Participants != nil {
		var err error
		if members, err = a.resolveMembers(r.Context(), p, g, "participants", *body.Participants); err != nil {
			return err
		}
	}
	err := a.st.InTx(r.Context(), func(tx store.Store) error {
		if err := tx.CreateGroup(r.Context(), g); err != nil {
			return err
		}
		for _, m := range members {
			if err := tx.AddGroupMember(r.Context(), g.ID, m.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storeErr(err, "group")
	}
	j, err := a.groupJSON(r.Context(), domainNames{}, g)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/sapi/usersGroup/"+g.ID)
	writeJSON(w, http.StatusCreated, j)
	return nil
}

func (a *API) updateGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	g, err := a.visibleGroup(r, p)
	if err != nil {
		return err
	}
	if err := owns(p, g); err != nil {
		return err
	}
	var body groupBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Name != nil {
		name := strings.TrimSpace(*body.Name)
		if !groupNamePattern.MatchString(name) {
			return invalid("name", "%q must be 1-64 letters, digits, spaces, '.', '_', '+' or '-'", *body.Name)
		}
		g.Name = name
	}
	if body.Owner != nil && *body.Owner != g.OwnerID {
		owner, err := a.resolveMembers(r.Context(), p, g, "owner", []string{*body.Owner})
		if err != nil {
			return err
		}
		g.OwnerID = owner[0].ID
	}
	var members []*store.User
	if body.Participants != nil {
		if members, err = a.resolveMembers(r.Context(), p, g, "participants", *body.Participants); err != nil {
			return err
		}
	}
	err = a.st.InTx(r.Context(), func(tx store.Store) error {
		if err := tx.UpdateGroup(r.Context(), g); err != nil {
			return err
		}
		if body.Participants == nil {
			return nil
		}
		if err := tx.RemoveGroupMembers(r.Context(), g.ID); err != nil {
			return err
		}
		for _, m := range members {
			if err := tx.AddGroupMember(r.Context(), g.ID, m.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storeErr(err, "group")
	}
	j, err := a.groupJSON(r.Context(), domainNames{}, g)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	g, err := a.visibleGroup(r, p)
	if err != nil {
		return err
	}
	if err := owns(p, g); err != nil {
		return err
	}
	if err := a.st.DeleteGroup(r.Context(), g.ID); err != nil {
		return storeErr(err, "group")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) readParticipants(r *http.Request) ([]string, error) {
	var body participantsBody
	if r.ContentLength != 0 {
		if err := decode(r, &body); err != nil {
			return nil, err
		}
	}
	names := body.Participants
	if body.User != "" {
		names = append(names, body.User)
	}
	if u := r.URL.Query().Get("user"); u != "" {
		names = append(names, u)
	}
	if len(names) == 0 {
		return nil, required("participants")
	}
	if len(names) > 1000 {
		return nil, invalid("participants", "at most 1000 at once")
	}
	return names, nil
}

func (a *API) addGroupParticipants(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	g, err := a.visibleGroup(r, p)
	if err != nil {
		return err
	}
	if err := owns(p, g); err != nil {
		return err
	}
	names, err := a.readParticipants(r)
	if err != nil {
		return err
	}
	members, err := a.resolveMembers(r.Context(), p, g, "participants", names)
	if err != nil {
		a.log.Error("Specified participant does not exist", "group", g.ID)
		return err
	}
	err = a.st.InTx(r.Context(), func(tx store.Store) error {
		for _, m := range members {
			if err := tx.AddGroupMember(r.Context(), g.ID, m.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storeErr(err, "group")
	}
	j, err := a.groupJSON(r.Context(), domainNames{}, g)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (a *API) removeGroupParticipants(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	g, err := a.visibleGroup(r, p)
	if err != nil {
		return err
	}
	if err := owns(p, g); err != nil {
		return err
	}
	names, err := a.readParticipants(r)
	if err != nil {
		return err
	}
	members, err := a.resolveMembers(r.Context(), p, g, "participants", names)
	if err != nil {
		return err
	}
	err = a.st.InTx(r.Context(), func(tx store.Store) error {
		for _, m := range members {
			if err := tx.RemoveGroupMember(r.Context(), g.ID, m.ID); errors.Is(err, store.ErrNotFound) {
				return invalid("participants", "user %s is not a participant of the group", m.ID)
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storeErr(err, "group")
	}
	j, err := a.groupJSON(r.Context(), domainNames{}, g)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// clearGroup is DELETE /sapi/usersGroup/{groupId}/participations: every
// participant leaves the group.
func (a *API) clearGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	g, err := a.visibleGroup(r, p)
	if err != nil {
		return err
	}
	if err := owns(p, g); err != nil {
		return err
	}
	if err := a.st.RemoveGroupMembers(r.Context(), g.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// isGroupParticipant is HEAD /sapi/usersGroup/{groupId}/participants/{userId}:
// 200 when the user is a participant, 404 when not.
func (a *API) isGroupParticipant(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	g, err := a.visibleGroup(r, p)
	if err != nil {
		return err
	}
	ok, err := a.st.IsGroupMember(r.Context(), g.ID, r.PathValue("userId"))
	if err != nil {
		return err
	}
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return nil
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// leaveGroup is DELETE /sapi/usersGroup/{groupId}/leave: the caller stops
// being a participant.
//
// A participant may always leave, whether or not the group is of a domain
// the caller sees (a membership made before tenants were kept apart); to a
// caller who is not a participant, a group it cannot see does not exist.
func (a *API) leaveGroup(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	id, err := pathID(r, "groupId", "group")
	if err != nil {
		return err
	}
	g, err := a.st.GetGroup(r.Context(), id)
	if err != nil {
		return storeErr(err, "group")
	}
	if p.UserID == "" {
		return forbidden("clients are in no group")
	}
	if err := a.st.RemoveGroupMember(r.Context(), g.ID, p.UserID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, "you are not a participant of the group")
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// leaveAllGroups is DELETE /sapi/usersGroup/participations: a user leaves
// every group (the caller, or for admins ?user=).
func (a *API) leaveAllGroups(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	user := p.UserID
	if u := r.URL.Query().Get("user"); u != "" && u != p.UserID {
		if !p.IsAdmin() {
			return forbidden("only admins remove other users from their groups")
		}
		target, err := a.st.GetUser(r.Context(), u)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("user")
		}
		if err != nil {
			return err
		}
		scope, err := a.auth.Scope(r.Context(), p)
		if err != nil {
			return err
		}
		if !auth.InScope(scope, target.DomainID) {
			return notFound("user")
		}
		user = u
	}
	if user == "" {
		return forbidden("clients are in no group")
	}
	n, err := a.st.RemoveUserFromGroups(r.Context(), user)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"removed": n})
	return nil
}
