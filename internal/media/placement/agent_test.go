package placement

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeHost is a media node without media: a table of rooms.
type fakeHost struct {
	mu        sync.Mutex
	rooms     map[string]int64
	expelled  map[string]bool
	recording map[string]string
	recBy     map[string]string
}

func newFakeHost() *fakeHost {
	return &fakeHost{rooms: map[string]int64{}, expelled: map[string]bool{}, recording: map[string]string{}, recBy: map[string]string{}}
}

func (h *fakeHost) StartRecording(room string, o RecordingOptions) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.rooms[room]; !ok {
		return fmt.Errorf("record: %w", ErrNoSuchRoom)
	}
	h.recording[room], h.recBy[room] = "", o.By+"@"+o.Domain
	return nil
}

func (h *fakeHost) StopRecording(room, by string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.recording, room)
	h.recBy[room] = "stopped by " + by
	return nil
}

// failRecording makes a recording stop by itself, as a storage error does.
func (h *fakeHost) failRecording(room, err string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recording[room] = err
}

func (h *fakeHost) NodeID() string     { return "fake" }
func (h *fakeHost) ServerUUID() string { return "uuid-fake" }

func (h *fakeHost) Load() Load {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := Load{Rooms: len(h.rooms), Capacity: 10, Recording: map[string]string{}}
	for id, e := range h.recording {
		l.Recording[id] = e
	}
	for id := range h.rooms {
		l.RoomIDs = append(l.RoomIDs, id)
	}
	return l
}

func (h *fakeHost) CreateRoom(id string, number int64, _ RoomOptions) (int64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n, ok := h.rooms[id]; ok {
		return n, nil
	}
	for _, n := range h.rooms {
		if n == number {
			return 0, fmt.Errorf("create room %s (%d): %w", id, number, ErrRoomExists)
		}
	}
	h.rooms[id] = number
	return number, nil
}

func (h *fakeHost) DestroyRoom(id, _ string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.rooms[id]; !ok {
		return fmt.Errorf("destroy room %s: %w", id, ErrNoSuchRoom)
	}
	delete(h.rooms, id)
	return nil
}

func (h *fakeHost) ExpelUser(room, user string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expelled[room+"/"+user] = true
	return nil
}

func (h *fakeHost) AdmitUser(room, user string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.expelled, room+"/"+user)
	return nil
}

func (h *fakeHost) isExpelled(room, user string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.expelled[room+"/"+user]
}

// A media node needs no WebRTC to be placed on: the agent serves any Host,
// and the dispatcher places rooms on it, leads clients to its Janus URLs,
// and sends it destroy, expel and admit commands.
func TestAgentServesAHost(t *testing.T) {
	dir := NewLocalDirectory()
	host := newFakeHost()
	ctx, cancel := context.WithCancel(context.Background())
	agentDone := make(chan error, 1)
	go func() {
		agentDone <- RunAgent(ctx, host, dir, AgentOptions{Interval: 20 * time.Millisecond,
			URL: func(context.Context) (string, error) { return "https://media.example:8443/", nil }})
	}()
	defer func() {
		cancel()
		if err := <-agentDone; err != nil {
			t.Errorf("agent: %v", err)
		}
		if nodes, _ := dir.Nodes(context.Background()); len(nodes) != 0 {
			t.Errorf("the node did not leave the directory: %+v", nodes)
		}
	}()
	d := NewDispatcher(dir, DispatcherOptions{Timeout: time.Second, Check: 20 * time.Millisecond, Bitrate: 300})
	defer d.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		nodes, _ := dir.Nodes(ctx)
		if len(nodes) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not register the node")
		}
		time.Sleep(10 * time.Millisecond)
	}

	info, err := d.CreateRoom(ctx, "r1", RoomOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := RoomInfo{ID: "r1", NodeID: "fake", ServerUUID: "uuid-fake", Bitrate: 300,
		Server: ServerURLs{HTTPS: "https://media.example:8443/janus", WSS: "wss://media.example:8443/janus"}}
	want.Number = info.Number
	if info != want || info.Number < 10000000 {
		t.Fatalf("room info %+v, want %+v with a number of 8 digits", info, want)
	}
	if n, _ := host.CreateRoom("r1", 0, RoomOptions{}); n != info.Number {
		t.Fatalf("the host holds r1 as %d, the dispatcher says %d", n, info.Number)
	}

	// A create of an existing id answers its number; a taken number
	// answers Exists, so that the dispatcher tries another.
	reply, err := dir.Send(ctx, "fake", Command{Op: "create", Room: "r1", Number: 5})
	if err != nil || reply.Number != info.Number || reply.Error != "" {
		t.Fatalf("create of an existing room: %+v, %v", reply, err)
	}
	reply, err = dir.Send(ctx, "fake", Command{Op: "create", Room: "r2", Number: info.Number})
	if err != nil || !reply.Exists || reply.Error == "" {
		t.Fatalf("create with a taken number: %+v, %v", reply, err)
	}
	reply, err = dir.Send(ctx, "fake", Command{Op: "reboot"})
	if err != nil || reply.Error != `unknown command "reboot"` {
		t.Fatalf("an unknown command: %+v, %v", reply, err)
	}

	// A room created with the caller's number gets it; a number the node
	// has is ErrRoomExists (the caller claims another); a number that is
	// not 8 digits is refused before any node is asked.
	numbered, err := d.CreateRoomNumbered(ctx, "r3", 12345678, RoomOptions{})
	if err != nil || numbered.Number != 12345678 {
		t.Fatalf("numbered room: %+v, %v", numbered, err)
	}
	if _, err := d.CreateRoomNumbered(ctx, "r4", info.Number, RoomOptions{}); !errors.Is(err, ErrRoomExists) {
		t.Fatalf("a room with r1's number: %v, want ErrRoomExists", err)
	}
	if _, err := d.CreateRoomNumbered(ctx, "r5", 42, RoomOptions{}); err == nil || errors.Is(err, ErrRoomExists) {
		t.Fatalf("a number of two digits: %v", err)
	}
	if ids := host.Load().RoomIDs; slices.Contains(ids, "r4") || slices.Contains(ids, "r5") {
		t.Fatalf("refused rooms are on the host: %v", ids)
	}

	if err := d.ExpelUser(ctx, "r1", "bob"); err != nil || !host.isExpelled("r1", "bob") {
		t.Fatalf("expel: %v; expelled %v", err, host.isExpelled("r1", "bob"))
	}
	if err := d.AdmitUser(ctx, "r1", "bob"); err != nil || host.isExpelled("r1", "bob") {
		t.Fatalf("admit: %v; expelled %v", err, host.isExpelled("r1", "bob"))
	}
	if err := d.DestroyRoom(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if ids := host.Load().RoomIDs; slices.Contains(ids, "r1") {
		t.Fatalf("r1 is still on the host: %v", ids)
	}
	if err := d.DestroyRoom(ctx, "r1"); err != nil {
		t.Fatalf("destroying a room the dispatcher no longer knows: %v", err)
	}
	if _, err := d.CreateRoom(ctx, "", RoomOptions{}); err == nil || errors.Is(err, ErrNoMediaNode) {
		t.Fatalf("a room without an id: %v", err)
	}
}

// answerCheck is a directory that, at each heartbeat, sends the node a
// command first and counts those it could not reach.
type answerCheck struct {
	*LocalDirectory
	mu          sync.Mutex
	beats       int
	unreachable int
}

func (d *answerCheck) Heartbeat(ctx context.Context, n NodeInfo) error {
	_, err := d.Send(ctx, n.ID, Command{Op: "status"})
	d.mu.Lock()
	d.beats++
	if errors.Is(err, ErrNodeUnreachable) {
		d.unreachable++
	}
	d.mu.Unlock()
	return d.LocalDirectory.Heartbeat(ctx, n)
}

// A node answers the dispatchers' commands before its first heartbeat
// makes it known (a dispatcher may place a room on it at once: before,
// the first create could find nobody listening), and until it left.
func TestAgentAnswersBeforeItRegisters(t *testing.T) {
	for range 20 {
		dir := &answerCheck{LocalDirectory: NewLocalDirectory()}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- RunAgent(ctx, newFakeHost(), dir, AgentOptions{Interval: 5 * time.Millisecond,
				URL: func(context.Context) (string, error) { return "https://media.example/", nil }})
		}()
		for {
			dir.mu.Lock()
			beats := dir.beats
			dir.mu.Unlock()
			if beats >= 2 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if dir.unreachable != 0 {
			t.Fatalf("%d of %d heartbeats came from a node that did not answer commands", dir.unreachable, dir.beats)
		}
		if _, err := dir.Send(context.Background(), "fake", Command{Op: "status"}); !errors.Is(err, ErrNodeUnreachable) {
			t.Fatalf("a command to a node that left: %v, want ErrNodeUnreachable", err)
		}
	}
}
