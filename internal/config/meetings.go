package config

import (
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Meetings configures scheduled meetings (the seeds' [meetings]).
type Meetings struct {
	LinkHost              string   `yaml:"linkHost" doc:"scheme and host (no trailing slash) of the meeting links: <linkHost>/meeting/<id>; empty = wiface.public.public_secure, else wiface.public.public, else links relative to the web app"`
	InviteMechanisms      []string `yaml:"inviteMechanisms" doc:"how this server sends meeting invitations: email (through mailer), sms (through the SMS service); the others are left to the application"`
	TemplatePath          string   `yaml:"templatePath" doc:"folder of the invitation templates (email/{text,html,subject,from}.hbs and language subfolders such as email/es/); empty, or without an email folder = the built-in English and Spanish ones"`
	RemindBefore          int      `yaml:"remindBefore" doc:"minutes before a meeting starts that its participants get a reminder (push, and the invitation again by email), 0 = none"`
	PSTNExtension         string   `yaml:"pstnExtension" doc:"dial-in number of meetings: when set, each meeting gets ddi {extension, pin} with an 8-digit PIN, and a phone calling this number through the sip role keys the PIN to join"`
	MaxParticipants       int      `yaml:"maxParticipants" doc:"participants (users, emails and phone numbers) a meeting may list"`
	MaxPerUser            int      `yaml:"maxPerUser" doc:"meetings not yet ended that one user may own"`
	MaxDurationHours      int      `yaml:"maxDurationHours" doc:"longest window (validUntil - validSince) of a meeting, in hours"`
	MaxInvitationsPerHour int      `yaml:"maxInvitationsPerHour" doc:"participants one user's meeting changes may invite in an hour, on each node (every create and change counts its participants); 0 = no limit"`
	DefaultLanguage       string   `yaml:"defaultLanguage" doc:"language of the invitations of a meeting that names none (a template subfolder, e.g. es; empty = the templates' root)"`
}

// Mailer configures the SMTP server mail is sent through (the seeds'
// [mailer]).
type Mailer struct {
	Host      string        `yaml:"host" doc:"SMTP server (name or address); empty = no mail is sent"`
	Port      int           `yaml:"port" doc:"SMTP port"`
	Secure    bool          `yaml:"secure" doc:"implicit TLS from the first byte (SMTPS, usually port 465); false still uses STARTTLS as mailer.starttls says"`
	StartTLS  string        `yaml:"starttls" doc:"STARTTLS on a plain connection: opportunistic (when the server offers it), mandatory (refuse to send without it) or off"`
	Username  string        `yaml:"username" doc:"SMTP user (empty = no authentication)"`
	Password  string        `yaml:"password" doc:"SMTP password (WAC_MAILER_PASSWORD keeps it out of files)"`
	From      string        `yaml:"from" doc:"sender address of the mails (Name <address> or address), used when a template has no from.hbs"`
	ForceFrom bool          `yaml:"forceFrom" doc:"use mailer.from even when a template's from.hbs gives another sender"`
	HELO      string        `yaml:"helo" doc:"name this server gives in HELO/EHLO (empty = the host name)"`
	Timeout   time.Duration `yaml:"timeout" unit:"s" doc:"time to connect to and talk with the SMTP server (seconds, or a duration such as 15s)"`
}

// Jobs configures the durable job table (mails, reminders).
type Jobs struct {
	Lease          time.Duration `yaml:"lease" unit:"s" doc:"how long a node holds a job it claimed (seconds, or a duration); a job of a node that died runs again once this ran out; its handler gets half of it"`
	MaxAttempts    int           `yaml:"maxAttempts" doc:"attempts of a job before it fails for good"`
	Backoff        time.Duration `yaml:"backoff" unit:"s" doc:"wait before the first retry of a failed job (seconds, or a duration), doubled for each further one (at most an hour)"`
	KeepFailedDays int           `yaml:"keepFailedDays" doc:"days failed jobs stay in the table for inspection"`
	Workers        int           `yaml:"workers" doc:"jobs one node runs at once (mails are sent in parallel up to this)"`
}

func defaultMeetings() Meetings {
	return Meetings{InviteMechanisms: []string{"email"}, MaxParticipants: 100, MaxPerUser: 1000, MaxDurationHours: 24 * 7, MaxInvitationsPerHour: 1000}
}

func defaultMailer() Mailer {
	return Mailer{Port: 587, StartTLS: "opportunistic", Timeout: 15 * time.Second}
}

func defaultJobs() Jobs {
	return Jobs{Lease: time.Minute, MaxAttempts: 8, Backoff: 10 * time.Second, KeepFailedDays: 7, Workers: 4}
}

var extensionPattern = regexp.MustCompile(`^\+?[0-9*#]{1,32}$`)

func (c *Config) validateMeetings(bad func(key, format string, args ...any)) {
	m := c.Meetings
	if m.LinkHost != "" {
		u, err := url.Parse(m.LinkHost)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.HasSuffix(m.LinkHost, "/") || u.RawQuery != "" {
			bad("meetings.linkHost", "Invalid linkHost %q: must be an http(s) URL such as https://meet.example.com, without a trailing slash", m.LinkHost)
		}
	}
	for _, mech := range m.InviteMechanisms {
		if mech != "email" && mech != "sms" {
			bad("meetings.inviteMechanisms", "unknown mechanism %q (want email or sms)", mech)
		}
	}
	if m.RemindBefore < 0 || m.RemindBefore > 7*24*60 {
		bad("meetings.remindBefore", "%d is not between 0 and %d minutes", m.RemindBefore, 7*24*60)
	}
	if m.PSTNExtension != "" && !extensionPattern.MatchString(m.PSTNExtension) {
		bad("meetings.pstnExtension", "%q is not a phone number or extension (digits, *, #, an optional leading +)", m.PSTNExtension)
	}
	if m.MaxParticipants < 1 || m.MaxParticipants > 10000 {
		bad("meetings.maxParticipants", "%d is not between 1 and 10000", m.MaxParticipants)
	}
	if m.MaxInvitationsPerHour < 0 {
		bad("meetings.maxInvitationsPerHour", "must not be negative (0 = no limit)")
	}
	if m.MaxPerUser < 1 {
		bad("meetings.maxPerUser", "must be at least 1")
	}
	if m.MaxDurationHours < 1 {
		bad("meetings.maxDurationHours", "must be at least 1")
	}
	ml := c.Mailer
	if ml.Port < 1 || ml.Port > 65535 {
		bad("mailer.port", "%d is not a port", ml.Port)
	}
	switch ml.StartTLS {
	case "opportunistic", "mandatory", "off":
	default:
		bad("mailer.starttls", "%q is not opportunistic, mandatory or off", ml.StartTLS)
	}
	if ml.Host != "" {
		if ml.From == "" {
			bad("mailer.from", "is required with mailer.host: the sender address of the mails")
		} else if _, err := mail.ParseAddress(ml.From); err != nil {
			bad("mailer.from", "%q is not an address: %v", ml.From, err)
		}
	}
	if ml.Timeout < time.Second {
		bad("mailer.timeout", "%s is shorter than a second", ml.Timeout)
	}
	j := c.Jobs
	if j.Lease < 2*time.Second {
		bad("jobs.lease", "%s is shorter than 2s", j.Lease)
	}
	if j.MaxAttempts < 1 {
		bad("jobs.maxAttempts", "must be at least 1")
	}
	if j.Backoff < 100*time.Millisecond {
		bad("jobs.backoff", "%s is shorter than 100ms", j.Backoff)
	}
	if j.Workers < 1 || j.Workers > 256 {
		bad("jobs.workers", "%d is not between 1 and 256", j.Workers)
	}
	if j.KeepFailedDays < 0 {
		bad("jobs.keepFailedDays", "must not be negative")
	}
}

// MeetingLinkBase is where meeting links point: meetings.linkHost, or the
// public interface's external URL ("" = relative links).
func (c *Config) MeetingLinkBase() string {
	for _, s := range []string{c.Meetings.LinkHost, c.Wiface.Public.PublicSecure, c.Wiface.Public.Public} {
		if s != "" {
			return strings.TrimRight(s, "/")
		}
	}
	return ""
}
