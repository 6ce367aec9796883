// Package mailer sends email over SMTP (the seeds' mailer service) with
// github.com/wneessen/go-mail: plain and implicit TLS, STARTTLS as
// configured, authentication when a username is set.
package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/wneessen/go-mail"

	"github.com/openwac/wac/internal/config"
)

// Message is one email.
type Message struct {
	// From overrides mailer.from ("" = mailer.from).
	From    string
	To      string
	Subject string
	Text    string
	HTML    string // "" = text only
	// Calendar is an iCalendar object sent as a text/calendar alternative
	// (for the mail readers that show invitations inline) and as the
	// invite.ics attachment; CalendarMethod is its METHOD.
	Calendar       string
	CalendarMethod string
	// MessageID is the Message-ID, without angle brackets ("" = a new
	// one). A retried send keeps it, so that a receiver can tell a
	// repeated mail.
	MessageID string
}

// ErrRejected wraps a permanent refusal by the SMTP server (a 5xx answer):
// sending again will not help.
var ErrRejected = errors.New("rejected by the SMTP server")

// Mailer sends mail through the configured SMTP server.
type Mailer struct {
	cfg config.Mailer
}

// New makes a mailer; nil when mailer.host is empty (no mail is sent).
func New(cfg config.Mailer) *Mailer {
	if cfg.Host == "" {
		return nil
	}
	return &Mailer{cfg: cfg}
}

// Build makes the MIME message of m.
func (ml *Mailer) Build(m *Message) (*mail.Msg, error) {
	msg := mail.NewMsg()
	from := m.From
	if ml.cfg.ForceFrom || from == "" {
		from = ml.cfg.From
	}
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("mail from %q: %w", from, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail to %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	if m.MessageID != "" {
		msg.SetMessageIDWithValue(m.MessageID)
	} else {
		msg.SetMessageID()
	}
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	if m.Calendar != "" {
		ctype := mail.ContentType("text/calendar; method=" + m.CalendarMethod)
		msg.AddAlternativeString(ctype, m.Calendar)
		if err := msg.AttachReader("invite.ics", bytes.NewReader([]byte(m.Calendar)),
			mail.WithFileContentType(mail.ContentType("application/ics"))); err != nil {
			return nil, fmt.Errorf("attach the calendar: %w", err)
		}
	}
	return msg, nil
}

// Send sends m, within ctx. An error wrapping ErrRejected is permanent.
func (ml *Mailer) Send(ctx context.Context, m *Message) error {
	msg, err := ml.Build(m)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	opts := []mail.Option{mail.WithPort(ml.cfg.Port), mail.WithTimeout(ml.cfg.Timeout)}
	switch {
	case ml.cfg.Secure:
		opts = append(opts, mail.WithSSL())
	case ml.cfg.StartTLS == "mandatory":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case ml.cfg.StartTLS == "off":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if ml.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(ml.cfg.Username), mail.WithPassword(ml.cfg.Password))
	}
	if ml.cfg.HELO != "" {
		opts = append(opts, mail.WithHELO(ml.cfg.HELO))
	}
	c, err := mail.NewClient(ml.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client for %s: %w", ml.cfg.Host, err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *mail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
			return fmt.Errorf("%w: send to %s through %s: %v", ErrRejected, m.To, ml.cfg.Host, err)
		}
		return fmt.Errorf("send to %s through %s: %w", m.To, ml.cfg.Host, err)
	}
	return nil
}
