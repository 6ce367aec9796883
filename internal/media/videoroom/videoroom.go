package videoroom

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/grant"
	"github.com/openwac/wac/internal/media/janus"
	"github.com/openwac/wac/internal/media/placement"
)

// vrHandle is the VideoRoom state of a handle: nothing, a publisher-type
// participant, or a subscription.
type vrHandle struct {
	pub   *participant
	sub   *subscriber
	cands []webrtc.ICECandidateInit // trickled before there was a peer connection
}

// vrErr is a VideoRoom error answer.
type vrErr = janus.PluginError

func vrErrorf(code int, format string, args ...any) *vrErr {
	return &vrErr{Code: code, Reason: fmt.Sprintf(format, args...)}
}

func errData(e *vrErr) map[string]any {
	return map[string]any{"videoroom": "event", "error_code": e.Code, "error": e.Reason}
}

// body is a VideoRoom request body with typed accessors that produce the
// plugin's error codes (429 missing, 430 invalid element).
type body map[string]json.RawMessage

func (b body) has(key string) bool { _, ok := b[key]; return ok && string(b[key]) != "null" }

func (b body) str(key string, required bool) (string, *vrErr) {
	if !b.has(key) {
		if required {
			return "", vrErrorf(janus.VRErrMissingElement, "Missing element (%s)", key)
		}
		return "", nil
	}
	var s string
	if json.Unmarshal(b[key], &s) != nil {
		return "", vrErrorf(janus.VRErrInvalidElement, "Invalid element (%s should be a string)", key)
	}
	return s, nil
}

func (b body) boolean(key string) (v, present bool, e *vrErr) {
	if !b.has(key) {
		return false, false, nil
	}
	if json.Unmarshal(b[key], &v) != nil {
		return false, true, vrErrorf(janus.VRErrInvalidElement, "Invalid element (%s should be a boolean)", key)
	}
	return v, true, nil
}

func (b body) integer(key string) (v int64, present bool, e *vrErr) {
	if !b.has(key) {
		return 0, false, nil
	}
	if json.Unmarshal(b[key], &v) != nil || v < 0 {
		return 0, true, vrErrorf(janus.VRErrInvalidElement, "Invalid element (%s should be a positive integer)", key)
	}
	return v, true, nil
}

// id reads a feed or participant id: a positive integer, or a string of
// digits.
func (b body) id(key string, required bool) (uint64, *vrErr) {
	if !b.has(key) {
		if required {
			return 0, vrErrorf(janus.VRErrMissingElement, "Missing element (%s)", key)
		}
		return 0, nil
	}
	return parseID(key, b[key])
}

func parseID(key string, raw json.RawMessage) (uint64, *vrErr) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || n == 0 {
		return 0, vrErrorf(janus.VRErrInvalidElement, "Invalid element (%s should be a positive integer)", key)
	}
	return n, nil
}

// roomRef is a Janus room reference: a number, or a string (the QSS room
// uuid, or digits).
type roomRef struct {
	num int64
	str string
}

func (r roomRef) String() string {
	if r.num > 0 {
		return strconv.FormatInt(r.num, 10)
	}
	return r.str
}

func (b body) room(required bool) (roomRef, *vrErr) {
	if !b.has("room") {
		if required {
			return roomRef{}, vrErrorf(janus.VRErrMissingElement, "Missing element (room)")
		}
		return roomRef{}, nil
	}
	var ref roomRef
	if json.Unmarshal(b["room"], &ref.str) == nil {
		if ref.str == "" || len(ref.str) > 128 {
			return ref, vrErrorf(janus.VRErrInvalidElement, "Invalid element (room)")
		}
		return ref, nil
	}
	if json.Unmarshal(b["room"], &ref.num) != nil || ref.num <= 0 {
		return ref, vrErrorf(janus.VRErrInvalidElement, "Invalid element (room should be a positive integer or a string)")
	}
	return ref, nil
}

// Requests answered at once (Janus "synchronous" requests).
var syncRequests = map[string]bool{"create": true, "destroy": true, "exists": true, "list": true,
	"listparticipants": true, "kick": true, "edit": true, "allowed": true, "moderate": true,
	"enable_recording": true, "rtp_forward": true, "stop_rtp_forward": true, "listforwarders": true}

// Requests answered with an event after an ack.
var asyncRequests = map[string]bool{"join": true, "joinandconfigure": true, "configure": true, "publish": true,
	"unpublish": true, "start": true, "pause": true, "switch": true, "leave": true,
	"subscribe": true, "unsubscribe": true, "update": true}

// vrMessage handles a "message" to the VideoRoom.
func (s *SFU) vrMessage(h *handle, req janus.Request) janus.Message {
	var b body
	if err := json.Unmarshal(req.Body, &b); err != nil || b == nil {
		return errorReply(req, janus.Errorf(janus.ErrInvalidJSONObject, "Invalid body object"))
	}
	request, e := b.str("request", true)
	if e != nil {
		return pluginSuccess(h, req, errData(e))
	}
	switch {
	case syncRequests[request]:
		return pluginSuccess(h, req, s.vrSync(h, req, request, b))
	case asyncRequests[request]:
		txn, jsep, token := req.Transaction, req.JSEP, req.Token
		if !h.run(func() {
			data, answer := s.vrAsync(h, request, b, jsep, token)
			h.event(txn, data, answer)
		}) {
			return errorReply(req, janus.Errorf(janus.ErrPluginMessage, "Error sending message to plugin (handle busy)"))
		}
		return ack(req)
	}
	return pluginSuccess(h, req, errData(vrErrorf(janus.VRErrInvalidRequest, "Unknown request '%s'", clipStr(request))))
}

func pluginSuccess(h *handle, req janus.Request, data any) janus.Message {
	raw, _ := json.Marshal(data)
	m := success(req, nil)
	m.Sender = h.id
	m.PluginData = &janus.PluginData{Plugin: janus.VideoRoom, Data: raw}
	return m
}

// clipStr shortens client text echoed in error reasons.
func clipStr(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// maxDisplay bounds displays and descriptions, which are sent to every
// participant of a room (Janus has no bound).
const maxDisplay = 256

func clipDisplay(s string) string {
	if len(s) > maxDisplay {
		return s[:maxDisplay]
	}
	return s
}

// adminOK reports whether the body carries the configured admin key. A
// session that shows it holds a grant from then on (as far as
// media.maxSessions allows).
func (s *SFU) adminOK(h *handle, b body) bool {
	if s.cfg.AdminKey == "" {
		return false
	}
	k, _ := b.str("admin_key", false)
	if subtle.ConstantTimeCompare([]byte(k), []byte(s.cfg.AdminKey)) != 1 {
		return false
	}
	s.grantSession(h.session)
	return true
}

// authorize checks the room grant of a request: the body's token, else
// the session's core-level token. need is "publish", "subscribe" or "".
func (s *SFU) authorize(h *handle, b body, roomID string, need string) (*grant.Grant, *vrErr) {
	token, e := b.str("token", false)
	if e != nil {
		return nil, e
	}
	var g grant.Grant
	if token != "" {
		var err error
		g, err = grant.Verify(s.secret, token, time.Now())
		switch {
		case errors.Is(err, grant.ErrExpired):
			return nil, vrErrorf(janus.VRErrUnauthorized, "Unauthorized (room token expired)")
		case err != nil:
			return nil, vrErrorf(janus.VRErrUnauthorized, "Unauthorized (invalid room token)")
		}
	} else {
		h.session.mu.Lock()
		sg := h.session.grant
		h.session.mu.Unlock()
		if sg == nil {
			return nil, vrErrorf(janus.VRErrUnauthorized, "Unauthorized (a room token is required)")
		}
		if time.Now().Unix() >= sg.Expires {
			return nil, vrErrorf(janus.VRErrUnauthorized, "Unauthorized (room token expired)")
		}
		g = *sg
	}
	if g.Room != roomID {
		return nil, vrErrorf(janus.VRErrUnauthorized, "Unauthorized (not in the room's ACL)")
	}
	if r := s.Room(roomID); r != nil && r.isExpelled(g.User) {
		return nil, vrErrorf(janus.VRErrUnauthorized, "Unauthorized (expelled from the room)")
	}
	switch {
	case need == "publish" && !g.Publish:
		return nil, vrErrorf(janus.VRErrUnauthorized, "Unauthorized (the room token does not allow publishing)")
	case need == "subscribe" && !g.Subscribe:
		return nil, vrErrorf(janus.VRErrUnauthorized, "Unauthorized (the room token does not allow subscribing)")
	}
	if e := s.grantSession(h.session); e != nil {
		return nil, &vrErr{Code: e.Code, Reason: e.Reason}
	}
	return &g, nil
}

// vrSync answers a synchronous request.
func (s *SFU) vrSync(h *handle, req janus.Request, request string, b body) map[string]any {
	if req.JSEP != nil {
		return errData(vrErrorf(janus.VRErrInvalidSDPType, "Request '%s' does not take an SDP", request))
	}
	switch request {
	case "create":
		return s.vrCreate(h, b)
	case "destroy":
		ref, e := b.room(true)
		if e != nil {
			return errData(e)
		}
		r := s.lookup(ref)
		if r == nil {
			return errData(vrErrorf(janus.VRErrNoSuchRoom, "No such room (%s)", ref))
		}
		if !s.adminOK(h, b) {
			return errData(vrErrorf(janus.VRErrUnauthorized, "Unauthorized (wrong admin_key)"))
		}
		s.DestroyRoom(r.ID, "destroy request")
		return map[string]any{"videoroom": "destroyed", "room": r.ref(ref.num > 0), "permanent": false}
	case "exists":
		ref, e := b.room(true)
		if e != nil {
			return errData(e)
		}
		return map[string]any{"videoroom": "success", "room": roomJSON(ref), "exists": s.lookup(ref) != nil}
	case "list":
		list := []map[string]any{}
		if s.adminOK(h, b) {
			s.mu.Lock()
			for _, r := range s.rooms {
				list = append(list, map[string]any{"room": r.Number, "description": r.description(),
					"pin_required": false, "is_private": true, "max_publishers": r.publishers,
					"bitrate": r.bitrate, "fir_freq": int64(s.cfg.FIRFreq / time.Second), "num_participants": len(r.participants),
					"audiocodec": audioCodecList(s.cfg.AudioCodecs), "videocodec": s.cfg.Codec, "record": r.opts.Record})
			}
			s.mu.Unlock()
		}
		return map[string]any{"videoroom": "success", "list": list}
	case "listparticipants":
		ref, e := b.room(true)
		if e != nil {
			return errData(e)
		}
		r := s.lookup(ref)
		if r == nil {
			return errData(vrErrorf(janus.VRErrNoSuchRoom, "No such room (%s)", ref))
		}
		if !s.adminOK(h, b) {
			if _, e := s.authorize(h, b, r.ID, ""); e != nil {
				return errData(e)
			}
		}
		return map[string]any{"videoroom": "participants", "room": r.ref(ref.num > 0), "participants": r.listParticipants()}
	case "kick":
		ref, e := b.room(true)
		if e != nil {
			return errData(e)
		}
		r := s.lookup(ref)
		if r == nil {
			return errData(vrErrorf(janus.VRErrNoSuchRoom, "No such room (%s)", ref))
		}
		if !s.adminOK(h, b) {
			return errData(vrErrorf(janus.VRErrUnauthorized, "Unauthorized (wrong admin_key)"))
		}
		id, e := b.id("id", true)
		if e != nil {
			return errData(e)
		}
		r.mu.Lock()
		p := r.participants[id]
		r.mu.Unlock()
		if p == nil {
			return errData(vrErrorf(janus.VRErrNoSuchFeed, "No such user %d in room %s", id, ref))
		}
		p.h.run(p.kicked)
		return map[string]any{"videoroom": "success"}
	}
	return errData(vrErrorf(janus.VRErrInvalidRequest, "Unsupported request '%s'", request))
}

func roomJSON(ref roomRef) any {
	if ref.num > 0 {
		return ref.num
	}
	return ref.str
}

func audioCodecList(l []string) string {
	out := ""
	for i, c := range l {
		if i > 0 {
			out += ","
		}
		out += c
	}
	return out
}

func (r *Room) description() string {
	if r.opts.Description != "" {
		return r.opts.Description
	}
	return "Room " + r.ID
}

// vrCreate creates a room through the API: with the admin key, or with a
// grant for that very room (so a client can create the room signaling
// granted it, as the load tool and Janus-style apps do).
func (s *SFU) vrCreate(h *handle, b body) map[string]any {
	ref, e := b.room(false)
	if e != nil {
		return errData(e)
	}
	admin := s.adminOK(h, b)
	if ref == (roomRef{}) && !admin {
		return errData(vrErrorf(janus.VRErrMissingElement, "Missing element (room)"))
	}
	by := ""
	if !admin {
		g, e := s.authorize(h, b, ref.String(), "")
		if e != nil {
			return errData(e)
		}
		by = g.User
	}
	var opts placement.RoomOptions
	if v, ok, e := b.integer("bitrate"); e != nil {
		return errData(e)
	} else if ok && v > 0 {
		opts.Bitrate = int(max(v/1000, 1)) // Janus gives bps
	}
	if v, ok, e := b.integer("publishers"); e != nil {
		return errData(e)
	} else if ok && v > 0 {
		opts.Publishers = int(min(v, int64(s.cfg.Publishers)))
	}
	if d, e := b.str("description", false); e != nil {
		return errData(e)
	} else {
		opts.Description = clipStr(d)
	}
	if v, _, e := b.boolean("record"); e != nil {
		return errData(e)
	} else {
		opts.Record = v
	}
	if opts.Record && s.recorder == nil {
		return errData(vrErrorf(janus.VRErrInvalidElement, "Invalid element (record: recording is off on this media node, recording.enabled)"))
	}
	id, num := ref.str, ref.num
	if num == 0 && id != "" {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 {
			num, id = n, ""
		}
	}
	r, err := s.CreateRoom(id, num, opts)
	if errors.Is(err, placement.ErrRoomExists) {
		return errData(vrErrorf(janus.VRErrRoomExists, "Room %s already exists", ref))
	}
	if err != nil {
		return errData(vrErrorf(janus.VRErrUnknown, "%v", err))
	}
	if opts.Record {
		// A room made through the Janus API belongs to no domain: its
		// recording is seen by the system's admins and the grant's user.
		if err := r.startRecording(placement.RecordingOptions{By: by}); err != nil {
			s.DestroyRoom(r.ID, "recording failed to start")
			return errData(vrErrorf(janus.VRErrUnknown, "Recording failed to start (%v)", err))
		}
	}
	return map[string]any{"videoroom": "created", "room": r.ref(ref.num > 0 || ref.str == ""), "permanent": false}
}

// vrAsync handles an asynchronous request on the handle's worker and
// returns the event data and JSEP to answer with.
func (s *SFU) vrAsync(h *handle, request string, b body, jsep *janus.JSEP, token string) (map[string]any, *janus.JSEP) {
	vr := &h.vr
	switch {
	case vr.pub == nil && vr.sub == nil:
		switch request {
		case "join", "joinandconfigure":
			return s.vrJoin(h, request, b, jsep)
		}
		return errData(vrErrorf(janus.VRErrJoinFirst, "Invalid request on unconfigured participant")), nil
	case vr.pub != nil:
		return vr.pub.request(request, b, jsep)
	default:
		return vr.sub.request(request, b, jsep)
	}
}

func (s *SFU) vrJoin(h *handle, request string, b body, jsep *janus.JSEP) (map[string]any, *janus.JSEP) {
	ptype, e := b.str("ptype", true)
	if e != nil {
		return errData(e), nil
	}
	ref, e := b.room(true)
	if e != nil {
		return errData(e), nil
	}
	r := s.lookup(ref)
	if r == nil {
		return errData(vrErrorf(janus.VRErrNoSuchRoom, "No such room (%s)", ref)), nil
	}
	switch ptype {
	case "publisher":
		g, e := s.authorize(h, b, r.ID, "")
		if e != nil {
			return errData(e), nil
		}
		return s.joinPublisher(h, r, ref.num > 0, g, request, b, jsep)
	case "subscriber", "listener":
		if request == "joinandconfigure" {
			return errData(vrErrorf(janus.VRErrInvalidElement, "Invalid element (ptype)")), nil
		}
		if jsep != nil {
			return errData(vrErrorf(janus.VRErrInvalidSDPType, "Subscribers do not send offers")), nil
		}
		g, e := s.authorize(h, b, r.ID, "subscribe")
		if e != nil {
			return errData(e), nil
		}
		return s.joinSubscriber(h, r, ref.num > 0, g, b)
	}
	return errData(vrErrorf(janus.VRErrInvalidElement, "Invalid element (ptype)")), nil
}

// vrTrickle adds trickled candidates to the handle's peer connection, or
// keeps them until there is one.
func (s *SFU) vrTrickle(h *handle, cands []janus.Candidate) {
	var pc *webrtc.PeerConnection
	switch {
	case h.vr.pub != nil:
		pc = h.vr.pub.peer()
	case h.vr.sub != nil:
		pc = h.vr.sub.pc
	}
	for _, c := range cands {
		if c.Completed || c.Candidate == "" {
			continue
		}
		init := webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex}
		if pc == nil || pc.RemoteDescription() == nil {
			if len(h.vr.cands) < 64 {
				h.vr.cands = append(h.vr.cands, init)
			}
			continue
		}
		if err := pc.AddICECandidate(init); err != nil {
			s.log.Debug("bad trickled candidate", "handle", h.id, "err", err)
		}
	}
}

// flushCandidates adds the candidates trickled before the remote
// description was set.
func (h *handle) flushCandidates(pc *webrtc.PeerConnection) {
	for _, c := range h.vr.cands {
		pc.AddICECandidate(c)
	}
	h.vr.cands = nil
}

// hangup closes the handle's peer connection (core hangup request).
func (h *handle) hangup(reason string) {
	switch {
	case h.vr.pub != nil && h.vr.pub.publishing():
		h.vr.pub.unpublish(reason)
	case h.vr.sub != nil:
		h.vr.sub.close(reason)
		h.vr.sub = nil
	}
}

// release drops the handle's plugin state (detach, session end).
func (h *handle) release(reason string) {
	if h.vr.pub != nil {
		h.vr.pub.leave()
		h.vr.pub = nil
	}
	if h.vr.sub != nil {
		h.vr.sub.close(reason)
		h.vr.sub = nil
	}
}
