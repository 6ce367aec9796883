package sipmedia

import (
	"context"
	"fmt"
	"sync"

	"github.com/openwac/wac/internal/media/mixer"
)

// roomMix is the mixer of the phones of one room that this bridge carries
// and that hear two tracks or more. Each such phone is a leg of it (its
// trunk audio in, the mix of everyone else out, encoded in its codec), and
// every other track of the room (an app's audio, a phone of another node)
// is a source-only leg, decoded once however many phones hear it: one
// phone's subscription feeds it (the feeder), the others' packets of the
// same track are not needed. The phones' own feeds in the room are not
// taken as sources: their audio is in the mix already, from their legs.
type roomMix struct {
	b    *Bridge
	room string
	m    *mixer.Mixer

	mu      sync.Mutex
	phones  map[*leg]*mixer.Leg
	ownFeed map[uint64]bool // the phones' feeds in the room
	sources map[uint64]*mixSource
}

// mixSource is one track of the room in the mix.
type mixSource struct {
	in      *mixer.Leg
	feeder  *hearing              // whose packets are mixed; nil = the next to come
	hearers map[*hearing]struct{} // the phones' hearings of the track
}

// joinRoomMix adds the phone to its room's mix, making the mix if the
// room has none yet in this bridge.
func (l *leg) joinRoomMix() (*roomMix, *mixer.Leg, error) {
	codec, err := codecOf(l.mime)
	if err != nil {
		return nil, nil, err
	}
	b := l.b
	b.mixMu.Lock()
	defer b.mixMu.Unlock()
	rm := b.mixes[l.room]
	if rm == nil {
		rm = &roomMix{b: b, room: l.room, m: mixer.New(context.Background(), mixer.Config{Logger: b.log}),
			phones: map[*leg]*mixer.Leg{}, ownFeed: map[uint64]bool{}, sources: map[uint64]*mixSource{}}
		b.mixes[l.room] = rm
	}
	in, err := rm.m.Join(mixer.LegConfig{Name: "phone", Codec: codec, Send: l.sendMixed})
	if err != nil {
		if len(rm.phones) == 0 {
			rm.m.Close()
			delete(b.mixes, l.room)
		}
		return nil, nil, err
	}
	rm.mu.Lock()
	rm.phones[l] = in
	rm.ownFeed[l.ownID] = true
	// A track that was mixed as a source is this phone: its audio comes
	// from its leg now.
	if src := rm.sources[l.ownID]; src != nil {
		src.in.Leave()
		delete(rm.sources, l.ownID)
	}
	rm.mu.Unlock()
	return rm, in, nil
}

// leave takes a phone out of the mix; the last one closes it.
func (rm *roomMix) leave(l *leg) {
	b := rm.b
	b.mixMu.Lock()
	defer b.mixMu.Unlock()
	rm.mu.Lock()
	in := rm.phones[l]
	delete(rm.phones, l)
	delete(rm.ownFeed, l.ownID)
	last := len(rm.phones) == 0
	rm.mu.Unlock()
	if in != nil {
		in.Leave()
	}
	if last {
		rm.m.Close()
		if b.mixes[rm.room] == rm {
			delete(b.mixes, rm.room)
		}
	}
}

// write mixes one packet of a track a phone hears (feed: the track's
// publisher), if that phone's hearing is the track's feeder.
func (rm *roomMix) write(feed uint64, h *hearing, seq uint16, payload []byte) error {
	rm.mu.Lock()
	if rm.ownFeed[feed] {
		rm.mu.Unlock()
		return nil // a phone of this mix: mixed from its leg
	}
	src := rm.sources[feed]
	if src == nil {
		codec, err := codecOf(h.mime)
		if err != nil {
			rm.mu.Unlock()
			return err
		}
		in, err := rm.m.Join(mixer.LegConfig{Name: fmt.Sprintf("feed-%d", feed), Codec: codec})
		if err != nil {
			rm.mu.Unlock()
			return err
		}
		src = &mixSource{in: in, hearers: map[*hearing]struct{}{}}
		rm.sources[feed] = src
	}
	src.hearers[h] = struct{}{}
	if src.feeder == nil {
		src.feeder = h
	}
	mine := src.feeder == h
	in := src.in
	rm.mu.Unlock()
	if mine {
		in.Write(seq, payload)
	}
	return nil
}

// unhear forgets a phone's hearing of a track: another hearing feeds it,
// and a track nobody hears any more leaves the mix.
func (rm *roomMix) unhear(feed uint64, h *hearing) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	src := rm.sources[feed]
	if src == nil {
		return
	}
	delete(src.hearers, h)
	if src.feeder == h {
		src.feeder = nil // the next hearing's packet takes over
	}
	if len(src.hearers) == 0 {
		src.in.Leave()
		delete(rm.sources, feed)
	}
}

// legs is the number of legs of the mix: phones and sources.
func (rm *roomMix) legs() (phones, sources int) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return len(rm.phones), len(rm.sources)
}

// Mixes describes the rooms whose phones this bridge mixes: per room, the
// phones that are legs of its mix and the other tracks mixed for them.
func (b *Bridge) Mixes() map[string][2]int {
	b.mixMu.Lock()
	rms := make([]*roomMix, 0, len(b.mixes))
	for _, rm := range b.mixes {
		rms = append(rms, rm)
	}
	b.mixMu.Unlock()
	out := map[string][2]int{}
	for _, rm := range rms {
		p, s := rm.legs()
		out[rm.room] = [2]int{p, s}
	}
	return out
}
