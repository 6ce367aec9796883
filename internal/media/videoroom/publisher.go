package videoroom

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/grant"
	"github.com/openwac/wac/internal/media/forward"
	"github.com/openwac/wac/internal/media/janus"
)

// participant is a handle joined to a room as a publisher: it is in the
// room's participant list, gets the room's events, and may publish.
type participant struct {
	id         uint64
	privateID  uint32
	user       string
	canPublish bool
	room       *Room
	h          *handle
	numericRef bool

	mu       sync.Mutex
	display  string
	pc       *webrtc.PeerConnection
	local    *Local      // publishes in process instead of pc (local.go)
	direct   *directPeer // pc's direct receive (direct.go); nil = none
	gen      int         // publication generation: callbacks of older ones are ignored
	streams  []*pubStream
	active   bool // connected and announced to the room
	override int  // bps cap asked by the publisher (configure bitrate); 0 = none
	data     *webrtc.DataChannel
	wg       sync.WaitGroup
	talking  bool
}

// pubStream is one published m-line (audio, video or data): what the
// VideoRoom says of it, and the forwarding of its RTP.
type pubStream struct {
	owner       *participant
	mid         string
	mindex      int
	kind        string // audio, video, data
	description string
	send        atomic.Bool     // relayed to subscribers (configure mid/send)
	fwd         *forward.Stream // nil for data

	receiving  bool // last reported media state (per-second tick only)
	levelMu    sync.Mutex
	levelSum   int
	levelCount int
	talking    bool
	lastLevel  int
}

// setSend turns the relay of the stream to its subscribers on or off.
func (ps *pubStream) setSend(on bool) {
	ps.send.Store(on)
	if ps.fwd != nil {
		ps.fwd.SetForwarding(on)
	}
}

// codec names the stream's codec as Janus does (vp8, opus); "" for data.
func (ps *pubStream) codec() string {
	if ps.fwd == nil {
		return ""
	}
	_, name, _ := strings.Cut(ps.fwd.Codec().MimeType, "/")
	return strings.ToLower(name)
}

func (s *SFU) joinPublisher(h *handle, r *Room, numeric bool, g *grant.Grant, request string, b body, jsep *janus.JSEP) (map[string]any, *janus.JSEP) {
	id, e := b.id("id", false)
	if e != nil {
		return errData(e), nil
	}
	display, e := b.str("display", false)
	if e != nil {
		return errData(e), nil
	}
	p := &participant{id: id, user: g.User, canPublish: g.Publish, room: r, h: h, numericRef: numeric, display: clipDisplay(display)}
	p.privateID = uint32(randomID())
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errData(vrErrorf(janus.VRErrNoSuchRoom, "No such room (%s)", r.ID)), nil
	}
	if p.id != 0 {
		if r.participants[p.id] != nil {
			r.mu.Unlock()
			return errData(vrErrorf(janus.VRErrIDExists, "User ID %d already exists", p.id)), nil
		}
	} else {
		for p.id == 0 || r.participants[p.id] != nil {
			p.id = randomID()
		}
	}
	r.participants[p.id] = p
	r.mu.Unlock()
	r.recordEvent("joined", p.user, p.display)
	h.vr.pub = p
	s.log.Debug("publisher joined", "room", r.ID, "feed", p.id, "user", p.user)
	joined := map[string]any{"videoroom": "joined", "room": p.roomRef(), "description": r.description(),
		"id": p.id, "private_id": p.privateID, "publishers": r.activePublishers(p)}
	if request == "joinandconfigure" {
		data, answer := p.configure(b, jsep, true)
		if _, failed := data["error_code"]; failed {
			return data, nil
		}
		for k, v := range data {
			if k != "videoroom" {
				joined[k] = v
			}
		}
		return joined, answer
	}
	return joined, nil
}

func (p *participant) roomRef() json.RawMessage { return p.room.ref(p.numericRef) }

func (p *participant) peer() *webrtc.PeerConnection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pc
}

func (p *participant) publishing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pc != nil || p.local != nil
}

// errNotPublishing is writeRTCP's error when the publisher has no peer
// connection.
var errNotPublishing = errors.New("not publishing")

// writeRTCP sends feedback (keyframe requests) to the publisher.
func (p *participant) writeRTCP(pkts []rtcp.Packet) error {
	pc := p.peer()
	if pc == nil {
		return errNotPublishing
	}
	return pc.WriteRTCP(pkts)
}

func (p *participant) videoCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return 0
	}
	n := 0
	for _, ps := range p.streams {
		if ps.kind == "video" {
			n++
		}
	}
	return n
}

// describe is the participant's entry in a "publishers" list; nil when it
// does not publish.
func (p *participant) describe() map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active {
		return nil
	}
	d := map[string]any{"id": p.id, "streams": p.streamList(), "talking": p.talking}
	if p.display != "" {
		d["display"] = p.display
	}
	return d
}

// streamList describes the published streams; p.mu is held.
func (p *participant) streamList() []map[string]any {
	out := make([]map[string]any, 0, len(p.streams))
	for _, ps := range p.streams {
		st := map[string]any{"type": ps.kind, "mindex": ps.mindex, "mid": ps.mid}
		if !ps.send.Load() {
			st["disabled"] = true
		}
		if ps.kind != "data" {
			st["codec"] = ps.codec()
		}
		if ps.description != "" {
			st["description"] = ps.description
		}
		if ps.fwd != nil && ps.fwd.Simulcast() {
			st["simulcast"] = true
		}
		if ps.kind == "audio" {
			ps.levelMu.Lock()
			st["talking"] = ps.talking
			ps.levelMu.Unlock()
		}
		out = append(out, st)
	}
	return out
}

func (p *participant) stream(mid string) *pubStream {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ps := range p.streams {
		if ps.mid == mid {
			return ps
		}
	}
	return nil
}

// configure handles publish and configure: settings, and an SDP offer to
// start or renegotiate the publication.
func (p *participant) configure(b body, jsep *janus.JSEP, publish bool) (map[string]any, *janus.JSEP) {
	if d, e := b.str("display", false); e != nil {
		return errData(e), nil
	} else if b.has("display") {
		p.mu.Lock()
		p.display = clipDisplay(d)
		p.mu.Unlock()
	}
	if v, ok, e := b.integer("bitrate"); e != nil {
		return errData(e), nil
	} else if ok {
		p.mu.Lock()
		p.override = int(v)
		p.mu.Unlock()
	}
	if descs, ok := b["descriptions"]; ok {
		var list []struct {
			MID         string `json:"mid"`
			Description string `json:"description"`
		}
		if json.Unmarshal(descs, &list) != nil {
			return errData(vrErrorf(janus.VRErrInvalidElement, "Invalid element (descriptions)")), nil
		}
		for _, d := range list {
			if ps := p.stream(d.MID); ps != nil {
				ps.description = clipDisplay(d.Description)
			}
		}
	}
	var answer *janus.JSEP
	if jsep != nil && b.has("local") {
		return errData(vrErrorf(janus.VRErrInvalidElement, "Invalid element (local: in-process media takes no SDP)")), nil
	}
	if jsep != nil {
		if jsep.Type != "offer" {
			return errData(vrErrorf(janus.VRErrInvalidSDPType, "Invalid SDP type (publishers send offers)")), nil
		}
		if !p.canPublish {
			return errData(vrErrorf(janus.VRErrUnauthorized, "Unauthorized (the room token does not allow publishing)")), nil
		}
		var e *vrErr
		if answer, e = p.negotiate(jsep.SDP); e != nil {
			return errData(e), nil
		}
	} else if b.has("local") {
		if !p.canPublish {
			return errData(vrErrorf(janus.VRErrUnauthorized, "Unauthorized (the room token does not allow publishing)")), nil
		}
		l, e := p.room.sfu.localOf(b)
		if e == nil {
			e = p.publishLocal(l)
		}
		if e != nil {
			return errData(e), nil
		}
	} else if publish {
		return errData(vrErrorf(janus.VRErrMissingElement, "Missing element (jsep offer)")), nil
	}
	if mid, e := b.str("mid", false); e != nil {
		return errData(e), nil
	} else if send, ok, e := b.boolean("send"); e != nil {
		return errData(e), nil
	} else if ok {
		ps := p.stream(mid)
		if ps == nil {
			return errData(vrErrorf(janus.VRErrInvalidElement, "Invalid element (no stream with mid '%s')", clipStr(mid))), nil
		}
		ps.setSend(send)
		if send && ps.fwd != nil {
			ps.fwd.RequestKeyframe(2)
			ps.fwd.RequestKeyframe(0)
		}
	}
	if kf, _, _ := b.boolean("keyframe"); kf {
		p.mu.Lock()
		streams := append([]*pubStream(nil), p.streams...)
		p.mu.Unlock()
		for _, ps := range streams {
			if ps.fwd != nil {
				ps.fwd.RequestKeyframes()
			}
		}
	}
	out := map[string]any{"videoroom": "event", "room": p.roomRef(), "configured": "ok"}
	p.mu.Lock()
	for _, ps := range p.streams {
		switch ps.kind {
		case "audio":
			out["audio_codec"] = ps.codec()
		case "video":
			out["video_codec"] = ps.codec()
		}
	}
	out["streams"] = p.streamList()
	p.mu.Unlock()
	return out, answer
}

// negotiate answers a publisher's offer, creating its peer connection on
// the first one.
func (p *participant) negotiate(offerSDP string) (*janus.JSEP, *vrErr) {
	s := p.room.sfu
	var parsed sdp.SessionDescription
	if err := parsed.UnmarshalString(offerSDP); err != nil {
		return nil, vrErrorf(janus.VRErrInvalidSDP, "Invalid SDP (%v)", err)
	}
	p.mu.Lock()
	pc, local := p.pc, p.local
	p.mu.Unlock()
	if local != nil {
		return nil, vrErrorf(janus.VRErrInvalidSDP, "Invalid SDP (the publication is in-process media)")
	}
	fresh := pc == nil
	var direct *directPeer
	if fresh {
		if e := p.room.reservePublisher(p); e != nil {
			return nil, e
		}
		api := s.pubAPI
		if s.direct != nil {
			// The connection's own API, whose buffers the direct receive
			// writes to.
			direct = s.direct.newPeer()
			se := s.se
			se.BufferFactory = direct.bufferFactory
			var err error
			if api, err = newAPI(s.cfg, se, true, direct, nil); err != nil {
				return nil, vrErrorf(janus.VRErrUnknown, "Error creating the peer connection: %v", err)
			}
		}
		var err error
		pc, err = api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return nil, vrErrorf(janus.VRErrUnknown, "Error creating the peer connection: %v", err)
		}
		p.mu.Lock()
		p.gen++
		gen := p.gen
		p.mu.Unlock()
		pc.OnTrack(func(t *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) { p.onTrack(gen, pc, t, rcv) })
		pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { p.onState(gen, st) })
		pc.OnDataChannel(func(dc *webrtc.DataChannel) { p.onData(gen, dc) })
	}
	fail := func(code int, format string, args ...any) (*janus.JSEP, *vrErr) {
		if fresh {
			pc.Close()
			if direct != nil {
				direct.close()
			}
		}
		return nil, vrErrorf(code, format, args...)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}); err != nil {
		return fail(janus.VRErrInvalidSDP, "Invalid SDP (%v)", err)
	}
	p.h.flushCandidates(pc)
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(janus.VRErrInvalidSDP, "Error creating the answer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(janus.VRErrInvalidSDP, "Error setting the answer: %v", err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return fail(janus.VRErrUnknown, "ICE gathering timed out")
	}
	if !fresh {
		p.mu.Lock()
		dp := p.direct
		p.mu.Unlock()
		if dp != nil {
			dp.renegotiated(pc)
		}
	}
	streams := p.buildStreams(pc, &parsed)
	p.mu.Lock()
	p.pc = pc
	if fresh {
		p.direct = direct
	}
	p.streams = streams
	p.mu.Unlock()
	p.room.recordStreams(p, streams)
	if fresh {
		s.stats.publishers.Add(1)
	}
	return &janus.JSEP{Type: "answer", SDP: pc.LocalDescription().SDP}, nil
}

// buildStreams lists the negotiated m-lines, keeping the pubStreams of
// m-lines that already existed (a renegotiation).
func (p *participant) buildStreams(pc *webrtc.PeerConnection, offer *sdp.SessionDescription) []*pubStream {
	p.mu.Lock()
	old := map[string]*pubStream{}
	for _, ps := range p.streams {
		old[ps.mid] = ps
	}
	p.mu.Unlock()
	var out []*pubStream
	for i, md := range offer.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		if ps := old[mid]; ps != nil {
			out = append(out, ps)
			continue
		}
		ps := &pubStream{owner: p, mid: mid, mindex: i, kind: md.MediaName.Media}
		ps.send.Store(true)
		switch ps.kind {
		case "application":
			ps.kind = "data"
		case "audio", "video":
			tr := transceiverByMid(pc, mid)
			if tr == nil || tr.Direction() == webrtc.RTPTransceiverDirectionInactive {
				continue
			}
			params := tr.Receiver().GetParameters()
			if len(params.Codecs) == 0 {
				continue // no codec in common: the m-line was rejected
			}
			sc := forward.StreamConfig{Kind: ps.kind, Codec: params.Codecs[0], RIDs: simulcastLayers(md), WriteRTCP: p.writeRTCP}
			for _, ext := range params.HeaderExtensions {
				if ext.URI == extAudioLevel {
					sc.LevelExt = uint8(ext.ID)
				}
			}
			if p.room.sfu.cfg.AudioLevelEvent {
				sc.OnLevel = ps.addLevel
			}
			if ps.kind == "video" {
				sc.Cap = p.room.videoCap()
			}
			ps.fwd = p.room.sfu.fwd.NewStream(sc)
		default:
			continue
		}
		out = append(out, ps)
	}
	return out
}

func transceiverByMid(pc *webrtc.PeerConnection, mid string) *webrtc.RTPTransceiver {
	for _, tr := range pc.GetTransceivers() {
		if tr.Mid() == mid {
			return tr
		}
	}
	return nil
}

// simulcastLayers maps the rids a publisher sends to layers, 0 the lowest.
// janus.js names them h, m, l; Pion and others q, h, f; otherwise the SDP
// lists them from the highest down, as browsers given sendEncodings do.
func simulcastLayers(md *sdp.MediaDescription) map[string]int {
	var rids []string
	for _, a := range md.Attributes {
		if a.Key != "rid" {
			continue
		}
		id, dir, _ := strings.Cut(a.Value, " ")
		if strings.HasPrefix(dir, "send") && len(rids) < 3 {
			rids = append(rids, id)
		}
	}
	if len(rids) < 2 {
		return nil
	}
	set := map[string]bool{}
	for _, r := range rids {
		set[r] = true
	}
	out := map[string]int{}
	switch {
	case set["q"] || set["f"]:
		for _, r := range rids {
			out[r] = map[string]int{"q": 0, "h": 1, "f": 2}[r]
		}
	case set["l"] || set["m"]:
		for _, r := range rids {
			out[r] = map[string]int{"l": 0, "m": 1, "h": 2}[r]
		}
	default:
		for i, r := range rids {
			out[r] = len(rids) - 1 - i
		}
	}
	return out
}

// reservePublisher counts p against the room's publisher limit.
func (r *Room) reservePublisher(p *participant) *vrErr {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, q := range r.participants {
		if q != p && q.publishing() {
			n++
		}
	}
	if n >= r.publishers {
		return vrErrorf(janus.VRErrPublishersFull, "Maximum number of publishers (%d) reached", r.publishers)
	}
	return nil
}

func (p *participant) onTrack(gen int, pc *webrtc.PeerConnection, t *webrtc.TrackRemote, rcv *webrtc.RTPReceiver) {
	var mid string
	for _, tr := range pc.GetTransceivers() {
		if tr.Receiver() == rcv {
			mid = tr.Mid()
		}
	}
	ps := p.stream(mid)
	p.mu.Lock()
	stale := gen != p.gen || ps == nil || ps.fwd == nil
	if !stale {
		p.wg.Add(1)
	}
	p.mu.Unlock()
	if stale {
		return
	}
	go func() {
		defer p.wg.Done()
		ps.fwd.Forward(t)
	}()
}

// addLevel accumulates audio levels and decides talking, as Janus does
// with audio_active_packets and audio_level_average (media.audioLevelEvent
// on).
func (ps *pubStream) addLevel(level int) {
	cfg := ps.owner.room.sfu.cfg
	ps.levelMu.Lock()
	ps.levelSum += level
	ps.levelCount++
	if ps.levelCount < cfg.AudioActive {
		ps.levelMu.Unlock()
		return
	}
	avg := ps.levelSum / ps.levelCount
	ps.levelSum, ps.levelCount = 0, 0
	talking := avg <= cfg.AudioLevelAvg
	changed := talking != ps.talking
	ps.talking = talking
	ps.lastLevel = avg
	ps.levelMu.Unlock()
	if !changed {
		return
	}
	p := ps.owner
	p.mu.Lock()
	p.talking = talking
	p.mu.Unlock()
	ev := "stopped-talking"
	if talking {
		ev = "talking"
	}
	data := map[string]any{"videoroom": ev, "id": p.id, "mid": ps.mid, "audio-level-dBov-avg": avg}
	p.room.notify(nil, data)
}

func (p *participant) onState(gen int, st webrtc.PeerConnectionState) {
	p.mu.Lock()
	stale := gen != p.gen
	p.mu.Unlock()
	if stale {
		return
	}
	switch st {
	case webrtc.PeerConnectionStateConnected:
		p.armDirect(gen)
		p.announce()
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		reason := "ICE failed"
		if st == webrtc.PeerConnectionStateClosed {
			reason = "Close PC"
		}
		p.h.run(func() {
			p.mu.Lock()
			current := gen == p.gen && p.pc != nil
			p.mu.Unlock()
			if current {
				p.unpublish(reason)
			}
		})
	}
}

// armDirect starts the direct receive of the publication's connection
// (direct.go); when it cannot, the connection keeps Pion's path, and the
// log says why once per node.
func (p *participant) armDirect(gen int) {
	p.mu.Lock()
	pc, dp := p.pc, p.direct
	current := gen == p.gen
	p.mu.Unlock()
	if !current || pc == nil || dp == nil {
		return
	}
	if err := dp.arm(pc); err != nil && p.room.sfu.direct.warned.CompareAndSwap(false, true) {
		p.room.sfu.log.Warn("media: a publisher's audio takes Pion's receive path (config key media.directReceive)", "err", err)
	}
}

// announce makes a publication that is connected active and tells the
// room of it.
func (p *participant) announce() {
	p.mu.Lock()
	announce := !p.active && (p.pc != nil || p.local != nil)
	p.active = p.active || announce
	p.mu.Unlock()
	// The feed is active before the publisher hears webrtcup, so that
	// a subscription sent on webrtcup finds it.
	p.h.core(janus.Message{Janus: "webrtcup"})
	if announce {
		if d := p.describe(); d != nil {
			p.room.notify(p, map[string]any{"videoroom": "event", "publishers": []map[string]any{d}})
		}
		p.room.sfu.log.Info("publisher active", "room", p.room.ID, "feed", p.id, "user", p.user)
	}
}

// unpublish ends the publication: subscribers lose its streams, the room
// gets "unpublished", the handle gets "hangup".
func (p *participant) unpublish(reason string) {
	p.mu.Lock()
	pc, local, streams, wasActive := p.pc, p.local, p.streams, p.active
	if p.direct != nil {
		p.direct.close()
	}
	p.pc, p.local, p.streams, p.active, p.data, p.direct = nil, nil, nil, false, nil, nil
	p.gen++
	p.mu.Unlock()
	if pc == nil && local == nil {
		return
	}
	p.room.sfu.stats.publishers.Add(-1)
	if pc != nil {
		pc.Close()
	}
	if local != nil {
		local.endLocal()
	}
	p.wg.Wait()
	p.room.unrecordStreams(streams)
	p.room.feedGone(p, streams)
	if wasActive {
		p.room.notify(p, map[string]any{"videoroom": "event", "unpublished": p.id})
	}
	p.h.core(janus.Message{Janus: "hangup", Reason: reason})
	p.room.sfu.log.Debug("publisher unpublished", "room", p.room.ID, "feed", p.id, "reason", reason)
}

// leave unpublishes and leaves the room, telling the others.
func (p *participant) leave() {
	p.unpublish("leaving")
	r := p.room
	r.mu.Lock()
	_, in := r.participants[p.id]
	delete(r.participants, p.id)
	r.mu.Unlock()
	if in {
		r.notify(p, map[string]any{"videoroom": "event", "leaving": p.id})
		r.recordEvent("left", p.user, "")
	}
}

// leaveQuiet leaves a destroyed room without events.
func (p *participant) leaveQuiet() {
	p.unpublish("room destroyed")
	r := p.room
	r.mu.Lock()
	delete(r.participants, p.id)
	r.mu.Unlock()
}

// onData relays the publisher's data channel messages to its subscribers.
func (p *participant) onData(gen int, dc *webrtc.DataChannel) {
	p.mu.Lock()
	if gen != p.gen {
		p.mu.Unlock()
		return
	}
	p.data = dc
	p.mu.Unlock()
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		p.room.relayData(p, msg)
	})
}

// tick is the participant's per-second upkeep: media state events, loss
// measurement, bitrate control and REMB, periodic keyframes, slow link.
func (p *participant) tick(now time.Time, vcap int) {
	p.mu.Lock()
	pc, local, active, override := p.pc, p.local, p.active, p.override
	streams := append([]*pubStream(nil), p.streams...)
	p.mu.Unlock()
	if (pc == nil && local == nil) || !active {
		return
	}
	cfg := p.room.sfu.cfg
	var remb uint64
	var ssrcs []uint32
	for _, ps := range streams {
		if ps.fwd == nil {
			continue // data
		}
		c := vcap
		if override > 0 {
			c = min(c, override)
		}
		r := ps.fwd.Tick(now, c)
		ssrcs = append(ssrcs, r.SSRCs...)
		if r.Receiving != ps.receiving {
			ps.receiving = r.Receiving
			rcv := r.Receiving
			p.h.core(janus.Message{Janus: "media", Type: ps.kind, MID: ps.mid, Receiving: &rcv})
		}
		if ps.kind != "video" {
			continue
		}
		if r.Changed {
			p.room.sfu.log.Debug("video cap changed", "room", p.room.ID, "feed", p.id, "mid", ps.mid,
				"kbps", r.Cap/1000, "loss", fmt.Sprintf("%.3f", r.Loss))
		}
		if r.Slow {
			up, n := true, int(r.Lost)
			p.h.core(janus.Message{Janus: "slowlink", MID: ps.mid, Media: "video", Uplink: &up, Lost: &n})
		}
		remb += uint64(r.Cap)
		if every := int64(cfg.FIRFreq / time.Second); every > 0 && now.Unix()%every == 0 {
			ps.fwd.RequestKeyframes()
		}
	}
	if remb > 0 && len(ssrcs) > 0 && pc != nil {
		pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(remb), SSRCs: ssrcs}})
	}
}

// Cap returns the current REMB cap of a published video in bps (for
// tests and stats): feed id and mid; 0 when unknown.
func (r *Room) Cap(feed uint64, mid string) int {
	r.mu.Lock()
	p := r.participants[feed]
	r.mu.Unlock()
	if p == nil {
		return 0
	}
	ps := p.stream(mid)
	if ps == nil || ps.fwd == nil {
		return 0
	}
	return ps.fwd.Cap()
}

// request handles a request of a handle joined as a publisher.
func (p *participant) request(request string, b body, jsep *janus.JSEP) (map[string]any, *janus.JSEP) {
	switch request {
	case "join", "joinandconfigure":
		return errData(vrErrorf(janus.VRErrAlreadyJoined, "Already in as a publisher on this handle")), nil
	case "publish":
		if p.publishing() {
			return errData(vrErrorf(janus.VRErrAlreadyPublished, "Can't publish, already published")), nil
		}
		return p.configure(b, jsep, true)
	case "configure":
		return p.configure(b, jsep, false)
	case "unpublish":
		if !p.publishing() {
			return errData(vrErrorf(janus.VRErrNotPublished, "Can't unpublish, not published")), nil
		}
		p.unpublish("unpublish request")
		return map[string]any{"videoroom": "event", "room": p.roomRef(), "unpublished": "ok"}, nil
	case "leave":
		p.leave()
		p.h.vr.pub = nil
		return map[string]any{"videoroom": "event", "room": p.roomRef(), "leaving": "ok"}, nil
	}
	return errData(vrErrorf(janus.VRErrInvalidRequest, "Unknown request '%s'", request)), nil
}

// roomGone ends a participant whose room was destroyed (on its handle's
// worker).
func (p *participant) roomGone() {
	h := p.h
	if h.vr.pub != p {
		return
	}
	h.event("", map[string]any{"videoroom": "destroyed", "room": p.roomRef()}, nil)
	p.leaveQuiet()
	h.vr.pub = nil
}

// kicked removes a participant on a kick request or an expel (on its
// handle's worker).
func (p *participant) kicked() {
	h := p.h
	if h.vr.pub != p {
		return
	}
	h.event("", map[string]any{"videoroom": "event", "room": p.roomRef(), "leaving": "ok", "reason": "kicked"}, nil)
	p.leave()
	h.vr.pub = nil
}
