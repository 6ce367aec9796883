// Package push sends push notifications to the devices of users (the seeds'
// PushNotifications service): APNs over HTTP/2 with a token (ES256, .p8)
// key, FCM HTTP v1 with a service account. It sends to the device tokens
// apps registered (store.PushTokens), removes the tokens APNs or FCM
// refuse as bad or expired, retries with doubling waits on 429 and 5xx,
// and raises alarms when the credentials are refused or the service stays
// unavailable. Invitations use it to wake phones whose signaling socket is
// closed (invites.Pusher); meetings to remind participants.
package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// Message types: the "type" of every push's payload.
const (
	TypeInvitation      = "invitation"       // someone calls: connect and answer
	TypeInvitationEnded = "invitation-ended" // the call stopped ringing (cancelled, answered elsewhere ...)
	TypeMeetingReminder = "meeting-reminder" // the seeds' meeting reminder
)

// Message is one notification: its payload is {"type": Type, "info": Info}
// (the seeds' meeting-reminder shape), on APNs beside "aps".
type Message struct {
	Type string
	Info map[string]any
	// Alert is the text an APNs alert push shows; "" = a background push.
	Alert string
	// Call marks an incoming call: VoIP push on APNs (PushKit), high
	// priority on FCM.
	Call bool
	// TTL is how long the push service keeps it for an offline device.
	TTL time.Duration
	// Collapse is the key under which a newer push replaces an older one.
	Collapse string
}

// Sender delivers a message to one device token of its service.
type Sender interface {
	Send(ctx context.Context, tok *store.PushToken, m *Message) error
}

// Error is a push service's refusal.
type Error struct {
	Service    string // APNs or FCM
	Status     int
	Reason     string // APNs reason, FCM errorCode or status
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s answered %d %s", e.Service, e.Status, e.Reason)
}

// BadToken says the token is not (or no longer) valid: it is removed.
func (e *Error) BadToken() bool {
	switch e.Reason {
	case "BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic", "ExpiredToken", // APNs
		"UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH": // FCM
		return true
	}
	return e.Status == http.StatusGone
}

// Retryable says another attempt may succeed: too many requests or a
// server error.
func (e *Error) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500 && e.Status != http.StatusNotImplemented
}

// Credentials says the push service refused our credentials (APNs 403,
// FCM 401/403 or THIRD_PARTY_AUTH_ERROR): every push fails until an
// administrator fixes them.
func (e *Error) Credentials() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden || e.Reason == "THIRD_PARTY_AUTH_ERROR"
}

// Store is what the service needs of the store.
type Store interface {
	ListPushTokens(ctx context.Context, userID string, domainIDs []string, p store.Page) ([]*store.PushToken, error)
	GetPushToken(ctx context.Context, id string) (*store.PushToken, error)
	DeletePushTokenValue(ctx context.Context, tokenType, token string) (bool, error)
	CreateAlarm(ctx context.Context, a *store.Alarm) error
}

// Options configure a Service.
type Options struct {
	Push  config.Push
	Store Store
	Log   *slog.Logger
	// Senders by token type; New fills them from Push when nil.
	Senders map[string]Sender
	// Registry, when set, gets the service's counters.
	Registry prometheus.Registerer
	// HTTPClient, when set, talks to APNs and FCM (tests trust their
	// local servers' certificate through it); it must speak HTTP/2.
	HTTPClient *http.Client
}

// Service sends pushes to users' devices.
type Service struct {
	cfg     config.Push
	st      Store
	log     *slog.Logger
	senders map[string]Sender
	sent    *prometheus.CounterVec

	mu     sync.Mutex
	alarms map[string]time.Time     // alarm key → when it was last raised
	rates  map[string]*rate.Limiter // user → its invitation pushes (push.userRate)
}

// ErrRateLimited is the refusal of an invitation push past push.userRate.
var ErrRateLimited = errors.New("push: too many invitation pushes to this user (push.userRate)")

// allow takes one invitation push from a user's budget. Limiters that are
// full again are dropped when there are many, so that the map holds the
// users pushed lately only.
func (s *Service) allow(userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rates) >= 4096 {
		now := time.Now()
		for id, l := range s.rates {
			if l.TokensAt(now) >= float64(l.Burst()) {
				delete(s.rates, id)
			}
		}
	}
	l := s.rates[userID]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(float64(s.cfg.UserRate)/60), max(1, s.cfg.UserRate/3))
		s.rates[userID] = l
	}
	return l.Allow()
}

// alarmEvery is how often one alarm is raised again while its cause lasts.
const alarmEvery = 10 * time.Minute

// New makes the service; it reports an error naming the key when a key or
// a service account cannot be read. With no sender configured Enabled is
// false.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Service, error) {
	s := &Service{cfg: cfg.Push, st: opts.Store, log: opts.Log, senders: opts.Senders, alarms: map[string]time.Time{},
		rates: map[string]*rate.Limiter{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.senders == nil {
		s.senders = map[string]Sender{}
		timeout := cfg.Push.Timeout
		hc := opts.HTTPClient
		if hc != nil {
			c := *hc
			c.Timeout = timeout
			hc = &c
		}
		if cfg.Push.APNs.KeyID != "" {
			a, err := NewAPNs(cfg.Push.APNs, cfg.APNsKeyFile(), timeout, hc)
			if err != nil {
				return nil, err
			}
			s.senders[store.PushAPNs], s.senders[store.PushAPNsVoIP] = a, a
		}
		if cfg.Push.FCM.FirebaseKey != "" {
			fc := hc
			if fc == nil {
				fc = &http.Client{Timeout: timeout}
			}
			f, err := NewFCMFromFile(ctx, cfg.Push.FCM, fc)
			if err != nil {
				return nil, err
			}
			s.senders[store.PushFCM] = f
		}
	}
	s.sent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wac_push_sent_total",
		Help: "Pushes by token type and result (ok, bad-token, failed; limited: invitation pushes past push.userRate, type all)."}, []string{"type", "result"})
	if opts.Registry != nil {
		if err := opts.Registry.Register(s.sent); err != nil {
			return nil, fmt.Errorf("push: register metrics: %w", err)
		}
	}
	return s, nil
}

// Enabled says whether any push service is configured.
func (s *Service) Enabled() bool { return s != nil && len(s.senders) > 0 }

// Notify sends m to the tokens of a user whose ids are in ids (nil = every
// token of the user), each token's device in parallel. It reports how many
// pushes the services accepted; tokens they refuse as bad are removed.
func (s *Service) Notify(ctx context.Context, userID string, ids []string, m *Message) (int, error) {
	s.log.Debug("Received request to obtain the push token ids by the user " + userID)
	toks, err := s.st.ListPushTokens(ctx, userID, nil, store.Page{})
	if err != nil {
		return 0, fmt.Errorf("push: tokens of %s: %w", userID, err)
	}
	var want map[string]bool
	if ids != nil {
		want = map[string]bool{}
		for _, id := range ids {
			want[id] = true
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	var errs []error
	for _, t := range toks {
		if want != nil && !want[t.ID] || s.senders[t.TokenType] == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Send(ctx, t, m)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			sent++
		}()
	}
	wg.Wait()
	if sent == 0 && len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	return sent, nil
}

// Send delivers m to one token, retrying on 429 and 5xx; a token refused
// as bad is removed.
func (s *Service) Send(ctx context.Context, tok *store.PushToken, m *Message) error {
	snd := s.senders[tok.TokenType]
	if snd == nil {
		return fmt.Errorf("push: no service configured for %s tokens", tok.TokenType)
	}
	s.log.Debug("Received request to send the following notification "+m.Type+" to the "+tok.ID, "user", tok.UserID)
	wait := s.cfg.RetryDelay
	var err error
	for attempt := 0; ; attempt++ {
		err = snd.Send(ctx, tok, m)
		var pe *Error
		if err == nil {
			s.sent.WithLabelValues(tok.TokenType, "ok").Inc()
			s.log.Debug("Push notification sent successfully with: token type "+tok.TokenType+" and token "+short(tok.Token), "user", tok.UserID)
			return nil
		}
		if !errors.As(err, &pe) || !pe.Retryable() || attempt >= s.cfg.Retries {
			break
		}
		d := wait << attempt
		if pe.RetryAfter > 0 {
			d = min(pe.RetryAfter, 30*time.Second)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("push: %w (gave up: %w)", err, ctx.Err())
		case <-t.C:
		}
	}
	s.log.Error("Error sending Push notification to "+serviceOf(tok.TokenType)+" with: token type, "+tok.TokenType+
		", token, "+short(tok.Token)+" and error "+err.Error(), "user", tok.UserID)
	var pe *Error
	switch {
	case errors.As(err, &pe) && pe.BadToken():
		s.sent.WithLabelValues(tok.TokenType, "bad-token").Inc()
		if gone, derr := s.st.DeletePushTokenValue(context.WithoutCancel(ctx), tok.TokenType, tok.Token); derr != nil {
			s.log.Warn("push: remove a bad token", "user", tok.UserID, "err", derr)
		} else if gone {
			s.log.Info("push: removed a token the push service refused", "user", tok.UserID, "type", tok.TokenType, "reason", pe.Reason)
		}
	case errors.As(err, &pe) && pe.Credentials():
		s.sent.WithLabelValues(tok.TokenType, "failed").Inc()
		s.alarm(ctx, tok, "push-credentials", fmt.Sprintf("%s refused the credentials (%d %s): check the push.%s keys",
			pe.Service, pe.Status, pe.Reason, map[string]string{"APNs": "apns", "FCM": "fcm"}[pe.Service]))
	case errors.As(err, &pe) && pe.Retryable():
		s.sent.WithLabelValues(tok.TokenType, "failed").Inc()
		s.alarm(ctx, tok, "push-unavailable", fmt.Sprintf("%s stayed unavailable after %d attempts (%d %s)",
			pe.Service, s.cfg.Retries+1, pe.Status, pe.Reason))
	default:
		s.sent.WithLabelValues(tok.TokenType, "failed").Inc()
	}
	return fmt.Errorf("push to %s token %s: %w", tok.TokenType, tok.ID, err)
}

// alarm raises an alarm of the token's domain, once per alarmEvery for the
// same type and service.
func (s *Service) alarm(ctx context.Context, tok *store.PushToken, typ, msg string) {
	key := typ + "/" + serviceOf(tok.TokenType) + "/" + tok.DomainID
	now := time.Now()
	s.mu.Lock()
	last, ok := s.alarms[key]
	if ok && now.Sub(last) < alarmEvery {
		s.mu.Unlock()
		return
	}
	s.alarms[key] = now
	s.mu.Unlock()
	if err := s.st.CreateAlarm(context.WithoutCancel(ctx), &store.Alarm{Type: typ, DomainID: tok.DomainID, Message: msg,
		Data: map[string]any{"service": serviceOf(tok.TokenType)}}); err != nil {
		s.log.Warn("push: raise alarm", "type", typ, "err", err)
	}
}

func serviceOf(tokenType string) string {
	if tokenType == store.PushFCM {
		return "FCM"
	}
	return "APNs"
}

// short is the start of a token, for logs: a device token is not a
// secret, but it identifies a device and need not be written whole.
func short(tok string) string {
	if len(tok) > 8 {
		return tok[:8] + "…"
	}
	return tok
}

// PushInvitation wakes the devices of a callee that have no live session
// (invites.Pusher): tokens lists the ids of those devices' tokens (the
// reachability's Offline). It reports how many pushes went out.
func (s *Service) PushInvitation(ctx context.Context, userID string, tokens []string, info map[string]any) (int, error) {
	if len(tokens) == 0 {
		return 0, nil
	}
	if !s.allow(userID) {
		s.sent.WithLabelValues("all", "limited").Inc()
		return 0, ErrRateLimited
	}
	alert := "Incoming call"
	if n, _ := info["displayName"].(string); n != "" {
		alert = "Incoming call from " + n
	}
	id, _ := info["invite"].(string)
	return s.Notify(ctx, userID, tokens, &Message{Type: TypeInvitation, Info: info, Alert: alert, Call: true,
		TTL: 60 * time.Second, Collapse: id})
}

// PushInvitationEnded tells the callee's devices that were woken for an
// invitation that it stopped ringing: cancelled, answered on another
// device, declined or unanswered (info's "reason").
func (s *Service) PushInvitationEnded(ctx context.Context, userID string, tokens []string, info map[string]any) (int, error) {
	if len(tokens) == 0 {
		return 0, nil
	}
	id, _ := info["invite"].(string)
	return s.Notify(ctx, userID, tokens, &Message{Type: TypeInvitationEnded, Info: info, TTL: 60 * time.Second, Collapse: id})
}

// PushMeetingReminder sends the seeds' meeting reminder,
// {"type":"meeting-reminder","info":{"id","name"}}, to every device of a
// user.
func (s *Service) PushMeetingReminder(ctx context.Context, userID, meetingID, name string) (int, error) {
	return s.Notify(ctx, userID, nil, &Message{Type: TypeMeetingReminder, Info: map[string]any{"id": meetingID, "name": name},
		Alert: name, TTL: time.Hour, Collapse: "meeting-" + meetingID})
}
