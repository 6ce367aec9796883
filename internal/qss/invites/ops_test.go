package invites

import (
	"testing"

	"github.com/openwac/wac/internal/qss/cluster/clustertest"
)

// Every invitation operation comes out of the bus as it went in, every
// field included: nodes of one version understand each other.
func TestOperationsCrossTheBus(t *testing.T) {
	clustertest.RoundTrip[inviteOp](t, inviteOps, &acceptOp{Session: "s2", Room: "r1"}, &declineOp{Session: "s2", Code: 486},
		&addCandidateOp{Session: "s2"}, &candidateGoneOp{Session: "s2"}, &dropUserOp{}, &currentOp{Session: "s2"})
}
