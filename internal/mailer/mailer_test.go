package mailer_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/mailer"
	"github.com/openwac/wac/internal/mailer/smtptest"
)

func newMailer(s *smtptest.Server) *mailer.Mailer {
	return mailer.New(config.Mailer{Host: s.Host, Port: s.Port, StartTLS: "off", From: "Meetings <meetings@example.com>", Timeout: 5 * time.Second})
}

// A mail with text, HTML and a calendar arrives as multipart/alternative
// (text, HTML, text/calendar) with the invite.ics attachment, from
// mailer.from, with the Message-ID asked for.
func TestSendStructure(t *testing.T) {
	s := smtptest.Start(t)
	err := newMailer(s).Send(context.Background(), &mailer.Message{To: "bob@example.org", Subject: "Hi ñ", Text: "plain",
		HTML: "<p>html</p>", Calendar: "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", CalendarMethod: "REQUEST", MessageID: "abc@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	m := s.Wait(t, 1)[0]
	if m.From != "meetings@example.com" || len(m.To) != 1 || m.To[0] != "bob@example.org" {
		t.Fatalf("envelope %s → %v", m.From, m.To)
	}
	p, err := smtptest.Parse(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject() != "Hi ñ" || p.Header.Get("Message-Id") != "<abc@example.com>" {
		t.Errorf("headers %v", p.Header)
	}
	var types []string
	for _, part := range p.Parts {
		types = append(types, part.ContentType)
	}
	if got := strings.Join(types, ","); got != "text/plain,text/html,text/calendar,application/ics" {
		t.Errorf("parts %s", got)
	}
	if c := p.Find("text/calendar"); c == nil || c.Params["method"] != "REQUEST" {
		t.Errorf("calendar part %+v", c)
	}
	if a := p.Attachment("invite.ics"); a == nil || !strings.HasPrefix(a.Body, "BEGIN:VCALENDAR") {
		t.Errorf("attachment %+v", a)
	}
}

// A recipient the server refuses (5xx) is a permanent error; a
// temporary failure (4xx) and an unreachable server are not.
func TestSendErrors(t *testing.T) {
	s := smtptest.Start(t)
	s.Reject = func(to string) bool { return strings.HasPrefix(to, "nobody@") }
	ml := newMailer(s)
	ctx := context.Background()
	err := ml.Send(ctx, &mailer.Message{To: "nobody@example.org", Subject: "x", Text: "x"})
	if !errors.Is(err, mailer.ErrRejected) {
		t.Errorf("a refused recipient: %v", err)
	}
	s.Fail = func() bool { return true }
	if err := ml.Send(ctx, &mailer.Message{To: "bob@example.org", Subject: "x", Text: "x"}); err == nil || errors.Is(err, mailer.ErrRejected) {
		t.Errorf("a temporary failure: %v", err)
	}
	down := mailer.New(config.Mailer{Host: "127.0.0.1", Port: 1, StartTLS: "off", From: "a@b.c", Timeout: 2 * time.Second})
	if err := down.Send(ctx, &mailer.Message{To: "bob@example.org", Subject: "x", Text: "x"}); err == nil || errors.Is(err, mailer.ErrRejected) {
		t.Errorf("an unreachable server: %v", err)
	}
	if err := ml.Send(ctx, &mailer.Message{To: "not an address", Subject: "x", Text: "x"}); !errors.Is(err, mailer.ErrRejected) {
		t.Errorf("a bad address: %v", err)
	}
	if mailer.New(config.Mailer{}) != nil {
		t.Error("a mailer without mailer.host")
	}
}
