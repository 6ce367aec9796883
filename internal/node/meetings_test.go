package node_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openwac/wac/client"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/mailer/smtptest"
)

// recorder is a meetings.Reminder that keeps what it gets.
type recorder struct {
	mu  sync.Mutex
	got []map[string]any
}

func (r *recorder) RemindMeeting(_ context.Context, user string, payload map[string]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, map[string]any{"user": user, "payload": payload})
	return nil
}

func (r *recorder) SendText(_ context.Context, to, from, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, map[string]any{"to": to, "from": from, "text": text})
	return nil
}

// waitFor waits until r has n entries.
func (r *recorder) waitFor(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(r.all()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d entries, want %d: %v", len(r.all()), n, r.all())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r.all()
}

func (r *recorder) all() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.got...)
}

// invitation is a received invitation, parsed: its MIME parts and its
// calendar read back with the iCalendar library.
type invitation struct {
	to, subject, text, html, messageID string
	method, uid, status                string
	sequence                           string
	calendarPart                       bool
}

func parseInvitation(t *testing.T, m smtptest.Mail) invitation {
	t.Helper()
	p, err := smtptest.Parse(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	inv := invitation{to: strings.Join(m.To, ","), subject: p.Subject(), messageID: p.Header.Get("Message-Id")}
	if tp := p.Find("text/plain"); tp != nil {
		inv.text = tp.Body
	}
	if hp := p.Find("text/html"); hp != nil {
		inv.html = hp.Body
	}
	inv.calendarPart = p.Find("text/calendar") != nil
	att := p.Attachment("invite.ics")
	if att == nil {
		t.Fatalf("no invite.ics in %+v", p.Parts)
	}
	cal, err := ics.ParseCalendar(strings.NewReader(att.Body))
	if err != nil {
		t.Fatalf("parse the calendar: %v\n%s", err, att.Body)
	}
	for _, prop := range cal.CalendarProperties {
		if prop.IANAToken == string(ics.PropertyMethod) {
			inv.method = prop.Value
		}
	}
	evs := cal.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	inv.uid = ev.Id()
	if s := ev.GetProperty(ics.ComponentPropertySequence); s != nil {
		inv.sequence = s.Value
	}
	if s := ev.GetProperty(ics.ComponentPropertyStatus); s != nil {
		inv.status = s.Value
	}
	return inv
}

// Scheduling, moving and cancelling a meeting through the API mails its
// participants through a real SMTP server: the template of the meeting's
// language, an RFC 5545 invitation (REQUEST, one UID, SEQUENCE up on each
// update; CANCEL to those taken out and on delete); the reminder reaches
// the push service's interface with the seeds' payload.
func TestMeetingInvitationsByMail(t *testing.T) {
	smtp := smtptest.Start(t)
	n, base := startNodeWith(t, t.TempDir(), func(c *config.Config) {
		c.Mailer = config.Mailer{Host: smtp.Host, Port: smtp.Port, StartTLS: "off", From: "OpenWAC <meetings@example.com>", Timeout: 5 * time.Second}
		c.Meetings.LinkHost = "https://meet.example.com"
		c.Meetings.PSTNExtension = "+34999999999"
		c.Meetings.RemindBefore = 1
		c.Meetings.InviteMechanisms = []string{"email", "sms"}
		c.Jobs.Backoff = time.Second
	})
	rem, texts := &recorder{}, &recorder{}
	n.Meetings().SetReminder(rem)
	n.Meetings().SetSMS(texts)
	ctx := context.Background()
	admin, err := client.Login(ctx, base, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []map[string]any{
		{"username": "alice", "password": "alice-password-1", "email": "alice@example.com"},
		{"username": "bob", "password": "bob-password-1", "email": "bob@example.com"},
	} {
		if err := admin.API(ctx, "POST", "/sapi/users", u, nil); err != nil {
			t.Fatal(err)
		}
	}
	alice, err := client.Login(ctx, base, "alice@wac", "alice-password-1")
	if err != nil {
		t.Fatal(err)
	}
	// Starts in 1 minute and 2 seconds: the reminder (1 minute ahead) is
	// due in about 2 seconds.
	start := time.Now().Add(62 * time.Second).UnixMilli()
	var m struct {
		ID  string
		URL string
		DDI struct{ Extension, PIN string }
	}
	if err := alice.API(ctx, "POST", "/sapi/meetings", map[string]any{"name": "Planificación & presupuesto", "language": "es",
		"validSince": start, "validUntil": start + 3600000,
		"participants": []map[string]string{{"user": "bob"}, {"email": "guest@example.org"}, {"phone": "+34600000001"}}}, &m); err != nil {
		t.Fatal(err)
	}
	mails := smtp.Wait(t, 2)
	byTo := map[string]invitation{}
	for _, ml := range mails[:2] {
		inv := parseInvitation(t, ml)
		byTo[inv.to] = inv
	}
	guest, bob := byTo["guest@example.org"], byTo["bob@example.com"]
	if guest.method != "REQUEST" || guest.uid != m.ID+"@openwac" || guest.sequence != "0" || !guest.calendarPart {
		t.Fatalf("guest's invitation %+v", guest)
	}
	if bob.uid != guest.uid {
		t.Fatalf("bob's uid %q", bob.uid)
	}
	for _, want := range []string{"Hola guest@example.org", "alice te invita a la reunión \"Planificación & presupuesto\"", m.URL,
		"O llama al +34999999999 e introduce el código " + m.DDI.PIN} {
		if !strings.Contains(guest.text, want) {
			t.Errorf("the Spanish text lacks %q:\n%s", want, guest.text)
		}
	}
	if !strings.Contains(guest.html, "Planificación &amp; presupuesto") || !strings.Contains(guest.html, `href="`+m.URL+`"`) {
		t.Errorf("the Spanish HTML:\n%s", guest.html)
	}
	if guest.subject != "Invitación: Planificación & presupuesto" {
		t.Errorf("subject %q", guest.subject)
	}

	sms := texts.waitFor(t, 1)[0]
	if sms["to"] != "+34600000001" || !strings.Contains(sms["text"].(string), "alice te invita: \"Planificación & presupuesto\"") ||
		!strings.Contains(sms["text"].(string), m.URL) || !strings.Contains(sms["text"].(string), "PIN "+m.DDI.PIN) {
		t.Errorf("the SMS invitation %v", sms)
	}

	// The reminder: pushes to the owner and bob, and the invitation again.
	deadline := time.Now().Add(20 * time.Second)
	for len(rem.all()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("reminders %v", rem.all())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The counters follow the calls (a job is counted once it finished).
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{{"wac_meetings_reminders_total", "result", "sent", 2}, {"wac_jobs_done_total", "kind", "meeting-reminder", 1}} {
		deadline := time.Now().Add(10 * time.Second)
		for counterValue(t, n.Metrics.Registry, c.name, c.label, c.value) != c.want {
			if time.Now().After(deadline) {
				t.Fatalf("%s{%s=%q} %v, want %v", c.name, c.label, c.value, counterValue(t, n.Metrics.Registry, c.name, c.label, c.value), c.want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, r := range rem.all() {
		p := r["payload"].(map[string]any)
		info := p["info"].(map[string]any)
		if p["type"] != "meeting-reminder" || info["id"] != m.ID || info["name"] != "Planificación & presupuesto" {
			t.Errorf("reminder %v", r)
		}
	}
	mails = smtp.Wait(t, 4)
	for _, ml := range mails[2:4] {
		inv := parseInvitation(t, ml)
		if !strings.HasPrefix(inv.subject, "Recordatorio: ") || inv.method != "REQUEST" || inv.uid != guest.uid {
			t.Errorf("reminder mail %+v", inv)
		}
	}

	if sms := texts.waitFor(t, 2)[1]; !strings.HasPrefix(sms["text"].(string), "Recordatorio: ") {
		t.Errorf("the SMS reminder %v", sms)
	}

	// Moved, in English, without bob and the phone: the others get
	// SEQUENCE 1, bob and the phone a cancellation.
	if err := alice.API(ctx, "PUT", "/sapi/meetings/"+m.ID, map[string]any{"language": "en", "validSince": start + 3600000,
		"validUntil": start + 7200000, "participants": []map[string]string{{"email": "guest@example.org"}}}, nil); err != nil {
		t.Fatal(err)
	}
	mails = smtp.Wait(t, 6)
	byTo = map[string]invitation{}
	for _, ml := range mails[4:6] {
		inv := parseInvitation(t, ml)
		byTo[inv.to] = inv
	}
	if g := byTo["guest@example.org"]; g.method != "REQUEST" || g.sequence != "1" || g.uid != guest.uid ||
		!strings.Contains(g.text, "Hello guest@example.org") || !strings.Contains(g.text, "alice invites you") || g.subject != "Invitation: Planificación & presupuesto" {
		t.Errorf("the update %+v", g)
	}
	if b := byTo["bob@example.com"]; b.method != "CANCEL" || b.status != "CANCELLED" || b.uid != guest.uid || !strings.Contains(b.text, "has been cancelled") {
		t.Errorf("bob's cancellation %+v", b)
	}

	if sms := texts.waitFor(t, 3)[2]; sms["to"] != "+34600000001" || !strings.HasPrefix(sms["text"].(string), "Cancelled: ") {
		t.Errorf("the SMS cancellation %v", sms)
	}

	// Cancelled: a CANCEL with a higher SEQUENCE.
	if err := alice.API(ctx, "DELETE", "/sapi/meetings/"+m.ID, nil, nil); err != nil {
		t.Fatal(err)
	}
	mails = smtp.Wait(t, 7)
	c := parseInvitation(t, mails[6])
	if c.to != "guest@example.org" || c.method != "CANCEL" || c.sequence != "2" || c.uid != guest.uid || c.subject != "Cancelled: Planificación & presupuesto" {
		t.Errorf("the cancellation %+v", c)
	}
	time.Sleep(200 * time.Millisecond)
	if got := len(smtp.Mails()); got != 7 {
		t.Errorf("%d mails, want 7 (no duplicates)", got)
	}
	if got := len(texts.all()); got != 3 {
		t.Errorf("%d SMS, want 3 (no duplicates)", got)
	}
}

// counterValue reads a counter of the node's registry by one label.
func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// With the node's own SMS service (sendsms.backend webhook, a local HTTP
// server here), a meeting's phone participants get their invitation
// through it: the meetings' template rendered, the provider's request
// received.
func TestMeetingInvitationBySMSService(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || r.Header.Get("Authorization") != "Bearer hook-token" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	_, base := startNodeWith(t, t.TempDir(), func(c *config.Config) {
		c.Meetings.InviteMechanisms = []string{"sms"}
		c.SendSMS.Backend = []string{"webhook"}
		c.SendSMS.Webhook = config.SMSWebhook{URL: hook.URL, Token: "hook-token", From: "WAC"}
	})
	ctx := context.Background()
	admin, err := client.Login(ctx, base, "admin@wac", "admin-secret-1")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(time.Hour).UnixMilli()
	var m struct{ URL string }
	if err := admin.API(ctx, "POST", "/sapi/meetings", map[string]any{"name": "Standup", "validSince": start,
		"validUntil": start + 1800000, "participants": []map[string]string{{"phone": "+34600000002"}}}, &m); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the SMS provider got nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	sms := got[0]
	if sms["to"] != "+34600000002" || sms["from"] != "WAC" || !strings.Contains(sms["text"].(string), `admin invites you: "Standup"`) ||
		!strings.Contains(sms["text"].(string), m.URL) {
		t.Errorf("the provider got %v", sms)
	}
}

// With the node's own push service (FCM here, a local server that speaks
// its protocol), a meeting's reminder reaches its owner's phone with the
// seeds' payload {"type": "meeting-reminder", "info": {id, name}}.
func TestMeetingReminderByPush(t *testing.T) {
	p := startPushNode(t, func(c *config.Config) { c.Meetings.RemindBefore = 1 })
	alice := p.user(t, "alice")
	register(t, alice, "fcm", "alice-fcm-token-1", "alice-phone")
	start := time.Now().Add(61 * time.Second).UnixMilli() // the reminder is due in a second
	var m struct{ ID string }
	if err := alice.API(context.Background(), "POST", "/sapi/meetings", map[string]any{"name": "Retro",
		"validSince": start, "validUntil": start + 1800000}, &m); err != nil {
		t.Fatal(err)
	}
	got := p.fcm.Wait(t, 20*time.Second)
	if got.Type() != "meeting-reminder" || got.Info()["id"] != m.ID || got.Info()["name"] != "Retro" {
		t.Fatalf("push %+v", got)
	}
}
