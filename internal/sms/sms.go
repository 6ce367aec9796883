// Package sms sends text messages (the seeds' sendsms service): a message
// is rendered from a Handlebars template (<templatePath>/<name>/text.hbs,
// localized in <name>/<language>/text.hbs, its sender in from.hbs), measured
// in SMS parts (GSM-7 or UCS-2) and handed to the first backend that
// accepts it: Beepsend's token API (the seeds' sendsms backend),
// LinkMobility's login API, or a webhook of the operator's.
package sms

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mailgun/raymond/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openwac/wac/internal/config"
)

// Message is one text message for a backend.
type Message struct {
	From   string
	To     string
	Text   string
	Length Length
}

// Backend hands messages to a provider.
type Backend interface {
	Name() string
	Send(ctx context.Context, m *Message) error
}

// Options configure a Service.
type Options struct {
	Log *slog.Logger
	// HTTPClient talks to the providers (tests trust their local servers
	// through it); nil = a client with sendsms.timeout.
	HTTPClient *http.Client
	// Backends replace those of the configuration (tests).
	Backends []Backend
	// Registry, when set, gets the service's counter.
	Registry prometheus.Registerer
}

// Service renders and sends text messages.
type Service struct {
	templates string
	maxParts  int
	backends  []Backend
	log       *slog.Logger
	sent      *prometheus.CounterVec
}

// Errors of Send that are the caller's, not the providers'.
var (
	ErrNumber   = errors.New("not a phone number (MSISDN: an optional + and 6 to 17 digits)")
	ErrTemplate = errors.New("no such SMS template")
	ErrTooLong  = errors.New("the message is longer than sendsms.maxParts")
)

// New makes the service from sendsms.*; with no backend configured it is
// nil (Enabled false), and the meetings send no SMS.
func New(cfg *config.Config, opts Options) (*Service, error) {
	s := &Service{templates: cfg.SMSTemplatePath(), maxParts: cfg.SendSMS.MaxParts, backends: opts.Backends, log: opts.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	c := *hc
	c.Timeout = cfg.SendSMS.Timeout
	if s.backends == nil {
		for _, name := range cfg.SendSMS.Backend {
			switch name {
			case "sendsms":
				s.backends = append(s.backends, &Beepsend{cfg: cfg.SendSMS.Sendsms, client: &c})
			case "linkmobility":
				s.backends = append(s.backends, &LinkMobility{cfg: cfg.SendSMS.Linkmobility, client: &c})
			case "webhook":
				s.backends = append(s.backends, &Webhook{cfg: cfg.SendSMS.Webhook, client: &c})
			default:
				return nil, fmt.Errorf("sendsms.backend: %q is not a backend", name)
			}
		}
	}
	if len(s.backends) == 0 {
		return nil, nil
	}
	s.sent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wac_sms_sent_total",
		Help: "SMS handed to a backend, by backend and result (ok, refused)."}, []string{"backend", "result"})
	if opts.Registry != nil {
		if err := opts.Registry.Register(s.sent); err != nil {
			return nil, fmt.Errorf("sendsms: register metrics: %w", err)
		}
	}
	return s, nil
}

// Enabled says whether SMS can be sent.
func (s *Service) Enabled() bool { return s != nil && len(s.backends) > 0 }

var (
	msisdn  = regexp.MustCompile(`^\+?[0-9]{6,17}$`)
	segment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// Send renders template for domain (its default language) with data and
// sends it to the phone number to.
func (s *Service) Send(ctx context.Context, domain, to, template string, data any) error {
	_, err := s.SendLang(ctx, domain, to, template, "", data)
	return err
}

// SendLang sends template in a language ("" = the default); it returns
// the message's length.
func (s *Service) SendLang(ctx context.Context, domain, to, template, language string, data any) (Length, error) {
	if !s.Enabled() {
		return Length{}, errors.New("SMS service not available: sendsms.backend is empty")
	}
	to = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(to)
	if !msisdn.MatchString(to) {
		return Length{}, fmt.Errorf("sms to %q: %w", to, ErrNumber)
	}
	from, text, err := s.Render(domain, template, language, data)
	if err != nil {
		return Length{}, err
	}
	m := &Message{From: from, To: to, Text: text, Length: Measure(text)}
	if m.Length.Parts > 1 {
		s.log.Warn(fmt.Sprintf("The sms template %s is too large. It will be sent several SMS", template),
			"parts", m.Length.Parts, "encoding", m.Length.Encoding)
	}
	if m.Length.Parts > s.maxParts {
		return m.Length, fmt.Errorf("sms template %s: %d parts of %s: %w (%d)", template, m.Length.Parts, m.Length.Encoding, ErrTooLong, s.maxParts)
	}
	return m.Length, s.deliver(ctx, m, template)
}

// SendText sends a text rendered elsewhere (the meetings' invitations,
// from their own templates) to the phone number to, from a sender ("" =
// the backend's).
func (s *Service) SendText(ctx context.Context, to, from, text string) error {
	if !s.Enabled() {
		return errors.New("SMS service not available: sendsms.backend is empty")
	}
	to = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(to)
	if !msisdn.MatchString(to) {
		return fmt.Errorf("sms to %q: %w", to, ErrNumber)
	}
	m := &Message{From: from, To: to, Text: text, Length: Measure(text)}
	if m.Length.Parts > s.maxParts {
		return fmt.Errorf("sms text: %d parts of %s: %w (%d)", m.Length.Parts, m.Length.Encoding, ErrTooLong, s.maxParts)
	}
	return s.deliver(ctx, m, "text")
}

// deliver hands m to the backends in order until one takes it.
func (s *Service) deliver(ctx context.Context, m *Message, template string) error {
	var errs []error
	for _, b := range s.backends {
		if err := b.Send(ctx, m); err != nil {
			s.sent.WithLabelValues(b.Name(), "refused").Inc()
			s.log.Warn("sms: backend refused the message", "backend", b.Name(), "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", b.Name(), err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		s.sent.WithLabelValues(b.Name(), "ok").Inc()
		s.log.Debug("sms sent", "backend", b.Name(), "template", template, "parts", m.Length.Parts)
		return nil
	}
	return fmt.Errorf("sms to %s: %w", last4(m.To), errors.Join(errs...))
}

// last4 hides a phone number in errors and logs but its end.
func last4(n string) string {
	if len(n) <= 4 {
		return n
	}
	return strings.Repeat("*", len(n)-4) + n[len(n)-4:]
}

// Render renders a template's text (text.hbs, required) and sender
// (from.hbs, optional: "" = the backend's from). It looks in
// <templatePath>/<domain>/<template> first (a tenant's own templates),
// then <templatePath>/<template>, each in the language's folder first.
func (s *Service) Render(domain, template, language string, data any) (from, text string, err error) {
	for _, seg := range strings.Split(template, "/") {
		if !segment.MatchString(seg) {
			return "", "", fmt.Errorf("sms template %q: %w", template, ErrTemplate)
		}
	}
	var dirs []string
	for _, base := range []string{domain, ""} {
		if base != "" && !segment.MatchString(base) {
			continue
		}
		dir := filepath.Join(s.templates, base, filepath.FromSlash(template))
		if language != "" && segment.MatchString(language) {
			dirs = append(dirs, filepath.Join(dir, language))
		}
		dirs = append(dirs, dir)
	}
	for _, dir := range dirs {
		text, err = renderFile(filepath.Join(dir, "text.hbs"), language, data)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", "", err
		}
		from, err = renderFile(filepath.Join(dir, "from.hbs"), language, data)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", "", err
		}
		return strings.TrimSpace(from), strings.TrimSpace(text), nil
	}
	return "", "", fmt.Errorf("sms template %s (language %q): %w", template, language, ErrTemplate)
}

// renderFile renders one .hbs file. Handlebars escapes {{values}} for
// HTML; an SMS is plain text, so the escapes are undone.
func renderFile(path, language string, data any) (string, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tpl, err := raymond.Parse(string(src))
	if err != nil {
		return "", fmt.Errorf("sms template %s: %w", path, err)
	}
	tpl.RegisterHelpers(map[string]any{"formatDate": formatDate, "formatTime": formatTime})
	out, err := tpl.Exec(data)
	if err != nil {
		return "", fmt.Errorf("sms template %s: %w", path, err)
	}
	return html.UnescapeString(out), nil
}

// asTime reads a helper's argument: unix milliseconds or RFC 3339 text.
func asTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case int64:
		return time.UnixMilli(x).UTC(), true
	case int:
		return time.UnixMilli(int64(x)).UTC(), true
	case float64:
		return time.UnixMilli(int64(x)).UTC(), true
	case time.Time:
		return x.UTC(), true
	case string:
		t, err := time.Parse(time.RFC3339, x)
		return t.UTC(), err == nil
	}
	return time.Time{}, false
}

// formatDate is the seeds' helper: the date of a time (UTC), as
// YYYY-MM-DD.
func formatDate(v any) string {
	if t, ok := asTime(v); ok {
		return t.Format("2006-01-02")
	}
	return ""
}

// formatTime is the seeds' helper: the time of day (UTC), as HH:MM.
func formatTime(v any) string {
	if t, ok := asTime(v); ok {
		return t.Format("15:04") + " UTC"
	}
	return ""
}

// Counter is wac_sms_sent_total (tests read it).
func (s *Service) Counter() *prometheus.CounterVec { return s.sent }
