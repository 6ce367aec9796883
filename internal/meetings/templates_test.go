package meetings_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/meetings"
	"github.com/openwac/wac/internal/store"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sample(cfg *config.Config) map[string]any {
	m := &store.Meeting{ID: "6b0376c072be4c2dc7d28ae0", Name: "Review", ValidSince: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC).UnixMilli(),
		ValidUntil: time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC).UnixMilli(), PIN: "12345678"}
	return meetings.TemplateData(cfg, m, map[string]any{"username": "alice"}, "wac", "bob@example.org", false, false)
}

// The built-in templates: English at the root, Spanish in es/, with the
// seeds' formatDate and formatTime (timeZone, hour12).
func TestBuiltinTemplates(t *testing.T) {
	cfg := config.Default()
	cfg.Meetings.PSTNExtension = "+34999"
	tpl, err := meetings.LoadTemplates("", "email")
	if err != nil {
		t.Fatal(err)
	}
	en, err := tpl.Render("en-GB", sample(&cfg))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Hello bob@example.org", "alice invites you", "Monday, 2 March 2026, 09:30 UTC to 10:30 UTC", "/meeting/6b0376c072be4c2dc7d28ae0?domain=wac", "dial +34999 and enter the code 12345678"} {
		if !strings.Contains(en.Text, want) {
			t.Errorf("English text lacks %q:\n%s", want, en.Text)
		}
	}
	es, err := tpl.Render("es", sample(&cfg))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(es.Text, "lunes, 2 de marzo de 2026") || es.Subject != "Invitación: Review" || !strings.Contains(es.HTML, `lang="es"`) {
		t.Errorf("Spanish: %q\n%s", es.Subject, es.Text)
	}
}

// templatePath overrides the built-in templates by folder: the root's
// files, a language's subfolder, the helpers' options; a template that
// does not parse stops loading, naming its file.
func TestTemplatePathOverride(t *testing.T) {
	cfg := config.Default()
	dir := writeFiles(t, map[string]string{
		"email/text.hbs":     "Hi {{party}} at {{formatTime meeting.validSince hour12=true timeZone=\"America/New_York\"}}",
		"email/subject.hbs":  "{{meeting.name}}!",
		"email/fr/text.hbs":  "Bonjour {{party}}",
		"email/fr/from.hbs":  "Réunions <reunions@example.com>",
		"email/es/html.hbs":  "<p>sin texto</p>",
		"sms/text.hbs":       "unused here",
		"email/de/notes.txt": "a folder without templates is not a language",
	})
	_, err := meetings.LoadTemplates(dir, "email")
	if err == nil || !strings.Contains(err.Error(), "email/es") || !strings.Contains(err.Error(), "text.hbs is required") {
		t.Fatalf("a translation without text.hbs: %v", err)
	}
	os.Remove(filepath.Join(dir, "email/es/html.hbs"))
	tpl, err := meetings.LoadTemplates(dir, "email")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tpl.Render("", sample(&cfg))
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "Hi bob@example.org at 4:30 AM" || r.Subject != "Review!" || r.HTML != "" {
		t.Errorf("root: %+v", r)
	}
	r, err = tpl.Render("fr", sample(&cfg))
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "Bonjour bob@example.org" || r.From != "Réunions <reunions@example.com>" {
		t.Errorf("fr: %+v", r)
	}
	if r, _ := tpl.Render("de", sample(&cfg)); !strings.HasPrefix(r.Text, "Hi ") {
		t.Errorf("an unknown language falls back to the root: %+v", r)
	}
	bad := writeFiles(t, map[string]string{"email/text.hbs": "{{#if}}unclosed"})
	if _, err := meetings.LoadTemplates(bad, "email"); err == nil || !strings.Contains(err.Error(), "email/text.hbs") {
		t.Errorf("a broken template: %v", err)
	}
	// Without an email folder in templatePath: the built-in ones.
	if tpl, err := meetings.LoadTemplates(t.TempDir(), "email"); err != nil || len(tpl.Languages()) != 2 {
		t.Errorf("fallback to the built-in templates: %v", err)
	}
}
