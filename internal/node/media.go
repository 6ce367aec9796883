package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/media/record"
	"github.com/openwac/wac/internal/media/videoroom"
	"github.com/openwac/wac/internal/server"
	"github.com/openwac/wac/internal/turn"
)

// mediaRole is the SFU and TURN server of a node. It registers the SFU in
// the node's media directory (in process, or over the bus in a cluster),
// where the signaling nodes' dispatchers find it.
type mediaRole struct {
	n    *Node
	log  *slog.Logger
	sfu  *videoroom.SFU
	turn *turn.Server
	rec  *record.Manager // nil: recording.enabled off

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newMediaRole(ctx context.Context, n *Node) (*mediaRole, error) {
	cfg := n.Config
	log := n.Log.With("role", "media")
	nodeID := mediaNodeID(cfg)
	rec, err := newRecorder(n, nodeID)
	if err != nil {
		return nil, err
	}
	sfu, err := videoroom.New(cfg.Media, videoroom.Options{Secret: n.Secret, Log: log, Registry: n.Metrics.Registry,
		ClientIP: server.ClientIP, NodeID: nodeID, Recorder: rec})
	if err != nil {
		return nil, err
	}
	m := &mediaRole{n: n, log: log, sfu: sfu, rec: rec}
	if cfg.TURN.Enabled {
		var allow []net.IP
		for _, s := range strings.Split(cfg.Media.WebRTCIP+","+cfg.Media.ListenIP, ",") {
			if ip := net.ParseIP(strings.TrimSpace(s)); ip != nil && !ip.IsUnspecified() {
				allow = append(allow, ip)
			}
		}
		m.turn, err = turn.New(cfg.TURN, turn.Options{ClusterSecret: n.Secret, Allow: allow, Log: log.With("service", "turn"),
			Registry: n.Metrics.Registry})
		if err != nil {
			sfu.Close()
			if rec != nil {
				rec.Close()
			}
			return nil, err
		}
	}
	n.Server.Handle("/janus", sfu.Handler())
	n.Server.Handle("/janus/", sfu.Handler())
	n.Server.OnDrain(sfu.Drain)
	return m, nil
}

// start registers the SFU in the directory once the HTTP server listens.
// The node stays registered, and serves the dispatchers' commands, until
// stop, not only until ctx ends: the signaling role, which stops first,
// still ends its rooms on this node's media server.
func (m *mediaRole) start(ctx context.Context) error {
	ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	interval := m.n.Config.Media.Heartbeat
	if m.rec != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.rec.Run(ctx)
		}()
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		err := placement.RunAgent(ctx, m.sfu.PlacementHost(), m.n.dir, placement.AgentOptions{Interval: interval, Log: m.log, URL: func(ctx context.Context) (string, error) {
			if u := m.n.Config.Media.PublicURL; u != "" {
				return u, nil
			}
			if u := m.n.Server.PublicURL(); u != "" {
				return u, nil
			}
			return "", errors.New("the node does not listen on a public interface")
		}})
		if err != nil && ctx.Err() == nil {
			m.n.Log.Error("media node agent stopped", "err", err)
		}
	}()
	return nil
}

// stop ends the agent, the SFU and the TURN server.
func (m *mediaRole) stop() {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	m.sfu.Close()
	if m.rec != nil {
		m.rec.Close() // after the rooms: their recordings are stopped by then
	}
	if m.turn != nil {
		if err := m.turn.Close(); err != nil {
			m.n.Log.Warn("stop TURN server", "err", fmt.Errorf("media role: %w", err))
		}
	}
}

// SFU is the node's media server (nil when the node runs no media role).
func (n *Node) SFU() *videoroom.SFU {
	if n.media == nil {
		return nil
	}
	return n.media.sfu
}
