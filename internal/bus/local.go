package bus

import (
	"context"
	"sort"
	"strings"
	"sync"
)

// LocalNet joins Local buses in one process: the default single node, and
// tests that run several nodes without NATS.
type LocalNet struct {
	mu      sync.RWMutex
	subs    map[string]map[*Local]int
	servers map[string]Handler
	kv      *memKV
}

// NewLocalNet returns an empty in-process network.
func NewLocalNet() *LocalNet {
	return &LocalNet{subs: map[string]map[*Local]int{}, servers: map[string]Handler{}, kv: &memKV{m: map[string]memEntry{}}}
}

// Local is one node's bus on a LocalNet.
type Local struct {
	net   *LocalNet
	id    string
	inbox Inbox

	mu     sync.Mutex
	queue  []localMsg
	wake   chan struct{}
	closed bool
	done   chan struct{}
	served []string
}

type localMsg struct {
	subject string
	data    []byte
}

// NewLocal connects a node to net; inbox receives its subscriptions' messages.
func NewLocal(net *LocalNet, nodeID string, inbox Inbox) *Local {
	l := &Local{net: net, id: nodeID, inbox: inbox, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.dispatch()
	return l
}

// NodeID names the node.
func (l *Local) NodeID() string { return l.id }

// KV is the network's shared store.
func (l *Local) KV() KV { return l.net.kv }

func (l *Local) dispatch() {
	defer close(l.done)
	for {
		l.mu.Lock()
		for len(l.queue) == 0 && !l.closed {
			l.mu.Unlock()
			<-l.wake
			l.mu.Lock()
		}
		if l.closed && len(l.queue) == 0 {
			l.mu.Unlock()
			return
		}
		batch := l.queue
		l.queue = nil
		l.mu.Unlock()
		for _, m := range batch {
			l.inbox(m.subject, m.data)
		}
	}
}

func (l *Local) enqueue(m localMsg) {
	l.mu.Lock()
	if !l.closed {
		l.queue = append(l.queue, m)
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Publish hands data to every node subscribed to subject.
func (l *Local) Publish(ctx context.Context, subject string, data []byte) error {
	if l.isClosed() {
		return ErrClosed
	}
	l.net.mu.RLock()
	targets := make([]*Local, 0, len(l.net.subs[subject]))
	for n := range l.net.subs[subject] {
		targets = append(targets, n)
	}
	l.net.mu.RUnlock()
	for _, n := range targets {
		n.enqueue(localMsg{subject: subject, data: data})
	}
	return nil
}

type localSub struct {
	once sync.Once
	fn   func()
}

func (s *localSub) Unsubscribe() error {
	s.once.Do(s.fn)
	return nil
}

// Subscribe delivers subject's messages to the node's inbox.
func (l *Local) Subscribe(subject string) (Subscription, error) {
	if l.isClosed() {
		return nil, ErrClosed
	}
	l.net.mu.Lock()
	if l.net.subs[subject] == nil {
		l.net.subs[subject] = map[*Local]int{}
	}
	l.net.subs[subject][l]++
	l.net.mu.Unlock()
	return &localSub{fn: func() { l.unsubscribe(subject) }}, nil
}

func (l *Local) unsubscribe(subject string) {
	l.net.mu.Lock()
	defer l.net.mu.Unlock()
	if m := l.net.subs[subject]; m != nil {
		if m[l]--; m[l] <= 0 {
			delete(m, l)
		}
		if len(m) == 0 {
			delete(l.net.subs, subject)
		}
	}
}

// Serve answers requests on subject.
func (l *Local) Serve(subject string, h Handler) (Subscription, error) {
	if l.isClosed() {
		return nil, ErrClosed
	}
	l.net.mu.Lock()
	l.net.servers[subject] = h
	l.net.mu.Unlock()
	l.mu.Lock()
	l.served = append(l.served, subject)
	l.mu.Unlock()
	return &localSub{fn: func() {
		l.net.mu.Lock()
		delete(l.net.servers, subject)
		l.net.mu.Unlock()
	}}, nil
}

// Request calls the server of subject.
func (l *Local) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if l.isClosed() {
		return nil, ErrClosed
	}
	l.net.mu.RLock()
	h := l.net.servers[subject]
	l.net.mu.RUnlock()
	if h == nil {
		return nil, ErrNoResponders
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := h(ctx, data)
		ch <- result{encodeReply(b, err), nil}
	}()
	select {
	case r := <-ch:
		return decodeReply(r.b)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *Local) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close ends the node's subscriptions and services and stops its dispatcher
// after the queued messages.
func (l *Local) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	served := l.served
	l.mu.Unlock()
	l.net.mu.Lock()
	for subject, m := range l.net.subs {
		delete(m, l)
		if len(m) == 0 {
			delete(l.net.subs, subject)
		}
	}
	for _, s := range served {
		delete(l.net.servers, s)
	}
	l.net.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	<-l.done
	return nil
}

type memEntry struct {
	value []byte
	rev   uint64
}

type memKV struct {
	mu  sync.Mutex
	m   map[string]memEntry
	rev uint64
}

func (kv *memKV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	e, ok := kv.m[key]
	if !ok {
		return nil, 0, ErrNotFound
	}
	return e.value, e.rev, nil
}

func (kv *memKV) set(key string, value []byte) uint64 {
	kv.rev++
	kv.m[key] = memEntry{value: append([]byte(nil), value...), rev: kv.rev}
	return kv.rev
}

func (kv *memKV) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if !ValidKey(key) {
		return 0, errInvalidKey(key)
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if _, ok := kv.m[key]; ok {
		return 0, ErrExists
	}
	return kv.set(key, value), nil
}

func (kv *memKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	e, ok := kv.m[key]
	if !ok || e.rev != rev {
		return 0, ErrConflict
	}
	return kv.set(key, value), nil
}

func (kv *memKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if !ValidKey(key) {
		return 0, errInvalidKey(key)
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return kv.set(key, value), nil
}

func (kv *memKV) Delete(ctx context.Context, key string) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	delete(kv.m, key)
	return nil
}

func (kv *memKV) Keys(ctx context.Context, prefix string) ([]string, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	var out []string
	for k := range kv.m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

type errInvalidKey string

func (e errInvalidKey) Error() string { return "bus: invalid key " + string(e) }
