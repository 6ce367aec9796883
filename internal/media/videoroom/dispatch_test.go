package videoroom_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/placement"
)

// partition is a Directory in which some nodes' heartbeats are lost, as
// when a node dies or its link to the bus does.
type partition struct {
	*placement.LocalDirectory
	mu   sync.Mutex
	dead map[string]bool
}

func (p *partition) Heartbeat(ctx context.Context, n placement.NodeInfo) error {
	p.mu.Lock()
	dead := p.dead[n.ID]
	p.mu.Unlock()
	if dead {
		return nil
	}
	return p.LocalDirectory.Heartbeat(ctx, n)
}

func (p *partition) kill(id string) {
	p.mu.Lock()
	p.dead[id] = true
	p.mu.Unlock()
}

type cluster struct {
	dir    *partition
	disp   *placement.Dispatcher
	nodes  map[string]*testNode
	cancel map[string]context.CancelFunc
	ended  chan [2]string
}

const beat = 100 * time.Millisecond

func startCluster(t *testing.T, names ...string) *cluster {
	t.Helper()
	c := &cluster{dir: &partition{LocalDirectory: placement.NewLocalDirectory(), dead: map[string]bool{}},
		nodes: map[string]*testNode{}, cancel: map[string]context.CancelFunc{}, ended: make(chan [2]string, 100)}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs after the cancels below
	for _, name := range names {
		cfg := testMediaConfig(t)
		cfg.NodeID = name
		n := startSFU(t, cfg)
		c.nodes[name] = n
		ctx, cancel := context.WithCancel(context.Background())
		c.cancel[name] = cancel
		base := "http" + n.ws[len("ws"):len(n.ws)-len("/janus")]
		wg.Add(1)
		go func() {
			defer wg.Done()
			placement.RunAgent(ctx, n.sfu.PlacementHost(), c.dir, placement.AgentOptions{Interval: beat, URL: func(context.Context) (string, error) { return base, nil }})
		}()
		t.Cleanup(func() { cancel() })
	}
	c.disp = placement.NewDispatcher(c.dir, placement.DispatcherOptions{Timeout: 5 * beat, Check: beat, Bitrate: 300})
	t.Cleanup(c.disp.Close)
	c.disp.OnRoomEnded(func(room, reason string) { c.ended <- [2]string{room, reason} })
	waitUntil(t, 5*time.Second, "every node registered", func() bool {
		ns, _ := c.dir.Nodes(context.Background())
		return len(ns) == len(names)
	})
	return c
}

// Rooms go to the least loaded live node; the room's server URLs and
// number lead a client to it.
func TestDispatcherPlacesRooms(t *testing.T) {
	checkGoroutines(t)
	c := startCluster(t, "sfu1", "sfu2", "sfu3")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	per := map[string]int{}
	var infos []placement.RoomInfo
	for i := 0; i < 6; i++ {
		info, err := c.disp.CreateRoom(ctx, roomID(t)+string(rune('a'+i)), placement.RoomOptions{})
		if err != nil {
			t.Fatal(err)
		}
		per[info.NodeID]++
		infos = append(infos, info)
	}
	if per["sfu1"] != 2 || per["sfu2"] != 2 || per["sfu3"] != 2 {
		t.Fatalf("rooms per node %v, want 2 each", per)
	}
	info := infos[0]
	if info.Number < 10000000 || info.Bitrate != 300 || info.ServerUUID == "" || info.Server.WSS != c.nodes[info.NodeID].ws {
		t.Fatalf("room info %+v (node ws %s)", info, c.nodes[info.NodeID].ws)
	}
	again, err := c.disp.CreateRoom(ctx, info.ID, placement.RoomOptions{})
	if err != nil || again != info {
		t.Fatalf("creating an existing room: %+v %v", again, err)
	}
	// A client follows the room object: the node's WebSocket and the
	// room number.
	cl, err := janus.Dial(ctx, info.Server.WSS)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s, err := cl.CreateSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Attach(ctx, janus.VideoRoom)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.JoinPublisher(ctx, h, info.Number, token(info.ID, "alice", true, true), "A"); err != nil {
		t.Fatalf("join through the room object: %v", err)
	}

	// Load counts: a node with peers gets the next room last.
	api := testAPI(t)
	pub, err := peer.Publish(ctx, api, h, "vp8", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	busy := info.NodeID
	time.Sleep(3 * beat)
	next, err := c.disp.CreateRoom(ctx, roomID(t)+"z", placement.RoomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if next.NodeID == busy {
		t.Fatalf("the next room went to the busy node %s", busy)
	}

	if err := c.disp.DestroyRoom(ctx, infos[1].ID); err != nil {
		t.Fatal(err)
	}
	if c.nodes[infos[1].NodeID].sfu.Room(infos[1].ID) != nil {
		t.Fatal("destroyed room still on its node")
	}
	select {
	case e := <-c.ended:
		t.Fatalf("a destroy was reported as an end: %v", e)
	case <-time.After(3 * beat):
	}
}

// A media node that stops sending heartbeats is dead: its rooms are
// reported ended and new rooms avoid it. A node that stops cleanly, or
// that ends a room itself, is noticed too.
func TestDispatcherNoticesDeadNode(t *testing.T) {
	c := startCluster(t, "sfu1", "sfu2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rooms := map[string]string{}
	for i := 0; i < 4; i++ {
		info, err := c.disp.CreateRoom(ctx, roomID(t)+string(rune('a'+i)), placement.RoomOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rooms[info.ID] = info.NodeID
	}
	c.dir.kill("sfu1")
	var dead atomic.Int32
	deadline := time.After(5 * time.Second)
	for got := 0; got < 2; {
		select {
		case e := <-c.ended:
			if rooms[e[0]] != "sfu1" || e[1] != "media node died" {
				t.Fatalf("ended %v", e)
			}
			dead.Add(1)
			got++
		case <-deadline:
			t.Fatalf("only %d of sfu1's rooms reported ended", got)
		}
	}
	for i := 0; i < 3; i++ {
		info, err := c.disp.CreateRoom(ctx, roomID(t)+"new"+string(rune('a'+i)), placement.RoomOptions{})
		if err != nil || info.NodeID != "sfu2" {
			t.Fatalf("room placed on %s after sfu1 died: %v", info.NodeID, err)
		}
		rooms[info.ID] = info.NodeID
	}

	// sfu2 ends one of its rooms by itself.
	var victim string
	for id, node := range rooms {
		if node == "sfu2" {
			victim = id
			break
		}
	}
	c.nodes["sfu2"].sfu.DestroyRoom(victim, "admin")
	select {
	case e := <-c.ended:
		if e[0] != victim || e[1] != "room closed on the media node" {
			t.Fatalf("ended %v, want %s closed on the node", e, victim)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a room closed on its node was not reported")
	}

	// sfu2 stops cleanly: its rooms end.
	c.cancel["sfu2"]()
	select {
	case e := <-c.ended:
		if e[1] != "media node left" {
			t.Fatalf("ended %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the rooms of a node that left were not reported")
	}
	if _, err := c.disp.CreateRoom(ctx, roomID(t)+"x", placement.RoomOptions{}); err == nil {
		t.Fatal("a room was placed with no live node")
	}
}

// Signaling expels a user: the media node ends the user's publisher and
// subscription (each told it was kicked) and refuses the room token the
// user still holds, until signaling admits the user again.
func TestDispatcherExpelsUser(t *testing.T) {
	checkGoroutines(t)
	c := startCluster(t, "sfu1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := c.disp.CreateRoom(ctx, roomID(t), placement.RoomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := c.nodes[info.NodeID]
	api := testAPI(t)
	ja, _ := n.publishing(ctx, t, api, info.ID, "alice")
	bobToken := token(info.ID, "bob", true, true)
	_, hb := n.client(ctx, t)
	if _, err := peer.JoinPublisher(ctx, hb, info.ID, bobToken, "Bob"); err != nil {
		t.Fatal(err)
	}
	_, hs := n.client(ctx, t)
	sub, err := peer.Subscribe(ctx, api, hs, info.ID, bobToken, []uint64{ja.ID}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	if err := c.disp.ExpelUser(ctx, info.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]*janus.Handle{"bob's publisher": hb, "bob's subscription": hs} {
		if _, err := h.WaitEvent(ctx, pluginEvent("reason", "kicked")); err != nil {
			t.Fatalf("%s was not kicked: %v", name, err)
		}
	}
	_, hb2 := n.client(ctx, t)
	_, err = peer.JoinPublisher(ctx, hb2, info.ID, bobToken, "Bob")
	var pe *janus.PluginError
	if !errors.As(err, &pe) || pe.Code != janus.VRErrUnauthorized || pe.Reason != "Unauthorized (expelled from the room)" {
		t.Fatalf("an expelled user rejoined with the token he kept: %v", err)
	}
	// Alice is untouched.
	if _, err := peer.JoinPublisher(ctx, hb2, info.ID, token(info.ID, "carol", true, true), "Carol"); err != nil {
		t.Fatalf("another user could not join after an expel: %v", err)
	}

	if err := c.disp.AdmitUser(ctx, info.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	_, hb3 := n.client(ctx, t)
	if _, err := peer.JoinPublisher(ctx, hb3, info.ID, bobToken, "Bob"); err != nil {
		t.Fatalf("an admitted user could not join: %v", err)
	}
}
