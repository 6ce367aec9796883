package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/server"
)

const testAdminPassword = "admin-secret-1"

// gatedServer is a running server whose POST /sapi/users waits at the door
// until the test releases it (or the request's context ends), then goes
// to the real API: a slow write the test can shut the server down under.
type gatedServer struct {
	srv      *server.Server
	url      string
	token    string
	arrived  chan struct{}
	release  chan struct{}
	draining chan struct{}
	stop     context.CancelFunc // the signal
	done     chan struct{}      // closed when Run returned runErr
	runErr   error
}

func startGated(t *testing.T, drain time.Duration) *gatedServer {
	t.Helper()
	cfg := testConfig(t)
	cfg.HTTP.DDoSProtection = false
	cfg.Wiface.Public = config.Iface{Iface: "127.0.0.1", Port: freePort(t)}
	g := &gatedServer{srv: newServer(t, cfg, nil, server.AdminPasswordEnv+"="+testAdminPassword),
		arrived: make(chan struct{}, 1), release: make(chan struct{}), draining: make(chan struct{}), done: make(chan struct{})}
	server.SetDrainTimeout(g.srv, drain)
	g.srv.OnDrain(func() { close(g.draining) })
	g.srv.Handle("POST /sapi/users", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.arrived <- struct{}{}
		select {
		case <-g.release:
		case <-r.Context().Done():
		}
		g.srv.API.ServeHTTP(w, r)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	g.stop = cancel
	go func() {
		g.runErr = g.srv.Run(ctx)
		close(g.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-g.done
	})
	g.url = g.srv.PublicURL()
	c, err := client.Login(context.Background(), g.url, "admin@wac", testAdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	g.token = c.AccessToken()
	return g
}

type answer struct {
	code int
	body string
	err  error
}

// createUser posts a new user in the background.
func (g *gatedServer) createUser(username string) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("POST", g.url+"/sapi/users",
			strings.NewReader(`{"username":"`+username+`","password":"a-password-1"}`))
		req.Header.Set("Authorization", "Bearer "+g.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- answer{code: resp.StatusCode, body: string(b), err: err}
	}()
	return out
}

// exists reports whether the default domain has username.
func (g *gatedServer) exists(t *testing.T, username string) bool {
	t.Helper()
	d, err := g.srv.Store.GetDomainByName(context.Background(), "wac")
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.srv.Store.GetUserByName(context.Background(), d.ID, username)
	return err == nil
}

func wait[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: nothing after 20 s", what)
		panic("unreachable")
	}
}

// A write in flight when the signal comes finishes during the drain: it is
// answered with its real status and its record is stored.
func TestShutdownDrainsInFlightWrite(t *testing.T) {
	g := startGated(t, time.Minute)
	res := g.createUser("drained")
	wait(t, "the request", g.arrived)
	g.stop()
	wait(t, "the drain", g.draining)
	// The node is unready from the start of the drain.
	if w := get(t, g.srv.Handler(), "GET", "/readyz"); w.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz during the drain: %d, want 503", w.Code)
	}
	close(g.release)
	a := wait(t, "the answer", res)
	if a.err != nil || a.code != http.StatusCreated {
		t.Fatalf("a write in flight at shutdown: %d %q %v, want 201", a.code, a.body, a.err)
	}
	var u struct{ ID, Username string }
	if err := json.Unmarshal([]byte(a.body), &u); err != nil || u.Username != "drained" {
		t.Fatalf("201 with body %q", a.body)
	}
	wait(t, "Run", g.done)
	if g.runErr != nil {
		t.Fatalf("Run: %v", g.runErr)
	}
	if !g.exists(t, "drained") {
		t.Fatal("answered 201 but the user was not stored")
	}
}

// A write still running when the drain ends is cancelled: it is answered
// 503 with a JSON error, never a success, and nothing of it is stored.
func TestShutdownCancelsWriteAfterDrain(t *testing.T) {
	g := startGated(t, 100*time.Millisecond)
	res := g.createUser("cut")
	wait(t, "the request", g.arrived)
	g.stop()
	a := wait(t, "the answer", res)
	if a.err != nil || a.code != http.StatusServiceUnavailable {
		t.Fatalf("a write cancelled by the end of the drain: %d %q %v, want 503", a.code, a.body, a.err)
	}
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(a.body), &e); err != nil || e.Code != 503 || e.Message == "" {
		t.Fatalf("503 body %q is not a JSON error", a.body)
	}
	wait(t, "Run", g.done)
	if g.runErr != nil {
		t.Fatalf("Run: %v", g.runErr)
	}
	if g.exists(t, "cut") {
		t.Fatal("a cancelled create left its user behind")
	}
}
