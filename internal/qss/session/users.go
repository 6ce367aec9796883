package session

import (
	"context"
	"errors"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/qss/wire"
	"github.com/openwac/wac/internal/store"
)

// User is a user as the layers carry it between nodes (a participant, a
// caller, a callee).
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Domain   string `json:"domain"`
	DomainID string `json:"domainId"`
	Role     string `json:"role"`
	Alias    string `json:"alias,omitempty"`
}

// UserOf is the user a principal acts as.
func UserOf(p *auth.Principal) User {
	return User{ID: p.UserID, Username: p.Username, Domain: p.DomainName, DomainID: p.DomainID, Role: p.Role}
}

// Me is the session's user.
func (s *Session) Me() User { return UserOf(s.User) }

// ResolveUsers turns names into users as the session's user means them
// (in its domain); an unknown one is refused with 404 naming field.
func (srv *Server) ResolveUsers(ctx context.Context, s *Session, names []string, field string) ([]User, error) {
	var out []User
	for _, n := range names {
		u, err := srv.auth.Resolve(ctx, s.User.DomainID, n)
		if errors.Is(err, store.ErrNotFound) {
			return nil, wire.Refuse(404, "%s: user %q not found", field, wire.Truncate(n, 80))
		}
		if err != nil {
			return nil, err
		}
		out = append(out, srv.UserOfRecord(ctx, u))
	}
	return out, nil
}

// UserOfRecord is the user of a stored record, with its domain's name.
func (srv *Server) UserOfRecord(ctx context.Context, u *store.User) User {
	ref := User{ID: u.ID, Username: u.Username, DomainID: u.DomainID, Role: u.Role, Alias: u.Alias}
	if d, err := srv.auth.Domain(ctx, u.DomainID); err == nil {
		ref.Domain = d.Name
	}
	return ref
}
