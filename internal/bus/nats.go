package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS is one node's bus over a NATS server or cluster. Subscriptions share
// one channel read by one goroutine, so that thousands of per-user
// subscriptions cost no goroutine each.
type NATS struct {
	nc    *nats.Conn
	kv    *natsKV
	id    string
	inbox Inbox
	log   *slog.Logger

	msgs chan *nats.Msg
	done chan struct{}
	once sync.Once
}

// NATSOptions configure DialNATS.
type NATSOptions struct {
	// Bucket is the JetStream key-value bucket of the shared state.
	Bucket string
	// Replicas of the bucket (1 on a single server).
	Replicas int
}

// DialNATS connects node nodeID to the NATS server(s) at url and opens (or
// creates) the shared key-value bucket.
func DialNATS(ctx context.Context, url, nodeID string, inbox Inbox, log *slog.Logger, opts NATSOptions) (*NATS, error) {
	if opts.Bucket == "" {
		opts.Bucket = "wac"
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	nc, err := nats.Connect(url,
		nats.Name("wac-"+nodeID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("bus: disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("bus: reconnected to NATS", "url", c.ConnectedUrl()) }),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s (config key bus.url): %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("NATS JetStream: %w", err)
	}
	kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(kctx, jetstream.KeyValueConfig{
		Bucket: opts.Bucket, History: 1, Storage: jetstream.MemoryStorage, Replicas: opts.Replicas,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("open NATS key-value bucket %q (is JetStream enabled on the server?): %w", opts.Bucket, err)
	}
	n := &NATS{nc: nc, kv: &natsKV{kv: kv}, id: nodeID, inbox: inbox, log: log,
		msgs: make(chan *nats.Msg, 1<<16), done: make(chan struct{})}
	go n.dispatch()
	return n, nil
}

func (n *NATS) dispatch() {
	defer close(n.done)
	for m := range n.msgs {
		if m == nil {
			return
		}
		n.inbox(m.Subject, m.Data)
	}
}

// NodeID names the node.
func (n *NATS) NodeID() string { return n.id }

// KV is the shared bucket.
func (n *NATS) KV() KV { return n.kv }

// Publish sends data on subject.
func (n *NATS) Publish(ctx context.Context, subject string, data []byte) error {
	if err := n.nc.Publish(subject, data); err != nil {
		return fmt.Errorf("bus publish %s: %w", subject, err)
	}
	return nil
}

// Subscribe delivers subject's messages to the node's inbox.
func (n *NATS) Subscribe(subject string) (Subscription, error) {
	s, err := n.nc.ChanSubscribe(subject, n.msgs)
	if err != nil {
		return nil, fmt.Errorf("bus subscribe %s: %w", subject, err)
	}
	return s, nil
}

// Serve answers requests on subject, each on its own goroutine.
func (n *NATS) Serve(subject string, h Handler) (Subscription, error) {
	s, err := n.nc.Subscribe(subject, func(m *nats.Msg) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b, err := h(ctx, m.Data)
			if rerr := m.Respond(encodeReply(b, err)); rerr != nil {
				n.log.Warn("bus: reply failed", "subject", subject, "err", rerr)
			}
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("bus serve %s: %w", subject, err)
	}
	return s, nil
}

// Request calls the server of subject.
func (n *NATS) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	m, err := n.nc.RequestWithContext(ctx, subject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, ErrNoResponders
	}
	if err != nil {
		return nil, fmt.Errorf("bus request %s: %w", subject, err)
	}
	return decodeReply(m.Data)
}

// Close drains the connection and stops the dispatcher.
func (n *NATS) Close() error {
	n.once.Do(func() {
		n.nc.Close()
		close(n.msgs)
		<-n.done
	})
	return nil
}

type natsKV struct{ kv jetstream.KeyValue }

func (k *natsKV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := k.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("bus kv get %s: %w", key, err)
	}
	return e.Value(), e.Revision(), nil
}

func (k *natsKV) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if !ValidKey(key) {
		return 0, errInvalidKey(key)
	}
	rev, err := k.kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, ErrExists
	}
	if err != nil {
		return 0, fmt.Errorf("bus kv create %s: %w", key, err)
	}
	return rev, nil
}

func (k *natsKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	r, err := k.kv.Update(ctx, key, value, rev)
	var api *jetstream.APIError
	if errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || errors.Is(err, jetstream.ErrKeyExists) {
		return 0, ErrConflict
	}
	if err != nil {
		return 0, fmt.Errorf("bus kv update %s: %w", key, err)
	}
	return r, nil
}

func (k *natsKV) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if !ValidKey(key) {
		return 0, errInvalidKey(key)
	}
	r, err := k.kv.Put(ctx, key, value)
	if err != nil {
		return 0, fmt.Errorf("bus kv put %s: %w", key, err)
	}
	return r, nil
}

func (k *natsKV) Delete(ctx context.Context, key string) error {
	if err := k.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("bus kv delete %s: %w", key, err)
	}
	return nil
}

func (k *natsKV) Keys(ctx context.Context, prefix string) ([]string, error) {
	filter := ">"
	if strings.HasSuffix(prefix, ".") {
		filter = prefix + ">"
	}
	lister, err := k.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("bus kv keys %s: %w", prefix, err)
	}
	var out []string
	for key := range lister.Keys() {
		if strings.HasPrefix(key, prefix) {
			out = append(out, key)
		}
	}
	return out, nil
}

// Embedded is a NATS server with JetStream running inside the process, for
// a cluster that does not run its own.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts a NATS server listening on host:port (port -1 picks
// a free one), keeping JetStream data in storeDir.
func StartEmbedded(host string, port int, storeDir string) (*Embedded, error) {
	opts := &server.Options{
		ServerName: "wac-embedded",
		Host:       host, Port: port,
		JetStream: true, StoreDir: storeDir,
		NoSigs: true, NoLog: true,
		MaxPayload: 1 << 20,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS server did not start on %s:%d (config key bus.listen)", host, port)
	}
	return &Embedded{srv: srv}, nil
}

// URL is where clients connect.
func (e *Embedded) URL() string { return e.srv.ClientURL() }

// Shutdown stops the server.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// Flush waits until the server has processed everything sent so far
// (subscriptions included).
func (n *NATS) Flush() error { return n.nc.Flush() }
