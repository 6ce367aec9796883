package node

import (
	"context"
	"fmt"

	"github.com/openwac/wac/internal/sip"
)

// newSIPRole starts the sip role on a signaling node: the SIP listener
// (trunk.listen), the trunk that invitations to trunk.match go to, and the
// watcher that hangs up phones whose room's apps left.
func newSIPRole(n *Node) (*sip.Server, error) {
	if n.signaling == nil {
		return nil, fmt.Errorf("the sip role needs the signaling role on the same node")
	}
	hub := n.signaling.hub
	// One node of the cluster registers a user with the PBX (else the
	// PBX forks to every node's contact, and each rings all the user's
	// devices).
	claim := func(ctx context.Context, userID string) (bool, error) { return hub.Claim(ctx, "sipreg."+userID) }
	release := func(ctx context.Context, userID string) error { return hub.Release(ctx, "sipreg."+userID) }
	// The trunk's packets for apps of this node's media leave its port
	// in batches.
	var batch sip.Batcher
	if sfu := n.SFU(); sfu != nil {
		if b := sfu.Batcher(); b != nil {
			batch = b
		}
	}
	srv, err := sip.New(sip.Options{Config: n.Config, Log: n.Log, Store: n.Store, Signaling: hub,
		Bridge: newSIPBridge(n), Secret: n.Secret, Online: hub.HasLocalSessions, Claim: claim, Release: release,
		Batch: batch})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		srv.Close()
		return nil, err
	}
	hub.SetTrunk(srv)
	hub.SetKeypad(srv)
	hub.SetHolder(srv)
	hub.WatchRooms(srv.RoomChanged)
	hub.OnPresence(srv.UserPresence)
	return srv, nil
}

// SIP is the node's sip role (nil when it does not run one).
func (n *Node) SIP() *sip.Server { return n.sip }
