package qss_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
)

// domainUser creates username@domain with role and logs it in on node i%n.
func (c *cluster) domainUser(i int, domain, username, role string) (*client.Client, testUser) {
	c.t.Helper()
	ctx := context.Background()
	var u testUser
	if err := c.admin.API(ctx, "POST", "/sapi/users", map[string]any{"domain": domain, "username": username,
		"role": role, "password": username + "-password"}, &u); err != nil {
		c.t.Fatalf("create %s@%s: %v", username, domain, err)
	}
	cl, err := client.Login(ctx, c.urls[i%len(c.urls)], username+"@"+domain, username+"-password")
	if err != nil {
		c.t.Fatal(err)
	}
	return cl, u
}

func (c *cluster) domain(body map[string]any) {
	c.t.Helper()
	if err := c.admin.API(context.Background(), "POST", "/sapi/domains", body, nil); err != nil {
		c.t.Fatalf("create domain %v: %v", body["domain"], err)
	}
}

// TestRoomTenantIsolation is the authorization matrix of the room requests:
// every room request by every role, of the room's own domain, of a domain
// above it and of another tenant. Admin rights over a room are those of its
// domain's admins (and of the domains above, and of the system's admins);
// an admin of another tenant is, to the room, any other user.
func TestRoomTenantIsolation(t *testing.T) {
	tweak := func(c *config.Config) { c.QSS.RequestRate = 1000 } // alice makes a room per request
	modes(t, tweak, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		c.domain(map[string]any{"domain": "corp"})
		c.domain(map[string]any{"domain": "acme.corp", "parent": "corp"})
		c.domain(map[string]any{"domain": "globex"})
		owner, _ := c.domainUser(0, "acme.corp", "alice", "user")
		member, mu := c.domainUser(1, "acme.corp", "mike", "user")
		ownerConn, memberConn := connect(t, owner), connect(t, member)

		type caller struct {
			name  string
			conn  *client.Conn
			admin bool // has admin rights over acme.corp's rooms
		}
		mk := func(i int, domain, name, role string, admin bool) caller {
			cl, _ := c.domainUser(i, domain, name, role)
			return caller{name: name + "@" + domain + " (" + role + ")", conn: connect(t, cl), admin: admin}
		}
		system, err := c.admin.Connect(ctx, client.ConnectOptions{Platform: "test"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(system.Close)
		callers := []caller{
			{name: "admin@wac (system admin)", conn: system, admin: true},
			mk(0, "acme.corp", "ann", "admin", true),    // the room's own domain
			mk(1, "corp", "carl", "admin", true),        // the domain above it
			mk(0, "globex", "gina", "admin", false),     // another tenant's admin
			mk(1, "globex", "gus", "user", false),       // another tenant's user
			mk(0, "acme.corp", "ursula", "user", false), // own domain, not in the ACL
		}
		// Each request runs on a fresh room of alice's where mike is joined.
		newRoom := func(t *testing.T) string {
			f, err := ownerConn.Request(ctx, "createRoom", map[string]any{"acl": []string{"mike"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := decodeRoom(t, f)
			for _, cn := range []*client.Conn{ownerConn, memberConn} {
				if _, err := cn.Request(ctx, "joinRoom", map[string]any{"room": r.Room}, nil); err != nil {
					t.Fatal(err)
				}
			}
			return r.Room
		}
		type request struct {
			name    string
			payload func(room string) map[string]any
			// adminOK is whether admins of the room may do it; nobody
			// outside the ACL may otherwise.
			adminOK bool
		}
		requests := []request{
			{"getRoom", func(r string) map[string]any { return map[string]any{"room": r} }, true},
			{"updateRoom", func(r string) map[string]any { return map[string]any{"room": r, "acl": []string{"wac-user:" + mu.ID}} }, true},
			{"expel", func(r string) map[string]any { return map[string]any{"room": r, "participant": mu.ID} }, true},
			{"destroyRoom", func(r string) map[string]any { return map[string]any{"room": r} }, true},
			// Joining, muting and holding need a place in the room (admins
			// first put themselves in the ACL with updateRoom).
			{"joinRoom", func(r string) map[string]any { return map[string]any{"room": r} }, false},
			{"mute", func(r string) map[string]any {
				return map[string]any{"room": r, "participant": mu.ID, "mediatypes": map[string]bool{"audio": true}}
			}, false},
			{"hold", func(r string) map[string]any { return map[string]any{"room": r} }, false},
			{"sendDTMF", func(r string) map[string]any { return map[string]any{"room": r, "digits": "123#"} }, false},
			// Recording takes the room's ACL or admin rights over it (and
			// the recording capability, which every caller here has).
			{"startRecording", func(r string) map[string]any { return map[string]any{"room": r} }, true},
			{"stopRecording", func(r string) map[string]any { return map[string]any{"room": r} }, true},
			{"leaveRoom", func(r string) map[string]any { return map[string]any{"room": r} }, false},
		}
		for _, cl := range callers {
			for _, rq := range requests {
				t.Run(fmt.Sprintf("%s/%s", rq.name, cl.name), func(t *testing.T) {
					room := newRoom(t)
					f, err := cl.conn.Request(ctx, rq.name, rq.payload(room), nil)
					want := rq.adminOK && cl.admin
					if want && err != nil {
						t.Fatalf("refused: %v", err)
					}
					if !want {
						if err == nil {
							t.Fatalf("allowed: %s", f.Payload)
						}
						if code := cancelCode(err); code != 403 {
							t.Fatalf("refused with %v, want 403", err)
						}
					}
					if rq.name == "getRoom" && err == nil && decodeRoom(t, f).Token == "" {
						t.Fatal("getRoom of an admin has no token")
					}
					// What was refused left the room as it was: mike is
					// still in it and the owner still reads it.
					if !want {
						f, err := ownerConn.Request(ctx, "getRoom", map[string]any{"room": room}, nil)
						if err != nil {
							t.Fatalf("the room after a refused %s: %v", rq.name, err)
						}
						if r := decodeRoom(t, f); len(r.Joined) != 2 {
							t.Fatalf("after a refused %s the room has %v joined", rq.name, r.Joined)
						}
					}
				})
			}
		}
	})
}

// TestPersonalRoomsOfTenants: with rooms.userIdAsRoomId, alice of one tenant
// gets a room of her own, not alice of the default domain's.
func TestPersonalRoomsOfTenants(t *testing.T) {
	tweak := func(c *config.Config) { c.Rooms.UserIDAsRoomID = true }
	modes(t, tweak, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		c.domain(map[string]any{"domain": "globex"})
		home, _ := c.user(0, "alice")
		other, _ := c.domainUser(1, "globex", "alice", "user")
		f, err := connect(t, home).Request(ctx, "createRoom", map[string]any{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := decodeRoom(t, f); r.Room != "alice" {
			t.Fatalf("the default domain's alice has room %q, want alice", r.Room)
		}
		f, err = connect(t, other).Request(ctx, "createRoom", map[string]any{}, nil)
		if err != nil {
			t.Fatalf("alice@globex cannot have a room: %v", err)
		}
		if r := decodeRoom(t, f); r.Room != "alice@globex" {
			t.Fatalf("alice@globex has room %q, want alice@globex", r.Room)
		}
	})
}

// TestIdentityChangesEndSessions: a change of role or domain, a password
// reset, a deletion and the expiry of an anonymous user reach the open
// sessions at once (on any node), and the old tokens stop working.
func TestIdentityChangesEndSessions(t *testing.T) {
	modes(t, nil, func(t *testing.T, c *cluster) {
		c.domain(map[string]any{"domain": "acme"})
		c.domain(map[string]any{"domain": "shop", "enableAnonymous": true, "anonymousExpiration": 1500})
		cases := []struct {
			name   string
			change func(ctx context.Context, u testUser) error
			reason string
		}{
			{"role", func(ctx context.Context, u testUser) error {
				return c.admin.API(ctx, "PATCH", "/sapi/users/"+u.ID, map[string]any{"role": "user"}, nil)
			}, "role changed"},
			{"domain", func(ctx context.Context, u testUser) error {
				return c.admin.API(ctx, "PATCH", "/sapi/users/"+u.ID, map[string]any{"domain": "wac"}, nil)
			}, "moved to another domain"},
			{"password", func(ctx context.Context, u testUser) error {
				var creds []struct {
					ID   string `json:"id"`
					Type string `json:"type"`
				}
				if err := c.admin.API(ctx, "GET", "/sapi/credentials?user="+u.ID, nil, &creds); err != nil {
					return err
				}
				for _, cr := range creds {
					if cr.Type == "basic" {
						return c.admin.API(ctx, "PUT", "/sapi/credentials/"+cr.ID, map[string]any{"type": "basic", "user": u.ID,
							"data": map[string]any{"password": "a-new-password-1"}}, nil)
					}
				}
				return fmt.Errorf("no basic credential in %v", creds)
			}, "password"},
			{"deletion", func(ctx context.Context, u testUser) error {
				return c.admin.API(ctx, "DELETE", "/sapi/users/"+u.ID, nil, nil)
			}, "deleted"},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := tctx(t)
				cl, u := c.domainUser(i+1, "acme", fmt.Sprintf("boss%d", i), "admin")
				conn := connect(t, cl)
				if err := tc.change(ctx, u); err != nil {
					t.Fatal(err)
				}
				ev, err := conn.WaitEvent(ctx, "sessionEnded")
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(ev.Payload), tc.reason) {
					t.Fatalf("sessionEnded %s, want the reason %q", ev.Payload, tc.reason)
				}
				select {
				case <-conn.Done():
				case <-ctx.Done():
					t.Fatal("the session stayed open")
				}
				// The old token is refused at once, on every node.
				for _, url := range c.urls {
					if code := apiStatus(t, url, cl.AccessToken()); code != http.StatusUnauthorized {
						t.Fatalf("the old token on %s: %d, want 401", url, code)
					}
				}
			})
		}
		t.Run("anonymous expiry", func(t *testing.T) {
			ctx := tctx(t)
			visitor, err := client.LoginAnonymous(ctx, c.urls[len(c.urls)-1], "@shop")
			if err != nil {
				t.Fatal(err)
			}
			conn := connect(t, visitor)
			if _, err := conn.Request(ctx, "createRoom", map[string]any{}, nil); err != nil {
				t.Fatalf("before expiry: %v", err)
			}
			ev, err := conn.WaitEvent(ctx, "sessionEnded")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(ev.Payload), "expired") {
				t.Fatalf("sessionEnded %s", ev.Payload)
			}
			select {
			case <-conn.Done():
			case <-ctx.Done():
				t.Fatal("the expired visitor's session stayed open")
			}
			if _, err := visitor.Connect(ctx, client.ConnectOptions{}); err == nil {
				t.Fatal("the expired visitor connected again")
			}
		})
	})
}

// apiStatus is the status of GET /sapi/users/me with token on the node at url.
func apiStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/sapi/users/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRoomsPerUserQuota: rooms.maxPerUser bounds the rooms one user keeps
// open; destroying one makes room for another.
func TestRoomsPerUserQuota(t *testing.T) {
	modes(t, func(c *config.Config) { c.Rooms.MaxPerUser = 3 }, func(t *testing.T, c *cluster) {
		ctx := tctx(t)
		alice, _ := c.user(0, "alice")
		bob, _ := c.user(1, "bob")
		a, b := connect(t, alice), connect(t, bob)
		var rooms []string
		for range 3 {
			f, err := a.Request(ctx, "createRoom", map[string]any{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			rooms = append(rooms, decodeRoom(t, f).Room)
		}
		_, err := a.Request(ctx, "createRoom", map[string]any{}, nil)
		if cancelCode(err) != 429 || !strings.Contains(err.Error(), "rooms.maxPerUser") {
			t.Fatalf("a fourth room: %v, want 429 naming rooms.maxPerUser", err)
		}
		if _, err := b.Request(ctx, "createRoom", map[string]any{}, nil); err != nil {
			t.Fatalf("another user is not limited by alice's rooms: %v", err)
		}
		if _, err := a.Request(ctx, "destroyRoom", map[string]any{"room": rooms[0]}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Request(ctx, "createRoom", map[string]any{}, nil); err != nil {
			t.Fatalf("after destroying one: %v", err)
		}
	})
}
