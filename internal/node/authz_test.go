package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/node"
	"github.com/openwac/wac/internal/store"
)

// The authorization matrix of the REST API: every route × every role × a
// record of the caller's own domain and of another tenant's. A route added
// without a row here fails TestAuthorizationMatrix.
//
// The roles: the system's admin (admin of the default domain), an admin of
// tenant acme, a user of acme, an anonymous visitor of acme, and an OAuth2
// client of acme with the user role. "Own" records are acme's (for the
// user, another user's of acme), "other" records globex's.

// expect is what one cell of the matrix must answer.
type expect int

const (
	ok        expect = iota // 2xx
	seen                    // 2xx, and the record is in the answer
	unseen                  // 2xx without the record, or 403
	forbidden               // 403
	notFound                // 404
	invalid                 // 422: the other tenant's domain or user does not exist for the caller
)

func (e expect) String() string {
	return [...]string{"2xx", "2xx with it", "2xx without it (or 403)", "403", "404", "422"}[e]
}

// actor is one role of the matrix.
type actor int

const (
	sysAdmin actor = iota
	tenantAdmin
	user
	anonymous
	appClient
	actors
)

func (a actor) String() string {
	return [...]string{"system-admin", "tenant-admin", "user", "anonymous", "client"}[a]
}

// row is one route. req builds the request against a record of the domain
// (acme or globex) for the actor; want gives the answers for acme's record
// and globex's, by actor.
type row struct {
	route string // "METHOD /pattern"
	req   func(f *fixture, a actor, domain string) (method, path string, body any, record string)
	want  [actors][2]expect
}

// ownLogin are the routes that end the caller's login: each request of
// theirs gets a token of its own.
var ownLogin = map[string]bool{"POST /sapi/o/federation/logout": true}

func same(e expect) [2]expect { return [2]expect{e, e} }

// fixture is the running node and the records of both tenants.
type fixture struct {
	t      *testing.T
	node   *node.Node
	base   string
	tokens [actors]string
	seq    atomic.Int64
	// per tenant
	users   map[string]tenantUser // a user of the tenant (not any actor)
	sessUsr map[string]*client.Client
	calls   map[string]string // a call record id
	creds   map[string]string // a credential id (basic, of users[...])
	clients map[string]string // a client id
	alarms  map[string]string // a word in an alarm of the tenant
	idps    map[string]string // an identity provider id
	boss    string            // the tenant admin's username@acme
	anonCli struct{ ID, Secret string }
	recs    map[string]string // a recording of the tenant's user
	pushes  map[string]string // a push token of the tenant's user
}

type tenantUser struct{ ID, Username string }

func (f *fixture) do(method, path, token string, body any) (int, []byte) {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.base+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// must runs a request as the system admin and decodes its answer.
func (f *fixture) must(method, path string, body, out any) {
	f.t.Helper()
	code, data := f.do(method, path, f.tokens[sysAdmin], body)
	if code/100 != 2 {
		f.t.Fatalf("%s %s: %d %s", method, path, code, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			f.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
}

func (f *fixture) name(prefix string) string { return fmt.Sprintf("%s%d", prefix, f.seq.Add(1)) }

// newUser makes a fresh user of domain with a password.
func (f *fixture) newUser(domain string) tenantUser {
	var u tenantUser
	f.must("POST", "/sapi/users", map[string]any{"domain": domain, "username": f.name("u"), "password": "a-password-1"}, &u)
	return u
}

// newDomain makes a fresh domain below domain.
func (f *fixture) newDomain(parent string) (id, name string) {
	var d struct {
		ID     string `json:"id"`
		Domain string `json:"domain"`
	}
	f.must("POST", "/sapi/domains", map[string]any{"domain": f.name("d") + "." + parent, "parent": parent}, &d)
	return d.ID, d.Domain
}

func (f *fixture) newCredential(domain string) string {
	var c struct{ ID string }
	f.must("POST", "/sapi/credentials", map[string]any{"type": "ims", "domain": domain,
		"data": map[string]any{"username": f.name("ims") + "@" + domain, "password": "ims-secret"}}, &c)
	return c.ID
}

func (f *fixture) newClient(domain string) string {
	var c struct{ ID string }
	f.must("POST", "/sapi/clients", map[string]any{"name": f.name("crm"), "role": "user", "domain": domain}, &c)
	return c.ID
}

// newSession opens a signaling session of a fresh user of domain.
func (f *fixture) newSession(domain string) string {
	u := f.newUser(domain)
	cl, err := client.Login(context.Background(), f.base, u.Username+"@"+domain, "a-password-1")
	if err != nil {
		f.t.Fatal(err)
	}
	conn, err := cl.Connect(context.Background(), client.ConnectOptions{Platform: "test"})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(conn.Close)
	return conn.Session
}

func newFixture(t *testing.T) *fixture {
	n, base := startNodeWith(t, t.TempDir(), func(c *config.Config) {
		c.Login.LimitRateUnits, c.Login.LimitRateWindow = 1, time.Minute // one failed login is an alarm
		c.QSS.RequestRate = 1000
	})
	f := &fixture{t: t, node: n, base: base, users: map[string]tenantUser{}, sessUsr: map[string]*client.Client{},
		calls: map[string]string{}, creds: map[string]string{}, clients: map[string]string{}, alarms: map[string]string{},
		idps: map[string]string{}, recs: map[string]string{}, pushes: map[string]string{}}
	ctx := context.Background()
	admin, err := client.Login(ctx, base, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	f.tokens[sysAdmin] = admin.AccessToken()
	for _, d := range []string{"acme", "globex"} {
		f.must("POST", "/sapi/domains", map[string]any{"domain": d, "enableAnonymous": true}, nil)
		u := f.newUser(d)
		f.users[d] = u
		var creds []struct{ ID, Type, User string }
		f.must("GET", "/sapi/credentials?user="+u.ID, nil, &creds)
		for _, c := range creds {
			if c.Type == "basic" && c.User == u.ID {
				f.creds[d] = c.ID
			}
		}
		f.clients[d] = f.newClient(d)
		f.idps[d] = f.newProvider(d)
		// A call of the tenant: a room its user made.
		cl, err := client.Login(ctx, base, u.Username+"@"+d, "a-password-1")
		if err != nil {
			t.Fatal(err)
		}
		f.sessUsr[d] = cl
		conn, err := cl.Connect(ctx, client.ConnectOptions{Platform: "test"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.Close)
		fr, err := conn.Request(ctx, "createRoom", map[string]any{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var room struct{ ID string }
		json.Unmarshal(fr.Payload, &room)
		f.calls[d] = room.ID
		// An alarm and a stat of the tenant: a failed login.
		f.do("POST", "/sapi/o/token", "", map[string]string{"grant_type": "password", "username": u.Username + "@" + d, "password": "wrong-password"})
		f.alarms[d] = u.Username + "@" + d
		f.recs[d] = f.newRecording(d)
		f.pushes[d] = f.newPushToken(d)
	}
	boss := f.newUser("acme")
	f.must("PATCH", "/sapi/users/"+boss.ID, map[string]any{"role": "admin"}, nil)
	f.tokens[tenantAdmin] = f.login(boss.Username + "@acme")
	f.boss = boss.Username + "@acme"
	f.tokens[user] = f.login(f.newUser("acme").Username + "@acme")
	var anon struct {
		AccessToken string `json:"access_token"`
	}
	code, data := f.do("POST", "/sapi/o/token", "", map[string]string{"grant_type": "anonymous", "username": "@acme"})
	if code != 200 || json.Unmarshal(data, &anon) != nil {
		t.Fatalf("anonymous login: %d %s", code, data)
	}
	f.tokens[anonymous] = anon.AccessToken
	var cli struct {
		ID     string `json:"id"`
		Secret string `json:"client_secret"`
	}
	f.must("POST", "/sapi/clients", map[string]any{"name": "app", "role": "user", "domain": "acme"}, &cli)
	var ct struct {
		AccessToken string `json:"access_token"`
	}
	code, data = f.do("POST", "/sapi/o/token", "", map[string]string{"grant_type": "client_credentials", "client_id": cli.ID, "client_secret": cli.Secret})
	if code != 200 || json.Unmarshal(data, &ct) != nil {
		t.Fatalf("client login: %d %s", code, data)
	}
	f.tokens[appClient] = ct.AccessToken
	f.anonCli.ID, f.anonCli.Secret = cli.ID, cli.Secret
	// The call records are written in the background: wait for both.
	deadline := time.Now().Add(10 * time.Second)
	for _, d := range []string{"acme", "globex"} {
		for {
			code, _ := f.do("GET", "/sapi/calls/"+f.calls[d], f.tokens[sysAdmin], nil)
			if code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the call record of %s was not written", d)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return f
}

func (f *fixture) login(username string) string {
	cl, err := client.Login(context.Background(), f.base, username, "a-password-1")
	if err != nil {
		f.t.Fatal(err)
	}
	return cl.AccessToken()
}

func (f *fixture) check(t *testing.T, r row) {
	for a := range actors {
		for i, domain := range []string{"acme", "globex"} {
			method, path, body, record := r.req(f, a, domain)
			want := r.want[a][i]
			token := f.tokens[a]
			if ownLogin[r.route] {
				token = f.freshToken(a)
			}
			code, data := f.do(method, path, token, body)
			good := false
			switch want {
			case ok:
				good = code/100 == 2
			case seen:
				good = code/100 == 2 && bytes.Contains(data, []byte(record))
			case unseen:
				good = code/100 == 2 && !bytes.Contains(data, []byte(record)) || code == 403
			case forbidden:
				good = code == 403
			case notFound:
				good = code == 404
			case invalid:
				good = code == 422
			}
			if !good {
				t.Errorf("%s as %s on %s's record (%s %s): %d %.200s; want %s", r.route, a, domain, method, path, code, data, want)
			}
		}
	}
}

// Columns: system admin, tenant admin, user, anonymous, client.
func matrix() []row {
	p := func(method, path string) func(*fixture, actor, string) (string, string, any, string) {
		return func(*fixture, actor, string) (string, string, any, string) { return method, path, nil, "" }
	}
	return []row{
		// Domains.
		{"GET /sapi/domains", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/domains", nil, `"domain":"` + d + `"`
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, {seen, unseen}, {seen, unseen}, {seen, unseen}}},
		{"POST /sapi/domains", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "POST", "/sapi/domains", map[string]any{"domain": f.name("n") + "." + d, "parent": d}, ""
		}, [actors][2]expect{{ok, ok}, {ok, invalid}, same(forbidden), same(forbidden), same(forbidden)}},
		{"GET /sapi/domains/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			id, _ := f.newDomain(d)
			return "GET", "/sapi/domains/" + id, nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},
		{"PUT /sapi/domains/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			id, name := f.newDomain(d)
			return "PUT", "/sapi/domains/" + id, map[string]any{"domain": name}, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},
		{"DELETE /sapi/domains/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			id, _ := f.newDomain(d)
			return "DELETE", "/sapi/domains/" + id, nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},

		// Users.
		{"GET /sapi/users", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/users?limit=1000", nil, f.users[d].ID
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, {seen, unseen}, same(unseen), {seen, unseen}}},
		{"POST /sapi/users", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "POST", "/sapi/users", map[string]any{"domain": d, "username": f.name("new")}, ""
		}, [actors][2]expect{{ok, ok}, {ok, invalid}, same(forbidden), same(forbidden), same(forbidden)}},
		{"GET /sapi/users/me", p("GET", "/sapi/users/me"),
			[actors][2]expect{same(ok), same(ok), same(ok), same(ok), same(notFound)}},
		// Another tenant's users are reachable (username@domain), with
		// what it takes to call them only (TestResolveAcrossDomains).
		{"GET /sapi/users/resolve/{target}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/users/resolve/" + f.users[d].Username + "@" + d, nil, ""
		}, [actors][2]expect{same(ok), same(ok), same(ok), same(ok), same(ok)}},
		{"GET /sapi/users/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/users/" + f.users[d].ID, nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, {ok, notFound}, same(notFound), {ok, notFound}}},
		{"PUT /sapi/users/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			u := f.newUser(d)
			return "PUT", "/sapi/users/" + u.ID, map[string]any{"domain": d, "username": u.Username, "email": "x@example.com"}, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, {forbidden, notFound}, same(notFound), {forbidden, notFound}}},
		{"PATCH /sapi/users/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "PATCH", "/sapi/users/" + f.newUser(d).ID, map[string]any{"alias": f.name("alias")}, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, {forbidden, notFound}, same(notFound), {forbidden, notFound}}},
		{"DELETE /sapi/users/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/users/" + f.newUser(d).ID, nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},

		// Credentials.
		{"GET /sapi/credentials", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/credentials?limit=1000", nil, f.creds[d]
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, same(unseen), same(unseen), same(unseen)}},
		{"POST /sapi/credentials", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "POST", "/sapi/credentials", map[string]any{"type": "ims", "domain": d,
				"data": map[string]any{"username": f.name("ims") + "@" + d, "password": "ims-secret"}}, ""
		}, [actors][2]expect{{ok, ok}, {ok, invalid}, same(forbidden), same(forbidden), same(forbidden)}},
		{"GET /sapi/credentials/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/credentials/" + f.creds[d], nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},
		{"PUT /sapi/credentials/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "PUT", "/sapi/credentials/" + f.newCredential(d), map[string]any{"type": "ims", "domain": d,
				"data": map[string]any{"username": f.name("ims") + "@" + d, "password": "ims-secret-2"}}, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},
		{"DELETE /sapi/credentials/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/credentials/" + f.newCredential(d), nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},

		// Capabilities are the caller's own.
		{"GET /sapi/capabilities", p("GET", "/sapi/capabilities"),
			[actors][2]expect{same(ok), same(ok), same(ok), same(ok), same(ok)}},
		{"GET /sapi/capabilities/", p("GET", "/sapi/capabilities/"),
			[actors][2]expect{same(ok), same(ok), same(ok), same(ok), same(ok)}},

		// Permissions.
		{"POST /sapi/permissions/user/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "POST", "/sapi/permissions/user/" + f.newUser(d).ID, map[string]any{"receiveCalls": map[string]any{"enabled": true}}, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},
		{"GET /sapi/permissions/user/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/permissions/user/" + f.users[d].ID, nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},
		{"POST /sapi/permissions/domain/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			id, _ := f.newDomain(d)
			return "POST", "/sapi/permissions/domain/" + id, map[string]any{"receiveCalls": map[string]any{"enabled": true}}, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},
		{"GET /sapi/permissions/domain/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			id, _ := f.newDomain(d)
			return "GET", "/sapi/permissions/domain/" + id, nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},

		// Alarms and stats: admins, of their scope.
		{"GET /sapi/alarms", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/alarms", nil, f.alarms[d]
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, same(forbidden), same(forbidden), same(forbidden)}},
		{"GET /sapi/stats", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/stats?service=Login", nil, f.alarms[d]
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, same(forbidden), same(forbidden), same(forbidden)}},

		// OAuth2 clients.
		{"GET /sapi/clients", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/clients", nil, f.clients[d]
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, same(forbidden), same(forbidden), same(forbidden)}},
		{"POST /sapi/clients", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "POST", "/sapi/clients", map[string]any{"name": f.name("c"), "role": "user", "domain": d}, ""
		}, [actors][2]expect{{ok, ok}, {ok, invalid}, same(forbidden), same(forbidden), same(forbidden)}},
		{"DELETE /sapi/clients/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/clients/" + f.newClient(d), nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},

		// Signaling sessions.
		{"GET /sapi/sessions", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/sessions", nil, f.users[d].ID
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, same(unseen), same(unseen), same(unseen)}},
		{"DELETE /sapi/sessions/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/sessions/" + f.newSession(d), nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(forbidden)}},

		// Call history (the call-history capability; a user sees its own
		// calls, not another user's of its domain).
		{"GET /sapi/calls", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/calls", nil, f.calls[d]
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, same(unseen), same(unseen), same(unseen)}},
		{"GET /sapi/calls/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/calls/" + f.calls[d], nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},

		// Recordings: their users (the room's participants; no actor is
		// one) and the admins of their domains.
		{"GET /sapi/recordings", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/recordings", nil, f.recs[d]
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, same(unseen), same(unseen), same(unseen)}},
		{"GET /sapi/recordings/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/recordings/" + f.recs[d], nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},
		{"GET /sapi/recordings/{id}/media", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/recordings/" + f.recs[d] + "/media", nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},
		{"GET /sapi/recordings/{id}/tracks/{index}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/recordings/" + f.recs[d] + "/tracks/0", nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},
		{"DELETE /sapi/recordings/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/recordings/" + f.newRecording(d), nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},

		// Meetings: their owner (a user of the tenant, no actor), their
		// user participants (no actor) and the admins of their domain.
		// Scheduling needs the meetings capability and a user.
		{"GET /sapi/meetings", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/meetings", nil, f.newMeeting(d)
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, same(unseen), same(unseen), same(unseen)}},
		{"POST /sapi/meetings", func(f *fixture, a actor, d string) (string, string, any, string) {
			now := time.Now().UnixMilli()
			return "POST", "/sapi/meetings", map[string]any{"name": f.name("m"), "validSince": now + 3600000,
				"validUntil": now + 7200000, "participants": []map[string]string{{"user": f.users[d].ID}}}, ""
		}, [actors][2]expect{{ok, ok}, {ok, invalid}, {ok, invalid}, same(forbidden), same(forbidden)}},
		{"GET /sapi/meetings/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/meetings/" + f.newMeeting(d), nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},
		{"PUT /sapi/meetings/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "PUT", "/sapi/meetings/" + f.newMeeting(d), map[string]any{"name": f.name("m")}, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},
		{"DELETE /sapi/meetings/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/meetings/" + f.newMeeting(d), nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},

		// Push tokens: their user and the admins of its domain (no actor
		// is the tenant's user).
		{"GET /sapi/pushTokens", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/pushTokens", nil, f.pushes[d]
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, same(unseen), same(unseen), same(unseen)}},
		{"POST /sapi/pushTokens", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "POST", "/sapi/pushTokens", map[string]any{"token": fmt.Sprintf("%064x", f.seq.Add(1)), "tokenType": "apns-voip", "deviceId": d}, ""
		}, [actors][2]expect{same(ok), same(ok), same(ok), same(forbidden), same(forbidden)}},
		{"GET /sapi/pushTokens/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/pushTokens/" + f.pushes[d], nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},
		{"DELETE /sapi/pushTokens/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/pushTokens/" + f.newPushToken(d), nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(notFound), same(notFound), same(notFound)}},

		// Hunt groups.
		{"GET /sapi/usersGroup", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/usersGroup", nil, f.newGroup(d)
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, {seen, unseen}, same(unseen), {seen, unseen}}},
		{"POST /sapi/usersGroup", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "POST", "/sapi/usersGroup", map[string]any{"name": f.name("g"), "domain": d}, ""
		}, [actors][2]expect{{ok, ok}, {ok, invalid}, same(forbidden), same(forbidden), same(forbidden)}},
		{"DELETE /sapi/usersGroup/participations", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/usersGroup/participations?user=" + f.newUser(d).ID, nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},
		{"GET /sapi/usersGroup/{groupId}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/usersGroup/" + f.newGroup(d), nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, {ok, notFound}, same(notFound), {ok, notFound}}},
		{"PUT /sapi/usersGroup/{groupId}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "PUT", "/sapi/usersGroup/" + f.newGroup(d), map[string]any{"name": f.name("g")}, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, {forbidden, notFound}, same(notFound), {forbidden, notFound}}},
		{"DELETE /sapi/usersGroup/{groupId}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/usersGroup/" + f.newGroup(d), nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, {forbidden, notFound}, same(notFound), {forbidden, notFound}}},
		{"POST /sapi/usersGroup/{groupId}/participants", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "POST", "/sapi/usersGroup/" + f.newGroup(d) + "/participants", map[string]any{"participants": []string{f.users[d].ID}}, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, {forbidden, notFound}, same(notFound), {forbidden, notFound}}},
		{"DELETE /sapi/usersGroup/{groupId}/participants", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/usersGroup/" + f.newGroup(d) + "/participants", map[string]any{"participants": []string{f.users[d].ID}}, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, {forbidden, notFound}, same(notFound), {forbidden, notFound}}},
		{"DELETE /sapi/usersGroup/{groupId}/participations", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/usersGroup/" + f.newGroup(d) + "/participations", nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, {forbidden, notFound}, same(notFound), {forbidden, notFound}}},
		{"HEAD /sapi/usersGroup/{groupId}/participants/{userId}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "HEAD", "/sapi/usersGroup/" + f.newGroup(d) + "/participants/" + f.users[d].ID, nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, {ok, notFound}, same(notFound), {ok, notFound}}},
		// Leaving needs to be a participant: no one of the matrix is, so
		// everyone is told so (404), in either tenant.
		{"DELETE /sapi/usersGroup/{groupId}/leave", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/usersGroup/" + f.newGroup(d) + "/leave", nil, ""
		}, [actors][2]expect{same(notFound), same(notFound), same(notFound), same(notFound), same(forbidden)}},

		// OpenID Connect: the caller's own identity; a client has none.
		{"GET /sapi/o/userinfo", p("GET", "/sapi/o/userinfo"),
			[actors][2]expect{same(ok), same(ok), same(ok), same(ok), same(forbidden)}},
		{"POST /sapi/o/userinfo", p("POST", "/sapi/o/userinfo"),
			[actors][2]expect{same(ok), same(ok), same(ok), same(ok), same(forbidden)}},
		// Logging out ends the caller's own login, so each request has a
		// login of its own.
		{"POST /sapi/o/federation/logout", p("POST", "/sapi/o/federation/logout"),
			[actors][2]expect{same(ok), same(ok), same(ok), same(ok), same(forbidden)}},

		// SIP mappings: admins, of their scope.
		{"GET /sapi/sipMappings", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/sipMappings", nil, f.newSipMapping(d)
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, same(forbidden), same(forbidden), same(forbidden)}},
		{"POST /sapi/sipMappings", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "POST", "/sapi/sipMappings", map[string]any{"ownerUri": "wac-user:" + f.newUser(d).ID,
				"credential": map[string]any{"username": f.name("sip"), "password": "sip-secret"}}, ""
		}, [actors][2]expect{{ok, ok}, {ok, invalid}, same(forbidden), same(forbidden), same(forbidden)}},
		{"GET /sapi/sipMappings/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/sipMappings/" + f.newSipMapping(d), nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},
		{"PUT /sapi/sipMappings/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "PUT", "/sapi/sipMappings/" + f.newSipMapping(d), map[string]any{"ownerUri": "wac-user:" + f.newUser(d).ID,
				"credential": map[string]any{"username": f.name("sip")}}, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},
		{"DELETE /sapi/sipMappings/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/sipMappings/" + f.newSipMapping(d), nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},

		// External identity providers: admins, of their scope.
		{"GET /sapi/providers", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/providers", nil, f.idps[d]
		}, [actors][2]expect{{seen, seen}, {seen, unseen}, same(forbidden), same(forbidden), same(forbidden)}},
		{"POST /sapi/providers", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "POST", "/sapi/providers", map[string]any{"name": f.name("idp"), "domain": d,
				"issuer": "https://idp.example.com", "clientId": "wac"}, ""
		}, [actors][2]expect{{ok, ok}, {ok, invalid}, same(forbidden), same(forbidden), same(forbidden)}},
		{"GET /sapi/providers/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "GET", "/sapi/providers/" + f.idps[d], nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},
		{"PUT /sapi/providers/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			id := f.newProvider(d)
			return "PUT", "/sapi/providers/" + id, map[string]any{"name": f.name("idp"), "domain": d,
				"issuer": "https://idp.example.com", "clientId": "wac2"}, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},
		{"DELETE /sapi/providers/{id}", func(f *fixture, a actor, d string) (string, string, any, string) {
			return "DELETE", "/sapi/providers/" + f.newProvider(d), nil, ""
		}, [actors][2]expect{{ok, ok}, {ok, notFound}, same(forbidden), same(forbidden), same(forbidden)}},
	}
}

// newSipMapping gives a fresh user of domain a SIP identity.
func (f *fixture) newSipMapping(domain string) string {
	var m struct{ ID string }
	f.must("POST", "/sapi/sipMappings", map[string]any{"ownerUri": "wac-user:" + f.newUser(domain).ID,
		"credential": map[string]any{"username": f.name("sip"), "password": "sip-secret"}}, &m)
	return m.ID
}

// newProvider registers an external identity provider of domain.
func (f *fixture) newProvider(domain string) string {
	var p struct{ ID string }
	f.must("POST", "/sapi/providers", map[string]any{"name": f.name("idp"), "domain": domain,
		"issuer": "https://idp.example.com/" + domain, "clientId": "wac", "clientSecret": "idp-secret"}, &p)
	return p.ID
}

// freshToken logs the actor in anew, for a request that ends its login.
func (f *fixture) freshToken(a actor) string {
	f.t.Helper()
	switch a {
	case sysAdmin:
		cl, err := client.Login(context.Background(), f.base, "admin@wac", "admin-secret-1")
		if err != nil {
			f.t.Fatal(err)
		}
		return cl.AccessToken()
	case tenantAdmin:
		return f.login(f.boss)
	case user:
		return f.login(f.newUser("acme").Username + "@acme")
	case anonymous:
		var anon struct {
			AccessToken string `json:"access_token"`
		}
		_, data := f.do("POST", "/sapi/o/token", "", map[string]string{"grant_type": "anonymous", "username": "@acme"})
		json.Unmarshal(data, &anon)
		return anon.AccessToken
	default:
		var ct struct {
			AccessToken string `json:"access_token"`
		}
		_, data := f.do("POST", "/sapi/o/token", "", map[string]string{"grant_type": "client_credentials",
			"client_id": f.anonCli.ID, "client_secret": f.anonCli.Secret})
		json.Unmarshal(data, &ct)
		return ct.AccessToken
	}
}

// newRecording stores a finished recording of a room of domain, with the
// domain's user as its participant and its files on the disk.
// newMeeting stores a meeting of the tenant's user, to come.
func (f *fixture) newMeeting(domain string) string {
	ctx := context.Background()
	d, err := f.node.Store.GetDomainByName(ctx, domain)
	if err != nil {
		f.t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	m := &store.Meeting{DomainID: d.ID, OwnerID: f.users[domain].ID, Name: f.name("meeting"), ValidSince: now + 3600000,
		ValidUntil: now + 7200000, Created: now, Updated: now}
	if err := f.node.Store.SaveMeeting(ctx, m); err != nil {
		f.t.Fatal(err)
	}
	return m.ID
}

func (f *fixture) newRecording(domain string) string {
	ctx := context.Background()
	d, err := f.node.Store.GetDomainByName(ctx, domain)
	if err != nil {
		f.t.Fatal(err)
	}
	id := store.NewID()
	prefix := d.ID + "/" + id
	rec := &store.Recording{ID: id, DomainID: d.ID, Room: f.name("room"), Started: 1, Stopped: 2, Status: store.RecordingReady,
		Detail: store.RecordingDetail{Segments: []store.RecordingSegment{{Index: 1, Started: 1, Stopped: 2,
			Tracks: []store.RecordingTrack{{Key: prefix + "/seg1/1-audio-1.webm", Kind: "audio", Codec: "audio/opus", User: f.users[domain].ID}}}},
			Composed: &store.RecordingFile{Key: prefix + "/recording.webm", Type: "video/webm"}}}
	for _, k := range []string{rec.Detail.Composed.Key, rec.Detail.Segments[0].Tracks[0].Key} {
		p := filepath.Join(f.node.Config.RecordingPath(), filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("webm bytes"), 0o600); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := f.node.Store.SaveRecording(ctx, rec, map[string]string{f.users[domain].ID: d.ID}); err != nil {
		f.t.Fatal(err)
	}
	return id
}

// newPushToken registers an FCM token for the domain's user.
func (f *fixture) newPushToken(domain string) string {
	ctx := context.Background()
	u, err := f.node.Store.GetUser(ctx, f.users[domain].ID)
	if err != nil {
		f.t.Fatal(err)
	}
	t := &store.PushToken{UserID: u.ID, DomainID: u.DomainID, TokenType: store.PushFCM, Token: fmt.Sprintf("fcm-%s-%d", domain, f.seq.Add(1))}
	if err := f.node.Store.SavePushToken(ctx, t, 0); err != nil {
		f.t.Fatal(err)
	}
	return t.ID
}

// newGroup makes a group of domain with its user as participant.
func (f *fixture) newGroup(domain string) string {
	var g struct{ ID string }
	f.must("POST", "/sapi/usersGroup", map[string]any{"name": f.name("g"), "domain": domain,
		"participants": []string{f.users[domain].ID}}, &g)
	return g.ID
}

// public are the routes that need no token.
var public = map[string]bool{
	"POST /sapi/o/token":     true,
	"POST /sapi/o/token/":    true,
	"POST /sapi/o/revoke":    true,
	"GET /sapi/openapi.json": true,
	// OpenID Connect and the federation's browser steps (sso_test.go,
	// oidc_test.go).
	"GET /sapi/o/authorize":               true,
	"POST /sapi/o/authorize":              true,
	"GET /sapi/o/login.css":               true,
	"GET /sapi/o/jwks":                    true,
	"GET /sapi/o/end_session":             true,
	"POST /sapi/o/end_session":            true,
	"GET /sapi/o/providers":               true,
	"GET /sapi/o/federation/{name}/start": true,
	"GET /sapi/o/federation/callback":     true,
}

func TestAuthorizationMatrix(t *testing.T) {
	f := newFixture(t)
	rows := matrix()
	have := map[string]bool{}
	for _, r := range rows {
		have[r.route] = true
		t.Run(strings.NewReplacer("/", "_", " ", "_").Replace(r.route), func(t *testing.T) { f.check(t, r) })
	}
	// Every route has a row.
	var missing []string
	for _, p := range f.node.API.Patterns() {
		if !have[p] && !public[p] {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes without a row in the authorization matrix: %v", missing)
	}
	// Without a token, every route but the public ones is 401.
	for _, r := range rows {
		method, path, body, _ := r.req(f, sysAdmin, "acme")
		if code, data := f.do(method, path, "", body); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d %.100s", r.route, code, data)
		}
	}
}
