// Package bus carries messages between the nodes of a cluster and keeps the
// live state they share. Every delivery to a user, a session or a room goes
// through it: in one process the Local bus hands messages over in memory; in a
// cluster the NATS bus does the same over NATS, with JetStream key-value for
// the shared state (which node holds which session, which node owns which
// room).
//
// Both implementations have the same semantics, and one test suite runs
// against both:
//   - Publish delivers to every node subscribed to the subject (at most once,
//     in publish order per publisher and subject) through the node's Inbox,
//     which one goroutine calls, so handlers must not block.
//   - Serve answers requests on a subject; Request waits for one answer.
//   - KV is a key-value store with revisions for compare-and-set.
package bus

import (
	"context"
	"errors"
	"strings"
)

// Inbox receives the messages of a node's subscriptions, one at a time.
type Inbox func(subject string, data []byte)

// Handler answers a request.
type Handler func(ctx context.Context, data []byte) ([]byte, error)

// Subscription ends with Unsubscribe.
type Subscription interface {
	Unsubscribe() error
}

// Bus is one node's connection to the cluster.
type Bus interface {
	// NodeID names this node in the cluster.
	NodeID() string
	// Publish sends data to every subscriber of subject.
	Publish(ctx context.Context, subject string, data []byte) error
	// Subscribe delivers messages on subject to the node's Inbox.
	Subscribe(subject string) (Subscription, error)
	// Serve answers requests on subject with h (one node per subject).
	Serve(subject string, h Handler) (Subscription, error)
	// Request sends data to the server of subject and waits for its answer.
	// It returns ErrNoResponders when nobody serves the subject.
	Request(ctx context.Context, subject string, data []byte) ([]byte, error)
	// KV is the shared live state.
	KV() KV
	Close() error
}

// KV is a key-value store shared by the nodes. Keys are dot-separated tokens
// of letters, digits, '-' and '_'.
type KV interface {
	// Get returns a value and its revision, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, uint64, error)
	// Create stores a value if the key has none, else ErrExists.
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	// Update stores a value if the key is still at revision rev, else ErrConflict.
	Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// Put stores a value whatever was there.
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	// Delete removes a key (no error if absent).
	Delete(ctx context.Context, key string) error
	// Keys lists the keys starting with prefix.
	Keys(ctx context.Context, prefix string) ([]string, error)
}

// Errors of the bus.
var (
	ErrNotFound     = errors.New("bus: key not found")
	ErrExists       = errors.New("bus: key exists")
	ErrConflict     = errors.New("bus: key changed since it was read")
	ErrNoResponders = errors.New("bus: nobody serves the subject")
	ErrClosed       = errors.New("bus: closed")
)

// RemoteError is an error a request's handler returned on another node.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// ValidKey reports whether key can be stored in the KV of both implementations.
func ValidKey(key string) bool {
	if key == "" || strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, "..") {
		return false
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// encodeReply and decodeReply carry a handler's answer or error.
func encodeReply(data []byte, err error) []byte {
	if err != nil {
		return append([]byte{1}, err.Error()...)
	}
	return append([]byte{0}, data...)
}

func decodeReply(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("bus: empty reply")
	}
	if b[0] == 1 {
		return nil, &RemoteError{Msg: string(b[1:])}
	}
	return b[1:], nil
}
