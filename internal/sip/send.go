package sip

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pion/rtp"

	"github.com/openwac/wac/internal/media/dtmf"
)

// outStream is the one RTP stream the node sends to the trunk: the room's
// audio (relayed or transcoded, from any publisher) and the apps' DTMF
// events, with one SSRC and one numbering. The room's packets arrive with
// their publishers' SSRCs, sequence numbers and timestamps; they are
// renumbered here so that events can be put between them and the trunk
// sees one continuous stream.
type outStream struct {
	ssrc uint32
	seq  uint16
	ts   uint32 // the timestamp of the last packet sent

	started   bool
	srcSSRC   uint32 // the publisher of the last audio packet
	srcTS     uint32 // its timestamp
	inEvent   bool   // an event is being sent: the room's audio waits
	eventTS   uint32
	afterLast uint32 // the samples the last packet lasted

	// The trunk codec's clock: frame is 20 ms of it (the packet time of
	// what the trunk gets, and the step of the events), maxStep one second
	// (the largest timestamp step of a publisher's packets taken as it is;
	// a larger one, or a step back, is a new source).
	frame, maxStep uint32
}

// newOutStream is the stream to the trunk at clock Hz (the codec's RTP
// clock: 8000 for G.711, 48000 for Opus).
func newOutStream(clock uint32) *outStream {
	var b [10]byte
	_, _ = rand.Read(b[:])
	o := &outStream{ssrc: binary.BigEndian.Uint32(b[:4]), seq: binary.BigEndian.Uint16(b[4:6]),
		ts: binary.BigEndian.Uint32(b[6:10])}
	o.setClock(clock)
	return o
}

// setClock sets the stream's clock: the codec agreed with the trunk, known
// once it answers or offers (the leg is made before).
func (o *outStream) setClock(clock uint32) {
	o.frame, o.maxStep = clock/50, clock
	if !o.started {
		o.afterLast = o.frame
	}
}

// audio renumbers one packet of the room's audio, of source ssrc and
// timestamp ts: its sequence number and timestamp in the stream (whose
// SSRC is o.ssrc); false = dropped (an event is being sent).
func (o *outStream) audio(ssrc, ts uint32) (uint16, uint32, bool) {
	if o.inEvent {
		return 0, 0, false
	}
	step := o.frame
	if !o.started {
		step = 0
	} else if ssrc == o.srcSSRC {
		if d := ts - o.srcTS; d > 0 && d <= o.maxStep {
			step = d
		}
	} else {
		step = o.afterLast
	}
	o.started = true
	o.srcSSRC, o.srcTS = ssrc, ts
	o.seq++
	o.ts += step
	o.afterLast = o.frame
	return o.seq, o.ts, true
}

// event numbers one event packet; first starts the event (marker bit, a
// new timestamp after the audio sent), last ends it (the audio resumes
// after the event, which lasted lasted samples of the stream's clock).
func (o *outStream) event(p *rtp.Packet, first, last bool, lasted uint32) {
	if first {
		o.inEvent = true
		if o.started {
			o.ts += o.afterLast
		}
		o.started = true
		o.eventTS = o.ts
		p.Marker = true
	}
	o.seq++
	p.SSRC, p.SequenceNumber, p.Timestamp = o.ssrc, o.seq, o.eventTS
	if last {
		o.inEvent = false
		o.afterLast = lasted
		o.srcSSRC = 0 // the next audio packet starts after the event
	}
}

// eventSamples is an event's duration in samples at clock Hz, cut at the
// longest an event's 16-bit duration field holds (1.36 s at 48 kHz).
func eventSamples(d time.Duration, clock uint32) int {
	return int(min(int64(d/time.Millisecond)*int64(clock)/1000, dtmf.MaxDuration))
}

// How the apps' digits are sent.
const (
	dtmfGap       = 60 * time.Millisecond // between two digits
	dtmfVolume    = 10                    // -dBm0
	maxQueuedDTMF = 64                    // digits waiting per call
)

// ErrNoEvents says the trunk did not agree telephone-events for the call.
var ErrNoEvents = errors.New("the phone's call has no telephone-events (the trunk did not offer them)")

// ErrDTMFBusy says too many digits are waiting to be sent on the call.
var ErrDTMFBusy = errors.New("too many DTMF digits waiting to be sent")

type dtmfJob struct {
	digit    rune
	duration time.Duration
}

// queueDTMF adds digits (already checked) to what the leg sends to the
// trunk as RFC 4733 events, each lasting duration.
func (l *rtpLeg) queueDTMF(digits string, duration time.Duration) error {
	if l.events.Load() == 0 {
		return ErrNoEvents
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.dtmfQueue)+len(digits) > maxQueuedDTMF {
		return ErrDTMFBusy
	}
	for _, d := range digits {
		if _, err := dtmf.Code(d); err != nil {
			return err
		}
	}
	for _, d := range digits {
		l.dtmfQueue = append(l.dtmfQueue, dtmfJob{d, duration})
	}
	select {
	case l.dtmfWake <- struct{}{}:
	default:
	}
	return nil
}

// sendEvents sends the queued digits as RFC 4733 events, one packet every
// 20 ms, until the leg closes.
func (l *rtpLeg) sendEvents() {
	for {
		select {
		case <-l.done:
			return
		case <-l.dtmfWake:
		}
		for {
			l.mu.Lock()
			if len(l.dtmfQueue) == 0 {
				l.mu.Unlock()
				break
			}
			job := l.dtmfQueue[0]
			l.dtmfQueue = l.dtmfQueue[1:]
			l.mu.Unlock()
			if err := l.sendEvent(job); err != nil {
				return
			}
			select {
			case <-l.done:
				return
			case <-time.After(dtmfGap):
			}
		}
	}
}

// sendEvent sends one digit's event packets, paced at the packet time.
// The durations are in the events' clock (RFC 4733: the audio's, 48 kHz
// with Opus; 8 kHz next to Opus for the phones that offer only that),
// the timestamps in the stream's.
func (l *rtpLeg) sendEvent(job dtmfJob) error {
	clock, evClock := l.codec.Load().ClockRate, l.eventClock.Load()
	if evClock == 0 {
		evClock = clock // set with events by setRemote; never divide by 0
	}
	s, err := dtmf.NewSender(job.digit, eventSamples(job.duration, evClock), int(evClock/50), dtmfVolume)
	if err != nil {
		return err
	}
	pt := uint8(l.events.Load())
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	ends := 0
	for {
		ev, first, ok := s.Next()
		if !ok {
			return nil
		}
		if ev.End {
			ends++
		}
		last := ends == dtmf.EndRepeats
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt}, Payload: ev.Append(nil)}
		l.outMu.Lock()
		l.out.event(&p, first, last, uint32(uint64(ev.Duration)*uint64(clock)/uint64(evClock)))
		b, err := p.Marshal()
		l.outMu.Unlock()
		if err != nil {
			return fmt.Errorf("marshal an event: %w", err)
		}
		if err := l.send(b); err != nil {
			return err
		}
		select {
		case <-l.done:
			return errors.New("the call ended")
		case <-tick.C:
		}
	}
}
