package config

import (
	"strings"
	"testing"
)

// The meetings, mailer and jobs keys are checked, each error naming its
// key; the seeds' meeting block is accepted with a warning.
func TestMeetingsKeysValidate(t *testing.T) {
	for _, c := range []struct {
		file, want string
	}{
		{"meetings:\n  linkHost: https://meet.example.com/\n", "config key meetings.linkHost: Invalid linkHost"},
		{"meetings:\n  linkHost: meet.example.com\n", "config key meetings.linkHost"},
		{"meetings:\n  inviteMechanisms: [fax]\n", `config key meetings.inviteMechanisms: unknown mechanism "fax"`},
		{"meetings:\n  remindBefore: -1\n", "config key meetings.remindBefore"},
		{"meetings:\n  pstnExtension: call-me\n", "config key meetings.pstnExtension"},
		{"meetings:\n  maxParticipants: 0\n", "config key meetings.maxParticipants"},
		{"mailer:\n  host: smtp.example.com\n", "config key mailer.from: is required with mailer.host"},
		{"mailer:\n  host: smtp.example.com\n  from: not-an-address\n", "config key mailer.from"},
		{"mailer:\n  starttls: maybe\n", "config key mailer.starttls"},
		{"jobs:\n  lease: 1\n", "config key jobs.lease"},
		{"jobs:\n  backoff: 10ms\n", "config key jobs.backoff"},
	} {
		_, _, err := Load(writeConfig(t, c.file), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.file, err, c.want)
		}
	}
	cfg, warnings, err := Load(writeConfig(t, "meeting: {}\nmeetings:\n  linkHost: https://meet.example.com\n  shortenerToken: x\nmailer:\n  host: smtp.example.com\n  from: Meetings <m@example.com>\n  pooled: true\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 3 || cfg.MeetingLinkBase() != "https://meet.example.com" {
		t.Errorf("warnings %v, link base %q", warnings, cfg.MeetingLinkBase())
	}
	cfg = Default()
	cfg.Wiface.Public.Public = "http://wac.example.com/"
	if got := cfg.MeetingLinkBase(); got != "http://wac.example.com" {
		t.Errorf("link base without linkHost: %q", got)
	}
}
