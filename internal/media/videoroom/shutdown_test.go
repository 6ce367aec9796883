package videoroom_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/openwac/wac/internal/media/janus"
)

// When the SFU closes, its Janus WebSockets get a close frame, 1001 going
// away, after the events that end their sessions, rather than a dropped
// connection.
func TestShutdownSendsGoingAway(t *testing.T) {
	checkGoroutines(t)
	n := startSFU(t, testMediaConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, h := n.client(ctx, t)
	if err := n.sfu.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the connection stayed open after the SFU closed")
	}
	if code := websocket.CloseStatus(c.Err()); code != websocket.StatusGoingAway {
		t.Fatalf("connection ended with %v (close status %d), want close frame 1001", c.Err(), code)
	}
	if _, err := h.WaitEvent(ctx, func(m janus.Message) bool { return m.Janus == "detached" }); err != nil {
		t.Fatalf("the handle's detached event before the close frame: %v", err)
	}
}
