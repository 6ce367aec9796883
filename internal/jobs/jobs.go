// Package jobs runs durable background work: rows of the store's job table
// with a due time, a kind and a JSON payload. A node claims a due job with a
// lease (one conditional update, so one node of a cluster runs it), runs the
// kind's handler within the lease, and removes the job; a failed attempt is
// retried with exponential backoff up to a number of attempts. A job whose
// node died is claimed again once its lease ran out, so jobs survive
// restarts and crashes.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openwac/wac/internal/store"
)

// Handler runs a job of one kind. Its context ends before the job's lease
// does. An error wrapping Permanent is not retried.
type Handler func(ctx context.Context, job *store.Job) error

// Permanent marks an error that retrying cannot fix (a bad payload, a
// refused address).
var Permanent = errors.New("permanent failure")

// Options tune a Runner.
type Options struct {
	// Node names this node in the leases it takes.
	Node string
	// Poll is how often due jobs are looked for (default 1 s).
	Poll time.Duration
	// Lease is how long a claimed job is this node's (default 60 s); its
	// handler gets half of it.
	Lease time.Duration
	// MaxAttempts before a job fails for good (default 8).
	MaxAttempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one up to MaxBackoff (defaults 10 s and 1 h).
	Backoff, MaxBackoff time.Duration
	// Batch is how many due jobs one poll takes at most (default 32).
	Batch int
	// Workers is how many jobs run at once on this node (default 4).
	Workers int
	// Registry receives the job metrics (none when nil).
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// Runner claims and runs the due jobs.
type Runner struct {
	st   store.Jobs
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	handlers map[string]Handler
	wake     chan struct{}

	done, failed, retried *prometheus.CounterVec
	queued                prometheus.GaugeFunc
	lastQueued            float64
	counted               time.Time // when lastQueued was read
}

// New makes a runner over the store's job table.
func New(st store.Jobs, opts Options) (*Runner, error) {
	if opts.Node == "" {
		return nil, errors.New("jobs: a node name is required")
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = time.Minute
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 8
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 10 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Hour
	}
	if opts.Batch <= 0 {
		opts.Batch = 32
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{st: st, opts: opts, log: opts.Log, handlers: map[string]Handler{}, wake: make(chan struct{}, 1)}
	r.done = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wac_jobs_done_total", Help: "Background jobs (mails, reminders) done, by kind.",
	}, []string{"kind"})
	r.failed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wac_jobs_failed_total", Help: "Background jobs given up after their attempts or a permanent error, by kind.",
	}, []string{"kind"})
	r.retried = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wac_jobs_retried_total", Help: "Failed attempts of background jobs that will be retried, by kind.",
	}, []string{"kind"})
	r.queued = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wac_jobs_queued", Help: "Background jobs waiting in the job table (cluster-wide), as of the last poll.",
	}, func() float64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.lastQueued
	})
	if opts.Registry != nil {
		for _, c := range []prometheus.Collector{r.done, r.failed, r.retried, r.queued} {
			if err := opts.Registry.Register(c); err != nil {
				var dup prometheus.AlreadyRegisteredError
				if !errors.As(err, &dup) {
					return nil, fmt.Errorf("register the job metrics: %w", err)
				}
			}
		}
	}
	return r, nil
}

// Handle sets the handler of a kind.
func (r *Runner) Handle(kind string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[kind] = h
}

// Enqueue stores a job of kind with payload (marshalled to JSON), due at
// due, in the group key ("" = none), and wakes the runner.
func (r *Runner) Enqueue(ctx context.Context, kind, key string, due time.Time, payload any) (string, error) {
	return Enqueue(ctx, r.st, kind, key, due, payload, r.Wake)
}

// Enqueue stores a job through st, which may be a transaction (the job is
// then written with the record it belongs to, or not at all); wake, if
// not nil, is called once it is stored.
func Enqueue(ctx context.Context, st store.Jobs, kind, key string, due time.Time, payload any, wake func()) (string, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("jobs: encode the payload of a %s job: %w", kind, err)
	}
	j := &store.Job{Kind: kind, Key: key, Due: due.UnixMilli(), Payload: string(data)}
	if err := st.EnqueueJob(ctx, j); err != nil {
		return "", fmt.Errorf("jobs: store a %s job: %w", kind, err)
	}
	if wake != nil {
		wake()
	}
	return j.ID, nil
}

// Wake makes the runner look for due jobs now.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run runs the due jobs until ctx ends: it sleeps until the earliest
// queued job is due, at most Poll (other nodes' new jobs and leases that
// run out are found by then), or until Wake; it returns once the jobs in
// progress are done.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTimer(r.opts.Poll)
	defer t.Stop()
	for {
		r.RunDue(ctx)
		wait := r.opts.Poll
		if next, err := r.st.NextJobDue(ctx); err == nil && next > 0 {
			wait = min(wait, max(time.Until(time.UnixMilli(next)), time.Millisecond))
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.wake:
		}
	}
}

// RunDue claims and runs the jobs due now, up to Workers at once, and
// returns how many it ran once they are all done.
func (r *Runner) RunDue(ctx context.Context) int {
	ran := 0
	slots := make(chan struct{}, r.opts.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		due, err := r.st.DueJobs(ctx, time.Now().UnixMilli(), r.opts.Batch)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("jobs: cannot list the due jobs", "err", err)
			}
			return ran
		}
		r.countQueued(ctx)
		if len(due) == 0 {
			return ran
		}
		claimedAny := false
		for _, j := range due {
			if ctx.Err() != nil {
				return ran
			}
			slots <- struct{}{}
			now := time.Now()
			ok, err := r.st.ClaimJob(ctx, j.ID, r.opts.Node, now.UnixMilli(), now.Add(r.opts.Lease).UnixMilli())
			if err != nil || !ok {
				<-slots
				if err != nil {
					r.log.Warn("jobs: cannot claim a job", "job", j.ID, "kind", j.Kind, "err", err)
				}
				continue // another node has it
			}
			claimedAny = true
			j.Attempts++
			ran++
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				r.run(ctx, j)
			}()
		}
		// The jobs of this batch finish before the next listing, which
		// would see the running ones again only once their lease ran out.
		wg.Wait()
		if !claimedAny {
			return ran
		}
	}
	return ran
}

// countQueued refreshes the queued gauge, at most once a second.
func (r *Runner) countQueued(ctx context.Context) {
	r.mu.Lock()
	stale := time.Since(r.counted) >= time.Second
	if stale {
		r.counted = time.Now()
	}
	r.mu.Unlock()
	if !stale {
		return
	}
	if counts, err := r.st.CountJobs(ctx); err == nil {
		r.mu.Lock()
		r.lastQueued = float64(counts[store.JobQueued] + counts[store.JobRunning])
		r.mu.Unlock()
	}
}

// run runs one claimed job and records its outcome.
func (r *Runner) run(ctx context.Context, j *store.Job) {
	r.mu.Lock()
	h := r.handlers[j.Kind]
	r.mu.Unlock()
	var err error
	switch {
	case j.Attempts > r.opts.MaxAttempts:
		// Claimed again and again by nodes that died running it: a job
		// that kills its node is not run once more.
		err = fmt.Errorf("%w: claimed %d times without finishing (its nodes died)", Permanent, j.Attempts)
	case h == nil:
		err = fmt.Errorf("%w: no handler for jobs of kind %q on this node", Permanent, j.Kind)
	default:
		hctx, cancel := context.WithTimeout(ctx, r.opts.Lease/2)
		err = safeRun(hctx, h, j)
		cancel()
	}
	// The outcome is written even when ctx ended (a shutdown), so that a
	// finished job is not run again.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err == nil {
		if ferr := r.st.FinishJob(wctx, j.ID, r.opts.Node); ferr != nil {
			r.log.Warn("jobs: cannot remove a finished job (its lease ran out: it may run again)", "job", j.ID, "kind", j.Kind, "err", ferr)
		}
		r.done.WithLabelValues(j.Kind).Inc()
		return
	}
	if ctx.Err() != nil && !errors.Is(err, Permanent) {
		// Shutting down: give the job back as it was, due now, without
		// counting the interrupted attempt as a failure.
		_ = r.st.ReleaseJob(wctx, j.ID, r.opts.Node, store.JobQueued, time.Now().UnixMilli(), "interrupted by shutdown")
		return
	}
	if errors.Is(err, Permanent) || j.Attempts >= r.opts.MaxAttempts {
		r.log.Error("jobs: a job failed for good", "job", j.ID, "kind", j.Kind, "attempts", j.Attempts, "err", err)
		if rerr := r.st.ReleaseJob(wctx, j.ID, r.opts.Node, store.JobFailed, j.Due, err.Error()); rerr != nil {
			r.log.Warn("jobs: cannot record a failed job", "job", j.ID, "err", rerr)
		}
		r.failed.WithLabelValues(j.Kind).Inc()
		return
	}
	wait := r.Backoff(j.Attempts)
	r.log.Warn("jobs: a job failed; it will be retried", "job", j.ID, "kind", j.Kind, "attempt", j.Attempts, "retryIn", wait, "err", err)
	if rerr := r.st.ReleaseJob(wctx, j.ID, r.opts.Node, store.JobQueued, time.Now().Add(wait).UnixMilli(), err.Error()); rerr != nil {
		r.log.Warn("jobs: cannot requeue a failed job (it is retried once its lease runs out)", "job", j.ID, "err", rerr)
	}
	r.retried.WithLabelValues(j.Kind).Inc()
}

// Backoff is the wait after the given failed attempt (from 1): Backoff
// doubled per further attempt, at most MaxBackoff, with up to a tenth of
// jitter so that jobs that failed together do not retry together.
func (r *Runner) Backoff(attempt int) time.Duration {
	d := r.opts.Backoff
	for i := 1; i < attempt && d < r.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.opts.MaxBackoff)
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

// safeRun runs h, turning a panic into a permanent error.
func safeRun(ctx context.Context, h Handler, j *store.Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: handler panicked: %v", Permanent, p)
		}
	}()
	return h(ctx, j)
}

// Decode reads a job's payload into v; a payload that does not decode is
// a permanent error.
func Decode(j *store.Job, v any) error {
	if err := json.Unmarshal([]byte(j.Payload), v); err != nil {
		return fmt.Errorf("%w: the payload of %s job %s: %v", Permanent, j.Kind, j.ID, err)
	}
	return nil
}
