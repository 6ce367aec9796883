package node_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/logging/logtest"
	"github.com/openwac/wac/internal/node"
	"github.com/openwac/wac/internal/server"
)

// A node that stops cleanly while users are in a room with media warns of
// nothing: its rooms end on its own media server before that stops.
func TestCleanShutdownWarnsOfNothing(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Password.Memory, cfg.Password.Iterations = 8*1024, 1
	cfg.HTTP.DDoSProtection = false
	cfg.Wiface.Public = config.Iface{Iface: "127.0.0.1", Port: freePort(t)}
	cfg.TURN.Enabled = false
	var logs logtest.Buffer
	log, err := logging.New(&logs, slog.LevelInfo, "text")
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(context.Background(), &cfg, log, node.Options{Options: server.Options{
		Out: io.Discard, Environ: []string{server.AdminPasswordEnv + "=admin-secret-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(runCtx) }()
	var once sync.Once
	shutdown := func() error {
		var err error
		once.Do(func() {
			stop()
			err = <-done
			n.Close()
		})
		return err
	}
	defer shutdown()
	url := n.PublicURL()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := client.Login(ctx, url, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := admin.Connect(ctx, client.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Request(ctx, "createRoom", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}

	if err := shutdown(); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=warn") || strings.Contains(line, "level=error") {
			t.Errorf("a clean shutdown logged: %s", line)
		}
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Fatalf("the node did not log its shutdown:\n%s", logs.String())
	}
}
