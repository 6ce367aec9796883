package sms_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/sms"
)

// provider is a local SMS provider: it records what it received.
type provider struct {
	*httptest.Server
	got chan map[string]string
}

func newProvider(t *testing.T, h func(w http.ResponseWriter, r *http.Request, got map[string]string)) *provider {
	p := &provider{got: make(chan map[string]string, 10)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := map[string]string{"path": r.URL.Path, "auth": r.Header.Get("Authorization"), "type": r.Header.Get("Content-Type")}
		if strings.HasPrefix(got["type"], "application/json") {
			var body map[string]any
			raw, _ := io.ReadAll(r.Body)
			json.Unmarshal(raw, &body)
			for k, v := range body {
				b, _ := json.Marshal(v)
				if s, ok := v.(string); ok {
					got[k] = s
				} else {
					got[k] = string(b)
				}
			}
		} else {
			r.ParseForm()
			for k := range r.PostForm {
				got[k] = r.PostForm.Get(k)
			}
		}
		h(w, r, got)
		p.got <- got
	}))
	t.Cleanup(p.Close)
	return p
}

// beepsend answers as Beepsend: 201 and the messages made, or errors for a
// number it refuses.
func beepsend(w http.ResponseWriter, r *http.Request, got map[string]string) {
	if got["auth"] != "Token bs-token" || got["path"] != "/2/sms/" {
		w.WriteHeader(401)
		io.WriteString(w, `{"errors":[{"code":1001,"description":"Invalid token"}]}`)
		return
	}
	if got["to"] == "34600000000" {
		w.WriteHeader(400)
		io.WriteString(w, `{"errors":[{"code":1031,"description":"\"to\" is not valid"}]}`)
		return
	}
	w.WriteHeader(201)
	io.WriteString(w, `[{"id":["0966abc"],"from":"`+got["from"]+`","to":"`+got["to"]+`","errors":null}]`)
}

func writeTemplates(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newService(t *testing.T, dir string, edit func(c *config.SendSMS)) *sms.Service {
	return newServiceIn(t, dir, nil, edit)
}

func newServiceIn(t *testing.T, dir string, reg prometheus.Registerer, edit func(c *config.SendSMS)) *sms.Service {
	cfg := config.Default()
	cfg.SendSMS.TemplatePath = dir
	edit(&cfg.SendSMS)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := sms.New(&cfg, sms.Options{Registry: reg})
	if err != nil || !s.Enabled() {
		t.Fatalf("sms.New: %v %v", s, err)
	}
	return s
}

var templates = map[string]string{
	"meetingSMS/text.hbs":      "{{meeting.name}} starts at {{formatTime meeting.start}}: {{meeting.url}}",
	"meetingSMS/es/text.hbs":   "La reunión {{meeting.name}} empieza a las {{formatTime meeting.start}}: {{meeting.url}}",
	"meetingSMS/es/from.hbs":   "Reuniones",
	"acme/meetingSMS/text.hbs": "ACME: {{meeting.name}} {{meeting.url}}",
	"long/text.hbs":            "{{text}}",
}

var data = map[string]any{"meeting": map[string]any{"name": "Q&A <Dev's>", "start": int64(1767607200000), "url": "https://m.example.com/x?a=1&b=2"},
	"text": strings.Repeat("a", 1000)}

func TestBeepsend(t *testing.T) {
	p := newProvider(t, beepsend)
	s := newService(t, writeTemplates(t, templates), func(c *config.SendSMS) {
		c.Backend = []string{"sendsms"}
		c.Sendsms = config.SMSBeepsend{URLService: p.URL, Token: "bs-token", From: "Quobis", Encoding: "UTF-8"}
	})
	ctx := context.Background()
	if err := s.Send(ctx, "globex", "+34 600 123 456", "meetingSMS", data); err != nil {
		t.Fatal(err)
	}
	got := <-p.got
	if got["to"] != "34600123456" || got["from"] != "Quobis" || got["encoding"] != "UTF-8" ||
		got["message"] != "Q&A <Dev's> starts at 10:00 UTC: https://m.example.com/x?a=1&b=2" {
		t.Errorf("Beepsend got %v", got)
	}
	// Spanish, with its own sender; the tenant's own template wins.
	l, err := s.SendLang(ctx, "globex", "34600123456", "meetingSMS", "es", data)
	if err != nil {
		t.Fatal(err)
	}
	got = <-p.got
	if got["from"] != "Reuniones" || !strings.HasPrefix(got["message"], "La reunión Q&A") || l.Encoding != sms.UCS2 {
		t.Errorf("Spanish: %v %+v", got, l)
	}
	if err := s.Send(ctx, "acme", "34600123456", "meetingSMS", data); err != nil {
		t.Fatal(err)
	}
	if got = <-p.got; got["message"] != "ACME: Q&A <Dev's> https://m.example.com/x?a=1&b=2" {
		t.Errorf("tenant template: %v", got)
	}
	// The provider's refusal comes back with its description.
	err = s.Send(ctx, "acme", "34600000000", "meetingSMS", data)
	if err == nil || !strings.Contains(err.Error(), `1031 "to" is not valid`) || strings.Contains(err.Error(), "34600000000") {
		t.Errorf("refused number: %v", err)
	}
	<-p.got
}

func TestRefusals(t *testing.T) {
	p := newProvider(t, beepsend)
	s := newService(t, writeTemplates(t, templates), func(c *config.SendSMS) {
		c.Backend = []string{"sendsms"}
		c.MaxParts = 3
		c.Sendsms = config.SMSBeepsend{URLService: p.URL, Token: "bs-token", From: "Quobis", Encoding: "UTF-8"}
	})
	ctx := context.Background()
	for _, c := range []struct {
		to, tpl string
		want    error
	}{
		{"12", "meetingSMS", sms.ErrNumber},
		{"+34600123456; rm", "meetingSMS", sms.ErrNumber},
		{"34600123456", "nope", sms.ErrTemplate},
		{"34600123456", "../etc", sms.ErrTemplate},
		{"34600123456", "long", sms.ErrTooLong}, // 1000 GSM-7 characters: 7 parts
	} {
		if err := s.Send(ctx, "acme", c.to, c.tpl, data); !errors.Is(err, c.want) {
			t.Errorf("Send(%q, %q) = %v, want %v", c.to, c.tpl, err, c.want)
		}
	}
	select {
	case got := <-p.got:
		t.Errorf("a refused message reached the provider: %v", got)
	default:
	}
}

// The backends are tried in order: LinkMobility refuses the login, the
// webhook takes the message.
func TestLinkMobilityAndWebhookFailover(t *testing.T) {
	lm := newProvider(t, func(w http.ResponseWriter, r *http.Request, got map[string]string) {
		if got["username"] != "wac" || got["password"] != "5f4dcc3b5aa765d61d8327deb882cf99" {
			io.WriteString(w, `{"error":101,"message":"Authorization failed"}`)
			return
		}
		io.WriteString(w, `{"count":1,"list":[{"id":"1","points":0.16,"number":"`+got["to"]+`","status":"QUEUE"}]}`)
	})
	hook := newProvider(t, func(w http.ResponseWriter, r *http.Request, got map[string]string) {
		if got["auth"] != "Bearer hook-secret" {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(204)
	})
	dir := writeTemplates(t, templates)
	for _, pw := range []string{"5f4dcc3b5aa765d61d8327deb882cf99", "wrong"} {
		reg := prometheus.NewRegistry()
		s := newServiceIn(t, dir, reg, func(c *config.SendSMS) {
			c.Backend = []string{"linkmobility", "webhook"}
			c.Linkmobility = config.SMSLinkMobility{URLService: lm.URL + "/sms.do", Login: "wac", Password: pw, From: "QUOBIS"}
			c.Webhook = config.SMSWebhook{URL: hook.URL + "/sms", Token: "hook-secret", From: "WAC"}
		})
		if err := s.Send(context.Background(), "acme", "34600123456", "meetingSMS", data); err != nil {
			t.Fatal(err)
		}
		got := <-lm.got
		if got["from"] != "QUOBIS" || got["to"] != "34600123456" || got["format"] != "json" || !strings.HasPrefix(got["message"], "ACME: Q&A") {
			t.Errorf("LinkMobility got %v", got)
		}
		counted := counterValue(t, s.Counter().WithLabelValues("linkmobility", "ok"))
		if want := map[bool]float64{true: 0, false: 1}[pw == "wrong"]; counted != want {
			t.Errorf("wac_sms_sent_total{linkmobility,ok} = %v, want %v", counted, want)
		}
		if pw == "wrong" {
			if n := counterValue(t, s.Counter().WithLabelValues("webhook", "ok")); n != 1 {
				t.Errorf("wac_sms_sent_total{webhook,ok} = %v", n)
			}
			if h := <-hook.got; h["to"] != "34600123456" || h["from"] != "WAC" || h["parts"] != "1" || h["encoding"] != sms.GSM7 {
				t.Errorf("webhook got %v", h)
			}
		} else {
			select {
			case h := <-hook.got:
				t.Errorf("the webhook got a message LinkMobility took: %v", h)
			default:
			}
		}
	}
}

func FuzzParseBeepsendErrors(f *testing.F) {
	f.Add([]byte(`{"errors":[{"code":1031,"description":"bad"}]}`))
	f.Add([]byte(`[{"id":["x"],"errors":[{"code":1,"description":"a\nb"}]}]`))
	f.Add([]byte(`[{"id":["x"],"errors":null}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := sms.ParseBeepsendErrors(raw)
		if strings.ContainsAny(s, "\n\r") {
			t.Fatalf("a control character in %q", s)
		}
	})
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func FuzzParseLinkMobility(f *testing.F) {
	f.Add([]byte(`{"count":1,"list":[{"id":"1","points":0.16,"number":"34600123456","status":"QUEUE"}]}`))
	f.Add([]byte(`{"error":101,"message":"Authorization failed"}`))
	f.Add([]byte(`{"count":0}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := sms.ParseLinkMobility(raw)
		if strings.ContainsAny(s, "\n\r") {
			t.Fatalf("a control character in %q", s)
		}
		if s == "" && len(raw) < len(`{"count":1}`) {
			t.Fatalf("%q accepted: too short to say a message was queued", raw)
		}
	})
}
