package node

import (
	"context"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openwac/wac/internal/media/sipmedia"
	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/sip"
)

// sipBridge gives the sip role the media of phones (sipmedia): each phone
// joins its room's media, in process when the room is on this node's media
// server, else as a WebRTC participant.
type sipBridge struct{ b *sipmedia.Bridge }

// newSIPBridge is the media side of phone calls; nil when it cannot be
// made (the calls then have signaling only, and say so in the log).
func newSIPBridge(n *Node) sip.Bridge {
	var local sipmedia.LocalServer
	if sfu := n.SFU(); sfu != nil {
		local = sfu
	}
	b, err := sipmedia.New(n.Log.With("role", "sip"), local)
	if err != nil {
		n.Log.Error("sip: no media bridge", "err", err)
		return nil
	}
	if n.Metrics != nil && n.Metrics.Registry != nil {
		if err := registerBridgeMetrics(n.Metrics.Registry, b); err != nil {
			n.Log.Warn("sip: media metrics not exported", "err", err)
		}
	}
	return sipBridge{b}
}

// registerBridgeMetrics exports the bridge's counters: how phones joined
// their rooms' media, and the packets it moved.
func registerBridgeMetrics(reg prometheus.Registerer, b *sipmedia.Bridge) error {
	counter := func(v *atomic.Uint64) func() float64 { return func() float64 { return float64(v.Load()) } }
	phones := map[string]*atomic.Uint64{"in_process": &b.InProcess, "webrtc": &b.Peers}
	for path, v := range phones {
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wac_sip_phone_media_total",
			Help:        "Phones joined to their room's media, by path: in_process (the room on this node) or webrtc.",
			ConstLabels: prometheus.Labels{"path": path}}, counter(v))); err != nil {
			return err
		}
	}
	packets := map[string]*atomic.Uint64{"from_trunk": &b.FromTrunk, "to_trunk": &b.ToTrunk,
		"transcoded": &b.Transcoded, "mixed": &b.Mixed, "dropped": &b.Dropped, "late": &b.Late}
	for kind, v := range packets {
		if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wac_sip_media_packets_total",
			Help:        "RTP packets of phones: from_trunk into rooms; to_trunk passed through, transcoded, mixed; dropped (undecodable); late (passed-through packets behind one relayed, not relayed).",
			ConstLabels: prometheus.Labels{"kind": kind}}, counter(v))); err != nil {
			return err
		}
	}
	return nil
}

func (s sipBridge) Start(ctx context.Context, obj *qss.RoomObject, display string, codec sip.Codec, send func(pkt []byte) error, gone func(reason string)) (func(pkt []byte), func(), error) {
	return s.b.Start(ctx, sipmedia.Room{WSS: obj.Server.WSS, Room: obj.Room, Token: obj.Token}, display, codec.Name, codec.PayloadType, send, gone)
}
