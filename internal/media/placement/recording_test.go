package placement

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The dispatcher carries start and stop of recordings to the room's node,
// and hears from the node's heartbeats of a recording that stopped by
// itself (a storage error), once.
func TestRecordingCommands(t *testing.T) {
	dir := NewLocalDirectory()
	host := newFakeHost()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go RunAgent(ctx, host, dir, AgentOptions{Interval: 10 * time.Millisecond,
		URL: func(context.Context) (string, error) { return "https://media.example/", nil }})
	d := NewDispatcher(dir, DispatcherOptions{Timeout: time.Second, Check: 10 * time.Millisecond})
	defer d.Close()
	stopped := make(chan [2]string, 4)
	d.OnRecordingStopped(func(room, reason string) { stopped <- [2]string{room, reason} })
	for deadline := time.Now().Add(5 * time.Second); ; {
		if nodes, _ := dir.Nodes(ctx); len(nodes) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not register the node")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := d.StartRecording(ctx, "nowhere", RecordingOptions{Domain: "d"}); !errors.Is(err, ErrNoSuchRoom) {
		t.Fatalf("recording a room not placed: %v", err)
	}
	if _, err := d.CreateRoom(ctx, "r1", RoomOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := d.StartRecording(ctx, "r1", RecordingOptions{Domain: "d1", By: "alice"}); err != nil {
		t.Fatal(err)
	}
	host.mu.Lock()
	by := host.recBy["r1"]
	host.mu.Unlock()
	if by != "alice@d1" {
		t.Fatalf("the node records for %q", by)
	}
	if err := d.StopRecording(ctx, "r1", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := d.StartRecording(ctx, "r1", RecordingOptions{Domain: "d1", By: "alice"}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-stopped:
		t.Fatalf("a running recording reported stopped: %v", e)
	case <-time.After(100 * time.Millisecond):
	}
	host.failRecording("r1", "disk full")
	select {
	case e := <-stopped:
		if e != [2]string{"r1", "disk full"} {
			t.Fatalf("stopped %v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the dispatcher did not hear the recording stopped")
	}
	select {
	case e := <-stopped:
		t.Fatalf("told twice: %v", e)
	case <-time.After(100 * time.Millisecond):
	}
}
