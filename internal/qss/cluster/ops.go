package cluster

import (
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/segmentio/encoding/json"
)

// Ops names the operation types of a service (the rooms' join, leave ...)
// so that an operation crosses the bus as its kind and its JSON and comes
// out as the same type on the other node. T is the service's operation
// interface; each operation is a pointer to a struct type of its own.
type Ops[T any] struct {
	service string
	types   map[string]reflect.Type // kind → struct type
	kinds   map[reflect.Type]string // pointer type → kind
}

// NewOps names the operations of service: kind → a nil pointer of the
// operation's type, as in map[string]T{"join": (*joinOp)(nil)}.
func NewOps[T any](service string, ops map[string]T) *Ops[T] {
	o := &Ops[T]{service: service, types: map[string]reflect.Type{}, kinds: map[reflect.Type]string{}}
	for kind, op := range ops {
		t := reflect.TypeOf(op)
		if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
			panic(fmt.Sprintf("cluster: operation %s/%s is not a pointer to a struct", service, kind))
		}
		if _, dup := o.kinds[t]; dup {
			panic(fmt.Sprintf("cluster: operation type %s of %s has two kinds", t, service))
		}
		o.types[kind], o.kinds[t] = t.Elem(), kind
	}
	return o
}

// Kinds lists the kinds of the operations, sorted.
func (o *Ops[T]) Kinds() []string {
	return slices.Sorted(maps.Keys(o.types))
}

// Kind names op on the wire.
func (o *Ops[T]) Kind(op T) string { return o.kinds[reflect.TypeOf(op)] }

// Encode returns op's kind and JSON.
func (o *Ops[T]) Encode(op T) (string, json.RawMessage, error) {
	kind, ok := o.kinds[reflect.TypeOf(op)]
	if !ok {
		return "", nil, fmt.Errorf("%s: operation %T has no kind", o.service, op)
	}
	b, err := json.Marshal(op)
	if err != nil {
		return "", nil, fmt.Errorf("encode %s operation %s: %w", o.service, kind, err)
	}
	return kind, b, nil
}

// Decode makes the operation of kind from its JSON.
func (o *Ops[T]) Decode(kind string, raw json.RawMessage) (T, error) {
	var zero T
	t, ok := o.types[kind]
	if !ok {
		return zero, fmt.Errorf("unknown %s operation %q", o.service, kind)
	}
	v := reflect.New(t)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, v.Interface()); err != nil {
			return zero, fmt.Errorf("decode %s operation %s: %w", o.service, kind, err)
		}
	}
	return v.Interface().(T), nil
}
