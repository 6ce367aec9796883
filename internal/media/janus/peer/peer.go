// Package peer has real WebRTC peers (Pion) that speak the Janus
// VideoRoom API through a janus.Client: a publisher that sends VP8 (or
// H.264) and Opus RTP at a chosen bitrate, and a subscriber that counts
// what it receives and the sequence gaps. The media load tool (wac bench
// media, package loadtest) drives a server with them, and the media
// server's tests use them as clients.
//
// The media they send is synthetic (valid RTP and payload descriptors,
// random frame data): enough for an SFU, which never decodes.
package peer

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/media/janus"
)

// APIOptions shape a peer's Pion API.
type APIOptions struct {
	// Codec is the video codec: vp8 (default) or h264.
	Codec string
	// Interceptors, when set, adds interceptors before the default ones
	// (e.g. one that drops packets).
	Interceptors func(*interceptor.Registry)
	// AnyInterface allows every local address; by default peers use
	// 127.0.0.1 only.
	AnyInterface bool
	// NoNACK leaves out NACK generation and retransmission.
	NoNACK bool
	// Simulcast registers the header extensions of simulcast (mid, rid).
	Simulcast bool
	// TCPOnly gathers and uses TCP candidates only (ICE-TCP).
	TCPOnly bool
	// G711 also receives PCMU, as browsers do (a phone's audio).
	G711 bool
	// NoReplayCheck turns SRTP replay protection off, for a peer whose
	// interceptor drops packets after decryption: their retransmissions would
	// otherwise be refused as replays.
	NoReplayCheck bool
}

// NewAPI builds a Pion API for a peer.
func NewAPI(o APIOptions) (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	if o.G711 {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 0, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	video := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb}
	if strings.EqualFold(o.Codec, "h264") {
		video = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: fb,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: video}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if o.Simulcast {
		if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
			return nil, err
		}
	}
	reg := &interceptor.Registry{}
	if o.Interceptors != nil {
		o.Interceptors(reg)
	}
	if !o.NoNACK {
		if err := webrtc.ConfigureNack(me, reg); err != nil {
			return nil, err
		}
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.DisableSRTPReplayProtection(o.NoReplayCheck)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	if o.TCPOnly {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	if !o.AnyInterface {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// noTrickle marks SDPs that carry every candidate (no trickle follows).
var noTrickle = false

// Joined is the answer to a publisher join.
type Joined struct {
	ID         uint64            `json:"id"`
	PrivateID  uint32            `json:"private_id"`
	Publishers []json.RawMessage `json:"publishers"`
}

// JoinPublisher joins room (a number or a string) as a publisher-type
// participant with the grant token (empty: none).
func JoinPublisher(ctx context.Context, h *janus.Handle, room any, token, display string) (Joined, error) {
	body := map[string]any{"request": "join", "ptype": "publisher", "room": room, "display": display}
	if token != "" {
		body["token"] = token
	}
	data, _, err := h.Request(ctx, body, nil, true)
	if err != nil {
		return Joined{}, err
	}
	var j Joined
	if err := json.Unmarshal(data, &j); err != nil || j.ID == 0 {
		return j, fmt.Errorf("join answer: %s", data)
	}
	return j, nil
}

// Publisher is a peer publishing synthetic video and audio.
type Publisher struct {
	PC    *webrtc.PeerConnection
	Video *webrtc.TrackLocalStaticRTP
	Audio *webrtc.TrackLocalStaticRTP
	// Sent counts the RTP packets written, by kind.
	SentVideo, SentAudio atomic.Uint64
	// REMB is the last REMB bitrate (bps) the server sent.
	REMB atomic.Uint64
	// PLIs counts keyframe requests the server sent.
	PLIs atomic.Uint64

	corrupt atomic.Int32

	codec string
	wg    sync.WaitGroup
}

// Publish negotiates a publisher peer connection over a joined handle.
func Publish(ctx context.Context, api *webrtc.API, h *janus.Handle, codec string, iceServers []webrtc.ICEServer, relayOnly bool) (*Publisher, error) {
	cfg := webrtc.Configuration{ICEServers: iceServers}
	if relayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		return nil, err
	}
	p := &Publisher{PC: pc, codec: strings.ToLower(codec)}
	vmime := webrtc.MimeTypeVP8
	if p.codec == "h264" {
		vmime = webrtc.MimeTypeH264
	}
	if p.Video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: vmime}, "video", "pub"); err != nil {
		pc.Close()
		return nil, err
	}
	if p.Audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "pub"); err != nil {
		pc.Close()
		return nil, err
	}
	for _, t := range []*webrtc.TrackLocalStaticRTP{p.Audio, p.Video} {
		sender, err := pc.AddTrack(t)
		if err != nil {
			pc.Close()
			return nil, err
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					switch pk := pk.(type) {
					case *rtcp.ReceiverEstimatedMaximumBitrate:
						p.REMB.Store(uint64(pk.Bitrate))
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						p.PLIs.Add(1)
					}
				}
			}
		}()
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		pc.Close()
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		pc.Close()
		return nil, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		pc.Close()
		return nil, ctx.Err()
	}
	_, answer, err := h.Request(ctx, map[string]any{"request": "publish"},
		&janus.JSEP{Type: "offer", SDP: pc.LocalDescription().SDP, Trickle: &noTrickle}, true)
	if err != nil {
		pc.Close()
		return nil, err
	}
	if answer == nil || answer.Type != "answer" {
		pc.Close()
		return nil, errors.New("publish: no SDP answer")
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		pc.Close()
		return nil, err
	}
	return p, nil
}

// Connected waits until the peer connection is up.
func Connected(ctx context.Context, pc *webrtc.PeerConnection) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		switch pc.ConnectionState() {
		case webrtc.PeerConnectionStateConnected:
			return nil
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			return fmt.Errorf("peer connection %s", pc.ConnectionState())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("peer connection still %s: %w", pc.ConnectionState(), ctx.Err())
		case <-t.C:
		}
	}
}

// Active waits until a publication is up on both sides: the peer
// connection here, and the server's webrtcup on the publisher's handle,
// after which the feed can be subscribed to. (Connected alone may come
// first: the client's side of ICE and DTLS can finish before the server's.)
func Active(ctx context.Context, h *janus.Handle, pc *webrtc.PeerConnection) error {
	if err := Connected(ctx, pc); err != nil {
		return err
	}
	if _, err := h.WaitEvent(ctx, func(m janus.Message) bool { return m.Janus == "webrtcup" }); err != nil {
		return fmt.Errorf("no webrtcup from the server: %w", err)
	}
	return nil
}

// Send sends synthetic media until ctx ends: video at videoKbps in fps
// frames a second (a keyframe every 2 seconds and when asked), Opus-sized audio packets
// every 20 ms. Each video frame is split into packets of at most 1100
// bytes.
func (p *Publisher) Send(ctx context.Context, videoKbps, fps int) {
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.sendVideo(ctx, videoKbps, fps)
	}()
	go func() {
		defer p.wg.Done()
		p.sendAudio(ctx)
	}()
}

func (p *Publisher) sendVideo(ctx context.Context, kbps, fps int) {
	if kbps <= 0 || fps <= 0 {
		return
	}
	frameBytes := kbps * 1000 / 8 / fps
	tick := time.NewTicker(time.Second / time.Duration(fps))
	defer tick.Stop()
	var seq uint16
	var ts uint32
	junk := make([]byte, 1200)
	rand.Read(junk)
	var lastPLIs uint64
	for frame := 0; ; frame++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// A keyframe every 2 seconds, and on request (PLI/FIR).
		plis := p.PLIs.Load()
		key := frame%(2*fps) == 0 || plis != lastPLIs
		lastPLIs = plis
		left := frameBytes
		for first := true; left > 0; first = false {
			n := min(left, 1100)
			left -= n
			payload := make([]byte, 0, n+2)
			payload = append(payload, p.descriptor(first, key)...)
			payload = append(payload, junk[:n]...)
			if p.corrupt.Load() > 0 && p.corrupt.Add(-1) >= 0 {
				payload = make([]byte, int(seq)%60)
				rand.Read(payload)
			}
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: left == 0}, Payload: payload}
			seq++
			if err := p.Video.WriteRTP(pkt); err != nil {
				return
			}
			p.SentVideo.Add(1)
		}
		ts += uint32(90000 / fps)
	}
}

// descriptor returns the payload header of the codec for a packet.
func (p *Publisher) descriptor(first, key bool) []byte {
	if p.codec == "h264" {
		// FU-A of an IDR (5) or non-IDR (1) slice.
		t := byte(1)
		if key {
			t = 5
		}
		fu := t
		if first {
			fu |= 0x80
		}
		return []byte{0x60 | 28, fu}
	}
	if !first {
		return []byte{0x00}
	}
	frameTag := byte(0x01) // P=1: interframe
	if key {
		frameTag = 0x00
	}
	return []byte{0x10, frameTag}
}

func (p *Publisher) sendAudio(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var seq uint16
	var ts uint32
	payload := make([]byte, 80)
	rand.Read(payload)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}, Payload: payload}
		seq++
		ts += 960
		if err := p.Audio.WriteRTP(pkt); err != nil {
			return
		}
		p.SentAudio.Add(1)
	}
}

// Corrupt makes the next n video packets carry random payloads (no valid
// codec data, possibly empty) in an otherwise valid RTP stream.
func (p *Publisher) Corrupt(n int) { p.corrupt.Store(int32(n)) }

// Close ends the publisher's peer connection and goroutines.
func (p *Publisher) Close() {
	p.PC.Close()
	p.wg.Wait()
}

// TrackStats counts one received track.
type TrackStats struct {
	Kind    string
	Codec   string
	Packets atomic.Uint64
	Bytes   atomic.Uint64
	// Gaps counts sequence numbers never received (so far).
	Gaps atomic.Uint64
	// Keyframes counts video packets that start a keyframe.
	Keyframes atomic.Uint64

	head atomic.Uint32 // first bytes of the last payload

	seenMu sync.Mutex
	seen   [1 << 16 / 64]uint64
}

// Head returns the first four bytes of the last payload received.
func (st *TrackStats) Head() [4]byte {
	v := st.head.Load()
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// Seen reports whether a packet with sequence number seq was received.
func (st *TrackStats) Seen(seq uint16) bool {
	st.seenMu.Lock()
	defer st.seenMu.Unlock()
	return st.seen[seq/64]&(1<<(seq%64)) != 0
}

func (st *TrackStats) see(seq uint16) {
	st.seenMu.Lock()
	st.seen[seq/64] |= 1 << (seq % 64)
	st.seenMu.Unlock()
}

// Subscriber is a peer receiving a subscription.
type Subscriber struct {
	PC      *webrtc.PeerConnection
	Handle  *janus.Handle
	Streams []json.RawMessage
	// Data receives the data channels the server opens.
	Data chan *webrtc.DataChannel

	mu     sync.Mutex
	tracks []*TrackStats
	wg     sync.WaitGroup
	closed chan struct{}
}

// Subscribe joins room as a subscriber to feeds and answers the offer.
// streams overrides the request's "streams" list when not nil.
func Subscribe(ctx context.Context, api *webrtc.API, h *janus.Handle, room any, token string, feeds []uint64,
	iceServers []webrtc.ICEServer, relayOnly bool) (*Subscriber, error) {
	var streams []map[string]any
	for _, f := range feeds {
		streams = append(streams, map[string]any{"feed": f})
	}
	body := map[string]any{"request": "join", "ptype": "subscriber", "room": room, "streams": streams}
	if token != "" {
		body["token"] = token
	}
	data, offer, err := h.Request(ctx, body, nil, true)
	if err != nil {
		return nil, err
	}
	if offer == nil || offer.Type != "offer" {
		return nil, fmt.Errorf("subscriber join: no SDP offer: %s", data)
	}
	var att struct {
		Streams []json.RawMessage `json:"streams"`
	}
	json.Unmarshal(data, &att)
	cfg := webrtc.Configuration{ICEServers: iceServers}
	if relayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		return nil, err
	}
	s := &Subscriber{PC: pc, Handle: h, Streams: att.Streams, closed: make(chan struct{}), Data: make(chan *webrtc.DataChannel, 4)}
	pc.OnDataChannel(func(d *webrtc.DataChannel) {
		select {
		case s.Data <- d:
		default:
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		st := &TrackStats{Kind: t.Kind().String(), Codec: t.Codec().MimeType}
		s.mu.Lock()
		s.tracks = append(s.tracks, st)
		select {
		case <-s.closed:
			s.mu.Unlock()
			return
		default:
		}
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		read(t, st)
	})
	if err := s.answer(ctx, offer.SDP); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// answer answers an offer of the server with a start request.
func (s *Subscriber) answer(ctx context.Context, offer string) error {
	if err := s.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return err
	}
	answer, err := s.PC.CreateAnswer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(s.PC)
	if err := s.PC.SetLocalDescription(answer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	_, _, err = s.Handle.Request(ctx, map[string]any{"request": "start"},
		&janus.JSEP{Type: "answer", SDP: s.PC.LocalDescription().SDP, Trickle: &noTrickle}, true)
	return err
}

// Renegotiate answers an "updated" event's offer.
func (s *Subscriber) Renegotiate(ctx context.Context, offer string) error {
	return s.answer(ctx, offer)
}

func read(t *webrtc.TrackRemote, st *TrackStats) {
	buf := make([]byte, 1600)
	var pkt rtp.Packet
	var last uint16
	first := true
	for {
		n, _, err := t.Read(buf)
		if err != nil {
			return
		}
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		st.Packets.Add(1)
		st.Bytes.Add(uint64(len(pkt.Payload)))
		st.see(pkt.SequenceNumber)
		var h [4]byte
		copy(h[:], pkt.Payload)
		st.head.Store(uint32(h[0])<<24 | uint32(h[1])<<16 | uint32(h[2])<<8 | uint32(h[3]))
		switch d := int16(pkt.SequenceNumber - last); {
		case first:
			first, last = false, pkt.SequenceNumber
		case d > 0:
			st.Gaps.Add(uint64(d - 1))
			last = pkt.SequenceNumber
		case d < 0 && st.Gaps.Load() > 0:
			st.Gaps.Add(^uint64(0)) // a late packet (a retransmission) filled a gap
		}
		if st.Kind == "video" && len(pkt.Payload) > 1 && pkt.Payload[0]&0x10 != 0 && pkt.Payload[1]&0x01 == 0 {
			st.Keyframes.Add(1)
		}
	}
}

// Tracks returns the stats of the tracks received so far.
func (s *Subscriber) Tracks() []*TrackStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*TrackStats(nil), s.tracks...)
}

// Track returns the first received track of kind, or nil.
func (s *Subscriber) Track(kind string) *TrackStats {
	for _, t := range s.Tracks() {
		if t.Kind == kind {
			return t
		}
	}
	return nil
}

// Close ends the subscriber's peer connection and readers.
func (s *Subscriber) Close() {
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.mu.Unlock()
	s.PC.Close()
	s.wg.Wait()
}
