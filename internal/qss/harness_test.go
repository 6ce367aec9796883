package qss_test

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/node"
	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/server"
	"github.com/openwac/wac/internal/store"
)

const adminPassword = "admin-secret-1"

// cluster is one or two running nodes sharing a database; with two, they
// are joined by an embedded NATS server.
type cluster struct {
	t     *testing.T
	nodes []*node.Node
	urls  []string
	admin *client.Client
}

// modes runs fn on a single node, then on two nodes joined by NATS where
// each user is connected to a different node (user i on node i%2).
func modes(t *testing.T, tweak func(*config.Config), fn func(t *testing.T, c *cluster)) {
	t.Run("single", func(t *testing.T) { fn(t, newCluster(t, 1, tweak)) })
	t.Run("two-nodes", func(t *testing.T) { fn(t, newCluster(t, 2, tweak)) })
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newCluster(t *testing.T, n int, tweak func(*config.Config)) *cluster {
	t.Helper()
	return newClusterWith(t, n, tweak, nil)
}

// newClusterWith also gives the nodes a push service.
func newClusterWith(t *testing.T, n int, tweak func(*config.Config), pusher qss.Pusher) *cluster {
	t.Helper()
	dir := t.TempDir()
	natsURL := ""
	if n > 1 {
		emb, err := bus.StartEmbedded("127.0.0.1", -1, filepath.Join(dir, "nats"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(emb.Shutdown)
		natsURL = emb.URL()
	}
	c := &cluster{t: t}
	for range n {
		cfg := config.Default()
		cfg.DataDir = dir
		cfg.Roles = []string{"api", "signaling"}
		cfg.Password.Memory, cfg.Password.Iterations = 8*1024, 1
		cfg.HTTP.DDoSProtection = false
		cfg.Log.Level = "error"
		cfg.Wiface.Public = config.Iface{Iface: "127.0.0.1", Port: freePort(t)}
		cfg.Rooms.RemoveAfter = 0
		cfg.Invites.Basic.RemoveAfter = 0
		if natsURL != "" {
			cfg.Bus = config.Bus{Driver: "nats", URL: natsURL, Replicas: 1}
		}
		if tweak != nil {
			tweak(&cfg)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		nd, err := node.New(context.Background(), &cfg, logging.Discard(), node.Options{Options: server.Options{
			Out: io.Discard, Environ: []string{server.AdminPasswordEnv + "=" + adminPassword}}, Pusher: pusher})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- nd.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			<-done
			nd.Close()
		})
		c.nodes = append(c.nodes, nd)
		c.urls = append(c.urls, nd.PublicURL())
	}
	var err error
	c.admin, err = client.Login(context.Background(), c.urls[0], "admin@wac", adminPassword)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// userID is a created user.
type testUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Domain   string `json:"domain"`
}

// user creates username in the default domain and logs in on node i%n.
func (c *cluster) user(i int, username string) (*client.Client, testUser) {
	c.t.Helper()
	ctx := context.Background()
	var u testUser
	if err := c.admin.API(ctx, "POST", "/sapi/users", map[string]any{"username": username, "password": username + "-password"}, &u); err != nil {
		c.t.Fatalf("create %s: %v", username, err)
	}
	// Every user has a phone that a push can wake (used when the cluster
	// has a push service).
	d, err := c.nodes[0].Store.GetUser(ctx, u.ID)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.nodes[0].Store.SavePushToken(ctx, &store.PushToken{UserID: u.ID, DomainID: d.DomainID, TokenType: store.PushFCM,
		Token: "fcm-" + username, DeviceID: "phone-" + username}, 10); err != nil {
		c.t.Fatal(err)
	}
	cl, err := client.Login(ctx, c.urls[i%len(c.urls)], username+"@wac", username+"-password")
	if err != nil {
		c.t.Fatal(err)
	}
	return cl, u
}

// login logs an existing user in again on node i%n.
func (c *cluster) login(i int, username string) *client.Client {
	c.t.Helper()
	cl, err := client.Login(context.Background(), c.urls[i%len(c.urls)], username+"@wac", username+"-password")
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

func connect(t *testing.T, cl *client.Client) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := cl.Connect(ctx, client.ConnectOptions{Platform: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}
