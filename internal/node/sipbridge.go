package node

import (
	"context"

	"github.com/openwac/wac/internal/media/sipmedia"
	"github.com/openwac/wac/internal/qss"
	"github.com/openwac/wac/internal/sip"
)

// sipBridge gives the sip role the media of phones (sipmedia): each phone
// joins its room's media as a WebRTC participant.
type sipBridge struct{ b *sipmedia.Bridge }

// newSIPBridge is the media side of phone calls; nil when it cannot be
// made (the calls then have signaling only, and say so in the log).
func newSIPBridge(n *Node) sip.Bridge {
	b, err := sipmedia.New(n.Log.With("role", "sip"))
	if err != nil {
		n.Log.Error("sip: no media bridge", "err", err)
		return nil
	}
	return sipBridge{b}
}

func (s sipBridge) Start(ctx context.Context, obj *qss.RoomObject, display string, codec sip.Codec, send func(pkt []byte) error, gone func(reason string)) (func(pkt []byte), func(), error) {
	return s.b.Start(ctx, sipmedia.Room{WSS: obj.Server.WSS, Room: obj.Room, Token: obj.Token}, display, codec.Name, codec.PayloadType, send, gone)
}
