package videoroom

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/grant"
	"github.com/openwac/wac/internal/media/forward"
	"github.com/openwac/wac/internal/media/janus"
)

// subscriber is a handle joined as a subscriber: one receive-only peer
// connection carrying streams of one or more publishers.
type subscriber struct {
	h          *handle
	room       *Room
	numericRef bool
	user       string
	pc         *webrtc.PeerConnection // nil for a Local's subscription
	local      *Local                 // receives in process instead of pc (local.go)
	direct     *directSend            // pc's direct send (direct.go); nil = none

	mu       sync.Mutex
	streams  []*subStream
	paused   bool
	offered  bool // an offer waits for its answer
	pending  bool // a renegotiation waits for the current one to end
	dc       *webrtc.DataChannel
	closed   bool
	wg       sync.WaitGroup
	started  bool
	lastLoss map[*subStream]time.Time
}

// subStream is one m-line of a subscription.
type subStream struct {
	mid    string
	mindex int
	kind   string
	src    *pubStream
	tr     *webrtc.RTPTransceiver
	dt     *forward.DownTrack
	ls     *localSink // instead of tr and dt for a Local
	send   bool
	active bool
}

// streamReq is one entry of a "streams" list.
type streamReq struct {
	Feed      json.RawMessage `json:"feed"`
	MID       string          `json:"mid"`
	SubMID    string          `json:"sub_mid"`
	Substream *int            `json:"substream"`
}

func (sub *subscriber) roomRef() json.RawMessage { return sub.room.ref(sub.numericRef) }

// resolve turns stream requests into publisher streams of the room.
func (r *Room) resolve(reqs []streamReq) ([]*pubStream, []*int, *vrErr) {
	var out []*pubStream
	var subs []*int
	for _, q := range reqs {
		if len(q.Feed) == 0 {
			return nil, nil, vrErrorf(janus.VRErrMissingElement, "Missing element (feed)")
		}
		feed, e := parseID("feed", q.Feed)
		if e != nil {
			return nil, nil, e
		}
		r.mu.Lock()
		p := r.participants[feed]
		r.mu.Unlock()
		if p == nil {
			return nil, nil, vrErrorf(janus.VRErrNoSuchFeed, "No such feed (%d)", feed)
		}
		p.mu.Lock()
		active := p.active
		streams := append([]*pubStream(nil), p.streams...)
		p.mu.Unlock()
		if !active {
			return nil, nil, vrErrorf(janus.VRErrNoSuchFeed, "No such feed (%d)", feed)
		}
		found := false
		for _, ps := range streams {
			if (q.MID == "" || q.MID == ps.mid) && (q.MID != "" || ps.send.Load()) {
				out = append(out, ps)
				subs = append(subs, q.Substream)
				found = true
			}
		}
		if !found {
			return nil, nil, vrErrorf(janus.VRErrNoSuchFeed, "No such mid '%s' in feed %d", clipStr(q.MID), feed)
		}
	}
	return out, subs, nil
}

// streamRequests reads a "streams" list, or the legacy single "feed".
func streamRequests(b body, key string) ([]streamReq, *vrErr) {
	if raw, ok := b[key]; ok {
		var reqs []streamReq
		if json.Unmarshal(raw, &reqs) != nil {
			return nil, vrErrorf(janus.VRErrInvalidElement, "Invalid element (%s should be an array of objects)", key)
		}
		if len(reqs) == 0 {
			return nil, vrErrorf(janus.VRErrInvalidElement, "Invalid element (%s is empty)", key)
		}
		if len(reqs) > 64 {
			return nil, vrErrorf(janus.VRErrInvalidElement, "Invalid element (%s has more than 64 entries)", key)
		}
		return reqs, nil
	}
	if key == "streams" && b.has("feed") {
		q := streamReq{Feed: b["feed"]}
		if v, ok, _ := b.integer("substream"); ok {
			n := int(v)
			q.Substream = &n
		}
		return []streamReq{q}, nil
	}
	return nil, vrErrorf(janus.VRErrMissingElement, "Missing element (%s)", key)
}

func (s *SFU) joinSubscriber(h *handle, r *Room, numeric bool, g *grant.Grant, b body) (map[string]any, *janus.JSEP) {
	reqs, e := streamRequests(b, "streams")
	if e != nil {
		return errData(e), nil
	}
	srcs, substreams, e := r.resolve(reqs)
	if e != nil {
		return errData(e), nil
	}
	sub := &subscriber{h: h, room: r, numericRef: numeric, user: g.User}
	if b.has("local") {
		if sub.local, e = s.localOf(b); e != nil {
			return errData(e), nil
		}
	} else {
		api := s.subAPI
		if s.direct != nil {
			if port, ok := s.socks.udp.(portWriter); ok {
				// The connection's own API, whose audio writers send
				// directly (direct.go).
				sub.direct = s.direct.newSend(port)
				var err error
				if api, err = newAPI(s.cfg, s.se, false, nil, sub.direct); err != nil {
					return errData(vrErrorf(janus.VRErrUnknown, "Error creating the peer connection: %v", err)), nil
				}
			}
		}
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return errData(vrErrorf(janus.VRErrUnknown, "Error creating the peer connection: %v", err)), nil
		}
		sub.pc = pc
	}
	s.stats.subscribers.Add(1)
	if e := sub.add(srcs, substreams); e != nil {
		sub.close("negotiation failed")
		return errData(e), nil
	}
	if sub.pc != nil {
		sub.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { sub.onState(st) })
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		sub.close("room destroyed")
		return errData(vrErrorf(janus.VRErrNoSuchRoom, "No such room (%s)", r.ID)), nil
	}
	r.subscribers[sub] = struct{}{}
	r.mu.Unlock()
	r.recordUser(sub.user)
	h.vr.sub = sub
	offer, e := sub.offer(false)
	if e != nil {
		sub.close("negotiation failed")
		h.vr.sub = nil
		return errData(e), nil
	}
	out := map[string]any{"videoroom": "attached", "room": sub.roomRef(), "streams": sub.describe()}
	if len(reqs) == 1 && len(srcs) > 0 {
		out["id"] = srcs[0].owner.id
		if d := srcs[0].owner.displayName(); d != "" {
			out["display"] = d
		}
	}
	s.log.Debug("subscriber joined", "room", r.ID, "user", g.User, "streams", len(srcs))
	return out, offer
}

func (p *participant) displayName() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.display
}

// add creates the m-lines (or the data channel) for publisher streams.
func (sub *subscriber) add(srcs []*pubStream, substreams []*int) *vrErr {
	for i, src := range srcs {
		ss := &subStream{kind: src.kind, src: src, send: true, active: true}
		if sub.local != nil {
			// In process: no m-line, the stream's packets go to the
			// Local's function. Data channels are not relayed to it.
			if src.kind == "data" {
				continue
			}
			if ss.ls = sub.local.hear(src); ss.ls == nil {
				continue
			}
			src.fwd.AddSink(ss.ls)
			sub.mu.Lock()
			sub.streams = append(sub.streams, ss)
			sub.mu.Unlock()
			continue
		}
		if src.kind == "data" {
			sub.mu.Lock()
			hasDC := sub.dc != nil
			sub.mu.Unlock()
			if !hasDC {
				dc, err := sub.pc.CreateDataChannel("JanusDataChannel", nil)
				if err != nil {
					return vrErrorf(janus.VRErrUnknown, "Error creating the data channel: %v", err)
				}
				sub.mu.Lock()
				sub.dc = dc
				sub.mu.Unlock()
			}
			sub.mu.Lock()
			sub.streams = append(sub.streams, ss)
			sub.mu.Unlock()
			continue
		}
		dt := forward.NewDownTrack(src.fwd, fmt.Sprintf("%d-%s-%d", src.owner.id, src.mid, randomID()%1e6), fmt.Sprintf("janus%d", src.owner.id))
		if substreams[i] != nil {
			dt.SetTarget(*substreams[i])
		}
		tr, err := sub.pc.AddTransceiverFromTrack(dt, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return vrErrorf(janus.VRErrUnknown, "Error adding a stream: %v", err)
		}
		// Offer only the publisher's codec: no transcoding happens here.
		codec := src.fwd.Codec()
		var prefs []webrtc.RTPCodecParameters
		for _, c := range sub.room.sfu.subCodecs(src.kind) {
			if forward.SameCodec(c.RTPCodecCapability, codec.RTPCodecCapability) {
				prefs = append(prefs, c)
				break
			}
		}
		if len(prefs) == 0 {
			return vrErrorf(janus.VRErrUnknown, "Codec %s of feed %d is not offered to subscribers", codec.MimeType, src.owner.id)
		}
		if err := tr.SetCodecPreferences(prefs); err != nil {
			return vrErrorf(janus.VRErrUnknown, "Error setting codec: %v", err)
		}
		ss.tr, ss.dt = tr, dt
		sender := tr.Sender()
		sub.wg.Add(1)
		go func() {
			defer sub.wg.Done()
			dt.ReadRTCP(sender)
		}()
		src.fwd.AddSink(dt)
		sub.mu.Lock()
		sub.streams = append(sub.streams, ss)
		sub.mu.Unlock()
	}
	return nil
}

// subCodecs are the codecs subscriber connections offer, with the
// payload types of this node.
func (s *SFU) subCodecs(kind string) []webrtc.RTPCodecParameters {
	audio, video := codecs(s.cfg, false)
	if kind == "video" {
		return video
	}
	return audio
}

// offer creates and sets an offer and returns it with its candidates.
func (sub *subscriber) offer(restart bool) (*janus.JSEP, *vrErr) {
	if sub.local != nil {
		// Nothing to negotiate: the streams flow from the start, and
		// their mids are their places in the list.
		sub.mu.Lock()
		for i, ss := range sub.streams {
			ss.mid, ss.mindex = strconv.Itoa(i), i
		}
		sub.started = true
		sub.mu.Unlock()
		return nil, nil
	}
	var opts *webrtc.OfferOptions
	if restart {
		opts = &webrtc.OfferOptions{ICERestart: true}
	}
	o, err := sub.pc.CreateOffer(opts)
	if err != nil {
		return nil, vrErrorf(janus.VRErrUnknown, "Error creating the offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(sub.pc)
	if err := sub.pc.SetLocalDescription(o); err != nil {
		return nil, vrErrorf(janus.VRErrUnknown, "Error setting the offer: %v", err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		return nil, vrErrorf(janus.VRErrUnknown, "ICE gathering timed out")
	}
	sub.mu.Lock()
	sub.offered = true
	sub.indexStreams()
	sub.mu.Unlock()
	return &janus.JSEP{Type: "offer", SDP: sub.pc.LocalDescription().SDP}, nil
}

// indexStreams reads mids and m-line indexes after an offer; sub.mu is held.
func (sub *subscriber) indexStreams() {
	trs := sub.pc.GetTransceivers()
	index := map[*webrtc.RTPTransceiver]int{}
	for i, tr := range trs {
		index[tr] = i
	}
	for _, ss := range sub.streams {
		if ss.tr != nil {
			ss.mid, ss.mindex = ss.tr.Mid(), index[ss.tr]
		} else { // data: the application m-line follows the media ones
			ss.mid, ss.mindex = dataMid(sub.pc.LocalDescription()), len(trs)
		}
	}
}

func dataMid(d *webrtc.SessionDescription) string {
	if d == nil {
		return ""
	}
	p, err := d.Unmarshal()
	if err != nil {
		return ""
	}
	for _, m := range p.MediaDescriptions {
		if m.MediaName.Media == "application" {
			mid, _ := m.Attribute("mid")
			return mid
		}
	}
	return ""
}

// describe lists the subscription's streams as the attached and updated
// events do.
func (sub *subscriber) describe() []map[string]any {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	out := make([]map[string]any, 0, len(sub.streams))
	for _, ss := range sub.streams {
		st := map[string]any{"mindex": ss.mindex, "mid": ss.mid, "type": ss.kind, "send": ss.send, "active": ss.active, "ready": sub.started}
		if ss.src != nil {
			st["feed_id"] = ss.src.owner.id
			st["feed_mid"] = ss.src.mid
			if d := ss.src.owner.displayName(); d != "" {
				st["feed_display"] = d
			}
			if ss.kind != "data" {
				st["codec"] = ss.src.codec()
			}
		}
		out = append(out, st)
	}
	return out
}

// start takes the subscriber's answer, or resumes a paused subscription.
func (sub *subscriber) start(jsep *janus.JSEP) (map[string]any, *janus.JSEP) {
	if jsep != nil {
		if sub.local != nil {
			return errData(vrErrorf(janus.VRErrInvalidSDPType, "Unexpected answer (the subscription is in-process media)")), nil
		}
		if jsep.Type != "answer" {
			return errData(vrErrorf(janus.VRErrInvalidSDPType, "Invalid SDP type (subscribers send answers)")), nil
		}
		sub.mu.Lock()
		offered := sub.offered
		sub.mu.Unlock()
		if !offered {
			return errData(vrErrorf(janus.VRErrInvalidSDPType, "Unexpected answer (no offer was sent)")), nil
		}
		if err := sub.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: jsep.SDP}); err != nil {
			return errData(vrErrorf(janus.VRErrInvalidSDP, "Invalid SDP (%v)", err)), nil
		}
		sub.h.flushCandidates(sub.pc)
		sub.mu.Lock()
		sub.offered, sub.started = false, true
		pending := sub.pending
		sub.pending = false
		sub.mu.Unlock()
		if pending {
			sub.renegotiate()
		}
	}
	sub.setPaused(false)
	return map[string]any{"videoroom": "event", "room": sub.roomRef(), "started": "ok"}, nil
}

func (sub *subscriber) setPaused(p bool) {
	sub.mu.Lock()
	sub.paused = p
	streams := append([]*subStream(nil), sub.streams...)
	sub.mu.Unlock()
	for _, ss := range streams {
		sub.mu.Lock()
		send := ss.send
		sub.mu.Unlock()
		if ss.ls != nil {
			ss.ls.paused.Store(p || !send)
		}
		if ss.dt == nil {
			continue
		}
		ss.dt.SetPaused(p || !send)
		if !p && send {
			ss.dt.RequestKeyframe()
		}
	}
}

func (sub *subscriber) stream(mid string) *subStream {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, ss := range sub.streams {
		if ss.mid == mid {
			return ss
		}
	}
	return nil
}

// configure changes what a subscription receives: a stream on or off
// (mid, send), the simulcast layer (substream), or an ICE restart.
func (sub *subscriber) configure(b body) (map[string]any, *janus.JSEP) {
	mid, e := b.str("mid", false)
	if e != nil {
		return errData(e), nil
	}
	var targets []*subStream
	if mid != "" {
		ss := sub.stream(mid)
		if ss == nil {
			return errData(vrErrorf(janus.VRErrInvalidElement, "Invalid element (no stream with mid '%s')", clipStr(mid))), nil
		}
		targets = []*subStream{ss}
	} else {
		sub.mu.Lock()
		targets = append(targets, sub.streams...)
		sub.mu.Unlock()
	}
	if send, ok, e := b.boolean("send"); e != nil {
		return errData(e), nil
	} else if ok {
		sub.mu.Lock()
		paused := sub.paused
		for _, ss := range targets {
			ss.send = send
		}
		sub.mu.Unlock()
		for _, ss := range targets {
			if ss.dt != nil {
				ss.dt.SetPaused(paused || !send)
			}
			if ss.ls != nil {
				ss.ls.paused.Store(paused || !send)
			}
		}
	}
	if v, ok, e := b.integer("substream"); e != nil {
		return errData(e), nil
	} else if ok {
		for _, ss := range targets {
			if ss.dt != nil && ss.kind == "video" {
				ss.dt.SetTarget(int(v))
				ss.dt.PickLayer(time.Now())
			}
		}
	}
	restart, _, e := b.boolean("restart")
	if e != nil {
		return errData(e), nil
	}
	out := map[string]any{"videoroom": "event", "room": sub.roomRef(), "configured": "ok"}
	if restart {
		offer, e := sub.offer(true)
		if e != nil {
			return errData(e), nil
		}
		return out, offer
	}
	return out, nil
}

// switchFeeds points m-lines at other publishers' streams of the same
// kind and codec, without renegotiation.
func (sub *subscriber) switchFeeds(b body) (map[string]any, *janus.JSEP) {
	reqs, e := streamRequests(b, "streams")
	if e != nil {
		return errData(e), nil
	}
	changes := 0
	for _, q := range reqs {
		srcs, _, e := sub.room.resolve([]streamReq{{Feed: q.Feed, MID: q.MID}})
		if e != nil {
			return errData(e), nil
		}
		var dests []*subStream
		if q.SubMID != "" {
			ss := sub.stream(q.SubMID)
			if ss == nil {
				return errData(vrErrorf(janus.VRErrInvalidElement, "Invalid element (no stream with sub_mid '%s')", clipStr(q.SubMID))), nil
			}
			dests = []*subStream{ss}
		} else { // legacy: every m-line of the matching kind
			sub.mu.Lock()
			dests = append(dests, sub.streams...)
			sub.mu.Unlock()
		}
		for _, ss := range dests {
			for _, src := range srcs {
				if ss.dt == nil || src.fwd == nil || !ss.dt.Fits(src.fwd) {
					continue
				}
				ss.dt.Switch(src.fwd)
				sub.mu.Lock()
				ss.src, ss.active = src, true
				sub.mu.Unlock()
				changes++
				break
			}
		}
	}
	if changes == 0 {
		return errData(vrErrorf(janus.VRErrInvalidElement, "Can't switch: no stream of the same kind and codec")), nil
	}
	return map[string]any{"videoroom": "event", "room": sub.roomRef(), "switched": "ok", "changes": changes, "streams": sub.describe()}, nil
}

// update adds (subscribe) or removes (unsubscribe) streams, or both
// (update), and renegotiates.
func (sub *subscriber) update(request string, b body) (map[string]any, *janus.JSEP) {
	var add, remove []streamReq
	var e *vrErr
	switch request {
	case "subscribe":
		add, e = streamRequests(b, "streams")
	case "unsubscribe":
		remove, e = streamRequests(b, "streams")
	case "update":
		if b.has("subscribe") {
			if add, e = streamRequests(b, "subscribe"); e != nil {
				return errData(e), nil
			}
		}
		if b.has("unsubscribe") {
			remove, e = streamRequests(b, "unsubscribe")
		}
		if len(add) == 0 && len(remove) == 0 && e == nil {
			e = vrErrorf(janus.VRErrMissingElement, "Missing element (subscribe or unsubscribe)")
		}
	}
	if e != nil {
		return errData(e), nil
	}
	for _, q := range remove {
		var feed uint64
		if len(q.Feed) > 0 {
			if feed, e = parseID("feed", q.Feed); e != nil {
				return errData(e), nil
			}
		}
		sub.mu.Lock()
		var gone []*subStream
		for _, ss := range sub.streams {
			match := (q.SubMID != "" && ss.mid == q.SubMID) ||
				(q.SubMID == "" && ss.src != nil && feed == ss.src.owner.id && (q.MID == "" || q.MID == ss.src.mid))
			if match && ss.active {
				gone = append(gone, ss)
			}
		}
		sub.mu.Unlock()
		for _, ss := range gone {
			sub.deactivate(ss)
		}
	}
	if len(add) > 0 {
		srcs, subs, e := sub.room.resolve(add)
		if e != nil {
			return errData(e), nil
		}
		if e := sub.add(srcs, subs); e != nil {
			return errData(e), nil
		}
	}
	sub.mu.Lock()
	busy := sub.offered
	if busy {
		sub.pending = true
	}
	sub.mu.Unlock()
	if busy {
		return map[string]any{"videoroom": "updating", "room": sub.roomRef()}, nil
	}
	offer, e := sub.offer(false)
	if e != nil {
		return errData(e), nil
	}
	return map[string]any{"videoroom": "updated", "room": sub.roomRef(), "streams": sub.describe()}, offer
}

// deactivate stops an m-line: its source no longer feeds it and the
// m-line goes inactive at the next negotiation.
func (sub *subscriber) deactivate(ss *subStream) {
	sub.mu.Lock()
	src, wasActive := ss.src, ss.active
	ss.active, ss.send = false, false
	sub.mu.Unlock()
	if !wasActive {
		return
	}
	if ss.ls != nil {
		if src != nil {
			src.fwd.RemoveSink(ss.ls)
		}
		ss.ls.stop()
	}
	if ss.dt != nil {
		if src != nil {
			src.fwd.RemoveSink(ss.dt)
		}
		ss.dt.SetPaused(true)
		if ss.tr != nil {
			sub.pc.RemoveTrack(ss.tr.Sender())
		}
	}
}

// renegotiate sends an unsolicited "updated" event with a new offer.
func (sub *subscriber) renegotiate() {
	if sub.local != nil {
		return // in process: a stream that stopped has told its Local
	}
	sub.mu.Lock()
	if sub.closed {
		sub.mu.Unlock()
		return
	}
	if sub.offered {
		sub.pending = true
		sub.mu.Unlock()
		return
	}
	sub.mu.Unlock()
	offer, e := sub.offer(false)
	if e != nil {
		sub.room.sfu.log.Debug("subscriber renegotiation failed", "err", e.Reason)
		return
	}
	sub.h.event("", map[string]any{"videoroom": "updated", "room": sub.roomRef(), "streams": sub.describe()}, offer)
}

// feedGone deactivates the m-lines fed by a publication that ended.
func (sub *subscriber) feedGone(streams map[*pubStream]bool) {
	sub.mu.Lock()
	if sub.closed {
		sub.mu.Unlock()
		return
	}
	var gone []*subStream
	for _, ss := range sub.streams {
		if ss.active && streams[ss.src] {
			gone = append(gone, ss)
		}
	}
	sub.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	for _, ss := range gone {
		sub.deactivate(ss)
	}
	sub.renegotiate()
}

// feedGone tells the room's subscriptions that publisher streams ended.
func (r *Room) feedGone(p *participant, streams []*pubStream) {
	set := map[*pubStream]bool{}
	for _, ps := range streams {
		set[ps] = true
	}
	r.mu.Lock()
	subs := make([]*subscriber, 0, len(r.subscribers))
	for s := range r.subscribers {
		subs = append(subs, s)
	}
	r.mu.Unlock()
	for _, s := range subs {
		s.h.run(func() { s.feedGone(set) })
	}
}

// relayData sends a publisher's data channel message to its subscribers.
func (r *Room) relayData(p *participant, msg webrtc.DataChannelMessage) {
	r.mu.Lock()
	subs := make([]*subscriber, 0, len(r.subscribers))
	for s := range r.subscribers {
		subs = append(subs, s)
	}
	r.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		dc := s.dc
		want := false
		for _, ss := range s.streams {
			if ss.kind == "data" && ss.active && ss.src != nil && ss.src.owner == p {
				want = true
			}
		}
		s.mu.Unlock()
		if !want || dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
			continue
		}
		if msg.IsString {
			dc.SendText(string(msg.Data))
		} else {
			dc.Send(msg.Data)
		}
	}
}

func (sub *subscriber) onState(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateConnected:
		if sub.direct != nil {
			if err := sub.direct.arm(sub.pc); err != nil && sub.room.sfu.direct.warned.CompareAndSwap(false, true) {
				sub.room.sfu.log.Warn("media: a subscriber's audio takes Pion's send path (config key media.directReceive)", "err", err)
			}
		}
		sub.h.core(janus.Message{Janus: "webrtcup"})
		sub.mu.Lock()
		streams := append([]*subStream(nil), sub.streams...)
		sub.mu.Unlock()
		for _, ss := range streams {
			if ss.dt != nil {
				ss.dt.RequestKeyframe()
			}
		}
	case webrtc.PeerConnectionStateFailed:
		sub.h.run(func() {
			if sub.h.vr.sub == sub {
				sub.close("ICE failed")
				sub.h.vr.sub = nil
			}
		})
	}
}

// tick is the subscription's per-second upkeep: simulcast layer choice
// and slow link reports.
func (sub *subscriber) tick(now time.Time) {
	sub.mu.Lock()
	streams := append([]*subStream(nil), sub.streams...)
	sub.mu.Unlock()
	for _, ss := range streams {
		if ss.dt == nil {
			continue
		}
		if f, slow := ss.dt.Tick(now); slow {
			up, lost := false, int(f*100)
			sub.h.core(janus.Message{Janus: "slowlink", MID: ss.mid, Media: ss.kind, Uplink: &up, Lost: &lost})
		}
	}
}

// close ends the subscription: its sources stop feeding it and its peer
// connection closes.
func (sub *subscriber) close(reason string) {
	sub.mu.Lock()
	if sub.closed {
		sub.mu.Unlock()
		return
	}
	sub.closed = true
	streams := append([]*subStream(nil), sub.streams...)
	sub.mu.Unlock()
	for _, ss := range streams {
		if ss.src != nil && ss.dt != nil {
			ss.src.fwd.RemoveSink(ss.dt)
		}
		if ss.ls != nil {
			if ss.src != nil {
				ss.src.fwd.RemoveSink(ss.ls)
			}
			ss.ls.stop()
		}
	}
	sub.room.mu.Lock()
	delete(sub.room.subscribers, sub)
	sub.room.mu.Unlock()
	if sub.direct != nil {
		sub.direct.close()
	}
	if sub.pc != nil {
		sub.pc.Close()
	}
	sub.wg.Wait()
	sub.room.sfu.stats.subscribers.Add(-1)
	sub.h.core(janus.Message{Janus: "hangup", Reason: reason})
}

// request handles a request of a handle joined as a subscriber.
func (sub *subscriber) request(request string, b body, jsep *janus.JSEP) (map[string]any, *janus.JSEP) {
	switch request {
	case "join":
		return errData(vrErrorf(janus.VRErrAlreadyJoined, "Already in as a subscriber on this handle")), nil
	case "start":
		return sub.start(jsep)
	case "pause":
		sub.setPaused(true)
		return map[string]any{"videoroom": "event", "room": sub.roomRef(), "paused": "ok"}, nil
	case "configure":
		return sub.configure(b)
	case "switch":
		return sub.switchFeeds(b)
	case "subscribe", "unsubscribe", "update":
		return sub.update(request, b)
	case "leave":
		sub.close("leave request")
		sub.h.vr.sub = nil
		return map[string]any{"videoroom": "event", "room": sub.roomRef(), "left": "ok"}, nil
	}
	return errData(vrErrorf(janus.VRErrInvalidRequest, "Unknown request '%s'", request)), nil
}

// roomGone ends a subscription whose room was destroyed (on its handle's
// worker).
func (sub *subscriber) roomGone() {
	h := sub.h
	if h.vr.sub != sub {
		return
	}
	h.event("", map[string]any{"videoroom": "destroyed", "room": sub.roomRef()}, nil)
	sub.close("room destroyed")
	h.vr.sub = nil
}

// kicked ends a subscription whose user was expelled (on its handle's
// worker).
func (sub *subscriber) kicked() {
	h := sub.h
	if h.vr.sub != sub {
		return
	}
	h.event("", map[string]any{"videoroom": "event", "room": sub.roomRef(), "leaving": "ok", "reason": "kicked"}, nil)
	sub.close("kicked")
	h.vr.sub = nil
}
