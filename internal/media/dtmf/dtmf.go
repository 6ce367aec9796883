// Package dtmf reads and writes RFC 4733 telephone-events, the RTP payload
// that carries DTMF digits out of band: a Sender turns a digit into the
// payloads of its event (growing durations, then the end packet three
// times), a Receiver turns the payloads a peer sends into digits, each
// once however many times its packets repeat.
package dtmf

import (
	"errors"
	"fmt"
)

// PayloadSize is the size of one event payload (RFC 4733 §2.3).
const PayloadSize = 4

// Event is one telephone-event payload.
type Event struct {
	Code     uint8  // 0-9, 10 '*', 11 '#', 12-15 'A'-'D'
	End      bool   // the E bit: the event has ended
	Volume   uint8  // power in -dBm0, 0-63
	Duration uint16 // samples since the event began, in the RTP clock
}

// ErrShort is the error of a payload shorter than an event.
var ErrShort = errors.New("telephone-event payload shorter than 4 bytes")

// Parse reads the event at the start of b. Only the first of several
// events (RFC 4733 §2.5.1.5, redundancy through RFC 2198) is read.
func Parse(b []byte) (Event, error) {
	if len(b) < PayloadSize {
		return Event{}, ErrShort
	}
	return Event{
		Code:     b[0],
		End:      b[1]&0x80 != 0,
		Volume:   b[1] & 0x3F,
		Duration: uint16(b[2])<<8 | uint16(b[3]),
	}, nil
}

// Append appends the payload of e to b.
func (e Event) Append(b []byte) []byte {
	flags := e.Volume & 0x3F
	if e.End {
		flags |= 0x80
	}
	return append(b, e.Code, flags, byte(e.Duration>>8), byte(e.Duration))
}

const digits = "0123456789*#ABCD"

// Code is the event code of a DTMF digit: 0-9, *, #, A-D (a-d too).
func Code(digit rune) (uint8, error) {
	if digit >= 'a' && digit <= 'd' {
		digit -= 'a' - 'A'
	}
	for i, d := range digits {
		if d == digit {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("dtmf: %q is not a DTMF digit (0-9, *, #, A-D)", digit)
}

// Digit is the digit of an event code, and false for codes that are not
// DTMF digits (RFC 4733 registers others: flash, tones).
func Digit(code uint8) (rune, bool) {
	if int(code) >= len(digits) {
		return 0, false
	}
	return rune(digits[code]), true
}

// EndRepeats is how many times the end packet of an event is sent
// (RFC 4733 §2.5.1.4 recommends three).
const EndRepeats = 3

// Sender makes the payloads of one event: one every step samples, each
// with the duration so far, the last (with the E bit) EndRepeats times.
// The RTP packets that carry them share the timestamp of the event's
// start; the first has the marker bit.
type Sender struct {
	code        uint8
	volume      uint8
	total, step uint16
	done        uint16
	ends        int
}

// MaxDuration is the longest event a Sender makes, in samples: one event
// of RFC 4733 cannot last longer than its 16-bit duration field.
const MaxDuration = 0xFFFF

// NewSender returns the sender of digit lasting duration samples, sent
// every step samples (the stream's packet time: 160 at 8 kHz for 20 ms),
// at volume -dBm0 (10 is usual).
func NewSender(digit rune, duration, step int, volume uint8) (*Sender, error) {
	code, err := Code(digit)
	if err != nil {
		return nil, err
	}
	if step <= 0 || step > MaxDuration {
		return nil, fmt.Errorf("dtmf: packet step %d samples out of 1-%d", step, MaxDuration)
	}
	if duration < step || duration > MaxDuration {
		return nil, fmt.Errorf("dtmf: duration %d samples out of %d-%d", duration, step, MaxDuration)
	}
	if volume > 63 {
		return nil, fmt.Errorf("dtmf: volume %d out of 0-63", volume)
	}
	return &Sender{code: code, volume: volume, total: uint16(duration), step: uint16(step)}, nil
}

// Next returns the next payload's event, whether it is the first of the
// event (the RTP marker bit), and false once all were returned.
func (s *Sender) Next() (ev Event, first, ok bool) {
	if s.ends >= EndRepeats {
		return Event{}, false, false
	}
	first = s.done == 0
	if s.done < s.total {
		s.done = min(s.total, s.done+s.step)
	}
	ev = Event{Code: s.code, Volume: s.volume, Duration: s.done}
	if s.done == s.total {
		ev.End = true
		s.ends++
	}
	return ev, first, true
}

// Receiver turns the events of one RTP stream into digits.
type Receiver struct {
	seen   bool
	lastTS uint32
}

// Receive reads the payload of a packet with RTP timestamp ts and returns
// the digit when it begins a new event: the first packet seen of an event
// (by its timestamp) gives its digit, every later one (more duration,
// the repeated end) gives nothing. A payload that is not an event is an
// error; a code that is not a DTMF digit gives nothing.
func (r *Receiver) Receive(ts uint32, payload []byte) (rune, bool, error) {
	ev, err := Parse(payload)
	if err != nil {
		return 0, false, err
	}
	if r.seen && ts == r.lastTS {
		return 0, false, nil
	}
	// A packet of an older event that arrives late is not a new one.
	if r.seen && int32(ts-r.lastTS) < 0 {
		return 0, false, nil
	}
	r.seen, r.lastTS = true, ts
	d, ok := Digit(ev.Code)
	return d, ok, nil
}
