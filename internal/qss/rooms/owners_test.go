package rooms

import (
	"testing"
	"time"
)

func TestSweepOwnersForgetsOldEntries(t *testing.T) {
	var rt Table
	rt.owners.Store("old", ownerEntry{node: "n1", at: time.Now().Add(-ownerCacheTTL - time.Second)})
	rt.owners.Store("new", ownerEntry{node: "n2", at: time.Now()})
	rt.sweepOwners()
	if _, ok := rt.owners.Load("old"); ok {
		t.Error("an owner cached longer than ownerCacheTTL was kept")
	}
	if v, ok := rt.owners.Load("new"); !ok || v.(ownerEntry).node != "n2" {
		t.Errorf("a fresh owner was dropped: %v", v)
	}
}
