package sms

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/segmentio/encoding/json"

	"github.com/openwac/wac/internal/config"
)

// Beepsend is the seeds' sendsms backend: POST <urlService>/2/sms/ with
// "Authorization: Token <token>" and {"from","to","message","encoding"};
// the answer lists the messages made, or {"errors":[...]}.
type Beepsend struct {
	cfg    config.SMSBeepsend
	client *http.Client
}

// Name is the backend's name in sendsms.backend.
func (b *Beepsend) Name() string { return "sendsms" }

// Send hands m to Beepsend.
func (b *Beepsend) Send(ctx context.Context, m *Message) error {
	from := m.From
	if from == "" {
		from = b.cfg.From
	}
	body, _ := json.Marshal(map[string]string{"from": from, "to": strings.TrimPrefix(m.To, "+"), "message": m.Text, "encoding": b.cfg.Encoding})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(b.cfg.URLService, "/")+"/2/sms/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Token "+b.cfg.Token)
	raw, status, err := do(b.client, req)
	if err != nil {
		return err
	}
	if e := ParseBeepsendErrors(raw); e != "" || status/100 != 2 {
		return fmt.Errorf("Beepsend answered %d: %s", status, orStatus(e, status))
	}
	return nil
}

// ParseBeepsendErrors reads the error descriptions of a Beepsend answer:
// {"errors":[{"code","description"}]} for the request, or the errors of
// each message made; "" when there are none.
func ParseBeepsendErrors(raw []byte) string {
	type apiErr struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	}
	describe := func(list []apiErr) string {
		var out []string
		for _, e := range list {
			out = append(out, fmt.Sprintf("%d %s", e.Code, clip(e.Description)))
		}
		return strings.Join(out, "; ")
	}
	var whole struct {
		Errors []apiErr `json:"errors"`
	}
	if json.Unmarshal(raw, &whole) == nil && len(whole.Errors) > 0 {
		return describe(whole.Errors)
	}
	var each []struct {
		Errors []apiErr `json:"errors"`
	}
	if json.Unmarshal(raw, &each) == nil {
		var out []string
		for _, m := range each {
			if len(m.Errors) > 0 {
				out = append(out, describe(m.Errors))
			}
		}
		return strings.Join(out, "; ")
	}
	return ""
}

// LinkMobility is the seeds' linkmobility backend: a form POST to
// urlService with username, the MD5 of the password (as the seeds keep
// it), from, to, message and format=json; the answer is
// {"count","list":[...]} or {"error":code,"message":...}.
type LinkMobility struct {
	cfg    config.SMSLinkMobility
	client *http.Client
}

// Name is the backend's name in sendsms.backend.
func (l *LinkMobility) Name() string { return "linkmobility" }

// Send hands m to LinkMobility.
func (l *LinkMobility) Send(ctx context.Context, m *Message) error {
	from := m.From
	if from == "" {
		from = l.cfg.From
	}
	form := url.Values{"username": {l.cfg.Login}, "password": {l.cfg.Password}, "from": {from},
		"to": {strings.TrimPrefix(m.To, "+")}, "message": {m.Text}, "encoding": {"utf-8"}, "format": {"json"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.cfg.URLService, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	raw, status, err := do(l.client, req)
	if err != nil {
		return err
	}
	if why := ParseLinkMobility(raw); why != "" || status/100 != 2 {
		return fmt.Errorf("LinkMobility answered %d: %s", status, orStatus(why, status))
	}
	return nil
}

// ParseLinkMobility reads a LinkMobility answer: "" when it says messages
// were queued ({"count":n,"list":[...]}), else why not ({"error":code,
// "message":...}, or an answer it cannot read).
func ParseLinkMobility(raw []byte) string {
	var ans struct {
		Count   int             `json:"count"`
		List    json.RawMessage `json:"list"`
		Error   int             `json:"error"`
		Message string          `json:"message"`
	}
	switch {
	case json.Unmarshal(raw, &ans) != nil:
		return "an answer that is not JSON"
	case ans.Error != 0:
		return fmt.Sprintf("error %d %s", ans.Error, clip(ans.Message))
	case ans.Count < 1:
		return "no message queued"
	}
	return ""
}

// Webhook posts {"from","to","text","parts","encoding"} to an operator's
// URL; any 2xx is accepted.
type Webhook struct {
	cfg    config.SMSWebhook
	client *http.Client
}

// Name is the backend's name in sendsms.backend.
func (w *Webhook) Name() string { return "webhook" }

// Send posts m to the webhook.
func (w *Webhook) Send(ctx context.Context, m *Message) error {
	from := m.From
	if from == "" {
		from = w.cfg.From
	}
	body, _ := json.Marshal(map[string]any{"from": from, "to": m.To, "text": m.Text, "parts": m.Length.Parts, "encoding": m.Length.Encoding})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if w.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+w.cfg.Token)
	}
	_, status, err := do(w.client, req)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return fmt.Errorf("the webhook answered %d", status)
	}
	return nil
}

// do sends a request and reads at most 64 KiB of the answer.
func do(c *http.Client, req *http.Request) ([]byte, int, error) {
	res, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return raw, res.StatusCode, err
}

func orStatus(s string, status int) string {
	if s == "" || s == "error 0 " {
		return http.StatusText(status)
	}
	return s
}

// clip keeps what a provider said short and printable for logs.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
