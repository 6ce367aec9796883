// Package sipmedia is the media side of a phone on a call: a WebRTC
// participant of the call's room (Pion peer connections through the
// media server's Janus API, DTLS-SRTP like a browser's) that publishes
// the RTP the trunk sends and subscribes to the room's other publishers,
// whose audio goes back to the trunk. G.711 (PCMU, PCMA) passes through
// untouched when the room's publishers send the trunk's codec; Opus (what
// browsers publish unless told otherwise) is transcoded to the trunk's
// G.711 (audiocodec: decode, resample to 8 kHz, encode), and so is G.711
// of the other law.
//
// A phone that hears one publisher gets that publisher's packets (as they
// are, or transcoded one by one). Once it hears two or more (a conference,
// a call with a third party, other phones), their audio is mixed for it
// instead (package mixer: each track decoded in its own jitter buffer,
// summed every 20 ms, encoded once in the phone's codec), so that the
// phone hears everyone at once rather than packets of each in turn.
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
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/janus/peer"
	"github.com/openwac/wac/internal/media/mixer"
)

// Room is where a phone's media goes: the media server's Janus WebSocket,
// the room and the phone's grant token.
type Room struct {
	WSS, Room, Token string
}

// Bridge makes the WebRTC side of phone calls.
type Bridge struct {
	log *slog.Logger
	api *webrtc.API
	// Transcoded counts the packets of the room sent to the trunk after
	// transcoding; Dropped those that could not be (undecodable).
	Transcoded, Dropped atomic.Uint64
	// ToTrunk and FromTrunk count the packets relayed each way.
	ToTrunk, FromTrunk atomic.Uint64
	// Mixed counts the packets of mixed audio sent to the trunk.
	Mixed atomic.Uint64
}

// New makes a bridge whose peers publish G.711 and receive G.711 or Opus.
func New(log *slog.Logger) (*Bridge, error) {
	me := &webrtc.MediaEngine{}
	for _, c := range []webrtc.RTPCodecParameters{
		{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}},
		{PayloadType: 8, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}},
		{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: "minptime=10;useinbandfec=1"}},
	} {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, reg); err != nil {
		return nil, fmt.Errorf("interceptors: %w", err)
	}
	return &Bridge{log: log, api: webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg))}, nil
}

// mimeOf is the WebRTC MIME type of a G.711 codec name (PCMU, PCMA).
func mimeOf(codec string) (string, error) {
	switch strings.ToUpper(codec) {
	case "PCMU":
		return webrtc.MimeTypePCMU, nil
	case "PCMA":
		return webrtc.MimeTypePCMA, nil
	}
	return "", fmt.Errorf("codec %q is not G.711", codec)
}

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
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	ownID    uint64
	subs     map[uint64]*webrtc.PeerConnection
	session  *janus.Session
	room     string
	token    string

	// The mix, once the phone hears two tracks or more (under mixMu).
	mixMu  sync.Mutex
	tracks int
	mix    atomic.Pointer[mixer.Mixer]
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
	pc, err := l.b.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	l.pubPC = pc
	if l.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: l.mime, ClockRate: 8000}, "audio", "phone"); err != nil {
		return err
	}
	if _, err := pc.AddTransceiverFromTrack(l.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		return err
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
		l.toTrunk(t)
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

// fromTrunk publishes one RTP packet of the trunk into the room.
func (l *leg) fromTrunk(pkt []byte) {
	if l.track == nil {
		return
	}
	if _, err := l.track.Write(pkt); err == nil {
		l.b.FromTrunk.Add(1)
	}
}

// toTrunk sends the RTP of one of the room's audio tracks to the trunk:
// in the trunk's codec as it is, with the trunk's payload type; in another
// codec transcoded (transcoder); into the phone's mix once there is one.
func (l *leg) toTrunk(t *webrtc.TrackRemote) {
	l.addTrack()
	buf := make([]byte, 1500)
	var tc *transcoder
	if !strings.EqualFold(t.Codec().MimeType, l.mime) {
		var err error
		if tc, err = newTranscoder(t.Codec().MimeType, l.mime, l.pt); err != nil {
			l.b.log.Info("sipmedia: the room's audio cannot reach the trunk", "track", t.ID(), "err", err)
		}
	}
	var (
		pkt   rtp.Packet
		in    *mixer.Leg // this track's leg of the mix
		order seqOrder   // passed-through packets, in order
	)
	defer func() {
		if in != nil {
			in.Leave()
		}
	}()
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		if m := l.mix.Load(); m != nil {
			if in == nil {
				if in, err = l.joinMix(m, t); err != nil {
					l.b.log.Info("sipmedia: the track cannot be mixed", "track", t.ID(), "err", err)
					return
				}
			}
			in.Write(pkt.SequenceNumber, pkt.Payload)
			continue
		}
		if tc == nil && !order.fresh(pkt.SequenceNumber) {
			// A retransmission (NACK) or a late packet: the leg would
			// number it as new audio and the phone hear it twice.
			continue
		}
		if tc == nil && !strings.EqualFold(t.Codec().MimeType, l.mime) {
			l.b.Dropped.Add(1)
			continue
		}
		if tc != nil {
			frames, err := tc.push(&pkt)
			if err != nil {
				l.b.Dropped.Add(1)
				continue
			}
			for _, f := range frames {
				if l.send(f) == nil {
					l.b.Transcoded.Add(1)
				}
			}
			continue
		}
		pkt.PayloadType = l.pt
		pkt.Extension, pkt.Extensions = false, nil
		out, err := pkt.Marshal()
		if err != nil {
			continue
		}
		if l.send(out) == nil {
			l.b.ToTrunk.Add(1)
		}
	}
}

// addTrack counts a track the phone hears; at the second, the phone's
// audio becomes a mix.
func (l *leg) addTrack() {
	l.mixMu.Lock()
	defer l.mixMu.Unlock()
	l.tracks++
	if l.tracks < 2 || l.mix.Load() != nil || l.ctx.Err() != nil {
		return
	}
	codec, err := codecOf(l.mime)
	if err != nil {
		l.b.log.Info("sipmedia: no mix for the phone", "err", err)
		return
	}
	m := mixer.New(l.ctx, mixer.Config{Logger: l.b.log})
	var ssrc [4]byte
	_, _ = rand.Read(ssrc[:])
	l.mixPkt.Header = rtp.Header{Version: 2, PayloadType: l.pt, SSRC: binary.BigEndian.Uint32(ssrc[:])}
	if _, err := m.Join(mixer.LegConfig{Name: "phone", Codec: codec, Send: l.sendMixed}); err != nil {
		m.Close()
		l.b.log.Info("sipmedia: no mix for the phone", "err", err)
		return
	}
	l.mix.Store(m)
}

// joinMix adds a track to the phone's mix, as a source only.
func (l *leg) joinMix(m *mixer.Mixer, t *webrtc.TrackRemote) (*mixer.Leg, error) {
	codec, err := codecOf(t.Codec().MimeType)
	if err != nil {
		return nil, err
	}
	return m.Join(mixer.LegConfig{Name: t.ID(), Codec: codec})
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
	m := l.mix.Load()
	l.mixMu.Unlock()
	if m != nil {
		m.Close()
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
	l.wg.Wait()
}
