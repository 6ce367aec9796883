package forward

import "time"

// bitrateControl applies the seeds' dispatcher rule to one published
// video: it starts at the cap (media.bitrate); when the loss stays at or
// above lossPercent for lossSeconds it cuts the cap by a third, never under
// a third of the initial cap; when the loss stays under half of lossPercent
// for recoverSeconds it raises the cap back by the same step, never over the
// initial cap. It is fed one loss sample a second.
type bitrateControl struct {
	initial int // bits per second
	current int
	floor   int

	threshold   float64 // loss fraction 0..1
	lossSeconds int
	recoverSecs int

	lossFor  int
	clearFor int
}

// wholeSeconds is d in the bitrate control's ticks of one second, at
// least one.
func wholeSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

func newBitrateControl(initialBps int, lossPercent, lossSeconds, recoverSeconds int) *bitrateControl {
	b := &bitrateControl{threshold: float64(lossPercent) / 100, lossSeconds: lossSeconds, recoverSecs: recoverSeconds}
	b.setInitial(initialBps)
	return b
}

// setInitial changes the cap the control works under (a room or publisher
// change), keeping a cut in proportion.
func (b *bitrateControl) setInitial(bps int) {
	if bps <= 0 || bps == b.initial {
		return
	}
	if b.initial == 0 || b.current >= b.initial {
		b.current = bps
	} else {
		b.current = int(int64(b.current) * int64(bps) / int64(b.initial))
	}
	b.initial = bps
	b.floor = bps / 3
	b.current = max(b.floor, min(b.current, b.initial))
}

// tick takes the loss fraction of the last second and reports whether the
// cap changed.
func (b *bitrateControl) tick(loss float64) bool {
	switch {
	case loss >= b.threshold:
		b.clearFor = 0
		b.lossFor++
		if b.lossFor < b.lossSeconds {
			return false
		}
		b.lossFor = 0
		next := max(b.floor, b.current*2/3)
		if next == b.current {
			return false
		}
		b.current = next
		return true
	case loss < b.threshold/2:
		b.lossFor = 0
		if b.current >= b.initial {
			b.clearFor = 0
			return false
		}
		b.clearFor++
		if b.clearFor < b.recoverSecs {
			return false
		}
		b.clearFor = 0
		b.current = min(b.initial, b.current*3/2+1)
		return true
	default: // between: hold
		b.lossFor, b.clearFor = 0, 0
		return false
	}
}
