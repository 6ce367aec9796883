// Package procs sizes the Go scheduler to the load of the process: it
// keeps GOMAXPROCS at the fewest processors that leave headroom for the
// CPU the process uses, and raises it as soon as the load needs more.
//
// Why: every goroutine hand-off that makes a goroutine runnable while a
// processor is idle wakes a thread to run it, and a media server makes
// several hand-offs per packet it receives (inside Pion: the UDP mux, ICE,
// the DTLS/SRTP demultiplexer, the SRTP session, then the forwarder). At
// light load almost every packet then costs a thread wake-up and a park;
// on a virtual machine, where a context switch is expensive, that was a
// quarter of the server's CPU. With one processor there is no idle one to
// wake. Under load the processors are busy, the wake-ups stop on their
// own, and the controller has raised GOMAXPROCS already.
package procs

import (
	"context"
	"log/slog"
	"math"
	"runtime"
	"time"
)

// Policy thresholds, as fractions of the processors in use.
const (
	// raiseAt: when the process used more than this share of its
	// processors over one interval, it gets more at once.
	raiseAt = 0.8
	// target: the share of the processors a change aims at.
	target = 0.5
	// lowerAt: the process gives a processor back only when its load would
	// stay under this share of one fewer, for calmIntervals in a row.
	lowerAt = 0.7
	// calmIntervals: how long the load must stay low before a processor is
	// given back (12 intervals of 250 ms = 3 s), so that a passing lull
	// does not take away a processor that the next burst needs.
	calmIntervals = 12
)

// Interval is how often the controller looks at the process's CPU.
const Interval = 250 * time.Millisecond

// policy decides the number of processors from the CPU used.
type policy struct {
	min, max int
	p        int // processors now
	calm     int // intervals in a row in which one fewer would have done
}

// observe takes the cores used on average over the last interval and
// returns the processors for the next one.
func (s *policy) observe(used float64) int {
	switch {
	case used > raiseAt*float64(s.p) && s.p < s.max:
		s.p = min(s.max, max(s.p+1, int(math.Ceil(used/target))))
		s.calm = 0
	case s.p > s.min && used < lowerAt*float64(s.p-1):
		s.calm++
		if s.calm >= calmIntervals {
			s.p--
			s.calm = 0
		}
	default:
		s.calm = 0
	}
	return s.p
}

// Controller adapts GOMAXPROCS to the load until its context ends.
type Controller struct {
	// Max is the most processors it gives (at least 1); Run starts there.
	Max int
	// Log gets one debug line per change (may be nil).
	Log *slog.Logger

	// cpu returns the CPU time the process has used so far (user and
	// system, every thread); set is runtime.GOMAXPROCS. Tests replace them.
	cpu      func() (time.Duration, bool)
	set      func(int) int
	interval time.Duration
}

// Supported reports whether the controller can read the process's CPU
// time on this system (it cannot on Windows, where Run returns at once).
func Supported() bool {
	_, ok := processCPU()
	return ok
}

// Run adjusts GOMAXPROCS every Interval until ctx ends, then restores
// Max. It starts at Max (start-up work gets every processor) and gives
// processors back once the load has been low for a while.
func (c *Controller) Run(ctx context.Context) {
	cpu, set := c.cpu, c.set
	if cpu == nil {
		cpu = processCPU
	}
	if set == nil {
		set = runtime.GOMAXPROCS
	}
	prev, ok := cpu()
	if !ok {
		return // no CPU clock here: GOMAXPROCS stays as it is
	}
	pol := policy{min: 1, max: max(1, c.Max), p: max(1, c.Max)}
	set(pol.p)
	defer set(pol.max)
	every := c.interval
	if every == 0 {
		every = Interval
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			t, ok := cpu()
			wall := now.Sub(last)
			if !ok || wall <= 0 {
				continue
			}
			used := float64(t-prev) / float64(wall)
			prev, last = t, now
			before := pol.p
			if p := pol.observe(used); p != before {
				set(p)
				if c.Log != nil {
					c.Log.Debug("go runtime: processors", "procs", p, "was", before, "coresUsed", math.Round(used*100)/100)
				}
			}
		}
	}
}
