package rooms

import (
	"testing"
	"time"

	"github.com/openwac/wac/internal/qss/cluster/clustertest"
	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/store"
)

// Every room operation comes out of the bus as it went in, every field
// included: nodes of one version understand each other.
func TestOperationsCrossTheBus(t *testing.T) {
	yes, bob := true, session.User{ID: "u2", Username: "bob", Domain: "wac", DomainID: "d1", Role: "user", Alias: "Bob"}
	clustertest.RoundTrip[roomOp](t, roomOps, &getOp{}, &memberOp{}, &joinOp{Session: "s1"}, &leaveOp{Session: "s1", Code: 480, Reason: "gone"},
		&updateOp{Session: "s1", Users: []session.User{bob}, SetACL: true, Record: &yes, DryRun: true}, &expelOp{Target: "u2"},
		&aclAddOp{Users: []session.User{bob}, Invite: "i1"}, &aclRemoveOp{Users: []session.User{bob}, Invite: "i1"}, &holdOp{Hold: true},
		&muteOp{Target: "u2", Mediatypes: map[string]bool{"audio": true}}, &destroyOp{},
		&dtmfOp{Digit: "#"}, &sendDTMFOp{Digits: "12*", Duration: 80 * time.Millisecond},
		&recordInviteOp{Entry: store.CallInvite{ID: "i1", Kind: "invitation", From: "u1", To: "u2", State: "ringing", Created: 1}},
		&recordTransferOp{Entry: store.CallTransfer{ID: "t1", Kind: "blind", By: "u1", Participant: "u2", State: "created", Created: 1}},
		&recordOp{On: true}, &recordingStoppedOp{Reason: "the disk is full"})
}
