package cluster_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/openwac/wac/internal/qss/cluster"
)

type testOp interface{ target() string }

type moveOp struct {
	To   string `json:"to"`
	Fast bool   `json:"fast,omitempty"`
}

func (o *moveOp) target() string { return o.To }

type stopOp struct{}

func (*stopOp) target() string { return "" }

// An operation crosses the bus as its kind and JSON and comes out as the
// same type with the same fields; an unknown kind or type is an error.
func TestOpsRoundTrip(t *testing.T) {
	ops := cluster.NewOps("test", map[string]testOp{"move": (*moveOp)(nil), "stop": (*stopOp)(nil)})
	for _, op := range []testOp{&moveOp{To: "room-1", Fast: true}, &stopOp{}} {
		kind, raw, err := ops.Encode(op)
		if err != nil {
			t.Fatal(err)
		}
		if kind != ops.Kind(op) {
			t.Errorf("Encode named %T %q, Kind %q", op, kind, ops.Kind(op))
		}
		back, err := ops.Decode(kind, raw)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, op) {
			t.Errorf("%s: %#v came back as %#v", kind, op, back)
		}
	}
	if _, err := ops.Decode("jump", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), `unknown test operation "jump"`) {
		t.Errorf("an unknown kind: %v", err)
	}
	if _, err := ops.Decode("move", []byte(`{"to":5}`)); err == nil {
		t.Error("a move whose field has the wrong type was decoded")
	}
	if _, _, err := ops.Encode(other{}); err == nil {
		t.Error("an operation type that has no kind was encoded")
	}
}

type other struct{}

func (other) target() string { return "" }
