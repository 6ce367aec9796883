// Package clustertest checks, in the tests of the signaling layers, that
// their operations cross the bus whole.
package clustertest

import (
	"reflect"
	"testing"

	"github.com/openwac/wac/internal/qss/cluster"
)

// RoundTrip checks that every operation of ops is in list (one of each
// kind) and comes out of its encoding as it went in, every field
// included: the fields of an operation all travel between nodes.
func RoundTrip[T any](t *testing.T, ops *cluster.Ops[T], list ...T) {
	t.Helper()
	seen := map[string]bool{}
	for _, op := range list {
		kind, raw, err := ops.Encode(op)
		if err != nil {
			t.Fatal(err)
		}
		seen[kind] = true
		back, err := ops.Decode(kind, raw)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, op) {
			t.Errorf("%s: %+v came back as %+v", kind, op, back)
		}
	}
	for _, kind := range ops.Kinds() {
		if !seen[kind] {
			t.Errorf("operation %s is not tested", kind)
		}
	}
}
