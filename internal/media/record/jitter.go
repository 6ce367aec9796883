package record

import "sort"

// jitter puts a track's packets back in sequence order. A packet is held
// until the ones before it came or it is older than the delay; then the
// missing ones count as lost.
type jitter struct {
	delay int64 // nanoseconds
	max   int   // packets held at most
	next  uint16
	begun bool
	// Until the first packet is handed out, the buffer holds everything
	// for the delay, so that packets reordered at the very start are
	// not taken for late ones.
	emitted   bool
	holdUntil int64
	held      []packet // sorted by sequence distance from next
	lost      int64
}

func newJitter(delay int64, max int) *jitter { return &jitter{delay: delay, max: max} }

// dist is how far seq is ahead of the next expected packet (negative:
// late or a duplicate).
func (j *jitter) dist(seq uint16) int16 { return int16(seq - j.next) }

// push adds a packet; out gets the packets that are now in order, with
// gap set before a packet that follows lost ones.
func (j *jitter) push(p packet, now int64, out func(p packet, gap bool)) {
	if !j.begun {
		j.begun, j.next, j.holdUntil = true, p.seq, p.arrival+j.delay
	}
	d := j.dist(p.seq)
	if d < 0 && !j.emitted && d > -1000 {
		j.next, d = p.seq, 0
	}
	if d < 0 {
		return // late (already skipped) or a duplicate
	}
	i := sort.Search(len(j.held), func(i int) bool { return j.dist(j.held[i].seq) >= d })
	if i < len(j.held) && j.held[i].seq == p.seq {
		return // duplicate
	}
	if i == len(j.held) {
		j.held = append(j.held, p)
	} else {
		j.held = append(j.held, packet{})
		copy(j.held[i+1:], j.held[i:])
		j.held[i] = p
	}
	j.drain(now, out)
}

// drain hands out the packets in order, skipping missing ones once the
// oldest held packet waited the delay or the buffer is full.
func (j *jitter) drain(now int64, out func(p packet, gap bool)) {
	if !j.emitted && now < j.holdUntil && len(j.held) < j.max {
		return
	}
	for len(j.held) > 0 {
		p := j.held[0]
		gap := p.seq != j.next
		if gap && now-p.arrival < j.delay && len(j.held) < j.max {
			return
		}
		if gap {
			j.lost += int64(j.dist(p.seq))
		}
		j.pop()
		j.next = p.seq + 1
		j.emitted = true
		out(p, gap)
	}
}

// flush hands out every held packet (the track ends).
func (j *jitter) flush(out func(p packet, gap bool)) {
	for len(j.held) > 0 {
		p := j.held[0]
		gap := p.seq != j.next
		if gap {
			j.lost += int64(j.dist(p.seq))
		}
		j.pop()
		j.next = p.seq + 1
		out(p, gap)
	}
}

// pop removes the first held packet, keeping the buffer's memory.
func (j *jitter) pop() {
	n := copy(j.held, j.held[1:])
	j.held[n] = packet{}
	j.held = j.held[:n]
}
