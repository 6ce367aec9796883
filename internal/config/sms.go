package config

import (
	"net/url"
	"path/filepath"
	"slices"
	"time"
)

// SendSMS configures the seeds' sendsms service: the backends that send
// text messages and the folder of their templates.
type SendSMS struct {
	Backend      []string        `yaml:"backend" doc:"backends that send SMS, tried in order until one accepts: sendsms (Beepsend), linkmobility, webhook; empty = SMS is off"`
	TemplatePath string          `yaml:"templatePath" doc:"folder of the SMS templates (<name>/text.hbs, <name>/<language>/text.hbs); relative paths are under dataDir; empty = <dataDir>/smstemplates"`
	MaxParts     int             `yaml:"maxParts" doc:"longest message accepted, in SMS parts (160 GSM-7 or 70 UCS-2 characters alone, 153 or 67 per part when split)"`
	Timeout      time.Duration   `yaml:"timeout" unit:"s" doc:"how long one request to an SMS provider may take; a number is seconds"`
	Sendsms      SMSBeepsend     `yaml:"sendsms"`
	Linkmobility SMSLinkMobility `yaml:"linkmobility"`
	Webhook      SMSWebhook      `yaml:"webhook"`
}

// SMSBeepsend is the seeds' sendsms backend (Beepsend's REST API, a
// connection token).
type SMSBeepsend struct {
	URLService string `yaml:"urlService" doc:"Beepsend API URL"`
	Token      string `yaml:"token" doc:"Beepsend connection token (the seeds' tokenSms; WAC_SENDSMS_SENDSMS_TOKEN keeps it out of files)"`
	From       string `yaml:"from" doc:"sender id: up to 11 letters and digits, or a number of 9 to 17 digits"`
	Encoding   string `yaml:"encoding" doc:"message encoding: UTF-8, ISO-8859-15 or Unicode"`
}

// SMSLinkMobility is the seeds' linkmobility backend.
type SMSLinkMobility struct {
	URLService string `yaml:"urlService" doc:"LinkMobility API URL"`
	Login      string `yaml:"login" doc:"LinkMobility login"`
	Password   string `yaml:"password" doc:"LinkMobility password, already MD5-hashed as the seeds require (WAC_SENDSMS_LINKMOBILITY_PASSWORD keeps it out of files)"`
	From       string `yaml:"from" doc:"the originator shown on the phone"`
}

// SMSWebhook posts each message as JSON to a URL of the operator's.
type SMSWebhook struct {
	URL   string `yaml:"url" doc:"URL that receives {\"from\",\"to\",\"text\",\"parts\",\"encoding\"} by POST"`
	Token string `yaml:"token" doc:"bearer token sent to the webhook (WAC_SENDSMS_WEBHOOK_TOKEN keeps it out of files); empty = none"`
	From  string `yaml:"from" doc:"sender id passed to the webhook"`
}

func defaultSendSMS() SendSMS {
	return SendSMS{MaxParts: 6, Timeout: 10 * time.Second,
		Sendsms:      SMSBeepsend{URLService: "https://api.beepsend.com", Encoding: "UTF-8"},
		Linkmobility: SMSLinkMobility{From: "QUOBIS"}}
}

// SMSTemplatePath is the folder of SMS templates.
func (c *Config) SMSTemplatePath() string {
	p := c.SendSMS.TemplatePath
	if p == "" {
		return filepath.Join(c.DataDir, "smstemplates")
	}
	if !filepath.IsAbs(p) {
		return filepath.Join(c.DataDir, p)
	}
	return p
}

func (c *Config) validateSendSMS(bad func(key, format string, args ...any)) {
	s := &c.SendSMS
	if s.MaxParts < 1 || s.MaxParts > 20 {
		bad("sendsms.maxParts", "%d is not between 1 and 20", s.MaxParts)
	}
	if s.Timeout < time.Second || s.Timeout > 5*time.Minute {
		bad("sendsms.timeout", "%v is not between 1s and 5m", s.Timeout)
	}
	okURL := func(key, v string) {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad(key, "%q is not an http(s) URL", v)
		}
	}
	for i, b := range s.Backend {
		if slices.Index(s.Backend, b) != i {
			bad("sendsms.backend", "%q is listed twice", b)
		}
		switch b {
		case "sendsms":
			okURL("sendsms.sendsms.urlService", s.Sendsms.URLService)
			if s.Sendsms.Token == "" {
				bad("sendsms.sendsms.token", "is required with the sendsms backend")
			}
			if s.Sendsms.From == "" {
				bad("sendsms.sendsms.from", "is required with the sendsms backend")
			}
			if !slices.Contains([]string{"UTF-8", "ISO-8859-15", "Unicode"}, s.Sendsms.Encoding) {
				bad("sendsms.sendsms.encoding", "%q is not UTF-8, ISO-8859-15 or Unicode", s.Sendsms.Encoding)
			}
		case "linkmobility":
			okURL("sendsms.linkmobility.urlService", s.Linkmobility.URLService)
			if s.Linkmobility.Login == "" || s.Linkmobility.Password == "" {
				bad("sendsms.linkmobility.login", "login and password are required with the linkmobility backend")
			}
		case "webhook":
			okURL("sendsms.webhook.url", s.Webhook.URL)
		default:
			bad("sendsms.backend", "%q is not a backend (sendsms, linkmobility or webhook)", b)
		}
	}
}
