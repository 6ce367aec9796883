package videoroom

import (
	"encoding/json"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/openwac/wac/internal/media/placement"
)

// Room is a media room: its publishers (participants joined as
// publishers, active or not) and its subscriptions.
type Room struct {
	ID     string
	Number int64

	sfu         *SFU
	opts        placement.RoomOptions
	bitrate     int // bps per video
	roomBitrate int // bps for the room's videos, 0 = none
	publishers  int
	created     time.Time

	mu           sync.Mutex
	participants map[uint64]*participant
	subscribers  map[*subscriber]struct{}
	closed       bool
	// expelled are users signaling took out of the room: their grants are
	// refused here until signaling admits them again.
	expelled map[string]bool
	// rec is the room's recording (record.go).
	rec recState
}

func newRoom(s *SFU, id string, number int64, opts placement.RoomOptions) *Room {
	r := &Room{ID: id, Number: number, sfu: s, opts: opts, created: time.Now(),
		bitrate: s.cfg.Bitrate * 1000, roomBitrate: s.cfg.RoomBitrate * 1000, publishers: s.cfg.Publishers,
		participants: map[uint64]*participant{}, subscribers: map[*subscriber]struct{}{}}
	if opts.Bitrate > 0 {
		r.bitrate = opts.Bitrate * 1000
	}
	if opts.RoomBitrate > 0 {
		r.roomBitrate = opts.RoomBitrate * 1000
	}
	if opts.Publishers > 0 {
		r.publishers = opts.Publishers
	}
	return r
}

// ref renders the room id the way a client addressed it.
func (r *Room) ref(numeric bool) json.RawMessage {
	if numeric {
		return json.RawMessage(strconv.FormatInt(r.Number, 10))
	}
	b, _ := json.Marshal(r.ID)
	return b
}

// Participants is the number of joined publisher-type participants.
func (r *Room) Participants() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.participants)
}

// activePublishers lists the participants that publish media.
func (r *Room) activePublishers(except *participant) []map[string]any {
	r.mu.Lock()
	ps := make([]*participant, 0, len(r.participants))
	for _, p := range r.participants {
		if p != except {
			ps = append(ps, p)
		}
	}
	r.mu.Unlock()
	out := []map[string]any{}
	for _, p := range ps {
		if d := p.describe(); d != nil {
			out = append(out, d)
		}
	}
	return out
}

// notify sends a plugin event to every participant but except; "room" is
// filled in as each recipient addressed the room.
func (r *Room) notify(except *participant, data map[string]any) {
	r.mu.Lock()
	ps := make([]*participant, 0, len(r.participants))
	for _, p := range r.participants {
		if p != except {
			ps = append(ps, p)
		}
	}
	r.mu.Unlock()
	for _, p := range ps {
		d := maps.Clone(data)
		d["room"] = r.ref(p.numericRef)
		p.h.event("", d, nil)
	}
}

// videoCap is the cap of one published video: the room's per-video cap,
// shared under the room cap when there is one.
func (r *Room) videoCap() int {
	c := r.bitrate
	if r.roomBitrate > 0 {
		r.mu.Lock()
		videos := 0
		for _, p := range r.participants {
			videos += p.videoCount()
		}
		r.mu.Unlock()
		if videos > 0 {
			c = min(c, r.roomBitrate/videos)
		}
	}
	return c
}

// tick runs the room's per-second upkeep.
func (r *Room) tick(now time.Time) {
	r.mu.Lock()
	ps := make([]*participant, 0, len(r.participants))
	for _, p := range r.participants {
		ps = append(ps, p)
	}
	subs := make([]*subscriber, 0, len(r.subscribers))
	for s := range r.subscribers {
		subs = append(subs, s)
	}
	r.mu.Unlock()
	vcap := r.videoCap()
	for _, p := range ps {
		p.tick(now, vcap)
	}
	for _, s := range subs {
		s.tick(now)
	}
}

// destroy tells everyone in the room it is gone and ends their media.
func (r *Room) destroy() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	ps, subs := r.handlesOf("")
	r.mu.Unlock()
	r.stopRecording("room ended")
	for _, p := range ps {
		p.h.run(p.roomGone)
	}
	for _, s := range subs {
		s.h.run(s.roomGone)
	}
}

// handlesOf lists the room's participants and subscribers of user (of
// everyone when user is ""); r.mu is held.
func (r *Room) handlesOf(user string) ([]*participant, []*subscriber) {
	var ps []*participant
	for _, p := range r.participants {
		if user == "" || p.user == user {
			ps = append(ps, p)
		}
	}
	var subs []*subscriber
	for s := range r.subscribers {
		if user == "" || s.user == user {
			subs = append(subs, s)
		}
	}
	return ps, subs
}

// expel ends a user's publisher and subscriptions in the room (each is told
// it was kicked) and refuses the user's grant until admit. It returns how
// many handles it ended.
func (r *Room) expel(user string) int {
	r.mu.Lock()
	if r.expelled == nil {
		r.expelled = map[string]bool{}
	}
	r.expelled[user] = true
	ps, subs := r.handlesOf(user)
	r.mu.Unlock()
	for _, p := range ps {
		p.h.run(p.kicked)
	}
	for _, s := range subs {
		s.h.run(s.kicked)
	}
	return len(ps) + len(subs)
}

// admit lets an expelled user's grants in again.
func (r *Room) admit(user string) {
	r.mu.Lock()
	delete(r.expelled, user)
	r.mu.Unlock()
}

func (r *Room) isExpelled(user string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.expelled[user]
}

// listParticipants answers listparticipants.
func (r *Room) listParticipants() []map[string]any {
	r.mu.Lock()
	ps := make([]*participant, 0, len(r.participants))
	for _, p := range r.participants {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	out := make([]map[string]any, 0, len(ps))
	for _, p := range ps {
		p.mu.Lock()
		e := map[string]any{"id": p.id, "publisher": p.active, "talking": p.talking}
		if p.display != "" {
			e["display"] = p.display
		}
		p.mu.Unlock()
		out = append(out, e)
	}
	return out
}
