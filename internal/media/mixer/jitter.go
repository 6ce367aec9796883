package mixer

import "github.com/openwac/wac/internal/media/audiocodec"

// jitterSlots is how many packets a leg's buffer holds, by sequence
// number: 1.28 s of 20 ms packets.
const jitterSlots = 64

// maxDepth is the most packets a leg keeps waiting: past it the oldest are
// dropped, so that a sender whose clock runs fast, or a burst, does not
// add delay for good (200 ms of 20 ms packets).
const maxDepth = 10

type slot struct {
	seq  uint16
	full bool
	n    int
	data [audiocodec.MaxPayload]byte
}

// jitter orders one leg's packets by sequence number and gives them out
// one at a time: it waits for prebuffer packets before it starts (again
// after running dry), drops late and duplicate packets, and reports a
// gap as a loss to conceal.
type jitter struct {
	slots     [jitterSlots]slot
	prebuffer int
	playing   bool
	anchored  bool   // next follows packets given out, not just the lowest held
	next      uint16 // the sequence number to give out next
	high      uint16 // the highest sequence number held
	count     int    // packets held
}

type putResult int

const (
	stored putResult = iota
	late             // older than what was already given out
	duplicate
	reset // so far ahead that the buffer started again
)

func (j *jitter) put(seq uint16, payload []byte) (r putResult, dropped int) {
	d := int16(seq - j.next)
	switch {
	case !j.anchored && j.count == 0:
		// The first packet, or the first after a reset.
		j.next, j.high = seq, seq
	case !j.anchored && d < 0:
		// Nothing played yet: a packet reordered before the first one
		// moves the start back, if the buffer spans both.
		if uint16(j.high-seq) >= jitterSlots {
			return late, 0
		}
		j.next = seq
	case j.anchored && d < 0 && d >= -jitterSlots:
		// At or before what was played (or concealed) already: even
		// after the buffer ran dry, it is not played again.
		return late, 0
	case uint16(seq-j.next) >= jitterSlots:
		// Far ahead or far behind: a new source, a restart.
		dropped = j.count
		j.clear()
		j.anchored = false
		j.next, j.high = seq, seq
		r = reset
	}
	s := &j.slots[seq%jitterSlots]
	if s.full && s.seq == seq {
		return duplicate, 0
	}
	if s.full { // cannot happen inside the window; be safe
		j.count--
	}
	s.seq, s.full, s.n = seq, true, copy(s.data[:], payload)
	j.count++
	if int16(seq-j.high) > 0 {
		j.high = seq
	}
	for j.count > maxDepth {
		if j.slots[j.next%jitterSlots].full {
			j.slots[j.next%jitterSlots].full = false
			j.count--
			dropped++
		}
		j.next++
	}
	if !j.playing && j.count >= j.prebuffer {
		j.playing = true
	}
	return r, dropped
}

type popResult int

const (
	popped popResult = iota
	lost             // a gap: conceal one packet
	empty            // nothing to play
)

// pop gives out the next packet into dst.
func (j *jitter) pop(dst []byte) (int, popResult) {
	if !j.playing {
		return 0, empty
	}
	if j.count == 0 {
		// Ran dry: wait for prebuffer packets again.
		j.playing = false
		return 0, empty
	}
	s := &j.slots[j.next%jitterSlots]
	j.next++
	j.anchored = true
	if !s.full || s.seq != j.next-1 {
		return 0, lost
	}
	s.full = false
	j.count--
	return copy(dst, s.data[:s.n]), popped
}

func (j *jitter) clear() {
	for i := range j.slots {
		j.slots[i].full = false
	}
	j.count = 0
	j.playing = false
}

// peek copies the packet due next, without giving it out: the packet
// after a lost one, whose FEC data may rebuild it.
func (j *jitter) peek(dst []byte) (int, bool) {
	s := &j.slots[j.next%jitterSlots]
	if !j.playing || !s.full || s.seq != j.next {
		return 0, false
	}
	return copy(dst, s.data[:s.n]), true
}
