// Package meetings is the seeds' meetings service behind /sapi/meetings:
// the invitations of a meeting (email from Handlebars templates with an
// RFC 5545 calendar attached) and its reminders, as durable jobs (package
// jobs) so that they survive a restart and run once in a cluster.
package meetings

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/jobs"
	"github.com/openwac/wac/internal/mailer"
	"github.com/openwac/wac/internal/store"
)

// Job kinds of the meetings service.
const (
	KindMail       = "meeting-mail"        // one invitation (or cancellation) to one address
	KindReminder   = "meeting-reminder"    // remindBefore minutes ahead: fans out to the next two
	KindRemindUser = "meeting-remind-user" // the reminder of one user (push)
	KindSMS        = "meeting-sms"         // one invitation (or cancellation) to one phone number
)

// SMSSender sends one text message (the SMS service implements it): to a
// phone number in MSISDN form, from the sender the template gives ("" =
// the service's own), with the rendered text.
type SMSSender interface {
	SendText(ctx context.Context, to, from, text string) error
}

// Reminder tells a user that a meeting is about to start (the push
// notifications service implements it). payload is the seeds'
// {"type": "meeting-reminder", "info": {"id", "name"}}.
type Reminder interface {
	RemindMeeting(ctx context.Context, userID string, payload map[string]any) error
}

// Sender sends one mail (mailer.Mailer).
type Sender interface {
	Send(ctx context.Context, m *mailer.Message) error
}

// Options are what a Service works with.
type Options struct {
	Store  store.Store
	Config *config.Config
	Runner *jobs.Runner
	// Mailer sends the invitations; nil = none are mailed.
	Mailer Sender
	// Reminder receives the meeting reminders; nil = they are logged and
	// counted.
	Reminder Reminder
	// SMS sends the invitations to phone numbers (with sms in
	// meetings.inviteMechanisms); nil = none are sent.
	SMS SMSSender
	Log *slog.Logger
	// Registry receives the reminder metric (none when nil).
	Registry prometheus.Registerer
}

// Service sends the invitations and reminders of meetings.
type Service struct {
	st       store.Store
	cfg      *config.Config
	runner   *jobs.Runner
	mail     Sender
	reminder atomic.Pointer[Reminder]
	sms      atomic.Pointer[SMSSender]
	tpl      *Templates
	smsTpl   *Templates
	log      *slog.Logger
	// reminders counts the users' reminders by outcome: sent (to the
	// push service), logged (no push service), failed (retried).
	reminders *prometheus.CounterVec
}

// New makes the service and registers its job handlers on the runner. It
// loads the email templates now: a broken one stops start-up.
func New(opts Options) (*Service, error) {
	tpl, err := LoadTemplates(opts.Config.Meetings.TemplatePath, "email")
	if err != nil {
		return nil, err
	}
	smsTpl, err := LoadTemplates(opts.Config.Meetings.TemplatePath, "sms")
	if err != nil {
		return nil, err
	}
	s := &Service{st: opts.Store, cfg: opts.Config, runner: opts.Runner, mail: opts.Mailer, tpl: tpl, smsTpl: smsTpl, log: opts.Log}
	if opts.SMS != nil {
		s.SetSMS(opts.SMS)
	}
	s.reminders = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wac_meetings_reminders_total",
		Help: "Meeting reminders of users by outcome: sent (to the push service), logged (no push service), failed (retried).",
	}, []string{"result"})
	if opts.Registry != nil {
		if err := opts.Registry.Register(s.reminders); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if !errors.As(err, &dup) {
				return nil, fmt.Errorf("register the meetings metrics: %w", err)
			}
			s.reminders = dup.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.Reminder != nil {
		s.SetReminder(opts.Reminder)
	}
	if s.mechanism("sms") && opts.SMS == nil {
		s.log.Info("meeting invitations by SMS wait for the SMS service: none is configured")
	}
	if s.mail == nil && s.mechanism("email") {
		// The default configuration: meetings work, their invitations are
		// left to the application. Said once, at start.
		s.log.Info("meeting invitations are not mailed: mailer.host is empty")
	}
	opts.Runner.Handle(KindMail, s.runMail)
	opts.Runner.Handle(KindReminder, s.runReminder)
	opts.Runner.Handle(KindRemindUser, s.runRemindUser)
	opts.Runner.Handle(KindSMS, s.runSMS)
	return s, nil
}

// SetSMS sets who sends the SMS invitations (the SMS service, once it
// runs).
func (s *Service) SetSMS(x SMSSender) { s.sms.Store(&x) }

func (s *Service) smsSender() SMSSender {
	if p := s.sms.Load(); p != nil {
		return *p
	}
	return nil
}

// phones are the phone numbers a meeting's invitations go to by SMS: none
// without sms in meetings.inviteMechanisms or an SMS service.
func (s *Service) phones(m *store.Meeting) []string {
	if !s.mechanism("sms") || s.smsSender() == nil {
		return nil
	}
	var out []string
	for _, p := range m.Detail.Participants {
		if p.Type == store.ParticipantPhone && !slices.Contains(out, p.Phone) {
			out = append(out, p.Phone)
		}
	}
	return out
}

// enqueueSMS writes the SMS jobs of a change: method to the numbers of m,
// and a cancellation to those of prev m no longer has.
func (s *Service) enqueueSMS(ctx context.Context, tx store.Store, m, prev *store.Meeting, owner ownerInfo, method string, reminder bool, now time.Time) error {
	key := mailKey(m.ID)
	if method == MethodCancel {
		key = "meeting-cancel:" + m.ID
	}
	to := s.phones(m)
	for _, n := range to {
		if _, err := jobs.Enqueue(ctx, tx, KindSMS, key, now, mailJob{Meeting: *m, Owner: owner, To: n, Method: method, Reminder: reminder}, nil); err != nil {
			return err
		}
	}
	if prev == nil {
		return nil
	}
	for _, n := range s.phones(prev) {
		if !slices.Contains(to, n) {
			if _, err := jobs.Enqueue(ctx, tx, KindSMS, "meeting-cancel:"+m.ID, now, mailJob{Meeting: *m, Owner: owner, To: n, Method: MethodCancel}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) runSMS(ctx context.Context, job *store.Job) error {
	var j mailJob
	if err := jobs.Decode(job, &j); err != nil {
		return err
	}
	sender := s.smsSender()
	if sender == nil {
		return fmt.Errorf("%w: cannot send meeting invitation by sms: SMS service not available", jobs.Permanent)
	}
	m := &j.Meeting
	lang := m.Detail.Language
	if lang == "" {
		lang = s.cfg.Meetings.DefaultLanguage
	}
	r, err := s.smsTpl.Render(lang, TemplateData(s.cfg, m, j.Owner.templateData(), j.Owner.Domain, j.To, j.Method == MethodCancel, j.Reminder))
	if err != nil {
		return fmt.Errorf("%w: %v", jobs.Permanent, err)
	}
	if err := sender.SendText(ctx, j.To, r.From, strings.TrimSpace(r.Text)); err != nil {
		return fmt.Errorf("failed to invite participant %s to meeting %s(%s) by sms: %w", j.To, m.Name, m.ID, err)
	}
	return nil
}

// SetReminder sets who receives the reminders (the push service, once it
// runs).
func (s *Service) SetReminder(r Reminder) { s.reminder.Store(&r) }

func (s *Service) mechanism(name string) bool {
	return slices.Contains(s.cfg.Meetings.InviteMechanisms, name)
}

// URL is the link of a meeting: <linkHost>/meeting/<id>, with the
// meeting's domain, which a guest of the web app logs in to.
func URL(cfg *config.Config, id, domain string) string {
	u := cfg.MeetingLinkBase() + "/meeting/" + url.PathEscape(id)
	if domain != "" {
		u += "?domain=" + url.QueryEscape(domain)
	}
	return u
}

// Wake makes the job runner look for the jobs just written.
func (s *Service) Wake() { s.runner.Wake() }

// mailJob is one mail: an invitation, update, reminder or cancellation.
type mailJob struct {
	Meeting  store.Meeting `json:"meeting"`
	Owner    ownerInfo     `json:"owner"`
	To       string        `json:"to"`
	Method   string        `json:"method"`
	Reminder bool          `json:"reminder,omitempty"`
}

// ownerInfo is what the templates see of the meeting's creator
// (meeting.user).
type ownerInfo struct {
	ID             string   `json:"id"`
	Username       string   `json:"username"`
	Domain         string   `json:"domain"`
	Email          string   `json:"email"`
	Role           string   `json:"role"`
	Alias          string   `json:"alias"`
	MobilePhone    []string `json:"mobilePhone"`
	LandLineNumber string   `json:"landLineNumber"`
	Created        int64    `json:"created"`
	LastLogin      int64    `json:"lastLogin"`
}

// templateData is meeting.user of the templates.
func (o ownerInfo) templateData() map[string]any {
	return map[string]any{"id": o.ID, "username": o.Username, "domain": o.Domain, "email": o.Email, "role": o.Role,
		"alias": o.Alias, "mobilePhone": o.MobilePhone, "landLineNumber": o.LandLineNumber, "created": o.Created,
		"lastLogin": o.LastLogin}
}

type reminderJob struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	ValidSince int64  `json:"validSince"`
}

type remindUserJob struct {
	User    string         `json:"user"`
	Payload map[string]any `json:"payload"`
}

func mailKey(id string) string     { return "meeting-mail:" + id }
func reminderKey(id string) string { return "meeting-reminder:" + id }

// Scheduled writes, through tx (the transaction that saves the meeting),
// the jobs of a new or changed meeting: an invitation (REQUEST) to each of
// its addresses, a cancellation to the addresses prev had and m no longer
// has, and its reminder. Mails of an earlier version still queued are
// dropped: the new ones replace them.
func (s *Service) Scheduled(ctx context.Context, tx store.Store, m, prev *store.Meeting) error {
	owner, err := s.owner(ctx, tx, m.OwnerID, m.DomainID)
	if err != nil {
		return err
	}
	if _, err := tx.CancelJobs(ctx, mailKey(m.ID)); err != nil {
		return fmt.Errorf("drop the queued mails of meeting %s: %w", m.ID, err)
	}
	now := time.Now()
	to, err := s.addresses(ctx, tx, m)
	if err != nil {
		return err
	}
	for _, addr := range to {
		if err := s.enqueueMail(ctx, tx, m, owner, addr, MethodRequest, false, now); err != nil {
			return err
		}
	}
	if prev != nil {
		before, err := s.addresses(ctx, tx, prev)
		if err != nil {
			return err
		}
		for _, addr := range before {
			if !slices.Contains(to, addr) {
				if err := s.enqueueMail(ctx, tx, m, owner, addr, MethodCancel, false, now); err != nil {
					return err
				}
			}
		}
	}
	if err := s.enqueueSMS(ctx, tx, m, prev, owner, MethodRequest, false, now); err != nil {
		return err
	}
	if _, err := tx.CancelJobs(ctx, reminderKey(m.ID)); err != nil {
		return fmt.Errorf("drop the reminder of meeting %s: %w", m.ID, err)
	}
	if rb := s.cfg.Meetings.RemindBefore; rb > 0 {
		due := time.UnixMilli(m.ValidSince).Add(-time.Duration(rb) * time.Minute)
		if due.After(now) {
			if _, err := jobs.Enqueue(ctx, tx, KindReminder, reminderKey(m.ID), due,
				reminderJob{ID: m.ID, Name: m.Name, ValidSince: m.ValidSince}, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Cancelled writes, through tx, the cancellations of a deleted meeting and
// drops its reminder and queued invitations.
func (s *Service) Cancelled(ctx context.Context, tx store.Store, m *store.Meeting) error {
	owner, err := s.owner(ctx, tx, m.OwnerID, m.DomainID)
	if err != nil {
		return err
	}
	for _, key := range []string{mailKey(m.ID), reminderKey(m.ID)} {
		if _, err := tx.CancelJobs(ctx, key); err != nil {
			return fmt.Errorf("drop the jobs of meeting %s: %w", m.ID, err)
		}
	}
	to, err := s.addresses(ctx, tx, m)
	if err != nil {
		return err
	}
	now := time.Now()
	cancelled := *m
	cancelled.Sequence++
	for _, addr := range to {
		// Cancellations are not dropped by a later change: the meeting
		// is gone. Their key is the meeting's cancellation key.
		if err := s.enqueueMail(ctx, tx, &cancelled, owner, addr, MethodCancel, false, now); err != nil {
			return err
		}
	}
	return s.enqueueSMS(ctx, tx, &cancelled, nil, owner, MethodCancel, false, now)
}

func (s *Service) enqueueMail(ctx context.Context, tx store.Store, m *store.Meeting, owner ownerInfo, to, method string, reminder bool, now time.Time) error {
	key := mailKey(m.ID)
	if method == MethodCancel {
		key = "meeting-cancel:" + m.ID
	}
	_, err := jobs.Enqueue(ctx, tx, KindMail, key, now, mailJob{Meeting: *m, Owner: owner, To: to, Method: method, Reminder: reminder}, nil)
	return err
}

// addresses are the email addresses a meeting's invitations go to: its
// email participants and the emails of its user participants, once each;
// none when email is not among meetings.inviteMechanisms or no mailer is
// configured.
func (s *Service) addresses(ctx context.Context, tx store.Store, m *store.Meeting) ([]string, error) {
	if !s.mechanism("email") || s.mail == nil {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		k := strings.ToLower(a)
		if a != "" && !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	for _, p := range m.Detail.Participants {
		switch p.Type {
		case store.ParticipantEmail:
			add(p.Email)
		case store.ParticipantUser:
			u, err := tx.GetUser(ctx, p.UserID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("load participant %s of meeting %s: %w", p.UserID, m.ID, err)
			}
			add(u.Email)
		}
	}
	return out, nil
}

func (s *Service) owner(ctx context.Context, st store.Store, userID, domainID string) (ownerInfo, error) {
	o := ownerInfo{ID: userID}
	if d, err := st.GetDomain(ctx, domainID); err == nil {
		o.Domain = d.Name
	} else if !errors.Is(err, store.ErrNotFound) {
		return o, fmt.Errorf("load domain %s: %w", domainID, err)
	}
	u, err := st.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return o, nil
	}
	if err != nil {
		return o, fmt.Errorf("load the owner %s of a meeting: %w", userID, err)
	}
	o.Username, o.Email, o.Role, o.Alias, o.MobilePhone, o.LandLineNumber, o.Created, o.LastLogin =
		u.Username, u.Email, u.Role, u.Alias, u.MobilePhone, u.LandLineNumber, u.Created, u.LastLogin
	if o.MobilePhone == nil {
		o.MobilePhone = []string{}
	}
	return o, nil
}

// TemplateData is what the templates see (the seeds' party and meeting).
func TemplateData(cfg *config.Config, m *store.Meeting, owner any, domain, party string, cancelled, reminder bool) map[string]any {
	users := m.Users()
	if users == nil {
		users = []string{}
	}
	parts := make([]string, 0, len(m.Detail.Participants))
	for _, p := range m.Detail.Participants {
		parts = append(parts, p.UserID+p.Email+p.Phone)
	}
	meeting := map[string]any{
		"id": m.ID, "name": m.Name, "description": m.Detail.Description, "language": m.Detail.Language,
		"validSince": m.ValidSince, "validUntil": m.ValidUntil, "url": URL(cfg, m.ID, domain),
		"users": users, "participants": parts, "user": owner,
	}
	if cfg.Meetings.PSTNExtension != "" && m.PIN != "" {
		meeting["ddi"] = map[string]any{"extension": cfg.Meetings.PSTNExtension, "pin": m.PIN}
	}
	return map[string]any{"party": party, "meeting": meeting, "cancelled": cancelled, "reminder": reminder}
}

// Compose renders the mail of a job: the templates of the meeting's
// language and the calendar.
func (s *Service) Compose(j *mailJob, now time.Time) (*mailer.Message, error) {
	m := &j.Meeting
	lang := m.Detail.Language
	if lang == "" {
		lang = s.cfg.Meetings.DefaultLanguage
	}
	r, err := s.tpl.Render(lang, TemplateData(s.cfg, m, j.Owner.templateData(), j.Owner.Domain, j.To, j.Method == MethodCancel, j.Reminder))
	if err != nil {
		return nil, err
	}
	if r.Subject == "" {
		r.Subject = m.Name
	}
	name := j.Owner.Username
	if name == "" {
		name = "OpenWAC"
	}
	sum := sha256.Sum256([]byte(strings.ToLower(j.To)))
	kind := strings.ToLower(j.Method)
	if j.Reminder {
		kind = "reminder"
	}
	host := "openwac"
	if u, err := url.Parse(s.cfg.MeetingLinkBase()); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return &mailer.Message{
		From: r.From, To: j.To, Subject: r.Subject, Text: r.Text, HTML: r.HTML,
		Calendar:       Calendar(m, j.Method, URL(s.cfg, m.ID, j.Owner.Domain), name, j.Owner.Email, j.To, now),
		CalendarMethod: j.Method,
		MessageID:      fmt.Sprintf("meeting-%s-%d-%s-%s@%s", m.ID, m.Sequence, kind, hex.EncodeToString(sum[:6]), host),
	}, nil
}

func (s *Service) runMail(ctx context.Context, job *store.Job) error {
	var j mailJob
	if err := jobs.Decode(job, &j); err != nil {
		return err
	}
	if s.mail == nil {
		return fmt.Errorf("%w: cannot send meeting invitation by email: Email service not available", jobs.Permanent)
	}
	msg, err := s.Compose(&j, time.Now())
	if err != nil {
		return fmt.Errorf("%w: %v", jobs.Permanent, err)
	}
	if err := s.mail.Send(ctx, msg); err != nil {
		if errors.Is(err, mailer.ErrRejected) {
			return fmt.Errorf("%w: failed to invite participant %s to meeting %s(%s): %v", jobs.Permanent, j.To, j.Meeting.Name, j.Meeting.ID, err)
		}
		return fmt.Errorf("failed to invite participant %s to meeting %s(%s): %w", j.To, j.Meeting.Name, j.Meeting.ID, err)
	}
	s.log.Info("meeting invitation sent", "meeting", j.Meeting.ID, "method", j.Method, "reminder", j.Reminder)
	return nil
}

// runReminder fans a meeting's reminder out: a job per user (push) and,
// as the seeds have it, the invitation again by email. A reminder of a
// meeting that was deleted or moved since does nothing (the moved one has
// its own).
func (s *Service) runReminder(ctx context.Context, job *store.Job) error {
	var r reminderJob
	if err := jobs.Decode(job, &r); err != nil {
		return err
	}
	m, err := s.st.GetMeeting(ctx, r.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load meeting %s: %w", r.ID, err)
	}
	if m.ValidSince != r.ValidSince {
		return nil
	}
	payload := map[string]any{"type": "meeting-reminder", "info": map[string]any{"id": m.ID, "name": m.Name}}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		users := append([]string{m.OwnerID}, m.Users()...)
		seen := map[string]bool{}
		now := time.Now()
		for _, u := range users {
			if seen[u] {
				continue
			}
			seen[u] = true
			if _, err := jobs.Enqueue(ctx, tx, KindRemindUser, reminderKey(m.ID), now, remindUserJob{User: u, Payload: payload}, nil); err != nil {
				return err
			}
		}
		to, err := s.addresses(ctx, tx, m)
		if err != nil {
			return err
		}
		owner, err := s.owner(ctx, tx, m.OwnerID, m.DomainID)
		if err != nil {
			return err
		}
		for _, addr := range to {
			if err := s.enqueueMail(ctx, tx, m, owner, addr, MethodRequest, true, now); err != nil {
				return err
			}
		}
		return s.enqueueSMS(ctx, tx, m, nil, owner, MethodRequest, true, now)
	})
	if err != nil {
		return err
	}
	s.runner.Wake()
	return nil
}

func (s *Service) runRemindUser(ctx context.Context, job *store.Job) error {
	var r remindUserJob
	if err := jobs.Decode(job, &r); err != nil {
		return err
	}
	rp := s.reminder.Load()
	if rp == nil || *rp == nil {
		s.reminders.WithLabelValues("logged").Inc()
		s.log.Info("meeting reminder (no push service configured)", "user", r.User, "payload", r.Payload)
		return nil
	}
	if err := (*rp).RemindMeeting(ctx, r.User, r.Payload); err != nil {
		info, _ := r.Payload["info"].(map[string]any)
		s.log.Error(fmt.Sprintf("Unable to send reminder for meeting: %v", info["id"]), "user", r.User, "err", err)
		s.reminders.WithLabelValues("failed").Inc()
		return fmt.Errorf("remind user %s: %w", r.User, err)
	}
	s.reminders.WithLabelValues("sent").Inc()
	return nil
}
