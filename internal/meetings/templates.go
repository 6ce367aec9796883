package meetings

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/mailgun/raymond/v2"
)

// The built-in templates: email/{text,html,subject}.hbs in English and
// their Spanish translation in email/es/.
//
//go:embed tpl
var builtin embed.FS

// Templates renders the invitations of one mechanism (email) from the
// seeds' layout: <root>/<mechanism>/{text,html,subject,from}.hbs, and a
// translation of them in a subfolder named after the language. text.hbs
// is required, the others optional.
type Templates struct {
	sets map[string]*templateSet // language ("" = the root) → its templates
}

type templateSet struct {
	text, html, subject, from *raymond.Template
}

// Rendered is one rendered invitation.
type Rendered struct {
	Text, HTML, Subject, From string
}

// LoadTemplates parses the templates of a mechanism under dir (the
// meetings.templatePath); with dir empty, or without a folder for the
// mechanism in it, the built-in ones. Every template is parsed now, so
// that a broken one stops start-up naming its file.
func LoadTemplates(dir, mechanism string) (*Templates, error) {
	var fsys fs.FS
	root := mechanism
	if dir != "" {
		if st, err := os.Stat(path.Join(dir, mechanism)); err == nil && st.IsDir() {
			fsys = os.DirFS(dir)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("meetings.templatePath: %w", err)
		}
	}
	if fsys == nil {
		sub, err := fs.Sub(builtin, "tpl")
		if err != nil {
			return nil, err
		}
		fsys = sub
	}
	t := &Templates{sets: map[string]*templateSet{}}
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("meetings templates %s: %w", path.Join(dir, root), err)
	}
	dirs := []string{""}
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	for _, lang := range dirs {
		set, err := loadSet(fsys, path.Join(root, lang), dir)
		if err != nil {
			return nil, err
		}
		if set != nil {
			t.sets[strings.ToLower(lang)] = set
		}
	}
	if t.sets[""] == nil && len(t.sets) == 0 {
		return nil, fmt.Errorf("meetings templates %s: no text.hbs", path.Join(dir, root))
	}
	return t, nil
}

// loadSet parses the templates of one folder; nil when it has no text.hbs.
func loadSet(fsys fs.FS, folder, shown string) (*templateSet, error) {
	set := &templateSet{}
	for _, f := range []struct {
		name string
		dst  **raymond.Template
	}{{"text.hbs", &set.text}, {"html.hbs", &set.html}, {"subject.hbs", &set.subject}, {"from.hbs", &set.from}} {
		data, err := fs.ReadFile(fsys, path.Join(folder, f.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("meetings template %s: %w", path.Join(shown, folder, f.name), err)
		}
		tpl, err := raymond.Parse(string(data))
		if err != nil {
			return nil, fmt.Errorf("meetings template %s: %w", path.Join(shown, folder, f.name), err)
		}
		*f.dst = tpl
	}
	if set.text == nil {
		if set.html != nil || set.subject != nil || set.from != nil {
			return nil, fmt.Errorf("meetings templates %s: text.hbs is required", path.Join(shown, folder))
		}
		return nil, nil
	}
	return set, nil
}

// Languages lists the translations there are ("" = the default).
func (t *Templates) Languages() []string {
	out := make([]string, 0, len(t.sets))
	for l := range t.sets {
		out = append(out, l)
	}
	return out
}

// Render renders the templates of lang (its translation when there is
// one, else the default ones, else English) with data.
func (t *Templates) Render(lang string, data map[string]any) (*Rendered, error) {
	lang = strings.ToLower(lang)
	set := t.sets[lang]
	if set == nil {
		if base, _, ok := strings.Cut(lang, "-"); ok {
			set, lang = t.sets[base], base
		}
	}
	if set == nil {
		set, lang = t.sets[""], ""
	}
	if set == nil {
		set, lang = t.sets["en"], "en"
	}
	if set == nil {
		return nil, fmt.Errorf("no meeting templates for language %q", lang)
	}
	out := &Rendered{}
	for _, p := range []struct {
		tpl *raymond.Template
		dst *string
	}{{set.text, &out.Text}, {set.html, &out.HTML}, {set.subject, &out.Subject}, {set.from, &out.From}} {
		if p.tpl == nil {
			continue
		}
		// Each rendering has its own copy of the template, so that the
		// helpers see its language.
		tpl := p.tpl.Clone()
		tpl.RegisterHelpers(helpers(lang))
		s, err := tpl.Exec(data)
		if err != nil {
			return nil, fmt.Errorf("render the meeting template: %w", err)
		}
		*p.dst = s
	}
	out.Subject = strings.TrimSpace(out.Subject)
	out.From = strings.TrimSpace(out.From)
	return out, nil
}

// helpers are the seeds' formatDate and formatTime for a language: dates
// and times (unix ms) in the timeZone option (an IANA name, default UTC);
// formatTime takes hour12 and timeZoneName="short".
func helpers(lang string) map[string]any {
	return map[string]any{
		"formatDate": func(ms any, options *raymond.Options) string {
			t, ok := timeOf(ms, options.HashStr("timeZone"))
			if !ok {
				return ""
			}
			return formatDate(lang, t)
		},
		"formatTime": func(ms any, options *raymond.Options) string {
			t, ok := timeOf(ms, options.HashStr("timeZone"))
			if !ok {
				return ""
			}
			layout := "15:04"
			if h12, _ := options.HashProp("hour12").(bool); h12 {
				layout = "3:04 PM"
			}
			s := t.Format(layout)
			if options.HashStr("timeZoneName") != "" {
				s += " " + t.Format("MST")
			}
			return s
		},
	}
}

func timeOf(v any, zone string) (time.Time, bool) {
	var ms int64
	switch x := v.(type) {
	case int64:
		ms = x
	case int:
		ms = int64(x)
	case float64:
		ms = int64(x)
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		ms = n
	default:
		return time.Time{}, false
	}
	loc := time.UTC
	if zone != "" {
		if l, err := time.LoadLocation(zone); err == nil {
			loc = l
		}
	}
	return time.UnixMilli(ms).In(loc), true
}

var (
	esDays   = []string{"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"}
	esMonths = []string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"}
)

func formatDate(lang string, t time.Time) string {
	if lang == "es" {
		return fmt.Sprintf("%s, %d de %s de %d", esDays[t.Weekday()], t.Day(), esMonths[t.Month()-1], t.Year())
	}
	return t.Format("Monday, 2 January 2006")
}
