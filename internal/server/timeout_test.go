package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/server"
)

// runServer starts srv on a free loopback port until the test ends.
func runServer(t *testing.T, srv *server.Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return srv.Addr("public")
}

// A client that sends its headers and then dribbles its body gets 408 and
// its connection closed once http.readTimeout has passed, long before its
// body would be complete.
func TestSlowBodyCutOff(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.DDoSProtection = false
	cfg.Wiface.Public = config.Iface{Iface: "127.0.0.1", Port: freePort(t)}
	srv := newServer(t, cfg, nil)
	server.SetReadTimeout(srv, 300*time.Millisecond)
	addr := runServer(t, srv)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const size = 1000 // a byte every 20 ms: 20 s to send it all
	fmt.Fprintf(conn, "POST /sapi/o/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, size)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for range size {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a dribbled body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "http.readTimeout") {
		t.Fatalf("a dribbled body: %d %s, want 408 naming http.readTimeout", resp.StatusCode, body)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the connection stays open after the body timed out: %v", err)
	}
}

// The body deadline holds the body only: a handler that works longer than
// http.readTimeout after reading its body is not cancelled, and a kept-alive
// connection serves the next request.
func TestReadTimeoutSparesSlowHandlers(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.DDoSProtection = false
	cfg.Wiface.Public = config.Iface{Iface: "127.0.0.1", Port: freePort(t)}
	srv := newServer(t, cfg, nil)
	server.SetReadTimeout(srv, 100*time.Millisecond)
	srv.Handle("POST /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-time.After(400 * time.Millisecond):
			w.WriteHeader(http.StatusNoContent)
		case <-r.Context().Done():
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	addr := runServer(t, srv)
	for i := range 2 { // the second one reuses the connection
		resp, err := http.Post("http://"+addr+"/slow", "text/plain", strings.NewReader("some body"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("request %d: a handler working past http.readTimeout after reading its body: %d, want 204", i, resp.StatusCode)
		}
	}
}

// WebSocket connections outlive http.readTimeout: the deadline is for
// request bodies, and an upgrade has none.
func TestReadTimeoutSparesWebSockets(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.DDoSProtection = false
	cfg.Wiface.Public = config.Iface{Iface: "127.0.0.1", Port: freePort(t)}
	srv := newServer(t, cfg, nil)
	server.SetReadTimeout(srv, 100*time.Millisecond)
	srv.Handle("GET /echo", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, b); err != nil {
				return
			}
		}
	}))
	addr := runServer(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	time.Sleep(300 * time.Millisecond) // three read timeouts of silence
	if err := c.Write(ctx, websocket.MessageText, []byte("still there?")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.Read(ctx); err != nil || string(b) != "still there?" {
		t.Fatalf("a WebSocket after a silence longer than http.readTimeout: %q %v", b, err)
	}
}
