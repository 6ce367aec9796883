package qss

import (
	"reflect"
	"testing"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/qss/session"
	"github.com/openwac/wac/internal/store"
)

// Every room and invitation operation comes out of the bus as it went in,
// every field included: nodes of one version understand each other.
func TestOperationsCrossTheBus(t *testing.T) {
	yes, bob := true, session.User{ID: "u2", Username: "bob", Domain: "wac", DomainID: "d1", Role: "user", Alias: "Bob"}
	rooms := []roomOp{&getOp{}, &memberOp{}, &joinOp{Session: "s1"}, &leaveOp{Session: "s1", Code: 480, Reason: "gone"},
		&updateOp{Session: "s1", Users: []session.User{bob}, SetACL: true, Record: &yes, DryRun: true}, &expelOp{Target: "u2"},
		&aclAddOp{Users: []session.User{bob}, Invite: "i1"}, &aclRemoveOp{Users: []session.User{bob}, Invite: "i1"}, &holdOp{Hold: true},
		&muteOp{Target: "u2", Mediatypes: map[string]bool{"audio": true}}, &destroyOp{},
		&recordInviteOp{Entry: store.CallInvite{ID: "i1", Kind: "invitation", From: "u1", To: "u2", State: "ringing", Created: 1}},
		&recordTransferOp{Entry: store.CallTransfer{ID: "t1", Kind: "blind", By: "u1", Participant: "u2", State: "created", Created: 1}}}
	if len(rooms) != len(roomOps.Kinds()) {
		t.Errorf("%d room operations tested, %d named", len(rooms), len(roomOps.Kinds()))
	}
	for _, op := range rooms {
		roundTrip(t, roomOps.Encode, roomOps.Decode, op)
	}
	invites := []inviteOp{&acceptOp{Session: "s2", Room: "r1"}, &declineOp{Session: "s2", Code: 486},
		&addCandidateOp{Session: "s2"}, &candidateGoneOp{Session: "s2"}, &dropUserOp{}, &currentOp{Session: "s2"}}
	if len(invites) != len(inviteOps.Kinds()) {
		t.Errorf("%d invitation operations tested, %d named", len(invites), len(inviteOps.Kinds()))
	}
	for _, op := range invites {
		roundTrip(t, inviteOps.Encode, inviteOps.Decode, op)
	}
}

func roundTrip[T any](t *testing.T, encode func(T) (string, json.RawMessage, error), decode func(string, json.RawMessage) (T, error), op T) {
	t.Helper()
	kind, raw, err := encode(op)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decode(kind, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, op) {
		t.Errorf("%s: %+v came back as %+v", kind, op, back)
	}
}
