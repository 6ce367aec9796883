// Package sipmedia is the media side of a phone on a call: a WebRTC
// participant of the call's room (Pion peer connections through the
// media server's Janus API, DTLS-SRTP like a browser's) that publishes
// the RTP the trunk sends and subscribes to the room's other publishers,
// whose audio goes back to the trunk. The room's audio passes through
// untouched when its publisher sends the trunk's codec (G.711 to a G.711
// trunk, a browser's Opus to an Opus trunk); any other is transcoded to
// the trunk's codec (audiocodec: decode to 48 kHz, encode, resampled to
// 8 kHz for G.711): Opus to G.711, G.711 to Opus, G.711 of the other law.
//
// A phone that hears one publisher gets that publisher's packets (as they
// are, or transcoded one by one). Once it hears two or more (a conference,
// a call with a third party, other phones), their audio is mixed for it
// instead, so that the phone hears everyone at once rather than packets of
// each in turn: the phones of one room share a mixer (roommix.go, package
// mixer), where each of the room's other tracks is decoded once and each
// phone gets the sum of everyone but itself, encoded in its codec.
//
// When the room's media server runs in the same process (the sip and
// media roles of one node, and the room on that node), the phone joins the
// room with Janus requests as always but its media does not cross a
// socket: it is handed over in process (videoroom.Local). Packets from the
// trunk go straight into the room's forwarding, and the room's audio comes
// to the phone's code on the publisher's forwarding goroutine, as Janus's
// SIP plugin relays them. Otherwise (the room on another media node) the
// phone is a WebRTC participant over the network, like a browser.
//
// It knows nothing of SIP: the sip role gives it a room (the phone's room
// object) and a function that sends RTP to the trunk.
package sipmedia

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/media/audiocodec"
	"github.com/openwac/wac/internal/media/forward"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/mixer"
	"github.com/openwac/wac/internal/media/videoroom"
)

// Room is where a phone's media goes: the media server's Janus WebSocket,
// the room and the phone's grant token.
type Room struct {
	WSS, Room, Token string
}

// LocalServer is the media server of this process, to which phones hand
// their media in process (a *videoroom.SFU).
type LocalServer interface {
	// HasRoom says whether a room (as Janus clients address it) is
	// there.
	HasRoom(room string) bool
	// AddLocal registers a participant's in-process media.
	AddLocal(l *videoroom.Local) (key string, remove func())
}

// Bridge makes the WebRTC side of phone calls.
type Bridge struct {
	log   *slog.Logger
	api   *webrtc.API
	local LocalServer

	mixMu sync.Mutex
	mixes map[string]*roomMix // by room
	// Transcoded counts the packets of the room sent to the trunk after
	// transcoding; Dropped those that could not be (undecodable).
	Transcoded, Dropped atomic.Uint64
	// ToTrunk and FromTrunk count the packets relayed each way.
	ToTrunk, FromTrunk atomic.Uint64
	// Mixed counts the packets of mixed audio sent to the trunk.
	Mixed atomic.Uint64
	// Late counts the passed-through packets not relayed because one
	// after them was (a retransmission, or a packet that came late).
	Late atomic.Uint64
	// InProcess counts the phones whose media was handed over in process,
	// Peers those that joined as WebRTC participants.
	InProcess, Peers atomic.Uint64
}

// New makes a bridge whose peers publish the trunk's codec (G.711 or Opus)
// and receive G.711 or Opus. local, if not nil, is the media server of
// this process: phones of its rooms hand it their media in process.
func New(log *slog.Logger, local LocalServer) (*Bridge, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}},
		{PayloadType: 8, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}},
		{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: opusFmtp}},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		return nil, fmt.Errorf("interceptors: %w", err)
	}
	return &Bridge{log: log, local: local, mixes: map[string]*roomMix{}, api: webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg))}, nil
}

// mimeOf is the WebRTC MIME type of a trunk's codec name (PCMU, PCMA,
// opus).
func mimeOf(codec string) (string, error) {
	switch strings.ToUpper(codec) {
	case "PCMU":
		return webrtc.MimeTypePCMU, nil
	case "PCMA":
		return webrtc.MimeTypePCMA, nil
	case "OPUS":
		return webrtc.MimeTypeOpus, nil
	}
	return "", fmt.Errorf("codec %q is not PCMU, PCMA or opus", codec)
}

// publishedCodec is the codec the phone's audio in mime is published
// with, as New registers it: the phone's Opus as Opus (48 kHz,
// opus/48000/2), its G.711 as that G.711.
func publishedCodec(mime string) webrtc.RTPCodecParameters {
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeOpus):
		return webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime,
			ClockRate: 48000, Channels: 2, SDPFmtpLine: opusFmtp}}
	case strings.EqualFold(mime, webrtc.MimeTypePCMA):
		return webrtc.RTPCodecParameters{PayloadType: 8, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000}}
	}
	return webrtc.RTPCodecParameters{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000}}
}

// opusFmtp is the Opus of the bridge's peers, a browser's.
const opusFmtp = "minptime=10;useinbandfec=1"

// leg is one phone in a room.
type leg struct {
	b        *Bridge
	mime     string
	pt       uint8
	send     func([]byte) error
	gone     func(reason string)
	goneTold sync.Once
	client   *janus.Client
	pubPC    *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticRTP
	// In process (instead of pubPC, track and the subscribers' peer
	// connections): the phone's Local, its key and its unregistration.
	local       *videoroom.Local
	localKey    string
	localRemove func()
	ssrc        uint32 // of the phone's audio in the room, in process
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	mu          sync.Mutex
	ownID       uint64
	subs        map[uint64]*webrtc.PeerConnection
	session     *janus.Session
	room        string
	token       string

	// The mix, once the phone hears two tracks or more (under mixMu).
	mixMu  sync.Mutex
	tracks int
	mix    atomic.Pointer[roomMix]
	mixIn  atomic.Pointer[mixer.Leg] // the phone's own leg of the mix
	// The mix's packets to the trunk: the mixer's goroutine's own.
	mixPkt rtp.Packet
	mixBuf [12 + audiocodec.MaxPayload]byte
}

// Start joins room as display, publishing what fromTrunk is given (RTP in
// codec, payload type pt on the trunk) and sending the room's audio in
// that codec with send. stop leaves the room.
//
// gone, if not nil, is told (once, on a goroutine of the leg's that it
// must not wait for) when the media server puts the phone out of the
// room: kicked (expelled) or the room destroyed; the caller hangs up.
func (b *Bridge) Start(ctx context.Context, room Room, display, codec string, pt uint8, send func([]byte) error, gone func(reason string)) (fromTrunk func([]byte), stop func(), err error) {
	mime, err := mimeOf(codec)
	if err != nil {
		return nil, nil, err
	}
	l := &leg{b: b, mime: mime, pt: pt, send: send, gone: gone, subs: map[uint64]*webrtc.PeerConnection{}, room: room.Room, token: room.Token}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	if err := l.publish(ctx, room, display); err != nil {
		l.stop()
		return nil, nil, err
	}
	return l.fromTrunk, l.stop, nil
}

func (l *leg) publish(ctx context.Context, room Room, display string) error {
	c, err := janus.Dial(ctx, room.WSS)
	if err != nil {
		return fmt.Errorf("reach the media server: %w", err)
	}
	l.client = c
	// The session carries the phone's room grant, as a browser's does: the
	// media server counts sessions without one against the address.
	s, err := c.CreateSessionToken(ctx, room.Token)
	if err != nil {
		return fmt.Errorf("media session: %w", err)
	}
	l.session = s
	h, err := s.Attach(ctx, "janus.plugin.videoroom")
	if err != nil {
		return fmt.Errorf("attach the videoroom: %w", err)
	}
	joined, err := peer.JoinPublisher(ctx, h, room.Room, room.Token, display)
	if err != nil {
		return fmt.Errorf("join the room's media: %w", err)
	}
	l.ownID = joined.ID
	if l.b.local != nil && l.b.local.HasRoom(room.Room) {
		err = l.publishInProcess(ctx, h)
	} else {
		err = l.publishPeer(ctx, h)
	}
	if err != nil {
		return err
	}
	for _, p := range joined.Publishers {
		l.subscribe(ctx, p)
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.watch(h)
	}()
	return nil
}

// publishInProcess publishes the phone's audio to the media server of
// this process, which takes the trunk's packets from fromTrunk.
func (l *leg) publishInProcess(ctx context.Context, h *janus.Handle) error {
	var ssrc [4]byte
	_, _ = rand.Read(ssrc[:])
	l.ssrc = binary.BigEndian.Uint32(ssrc[:])
	// The trunk's packets go in as they are, with the trunk's payload type,
	// in the codec published (an Opus phone's feed is opus/48000/2).
	local := &videoroom.Local{
		Codec: webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(l.pt),
			RTPCodecCapability: publishedCodec(l.mime).RTPCodecCapability},
		Hear: l.hear,
	}
	l.localKey, l.localRemove = l.b.local.AddLocal(local)
	if _, _, err := h.Request(ctx, map[string]any{"request": "publish", "audio": true, "video": false, "local": l.localKey}, nil, true); err != nil {
		return fmt.Errorf("publish the phone's audio in process: %w", err)
	}
	l.local = local
	l.b.InProcess.Add(1)
	return nil
}

// publishPeer publishes the phone's audio as a WebRTC peer.
func (l *leg) publishPeer(ctx context.Context, h *janus.Handle) error {
	pc, err := l.b.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	l.pubPC = pc
	if l.track, err = webrtc.NewTrackLocalStaticRTP(publishedCodec(l.mime).RTPCodecCapability, "audio", "phone"); err != nil {
		return err
	}
	tr, err := pc.AddTransceiverFromTrack(l.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	// The offer has the phone's codec alone: the media server takes the
	// first codec of an offer as the feed's, and an offer of every codec
	// New registers would announce an Opus (or PCMA) phone as PCMU.
	if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{publishedCodec(l.mime)}); err != nil {
		return fmt.Errorf("the phone's codec %s: %w", l.mime, err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	noTrickle := false
	_, answer, err := h.Request(ctx, map[string]any{"request": "publish", "audio": true, "video": false},
		&janus.JSEP{Type: "offer", SDP: pc.LocalDescription().SDP, Trickle: &noTrickle}, true)
	if err != nil {
		return fmt.Errorf("publish the phone's audio: %w", err)
	}
	if answer == nil {
		return errors.New("publish: no SDP answer")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		return fmt.Errorf("publish answer: %w", err)
	}
	l.b.Peers.Add(1)
	return nil
}

// watch subscribes to the publishers that appear in the room.
func (l *leg) watch(h *janus.Handle) {
	for {
		select {
		case <-l.ctx.Done():
			return
		case m, ok := <-h.Events():
			if !ok {
				return
			}
			if m.PluginData == nil {
				continue
			}
			var ev struct {
				VideoRoom  string            `json:"videoroom"`
				Leaving    json.RawMessage   `json:"leaving"`
				Reason     string            `json:"reason"`
				Publishers []json.RawMessage `json:"publishers"`
			}
			if json.Unmarshal(m.PluginData.Data, &ev) != nil {
				continue
			}
			// The phone itself is put out: its handle hears "destroyed",
			// or leaving "ok" (others' leaving carries their id).
			switch {
			case ev.VideoRoom == "destroyed":
				l.tellGone("the room ended")
				return
			case string(ev.Leaving) == `"ok"` && ev.Reason == "kicked":
				l.tellGone("expelled from the room")
				return
			}
			for _, p := range ev.Publishers {
				l.subscribe(l.ctx, p)
			}
		}
	}
}

// tellGone tells the caller, once, that the phone is out of the room.
func (l *leg) tellGone(reason string) {
	if l.gone == nil || l.ctx.Err() != nil {
		return
	}
	l.goneTold.Do(func() { l.gone(reason) })
}

// subscribe receives one publisher's audio and sends it to the trunk.
func (l *leg) subscribe(ctx context.Context, raw json.RawMessage) {
	var p struct {
		ID      uint64 `json:"id"`
		Streams []struct {
			Type     string `json:"type"`
			MID      string `json:"mid"`
			Disabled bool   `json:"disabled"`
		} `json:"streams"`
	}
	if json.Unmarshal(raw, &p) != nil || p.ID == 0 || p.ID == l.ownID {
		return
	}
	// Only the publisher's audio: a phone takes no video (a subscription
	// to a camera would be refused for its codec, and the audio with it).
	streams := []map[string]any{}
	for _, st := range p.Streams {
		if st.Type == "audio" && !st.Disabled && st.MID != "" {
			streams = append(streams, map[string]any{"feed": p.ID, "mid": st.MID})
		}
	}
	if len(p.Streams) > 0 && len(streams) == 0 {
		return // nothing to hear (video or data only)
	}
	if len(streams) == 0 {
		streams = append(streams, map[string]any{"feed": p.ID}) // a publisher that lists no streams
	}
	l.mu.Lock()
	if _, ok := l.subs[p.ID]; ok || l.ctx.Err() != nil {
		l.mu.Unlock()
		return
	}
	l.subs[p.ID] = nil
	l.mu.Unlock()
	h, err := l.session.Attach(ctx, "janus.plugin.videoroom")
	if err != nil {
		l.b.log.Debug("sipmedia: attach a subscriber", "err", err)
		return
	}
	body := map[string]any{"request": "join", "ptype": "subscriber", "room": l.room, "token": l.token,
		"streams": streams}
	if l.local != nil {
		// In process: the streams flow to hear from the join on.
		body["local"] = l.localKey
		if _, _, err := h.Request(ctx, body, nil, true); err != nil {
			l.b.log.Debug("sipmedia: subscribe in process", "feed", p.ID, "err", err)
		}
		return
	}
	_, offer, err := h.Request(ctx, body, nil, true)
	if err != nil || offer == nil || offer.Type != "offer" {
		l.b.log.Debug("sipmedia: subscribe", "feed", p.ID, "err", err)
		return
	}
	pc, err := l.b.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return
	}
	l.mu.Lock()
	if l.ctx.Err() != nil {
		l.mu.Unlock()
		pc.Close()
		return
	}
	l.subs[p.ID] = pc
	l.mu.Unlock()
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if t.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		l.toTrunk(p.ID, t)
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP}); err != nil {
		l.b.log.Debug("sipmedia: subscriber offer", "feed", p.ID, "err", err)
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return
	}
	noTrickle := false
	if _, _, err := h.Request(ctx, map[string]any{"request": "start"},
		&janus.JSEP{Type: "answer", SDP: pc.LocalDescription().SDP, Trickle: &noTrickle}, true); err != nil {
		l.b.log.Debug("sipmedia: start a subscription", "feed", p.ID, "err", err)
	}
}

// fromTrunk publishes one RTP packet of the trunk into the room (pkt is
// the trunk reader's buffer, which it reuses after the call).
func (l *leg) fromTrunk(pkt []byte) {
	if in := l.mixIn.Load(); in != nil {
		var hdr rtp.Header
		if n, err := hdr.Unmarshal(pkt); err == nil && hdr.PayloadType == l.pt {
			in.Write(hdr.SequenceNumber, pkt[n:])
		}
	}
	if l.local != nil {
		if len(pkt) < 12 || pkt[1]&0x7F != l.pt {
			return // not the call's codec (comfort noise, another format)
		}
		// The phone's stream keeps one SSRC in the room whatever the
		// trunk does (a re-INVITE, a transfer), as a peer's track does.
		binary.BigEndian.PutUint32(pkt[8:12], l.ssrc)
		l.local.WriteRTP(pkt)
		l.b.FromTrunk.Add(1)
		return
	}
	if l.track == nil {
		return
	}
	if _, err := l.track.Write(pkt); err == nil {
		l.b.FromTrunk.Add(1)
	}
}

// toTrunk reads one of the room's audio tracks (as a WebRTC peer) and
// sends it to the trunk.
func (l *leg) toTrunk(feed uint64, t *webrtc.TrackRemote) {
	h := l.newHearing(feed, t.Codec().MimeType, t.ID())
	defer h.close()
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		h.packet(&pkt.Header, pkt.Payload)
	}
}

// hear takes one of the room's streams in process (videoroom.Local's
// Hear): its packets come on the publisher's forwarding goroutine.
func (l *leg) hear(feed uint64, codec webrtc.RTPCodecParameters) (func(*forward.Packet), func()) {
	if !strings.HasPrefix(strings.ToLower(codec.MimeType), "audio/") || l.ctx.Err() != nil {
		return nil, nil
	}
	h := l.newHearing(feed, codec.MimeType, fmt.Sprintf("feed-%d", feed))
	return func(p *forward.Packet) { h.packet(p.Header, p.Payload) }, h.close
}

// hearing is one of the room's audio tracks on its way to the trunk: in
// the trunk's codec as it is, with the trunk's payload type; in another
// codec transcoded (transcoder); into the phone's mix once there is one.
type hearing struct {
	l    *leg
	feed uint64 // the track's publisher
	name string
	mime string
	// pass: the track is in the trunk's codec and goes as it is; else tc
	// transcodes it (nil: it cannot be, and is dropped).
	pass bool
	tc   *transcoder

	mu     sync.Mutex
	closed bool
	order  seqOrder // passed-through packets, in order
	pkt    rtp.Packet
	out    [1500]byte
}

func (l *leg) newHearing(feed uint64, mime, name string) *hearing {
	l.addTrack()
	h := &hearing{l: l, feed: feed, name: name, mime: mime, pass: strings.EqualFold(mime, l.mime)}
	if !h.pass {
		var err error
		if h.tc, err = newTranscoder(mime, l.mime, l.pt); err != nil {
			l.b.log.Info("sipmedia: the room's audio cannot reach the trunk", "track", name, "err", err)
		}
	}
	return h
}

// packet sends one packet of the track on (payload may be kept by the
// mix; the header is the caller's).
func (h *hearing) packet(hdr *rtp.Header, payload []byte) {
	l := h.l
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || l.ctx.Err() != nil {
		return
	}
	if rm := l.mix.Load(); rm != nil {
		if err := rm.write(h.feed, h, hdr.SequenceNumber, payload); err != nil {
			l.b.log.Info("sipmedia: the track cannot be mixed", "track", h.name, "err", err)
			h.closed = true
		}
		return
	}
	if h.pass && !h.order.fresh(hdr.SequenceNumber) {
		// A retransmission (NACK) or a late packet: the leg would
		// number it as new audio and the phone hear it twice.
		l.b.Late.Add(1)
		return
	}
	if !h.pass && h.tc == nil {
		l.b.Dropped.Add(1)
		return
	}
	pkt := &h.pkt
	pkt.Header = *hdr
	pkt.Payload = payload
	if h.tc != nil {
		frames, err := h.tc.push(pkt)
		if err != nil {
			l.b.Dropped.Add(1)
			return
		}
		for _, f := range frames {
			if l.send(f) == nil {
				l.b.Transcoded.Add(1)
			}
		}
		return
	}
	pkt.PayloadType = l.pt
	pkt.Extension, pkt.Extensions = false, nil
	n, err := pkt.MarshalTo(h.out[:])
	if err != nil {
		return
	}
	if l.send(h.out[:n]) == nil {
		l.b.ToTrunk.Add(1)
	}
}

// close ends the track: the phone no longer hears it in the mix.
func (h *hearing) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	if rm := h.l.mix.Load(); rm != nil {
		rm.unhear(h.feed, h)
	}
}

// addTrack counts a track the phone hears; at the second, the phone
// joins its room's mix.
func (l *leg) addTrack() {
	l.mixMu.Lock()
	defer l.mixMu.Unlock()
	l.tracks++
	if l.tracks < 2 || l.mix.Load() != nil || l.ctx.Err() != nil {
		return
	}
	var ssrc [4]byte
	_, _ = rand.Read(ssrc[:])
	l.mixPkt.Header = rtp.Header{Version: 2, PayloadType: l.pt, SSRC: binary.BigEndian.Uint32(ssrc[:])}
	rm, in, err := l.joinRoomMix()
	if err != nil {
		l.b.log.Info("sipmedia: no mix for the phone", "err", err)
		return
	}
	l.mixIn.Store(in)
	l.mix.Store(rm)
}

// sendMixed sends 20 ms of the phone's mix to the trunk (on the mixer's
// goroutine).
func (l *leg) sendMixed(payload []byte, clock int) {
	p := &l.mixPkt
	p.SequenceNumber++
	p.Timestamp += uint32(clock)
	p.Payload = payload
	n, err := p.MarshalTo(l.mixBuf[:])
	if err != nil {
		return
	}
	if l.send(l.mixBuf[:n]) == nil {
		l.b.Mixed.Add(1)
	}
}

// seqOrder keeps a relayed stream in order: only packets past the last
// one relayed go on (the transcoder does the same for what it decodes).
type seqOrder struct {
	started bool
	next    uint16
}

// fresh says whether a packet numbered seq is new, and if so takes it.
func (o *seqOrder) fresh(seq uint16) bool {
	if o.started && seq-o.next >= 0x8000 {
		return false
	}
	o.started, o.next = true, seq+1
	return true
}

func (l *leg) stop() {
	l.cancel()
	l.mixMu.Lock()
	rm := l.mix.Load()
	l.mixMu.Unlock()
	if rm != nil {
		rm.leave(l)
	}
	l.mu.Lock()
	subs := l.subs
	l.subs = map[uint64]*webrtc.PeerConnection{}
	l.mu.Unlock()
	for _, pc := range subs {
		if pc != nil {
			pc.Close()
		}
	}
	if l.pubPC != nil {
		l.pubPC.Close()
	}
	if l.session != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2e9)
		_ = l.session.Destroy(ctx)
		cancel()
	}
	if l.client != nil {
		l.client.Close()
	}
	if l.localRemove != nil {
		l.localRemove()
	}
	l.wg.Wait()
}
