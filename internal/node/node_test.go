package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/node"
	"github.com/openwac/wac/internal/server"
	"github.com/openwac/wac/internal/store"
)

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNode runs a node with every role on loopback.
func startNode(t *testing.T) (*node.Node, string) {
	return startNodeWith(t, t.TempDir(), nil)
}

// startNodeWith runs a node over the data directory dir (shared by the
// nodes of one test) after tweak adjusts its configuration.
func startNodeWith(t testing.TB, dir string, tweak func(*config.Config)) (*node.Node, string) {
	t.Helper()
	n, url, _ := runNode(t, dir, tweak)
	return n, url
}

// runNode is startNodeWith that also returns stop, which shuts the node
// down as wac serve does on a signal (Run's context ends, then Close); it
// runs at the end of the test if the test did not call it.
func runNode(t testing.TB, dir string, tweak func(*config.Config)) (*node.Node, string, func()) {
	t.Helper()
	return runNodeWith(t, dir, tweak, node.Options{})
}

// runNodeWith is runNode with node options (the admin's password and the
// output are set here). The ports the tests pick are free when picked but
// may be taken before the node listens (by another test process's
// outgoing connection): a node that finds its port taken is started again
// on new ports, with tweak applied again.
func runNodeWith(t testing.TB, dir string, tweak func(*config.Config), opts node.Options) (*node.Node, string, func()) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		n, url, stop, err := tryNode(t, dir, tweak, opts)
		if err == nil {
			t.Cleanup(stop)
			return n, url, stop
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("node start, attempt %d: %v; again on other ports", attempt, err)
	}
}

// tryNode makes a node and runs it until it listens.
func tryNode(t testing.TB, dir string, tweak func(*config.Config), opts node.Options) (*node.Node, string, func(), error) {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Password.Memory, cfg.Password.Iterations = 8*1024, 1
	cfg.HTTP.DDoSProtection = false
	cfg.Log.Level = "error"
	cfg.Wiface.Public = config.Iface{Iface: "127.0.0.1", Port: freePort(t)}
	cfg.TURN.Enabled = false
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	opts.Options = server.Options{Out: io.Discard, Environ: []string{server.AdminPasswordEnv + "=admin-secret-1"}}
	n, err := node.New(context.Background(), &cfg, logging.Discard(), opts)
	if err != nil {
		return nil, "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			n.Close()
		})
	}
	// PublicURL waits until the node listens, or failed to listen; Run
	// may also fail before it listens (a role that does not start).
	listening := make(chan string, 1)
	go func() { listening <- n.PublicURL() }()
	var url string
	select {
	case url = <-listening:
	case err := <-done:
		done <- err
	}
	if url == "" {
		cancel()
		err := <-done
		n.Close()
		return nil, "", nil, fmt.Errorf("node did not listen: %w", err)
	}
	return n, url, stop, nil
}

type roomObject struct {
	Room   string `json:"room"`
	Number string `json:"number"`
	Token  string `json:"token"`
	Server struct {
		HTTPS string `json:"https"`
		WSS   string `json:"wss"`
	} `json:"server"`
	ServerUUID string `json:"serverUuid"`
}

// A call as apps make it: signaling gives each user a room object whose
// server and token take them into the room's media; a user's token does not
// open another room, and destroying the room ends its media.
func TestCallMediaThroughRoomObject(t *testing.T) {
	_, url := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := client.Login(ctx, url, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := admin.API(ctx, "POST", "/sapi/users", map[string]any{"username": u, "password": u + "-password"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	alice, _ := client.Login(ctx, url, "alice@wac", "alice-password")
	bob, _ := client.Login(ctx, url, "bob@wac", "bob-password")
	a, err := alice.Connect(ctx, client.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := bob.Connect(ctx, client.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	f, err := a.Request(ctx, "createRoom", map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ar roomObject
	json.Unmarshal(f.Payload, &ar)
	if ar.Server.WSS != strings.Replace(url, "http", "ws", 1)+"/janus" || ar.Server.HTTPS != url+"/janus" || ar.ServerUUID == "" {
		t.Fatalf("room object media fields %+v", ar)
	}
	number, err := strconv.ParseUint(ar.Number, 10, 64)
	if err != nil {
		t.Fatalf("number %q: %v", ar.Number, err)
	}
	a.Request(ctx, "joinRoom", map[string]any{"room": ar.Room}, nil)
	_, ch, _ := a.Start(ctx, "invitation", map[string]any{"room": ar.Room, "mediatypes": map[string]bool{"audio": true, "video": true}},
		map[string]any{"to": "bob"})
	inv, err := b.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	var br roomObject
	json.Unmarshal(inv.Payload, &br)
	b.Accept(ctx, inv, nil)
	if _, err := a.Await(ctx, ch); err != nil {
		t.Fatal(err)
	}
	b.Request(ctx, "joinRoom", map[string]any{"room": br.Room}, nil)

	api, err := peer.NewAPI(peer.APIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	handle := func() *janus.Handle {
		c, err := janus.Dial(ctx, ar.Server.WSS)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s, err := c.CreateSession(ctx)
		if err != nil {
			t.Fatal(err)
		}
		h, err := s.Attach(ctx, "janus.plugin.videoroom")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// Alice publishes into the room by its number, with her token.
	ph := handle()
	joined, err := peer.JoinPublisher(ctx, ph, number, ar.Token, "alice")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := peer.Publish(ctx, api, ph, "vp8", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := peer.Active(ctx, ph, pub.PC); err != nil {
		t.Fatal(err)
	}
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	go pub.Send(sendCtx, 300, 15)

	// Alice's token does not open another room.
	f, _ = a.Request(ctx, "createRoom", map[string]any{}, nil)
	var other roomObject
	json.Unmarshal(f.Payload, &other)
	otherNumber, _ := strconv.ParseUint(other.Number, 10, 64)
	if _, err := peer.JoinPublisher(ctx, handle(), otherNumber, ar.Token, "alice"); err == nil {
		t.Fatal("a token of one room opened another")
	}
	var pe *janus.PluginError
	if _, err := peer.JoinPublisher(ctx, handle(), number, "forged."+ar.Token, "mallory"); !errors.As(err, &pe) {
		t.Fatalf("a forged token: %v", err)
	}

	// Bob subscribes to Alice with his own token, by the room's string id.
	sh := handle()
	sub, err := peer.Subscribe(ctx, api, sh, br.Room, br.Token, []uint64{joined.ID}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, au := sub.Track("video"), sub.Track("audio")
		if v != nil && au != nil && v.Packets.Load() > 20 && au.Packets.Load() > 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob received no media from alice")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Alice expels Bob: his subscription ends, and the token he keeps no
	// longer opens the room's media until he is invited again.
	if _, err := a.Request(ctx, "expel", map[string]any{"room": ar.Room, "participant": "bob"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.WaitEvent(ctx, func(m janus.Message) bool {
		return m.PluginData != nil && strings.Contains(string(m.PluginData.Data), `"kicked"`)
	}); err != nil {
		t.Fatalf("bob's subscription was not ended: %v", err)
	}
	if _, err := peer.JoinPublisher(ctx, handle(), number, br.Token, "bob"); !errors.As(err, &pe) || pe.Code != janus.VRErrUnauthorized {
		t.Fatalf("an expelled user's token still opens the media: %v", err)
	}
	_, ch, _ = a.Start(ctx, "invitation", map[string]any{"room": ar.Room, "mediatypes": map[string]bool{"audio": true}},
		map[string]any{"to": "bob"})
	inv, err = b.WaitIncoming(ctx, "invitation")
	if err != nil {
		t.Fatal(err)
	}
	b.Accept(ctx, inv, nil)
	if _, err := a.Await(ctx, ch); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err := peer.JoinPublisher(ctx, handle(), number, br.Token, "bob")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob, invited again, is still refused: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Destroying the room ends its media: the media room is gone.
	if _, err := a.Request(ctx, "destroyRoom", map[string]any{"room": ar.Room}, nil); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err := peer.JoinPublisher(ctx, handle(), number, ar.Token, "alice")
		if errors.As(err, &pe) && pe.Code == 426 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the media room outlived its room: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// natsCluster starts an embedded NATS server for the test: its nodes share
// dir (the database), and cluster gives a node roles in it.
func natsCluster(t testing.TB) (dir string, cluster func(roles ...string) func(*config.Config)) {
	t.Helper()
	emb, err := bus.StartEmbedded("127.0.0.1", -1, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	dir = t.TempDir()
	return dir, func(roles ...string) func(*config.Config) {
		return func(c *config.Config) {
			c.DataDir = dir
			c.Roles = roles
			c.Bus = config.Bus{Driver: "nats", URL: emb.URL(), Replicas: 1}
			c.Media.Heartbeat = time.Second
		}
	}
}

// janusURL is the Janus WebSocket of a node's base URL.
func janusURL(base string) string { return strings.Replace(base, "http", "ws", 1) + "/janus" }

// In a cluster, a signaling node places its rooms on a media node elsewhere:
// the room object points to that node, whose SFU takes the room's tokens.
func TestRoomPlacedOnAnotherMediaNode(t *testing.T) {
	dir, cluster := natsCluster(t)
	_, sigURL := startNodeWith(t, dir, cluster("api", "signaling"))
	_, mediaURL := startNodeWith(t, dir, cluster("api", "media"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := client.Login(ctx, sigURL, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	admin.API(ctx, "POST", "/sapi/users", map[string]any{"username": "alice", "password": "alice-password"}, nil)
	alice, _ := client.Login(ctx, sigURL, "alice@wac", "alice-password")
	a, err := alice.Connect(ctx, client.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var r roomObject
	deadline := time.Now().Add(15 * time.Second)
	for r.Server.WSS == "" { // until the media node's first heartbeat
		if time.Now().After(deadline) {
			t.Fatal("rooms never got the media node")
		}
		f, err := a.Request(ctx, "createRoom", map[string]any{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(f.Payload, &r)
		time.Sleep(200 * time.Millisecond)
	}
	if r.Server.WSS != janusURL(mediaURL) {
		t.Fatalf("room on %s, want the media node %s", r.Server.WSS, mediaURL)
	}
	number, _ := strconv.ParseUint(r.Number, 10, 64)
	c, err := janus.Dial(ctx, r.Server.WSS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, _ := c.CreateSession(ctx)
	h, _ := s.Attach(ctx, "janus.plugin.videoroom")
	if _, err := peer.JoinPublisher(ctx, h, number, r.Token, "alice"); err != nil {
		t.Fatalf("join the room on the media node: %v", err)
	}
}

// A node that starts finishes the calls an earlier run left unfinished, even
// when the earlier run had the same fixed node id (bus.nodeId): at start it
// holds no room.
func TestStartFinishesCallsOfAnEarlierRun(t *testing.T) {
	dir := t.TempDir()
	first, _ := startNodeWith(t, dir, nil)
	ctx := context.Background()
	left := &store.Call{ID: store.NewID(), Room: "room-of-the-earlier-run", Node: "fixed-node",
		Created: time.Now().Add(-time.Hour).UnixMilli()}
	if err := first.Store.SaveCall(ctx, left, nil); err != nil {
		t.Fatal(err)
	}
	startNodeWith(t, dir, func(c *config.Config) { c.Bus.NodeID = "fixed-node" })
	got, err := first.Store.GetCall(ctx, left.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Finished == 0 {
		t.Fatal("the call of the earlier run is still going on after the restart")
	}
}

// nodeHolding12345678 runs a node whose new rooms take the numbers next
// gives, with a room made on its media server by its own Janus API that
// holds 12345678.
func nodeHolding12345678(t *testing.T, next func() string) (*node.Node, string) {
	t.Helper()
	n, base, _ := runNodeWith(t, t.TempDir(), nil, node.Options{RoomNumbers: next})
	if _, err := n.SFU().CreateRoom("", 12345678, placement.RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	return n, base
}

// Room numbers are claimed in the cluster's state before the media room is
// made with them: a number a live room has is not given again, and a
// number the media node has for a room made there with its own Janus API
// makes signaling claim another. Each room's object and media room carry
// the number it got.
func TestRoomNumbersAreNeverShared(t *testing.T) {
	var mu sync.Mutex
	nums := []string{"12345678", "12345678", "23456789", "23456789", "34567890"}
	next := func() string {
		mu.Lock()
		defer mu.Unlock()
		n := nums[0]
		if len(nums) > 1 {
			nums = nums[1:]
		}
		return n
	}
	n, base := nodeHolding12345678(t, next)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := client.Login(ctx, base, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.API(ctx, "POST", "/sapi/users", map[string]any{"username": "alice", "password": "alice-password"}, nil); err != nil {
		t.Fatal(err)
	}
	alice, err := client.Login(ctx, base, "alice@wac", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	a, err := alice.Connect(ctx, client.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// The first room is refused 12345678 by the media node (twice), the
	// second finds 23456789 claimed by the first.
	for _, want := range []string{"23456789", "34567890"} {
		f, err := a.Request(ctx, "createRoom", map[string]any{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var obj roomObject
		if err := json.Unmarshal(f.Payload, &obj); err != nil {
			t.Fatal(err)
		}
		if obj.Number != want {
			t.Errorf("room %s has number %s, want %s", obj.Room, obj.Number, want)
		}
		if r := n.SFU().Room(obj.Room); r == nil || strconv.FormatInt(r.Number, 10) != obj.Number {
			t.Errorf("the media room of %s: %+v, want number %s", obj.Room, r, obj.Number)
		}
	}
}

// A room whose media cannot be made (here every number tried is the media
// node's already) is refused 503, which the app may try again, not 500;
// nothing of it is left: the next createRoom, with a free number, works.
func TestRoomWithoutItsMediaIsRefused503(t *testing.T) {
	var taken atomic.Bool
	taken.Store(true)
	next := func() string {
		if taken.Load() {
			return "12345678"
		}
		return "23456789"
	}
	_, base := nodeHolding12345678(t, next)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := client.Login(ctx, base, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	a, err := admin.Connect(ctx, client.ConnectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = a.Request(ctx, "createRoom", map[string]any{}, nil)
	var ce *client.CancelError
	if !errors.As(err, &ce) || ce.Code != 503 {
		t.Fatalf("createRoom with no number the media node takes: %v, want a 503 cancel", err)
	}
	taken.Store(false)
	f, err := a.Request(ctx, "createRoom", map[string]any{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var obj roomObject
	if err := json.Unmarshal(f.Payload, &obj); err != nil || obj.Number != "23456789" {
		t.Fatalf("createRoom once a number is free: %s", f.Payload)
	}
}
