package qss_test

import (
	"sync"
	"testing"
	"time"
)

// The hub tells its presence functions of a user's first session on the
// node and of the last one going, once each however many sessions come
// between; HasLocalSessions follows. Other users are not told of.
func TestPresenceFirstAndLastSession(t *testing.T) {
	c := newCluster(t, 1, nil)
	hub := c.nodes[0].Hub()
	var mu sync.Mutex
	calls := map[string]int{}
	hub.OnPresence(func(userID string) {
		mu.Lock()
		calls[userID]++
		mu.Unlock()
	})
	count := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return calls[id]
	}
	alice, a := c.user(0, "alice")
	_, b := c.user(0, "bob")
	if hub.HasLocalSessions(a.ID) {
		t.Fatal("alice has a session before connecting")
	}
	// The session is attached before its session event: when Connect
	// returns, the hub has been told.
	d1 := connect(t, alice)
	if count(a.ID) != 1 || !hub.HasLocalSessions(a.ID) {
		t.Fatalf("after the first session: %d calls, present %v", count(a.ID), hub.HasLocalSessions(a.ID))
	}
	d2 := connect(t, c.login(0, "alice"))
	if count(a.ID) != 1 {
		t.Fatalf("the second session told the hub again (%d calls)", count(a.ID))
	}
	d1.Close()
	d2.Close()
	deadline := time.Now().Add(10 * time.Second)
	for hub.HasLocalSessions(a.ID) || count(a.ID) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after both sessions closed: %d calls, present %v", count(a.ID), hub.HasLocalSessions(a.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := count(a.ID); n != 2 {
		t.Fatalf("%d presence calls for alice, want 2 (first and last)", n)
	}
	if count(b.ID) != 0 || hub.HasLocalSessions(b.ID) {
		t.Fatalf("bob, never connected: %d calls", count(b.ID))
	}
}
