package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// A duration key takes a Go duration or a bare number in its documented
// unit, from the file and from the environment alike.
func TestDurationsFromFileAndEnvironment(t *testing.T) {
	cfg, _, err := Load(writeConfig(t, `
http:
  readTimeout: 45          # seconds
  idleTimeout: 2m
qss:
  pingInterval: 15000      # milliseconds
  pingTimeout: 2.5s
media:
  keyframeInterval: 0.25s
  sessionTimeout: 1.5      # seconds
watchdog:
  invites:
    expiration: 1m30s
`), []string{"WAC_ROOMS_REMOVE_AFTER=2500", "WAC_OAUTH2PROVIDER_ACCESS_TOKEN_EXPIRATION=2h"})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ got, want time.Duration }{
		"http.readTimeout":              {cfg.HTTP.ReadTimeout, 45 * time.Second},
		"http.idleTimeout":              {cfg.HTTP.IdleTimeout, 2 * time.Minute},
		"qss.pingInterval":              {cfg.QSS.PingInterval, 15 * time.Second},
		"qss.pingTimeout":               {cfg.QSS.PingTimeout, 2500 * time.Millisecond},
		"media.keyframeInterval":        {cfg.Media.KeyframeInterval, 250 * time.Millisecond},
		"media.sessionTimeout":          {cfg.Media.SessionTimeout, 1500 * time.Millisecond},
		"watchdog.invites.expiration":   {cfg.Watchdog.Invites.Expiration, 90 * time.Second},
		"rooms.removeAfter":             {cfg.Rooms.RemoveAfter, 2500 * time.Millisecond},
		"accessTokenExpiration":         {cfg.OAuth2Provider.AccessTokenExpiration, 2 * time.Hour},
		"watchdog.invites.period (def)": {cfg.Watchdog.Invites.Period, 5 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", name, c.got, c.want)
		}
	}
}

// A value that is not a duration stops the load with the key, its line
// and what to write instead.
func TestDurationErrorsNameKeyAndLine(t *testing.T) {
	_, _, err := Load(writeConfig(t, "http:\n  readTimeout: soon\nqss:\n  pingInterval: [1]\n"), nil)
	if err == nil {
		t.Fatal("loaded")
	}
	msg := err.Error()
	for _, want := range []string{"line 2: config key http.readTimeout", `"soon" is not a duration`, "number of seconds",
		"line 4: config key qss.pingInterval"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "cannot unmarshal") {
		t.Errorf("error %q repeats the decoder's own message", msg)
	}
	_, _, err = Load("", []string{"WAC_QSS_PING_TIMEOUT=fast"})
	if err == nil || !strings.Contains(err.Error(), "WAC_QSS_PING_TIMEOUT") || !strings.Contains(err.Error(), "number of milliseconds") {
		t.Errorf("environment: %v", err)
	}
	// A duration under the key's floor is refused by validation, in the
	// duration's own words.
	_, _, err = Load("", []string{"WAC_QSS_PING_INTERVAL=500"})
	if err == nil || !strings.Contains(err.Error(), "qss.pingInterval: 500ms is less than 1s") {
		t.Errorf("validation: %v", err)
	}
}

// Every duration field carries the unit of its bare numbers, and every
// field whose doc speaks of seconds or milliseconds is a duration (a
// count of days stays a number of days).
func TestEveryDurationHasAUnit(t *testing.T) {
	def := Default()
	walk(reflect.ValueOf(&def).Elem(), "", func(path string, v reflect.Value, f reflect.StructField) {
		doc := f.Tag.Get("doc")
		if v.Type() == durationType {
			unit := f.Tag.Get("unit")
			if unit != "s" && unit != "ms" {
				t.Errorf("%s: unit tag %q, want s or ms", path, unit)
			}
			word := map[string]string{"s": "seconds", "ms": "milliseconds"}[unit]
			if !strings.Contains(doc, word) {
				t.Errorf("%s: its doc does not name its unit (%s): %q", path, word, doc)
			}
			return
		}
		if strings.HasPrefix(doc, "seconds") || strings.HasPrefix(doc, "milliseconds") {
			t.Errorf("%s counts time but is a %s, not a time.Duration", path, v.Type())
		}
	})
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0", 500 * time.Millisecond: "500ms", 90 * time.Second: "1m30s",
		time.Hour: "1h", 24 * time.Hour: "24h", 10 * time.Minute: "10m", 90 * time.Minute: "1h30m"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
