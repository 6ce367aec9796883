package sapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/sapi"
	"github.com/openwac/wac/internal/server"
	"github.com/openwac/wac/internal/store"
)

type cancelKey struct{}

// cancelAfterUpdate is a store that cancels the request right after a
// credential update lands: the client leaving, or the shutdown drain
// ending, at the worst moment.
type cancelAfterUpdate struct{ store.Store }

func (s cancelAfterUpdate) UpdateCredential(ctx context.Context, c *store.Credential) error {
	err := s.Store.UpdateCredential(ctx, c)
	if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
	return err
}

// A password change that is committed ends the user's other sessions even
// when its request is cancelled right after the commit: a new password
// must never leave the old sessions alive.
func TestPasswordChangeRevokesEvenIfCancelled(t *testing.T) {
	eachDialect(t, nil, func(t *testing.T, e *env) {
		e.createUser(e.admin, "wac", "alice", "user", "alice-password")
		mine, other := e.login("alice@wac", "alice-password"), e.login("alice@wac", "alice-password")
		var creds []map[string]any
		e.want(e.do("GET", "/sapi/credentials", mine, nil), 200).json(t, &creds)
		if len(creds) != 1 || creds[0]["type"] != "basic" {
			t.Fatalf("alice's credentials: %+v", creds)
		}
		api := sapi.New(cancelAfterUpdate{e.srv.Store}, e.srv.Auth, e.srv.Config, logging.Discard(), server.ClientIP)
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			api.ServeHTTP(w, r.WithContext(context.WithValue(ctx, cancelKey{}, cancel)))
		}))
		defer hs.Close()
		cut := &env{t: t, srv: e.srv, http: hs}
		r := cut.do("PUT", "/sapi/credentials/"+creds[0]["id"].(string), mine,
			map[string]any{"data": map[string]any{"password": "new-password-1", "currentPassword": "alice-password"}})
		if r.status/100 == 2 && len(r.body) == 0 {
			t.Fatalf("a cancelled request answered %d with nothing", r.status)
		}
		e.want(e.do("GET", "/sapi/users/me", other, nil), http.StatusUnauthorized)
		e.want(e.do("GET", "/sapi/users/me", mine, nil), http.StatusOK)
		e.login("alice@wac", "new-password-1")
	})
}
