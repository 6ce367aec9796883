package node

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/qss"
)

// signalingRole is the QSS of a node: the hub, the media dispatcher that
// places its rooms, and the optional separate WebSocket listener
// (io.websockets).
type signalingRole struct {
	hub        *qss.Hub
	dispatcher *placement.Dispatcher
	ws         *http.Server
	wsLn       net.Listener
}

// openBus connects the node's bus: in process (bus.driver local), or to
// NATS (an embedded server when bus.url is empty). What arrives for the
// node goes to the inbox signaling sets.
func (n *Node) openBus(ctx context.Context) error {
	cfg := n.Config
	nodeID := cfg.Bus.NodeID
	if nodeID == "" {
		nodeID = "n" + hex.EncodeToString(randomBytes(5))
	}
	inbox := func(subject string, data []byte) {
		if in := n.inbox.Load(); in != nil {
			(*in)(subject, data)
		}
	}
	if n.opts.LocalNet != nil {
		n.bus = bus.NewLocal(n.opts.LocalNet, nodeID, inbox)
		return nil
	}
	switch cfg.Bus.Driver {
	case "local":
		n.bus = bus.NewLocal(bus.NewLocalNet(), nodeID, inbox)
		return nil
	case "nats":
		url := cfg.Bus.URL
		if url == "" {
			host, portStr, err := net.SplitHostPort(cfg.Bus.Listen)
			if err != nil {
				return fmt.Errorf("config key bus.listen %q: %w", cfg.Bus.Listen, err)
			}
			port, err := strconv.Atoi(portStr)
			if err != nil {
				return fmt.Errorf("config key bus.listen %q: bad port", cfg.Bus.Listen)
			}
			dir := filepath.Join(cfg.DataDir, "nats")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("create %s: %w", dir, err)
			}
			emb, err := bus.StartEmbedded(host, port, dir)
			if err != nil {
				return err
			}
			n.embedded = emb
			url = emb.URL()
			n.Log.Info("started the embedded NATS server", "url", url)
		}
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		b, err := bus.DialNATS(dctx, url, nodeID, inbox, n.Log, bus.NATSOptions{Replicas: cfg.Bus.Replicas})
		if err != nil {
			return err
		}
		n.bus = b
		return nil
	}
	return fmt.Errorf("config key bus.driver: %q is not local or nats", cfg.Bus.Driver)
}

// sharedBus lends the node's bus to the hub, which must not close it: the
// node closes it after every role stopped.
type sharedBus struct{ bus.Bus }

func (sharedBus) Close() error { return nil }

func newSignalingRole(n *Node) (*signalingRole, error) {
	cfg := n.Config
	sig := &signalingRole{}
	sig.dispatcher = placement.NewDispatcher(n.dir, placement.DispatcherOptions{
		Timeout: cfg.Media.NodeTimeout,
		Check:   cfg.Media.Heartbeat,
		Bitrate: cfg.Media.Bitrate,
		Log:     n.Log.With("role", "signaling"),
	})
	pusher := n.opts.Pusher
	if pusher == nil && n.Push.Enabled() {
		pusher = n.Push
	}
	hub, err := qss.New(qss.Options{Config: cfg, Log: n.Log, Store: n.Store, Auth: n.Auth,
		Bus: func(in bus.Inbox) (bus.Bus, error) {
			n.inbox.Store(&in)
			return sharedBus{n.bus}, nil
		},
		Secret: n.Secret, Media: qssMedia{n: n, d: sig.dispatcher}, Pusher: pusher,
		SingleNode: cfg.Bus.Driver == "local" && n.opts.LocalNet == nil, Registry: n.Metrics.Registry,
		RoomNumbers: n.opts.RoomNumbers})
	if err != nil {
		sig.dispatcher.Close()
		return nil, fmt.Errorf("start signaling: %w", err)
	}
	sig.hub = hub
	sig.dispatcher.OnRoomEnded(hub.MediaRoomEnded)
	sig.dispatcher.OnRecordingStopped(hub.RecordingStopped)
	n.Server.Handle("GET /qss", hub)
	n.API.SetSessions(sessionDirectory{hub})
	return sig, nil
}

// MediaDispatcher is the dispatcher that places this node's rooms on media
// nodes (nil without the signaling role).
func (n *Node) MediaDispatcher() *placement.Dispatcher {
	if n.signaling == nil {
		return nil
	}
	return n.signaling.dispatcher
}

// start opens the separate io.websockets listener when one is configured.
func (sig *signalingRole) start(n *Node) error {
	ws := n.Config.IO.Websockets
	if ws.Port == 0 {
		return nil
	}
	addr := net.JoinHostPort(ws.Iface, strconv.Itoa(ws.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (config key io.websockets): %w", addr, err)
	}
	srv := n.Server.HTTPServer(n.Server.Handler())
	if ws.SSL.Cert != "" {
		cert, err := tls.LoadX509KeyPair(ws.SSL.Cert, ws.SSL.Key)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load io.websockets.ssl key pair: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	sig.ws, sig.wsLn = srv, ln
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.Log.Error("io.websockets listener stopped", "err", err)
		}
	}()
	n.Log.Info("QSS WebSocket listener", "addr", ln.Addr().String())
	return nil
}

// WebSocketAddr is the address of the separate io.websockets listener.
func (n *Node) WebSocketAddr() string {
	if n.signaling == nil || n.signaling.wsLn == nil {
		return ""
	}
	return n.signaling.wsLn.Addr().String()
}

func (sig *signalingRole) stop() {
	if sig.ws != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		sig.ws.Shutdown(ctx)
		cancel()
	}
	sig.hub.Close()
	sig.dispatcher.Close()
}

// sessionDirectory adapts the hub to the API's view of sessions.
type sessionDirectory struct{ hub *qss.Hub }

func (d sessionDirectory) ListSessions(ctx context.Context, users []string) ([]json.RawMessage, error) {
	list, err := d.hub.Sessions(ctx, users)
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, len(list))
	for _, s := range list {
		b, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func (d sessionDirectory) EndSession(ctx context.Context, user, session, reason string) error {
	return d.hub.EndSession(ctx, user, session, reason)
}
