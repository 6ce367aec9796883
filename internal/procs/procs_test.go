package procs

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestPolicyGivesProcessorsBackOnlyAfterACalmSpell(t *testing.T) {
	s := policy{min: 1, max: 2, p: 2}
	for i := 1; i < calmIntervals; i++ {
		if p := s.observe(0.1); p != 2 {
			t.Fatalf("interval %d of low load: %d processors, want 2 until %d intervals", i, p, calmIntervals)
		}
	}
	if p := s.observe(0.1); p != 1 {
		t.Fatalf("after %d low intervals: %d processors, want 1", calmIntervals, p)
	}
	if p := s.observe(0.05); p != 1 {
		t.Fatalf("below min: %d", p)
	}
}

func TestPolicyALullDoesNotCount(t *testing.T) {
	s := policy{min: 1, max: 2, p: 2}
	for i := 0; i < 3*calmIntervals; i++ {
		used := 0.1
		if i%(calmIntervals/2) == 0 {
			used = 0.9 // a burst every few seconds keeps the processor
		}
		if p := s.observe(used); p != 2 {
			t.Fatalf("interval %d (used %.1f): %d processors, want 2", i, used, p)
		}
	}
}

func TestPolicyRaisesAtOnce(t *testing.T) {
	cases := []struct {
		name     string
		max, p   int
		used     float64
		want     int
		wantCalm int
	}{
		{"saturated single processor", 2, 1, 0.98, 2, 0},
		{"below the raise line", 2, 1, 0.7, 1, 0},
		{"a jump on a big machine goes to the target share", 16, 2, 1.9, 4, 0},
		{"never above max", 4, 3, 3.0, 4, 0},
		{"already at max", 2, 2, 2.0, 2, 0},
		{"busy enough to keep what it has", 8, 4, 2.5, 4, 0},
		{"low enough to count towards one fewer", 8, 4, 1.5, 4, 6},
	}
	for _, c := range cases {
		s := policy{min: 1, max: c.max, p: c.p, calm: 5}
		if got := s.observe(c.used); got != c.want || s.calm != c.wantCalm {
			t.Errorf("%s: observe(%.2f) at %d of %d = %d (calm %d), want %d (calm %d)",
				c.name, c.used, c.p, c.max, got, s.calm, c.want, c.wantCalm)
		}
	}
}

// fakeCPU is a process clock the test advances: each tick the process
// "used" rate cores.
type fakeCPU struct {
	mu   sync.Mutex
	t    time.Duration
	rate float64
	last time.Time
}

func (f *fakeCPU) read() (time.Duration, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if !f.last.IsZero() {
		f.t += time.Duration(f.rate * float64(now.Sub(f.last)))
	}
	f.last = now
	return f.t, true
}

func (f *fakeCPU) setRate(r float64) {
	f.mu.Lock()
	f.rate = r
	f.mu.Unlock()
}

func TestControllerFollowsTheLoadAndRestoresMaxOnStop(t *testing.T) {
	clock := &fakeCPU{}
	sets := make(chan int, 100)
	c := &Controller{Max: 2, cpu: clock.read, set: func(n int) int { sets <- n; return 0 }, interval: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	want := func(n int, why string) {
		t.Helper()
		select {
		case got := <-sets:
			if got != n {
				t.Fatalf("%s: GOMAXPROCS(%d), want %d", why, got, n)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no GOMAXPROCS(%d)", why, n)
		}
	}
	want(2, "start")
	want(1, "idle")
	clock.setRate(1.0)
	want(2, "saturated")
	cancel()
	<-done
	want(2, "stop")
}

func TestControllerRaisesUnderRealLoad(t *testing.T) {
	if !Supported() {
		t.Skip("no process CPU clock on " + runtime.GOOS)
	}
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: nothing to raise to")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &Controller{Max: 2, interval: 20 * time.Millisecond}
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	waitFor(t, "one processor while idle", func() bool { return runtime.GOMAXPROCS(0) == 1 })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := 0; i < 1e5; i++ {
					_ = i * i
				}
			}
		}()
	}
	waitFor(t, "two processors under load", func() bool { return runtime.GOMAXPROCS(0) == 2 })
	close(stop)
	wg.Wait()
	cancel()
	<-done
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Fatalf("after Run: GOMAXPROCS %d, want Max (2) back", n)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never reached: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
