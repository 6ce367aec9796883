// Package node runs the roles of one wac node in one process: the API
// (server), signaling (qss) and media, as the configuration's roles say, and
// wires them together: the bus the node shares with the others, the media
// directory over it, and the web app. Tests start several nodes in one
// process through it.
package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/openwac/wac/internal/bus"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/placement"
	"github.com/openwac/wac/internal/meetings"
	"github.com/openwac/wac/internal/push"
	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/server"
	"github.com/openwac/wac/internal/sip"
	"github.com/openwac/wac/internal/sms"
)

// Node is one running wac node.
type Node struct {
	*server.Server
	// Secret is the cluster secret shared by every node of the database:
	// it signs room grants and derives TURN credentials.
	Secret []byte

	opts     Options
	bus      bus.Bus // nil without the signaling and media roles
	embedded *bus.Embedded
	inbox    atomic.Pointer[bus.Inbox]
	dir      placement.Directory

	media     *mediaRole
	signaling *signalingRole
	sip       *sip.Server
	meetings  *meetingsRole

	// Push sends push notifications (push.*): to the callees' phones for
	// invitations, and to whoever else calls it (meeting reminders).
	Push *push.Service
	// SMS sends text messages (sendsms.*); nil when no backend is set.
	SMS *sms.Service
}

// Options adjust a node for tools and tests.
type Options struct {
	server.Options
	// LocalNet joins this node to others in the same process without NATS.
	LocalNet *bus.LocalNet
	// Pusher sends push notifications for invitations (invites.basic.resolvePush)
	// instead of the node's push service (tests).
	Pusher qss.Pusher
	// Reminder receives the meetings' reminders (the push service); nil =
	// they are logged and counted.
	Reminder meetings.Reminder
	// SMS sends the meetings' invitations to phone numbers (with sms in
	// meetings.inviteMechanisms); nil = none are sent.
	SMS meetings.SMSSender
	// PushHTTPClient talks to APNs, FCM and the SMS providers instead of
	// the default client (tests trust their local servers through it).
	PushHTTPClient *http.Client
	// RoomNumbers gives the candidate numbers of new rooms; nil = 8 random
	// digits (tests make them collide).
	RoomNumbers func() string
}

// New builds a node: the API server, then each configured role.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) (*Node, error) {
	srv, err := server.New(ctx, cfg, log, opts.Options)
	if err != nil {
		return nil, err
	}
	n := &Node{Server: srv, opts: opts}
	secret, err := srv.Store.SettingOrInit(ctx, "cluster-secret", hex.EncodeToString(randomBytes(32)))
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("load cluster secret: %w", err)
	}
	n.Secret = []byte(secret)
	if n.Push, err = push.New(ctx, cfg, push.Options{Store: srv.Store, Log: srv.Log.With("service", "push"),
		Registry: srv.Metrics.Registry, HTTPClient: opts.PushHTTPClient}); err != nil {
		srv.Close()
		return nil, err
	}
	if n.SMS, err = sms.New(cfg, sms.Options{Log: srv.Log.With("service", "sendsms"), HTTPClient: opts.PushHTTPClient,
		Registry: srv.Metrics.Registry}); err != nil {
		srv.Close()
		return nil, err
	}
	if cfg.HasRole("media") || cfg.HasRole("signaling") {
		if err := n.openBus(ctx); err != nil {
			n.Close()
			return nil, err
		}
		n.dir = placement.NewLocalDirectory()
		if cfg.Bus.Driver == "nats" || opts.LocalNet != nil {
			n.dir = placement.NewBusDirectory(n.bus)
		}
	}
	if cfg.HasRole("media") {
		if n.media, err = newMediaRole(ctx, n); err != nil {
			n.Close()
			return nil, fmt.Errorf("media role: %w", err)
		}
	}
	if cfg.HasRole("signaling") {
		if n.signaling, err = newSignalingRole(n); err != nil {
			n.Close()
			return nil, err
		}
	}
	if cfg.SIPEnabled() {
		if n.sip, err = newSIPRole(n); err != nil {
			n.Close()
			return nil, fmt.Errorf("sip role: %w", err)
		}
	}
	if cfg.HasRole("api") {
		n.mountWeb()
		if err := n.mountRecordings(); err != nil {
			n.Close()
			return nil, fmt.Errorf("recordings: %w", err)
		}
		if n.meetings, err = newMeetings(n); err != nil {
			n.Close()
			return nil, fmt.Errorf("meetings: %w", err)
		}
	}
	return n, nil
}

// Hub is the node's signaling server (nil without the signaling role).
func (n *Node) Hub() *qss.Hub {
	if n.signaling == nil {
		return nil
	}
	return n.signaling.hub
}

// Bus is the node's connection to the cluster (nil without the signaling
// and media roles).
func (n *Node) Bus() bus.Bus { return n.bus }

// Run serves until ctx ends, then stops the roles.
func (n *Node) Run(ctx context.Context) error {
	if n.media != nil {
		if err := n.media.start(ctx); err != nil {
			return fmt.Errorf("start media role: %w", err)
		}
	}
	if n.signaling != nil {
		if err := n.signaling.start(n); err != nil {
			return err
		}
	}
	if n.meetings != nil {
		n.meetings.start(n)
	}
	return n.Server.Run(ctx)
}

// Close stops the roles, leaves the bus and releases the store.
func (n *Node) Close() error {
	if n.sip != nil {
		n.sip.Close()
		n.sip = nil
	}
	if n.meetings != nil {
		n.meetings.stop()
		n.meetings = nil
	}
	if n.signaling != nil {
		n.signaling.stop()
		n.signaling = nil
	}
	if n.media != nil {
		n.media.stop()
		n.media = nil
	}
	if n.bus != nil {
		n.bus.Close()
		n.bus = nil
	}
	if n.embedded != nil {
		n.embedded.Shutdown()
		n.embedded = nil
	}
	return n.Server.Close()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
