package node

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/openwac/wac/internal/jobs"
	"github.com/openwac/wac/internal/mailer"
	"github.com/openwac/wac/internal/meetings"
	"github.com/openwac/wac/internal/push"
)

// meetingsRole is what the api role runs for meetings: the job runner
// (the durable jobs of every kind) and the meetings service on it.
type meetingsRole struct {
	runner  *jobs.Runner
	service *meetings.Service
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// newMeetings builds the job runner and the meetings service, and gives
// the API the meetings' invitations.
func newMeetings(n *Node) (*meetingsRole, error) {
	cfg := n.Config
	host, _ := os.Hostname()
	nodeID := cfg.Bus.NodeID
	if nodeID == "" {
		nodeID = fmt.Sprintf("%s-%x", host, randomBytes(4))
	}
	runner, err := jobs.New(n.Store, jobs.Options{
		Node:        nodeID,
		Lease:       cfg.Jobs.Lease,
		MaxAttempts: cfg.Jobs.MaxAttempts,
		Backoff:     cfg.Jobs.Backoff,
		Workers:     cfg.Jobs.Workers,
		Registry:    n.Metrics.Registry,
		Log:         n.Log,
	})
	if err != nil {
		return nil, err
	}
	opts := meetings.Options{Store: n.Store, Config: cfg, Runner: runner, Reminder: n.opts.Reminder, SMS: n.opts.SMS, Log: n.Log,
		Registry: n.Metrics.Registry}
	// The node's own push and SMS services, when configured and no test
	// gave others.
	if opts.Reminder == nil && n.Push.Enabled() {
		opts.Reminder = pushReminder{n.Push}
	}
	if opts.SMS == nil && n.SMS.Enabled() {
		opts.SMS = n.SMS
	}
	if ml := mailer.New(cfg.Mailer); ml != nil {
		opts.Mailer = ml
	}
	svc, err := meetings.New(opts)
	if err != nil {
		return nil, err
	}
	n.API.SetMeetings(svc)
	return &meetingsRole{runner: runner, service: svc}, nil
}

// pushReminder sends the meetings' reminders through the push service.
type pushReminder struct{ p *push.Service }

func (r pushReminder) RemindMeeting(ctx context.Context, userID string, payload map[string]any) error {
	info, _ := payload["info"].(map[string]any)
	id, _ := info["id"].(string)
	name, _ := info["name"].(string)
	_, err := r.p.PushMeetingReminder(ctx, userID, id, name)
	return err
}

// start runs the jobs until stop, and removes old failed jobs daily.
func (m *meetingsRole) start(n *Node) {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	keep := time.Duration(n.Config.Jobs.KeepFailedDays) * 24 * time.Hour
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.runner.Run(ctx)
	}()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if keep > 0 {
				if k, err := n.Store.PurgeJobs(ctx, time.Now().Add(-keep).UnixMilli()); err == nil && k > 0 {
					n.Log.Info("removed old failed jobs", "count", k)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// stop ends the job runner once its job in progress is done.
func (m *meetingsRole) stop() {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
}

// Meetings is the node's meetings service (nil without the api role).
func (n *Node) Meetings() *meetings.Service {
	if n.meetings == nil {
		return nil
	}
	return n.meetings.service
}
