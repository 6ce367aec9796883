package node_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/janus"
)

// When the node shuts down, its Janus WebSockets get a close frame, 1001
// going away, as QSS connections do, rather than a dropped connection.
func TestShutdownClosesJanusWebSockets(t *testing.T) {
	_, url, stop := runNode(t, t.TempDir(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := janus.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/janus")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateSession(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the Janus WebSocket stayed open after the node stopped")
	}
	if code := websocket.CloseStatus(c.Err()); code != websocket.StatusGoingAway {
		t.Fatalf("connection ended with %v (close status %d), want close frame 1001", c.Err(), code)
	}
}

// The media server counts sessions without a room grant by the client
// address the node's middleware found: behind a trusted proxy, the
// forwarded-for address.
func TestPendingSessionsCountedByClientAddress(t *testing.T) {
	_, url := startNodeWith(t, t.TempDir(), func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.0/8"}
		c.Media.MaxPendingSessionsPerAddress = 1
	})
	create := func(client string) janus.Message {
		t.Helper()
		req, _ := http.NewRequest("POST", url+"/janus", strings.NewReader(`{"janus":"create","transaction":"t"}`))
		req.Header.Set("X-Forwarded-For", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m janus.Message
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := create("203.0.113.7"); m.Janus != "success" {
		t.Fatalf("first session of 203.0.113.7: %+v", m)
	}
	if m := create("203.0.113.7"); m.Error == nil || m.Error.Code != janus.ErrNotAcceptingSessions {
		t.Fatalf("second session of 203.0.113.7: %+v, want 472", m)
	}
	if m := create("203.0.113.8"); m.Janus != "success" {
		t.Fatalf("first session of 203.0.113.8 through the same proxy: %+v", m)
	}
}
