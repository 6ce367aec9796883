package videoroom

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/openwac/wac/internal/media/forward"
	"github.com/openwac/wac/internal/media/janus"
)

// Local is a participant's media handed over in process instead of
// through a peer connection: the audio of a phone whose SIP leg runs in
// this node (package sipmedia). The participant joins, publishes and
// subscribes with Janus requests like any client, so that the room sees
// it as one (events, kicks, the participant list, recording), but names
// its Local ("local": the key AddLocal gave) where a client sends SDP;
// its packets then go between the SFU's streams and the owner's code
// without a socket, ICE, DTLS or SRTP.
//
// A Local publishes one audio stream in Codec, and hears each stream its
// subscriptions take through Hear.
type Local struct {
	// Codec is the codec of what the owner publishes (audio).
	Codec webrtc.RTPCodecParameters
	// Hear is told of each stream one of the owner's subscriptions
	// starts to receive: the publisher's feed id and the stream's codec.
	// It returns the function that gets the stream's packets (on the
	// publisher's forwarding goroutine: it must not block; the packet is
	// valid during the call, its payload may be kept) and the one called
	// once when the stream stops (unsubscribed, the publisher gone, the
	// subscription closed), after which packet may still be called a last
	// time by a forwarding loop that had started. A nil packet refuses
	// the stream.
	Hear func(feed uint64, codec webrtc.RTPCodecParameters) (packet func(*forward.Packet), done func())

	pub       atomic.Pointer[forward.Writer]
	published atomic.Bool
}

// WriteRTP publishes one RTP packet of the owner's (b stays the
// caller's). Packets before the publish request succeeded, or after the
// publication ended, are dropped.
func (l *Local) WriteRTP(b []byte) {
	if w := l.pub.Load(); w != nil {
		w.WriteRTP(b)
	}
}

// Publishing says whether the owner's publication is live.
func (l *Local) Publishing() bool { return l.pub.Load() != nil }

// AddLocal registers l and returns the key its Janus requests name it
// by, and the function that forgets it (the owner calls it when it has
// left the room). The key is a secret of the process: a client cannot
// name a Local it did not register.
func (s *SFU) AddLocal(l *Local) (key string, remove func()) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	key = hex.EncodeToString(b[:])
	s.mu.Lock()
	if s.locals == nil {
		s.locals = map[string]*Local{}
	}
	s.locals[key] = l
	s.mu.Unlock()
	return key, func() {
		s.mu.Lock()
		delete(s.locals, key)
		s.mu.Unlock()
	}
}

// localOf finds the Local a request names in "local".
func (s *SFU) localOf(b body) (*Local, *vrErr) {
	key, e := b.str("local", true)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	l := s.locals[key]
	s.mu.Unlock()
	if l == nil {
		return nil, vrErrorf(janus.VRErrInvalidElement, "Invalid element (local: no such in-process media)")
	}
	return l, nil
}

// HasRoom says whether the room a Janus client would address by ref
// (its uuid or number) is on this media node.
func (s *SFU) HasRoom(ref string) bool { return s.lookup(roomRef{str: ref}) != nil }

// publishLocal starts a publication from a Local: one audio stream that
// the Local's WriteRTP feeds. The participant is announced at once:
// there is no connection to wait for.
func (p *participant) publishLocal(l *Local) *vrErr {
	s := p.room.sfu
	if p.publishing() {
		return vrErrorf(janus.VRErrAlreadyPublished, "Can't publish, already published")
	}
	if !isAudio(l.Codec.MimeType) {
		return vrErrorf(janus.VRErrInvalidElement, "Invalid element (local: publishes audio only)")
	}
	if !l.published.CompareAndSwap(false, true) {
		return vrErrorf(janus.VRErrAlreadyPublished, "Can't publish, the local media already publishes")
	}
	if e := p.room.reservePublisher(p); e != nil {
		l.published.Store(false)
		return e
	}
	ps := &pubStream{owner: p, mid: "0", kind: "audio"}
	ps.send.Store(true)
	sc := forward.StreamConfig{Kind: "audio", Codec: l.Codec, WriteRTCP: p.writeRTCP}
	if s.cfg.AudioLevelEvent {
		sc.OnLevel = ps.addLevel
	}
	ps.fwd = s.fwd.NewStream(sc)
	streams := []*pubStream{ps}
	p.mu.Lock()
	p.gen++
	p.local, p.streams = l, streams
	p.mu.Unlock()
	p.room.recordStreams(p, streams)
	s.stats.publishers.Add(1)
	l.pub.Store(ps.fwd.NewWriter())
	p.announce()
	return nil
}

// endLocal stops a Local's publication (unpublish).
func (l *Local) endLocal() {
	l.pub.Store(nil)
	l.published.Store(false)
}

// localSink is a subscribed stream of a Local: the SFU's packets go to
// its owner's function.
type localSink struct {
	packet func(*forward.Packet)
	done   func()
	paused atomic.Bool
	once   sync.Once
}

// hear opens a stream of src to l; nil when l refuses it.
func (l *Local) hear(src *pubStream) *localSink {
	if l.Hear == nil {
		return nil
	}
	packet, done := l.Hear(src.owner.id, src.fwd.Codec())
	if packet == nil {
		return nil
	}
	return &localSink{packet: packet, done: done}
}

// WriteRTP implements forward.Sink.
func (ls *localSink) WriteRTP(p *forward.Packet) bool {
	if ls.paused.Load() {
		return false
	}
	ls.packet(p)
	return true
}

// stop tells the owner, once, that the stream ended.
func (ls *localSink) stop() {
	ls.once.Do(func() {
		if ls.done != nil {
			ls.done()
		}
	})
}
