package config

import (
	"net/url"
	"path/filepath"
	"regexp"
	"time"
)

// Push configures push notifications (the seeds' PushNotifications
// service): APNs with a token-based (.p8) key and FCM HTTP v1 with a
// service account, and the limits of the device tokens apps register.
type Push struct {
	MaxTokensPerUser int           `yaml:"maxTokensPerUser" doc:"push tokens one user may register (POST /sapi/pushTokens answers 409 beyond)"`
	UserRate         int           `yaml:"userRate" doc:"invitation pushes one user's devices may get per minute (a burst of a third of it); past it the invitation is not pushed, so that callers cannot flood a phone"`
	Retries          int           `yaml:"retries" doc:"attempts of one push after the first when APNs or FCM answers 429 or 5xx, with doubling waits"`
	RetryDelay       time.Duration `yaml:"retryDelay" unit:"ms" doc:"the first wait between attempts, doubling each time (a Retry-After of the push service wins); a number is milliseconds"`
	Timeout          time.Duration `yaml:"timeout" unit:"s" doc:"how long one request to APNs or FCM may take; a number is seconds"`
	APNs             APNs          `yaml:"apns"`
	FCM              FCM           `yaml:"fcm"`
}

// APNs is Apple's push service with token (JWT, ES256) authentication.
type APNs struct {
	KeyID      string `yaml:"apnkeyId" doc:"key ID of the APNs auth key (10 characters); empty = APNs is off"`
	TeamID     string `yaml:"apnTeamId" doc:"Apple developer team ID that owns the key"`
	Topic      string `yaml:"apnTopic" doc:"the app's bundle ID: the apns-topic of alert pushes (VoIP pushes use <apnTopic>.voip)"`
	AuthKey    string `yaml:"authKey" doc:"file of the APNs auth key (PEM, PKCS#8), the seeds' APNsAuthKey_<keyID>.p8; empty = <dataDir>/APNsAuthKey_<apnkeyId>.p8"`
	Production bool   `yaml:"production" doc:"send to Apple's production service; false = the sandbox (development builds of the app)"`
	URL        string `yaml:"url" doc:"APNs base URL instead of Apple's (a gateway, or tests); empty = Apple's production or sandbox host"`
}

// FCM is Firebase Cloud Messaging's HTTP v1 API.
type FCM struct {
	FirebaseKey string `yaml:"firebaseKey" doc:"file of the Firebase service account key (the JSON Google gives, with project_id, client_email, private_key, token_uri); empty = FCM is off"`
	URL         string `yaml:"url" doc:"FCM base URL instead of Google's (tests); empty = https://fcm.googleapis.com"`
}

func defaultPush() Push {
	return Push{MaxTokensPerUser: 10, UserRate: 30, Retries: 3, RetryDelay: 200 * time.Millisecond, Timeout: 10 * time.Second, APNs: APNs{Production: true}}
}

// APNsKeyFile is the file of the APNs auth key: push.apns.authKey, or
// <dataDir>/APNsAuthKey_<apnkeyId>.p8 (the seeds' name).
func (c *Config) APNsKeyFile() string {
	if c.Push.APNs.AuthKey != "" {
		return c.Push.APNs.AuthKey
	}
	return filepath.Join(c.DataDir, "APNsAuthKey_"+c.Push.APNs.KeyID+".p8")
}

var appleID = regexp.MustCompile(`^[A-Z0-9]{10}$`)

func (c *Config) validatePush(bad func(key, format string, args ...any)) {
	p := &c.Push
	if p.MaxTokensPerUser < 1 || p.MaxTokensPerUser > 1000 {
		bad("push.maxTokensPerUser", "%d is not between 1 and 1000", p.MaxTokensPerUser)
	}
	if p.UserRate < 1 || p.UserRate > 6000 {
		bad("push.userRate", "%d is not between 1 and 6000 (pushes per minute)", p.UserRate)
	}
	if p.Retries < 0 || p.Retries > 10 {
		bad("push.retries", "%d is not between 0 and 10", p.Retries)
	}
	if p.RetryDelay < time.Millisecond || p.RetryDelay > time.Minute {
		bad("push.retryDelay", "%v is not between 1ms and 1m", p.RetryDelay)
	}
	if p.Timeout < time.Second || p.Timeout > 5*time.Minute {
		bad("push.timeout", "%v is not between 1s and 5m", p.Timeout)
	}
	if a := p.APNs; a.KeyID != "" {
		if !appleID.MatchString(a.KeyID) {
			bad("push.apns.apnkeyId", "%q is not a key ID (10 capital letters and digits)", a.KeyID)
		}
		if !appleID.MatchString(a.TeamID) {
			bad("push.apns.apnTeamId", "%q is not a team ID (10 capital letters and digits); it is required with push.apns.apnkeyId", a.TeamID)
		}
		if a.Topic == "" {
			bad("push.apns.apnTopic", "is required with push.apns.apnkeyId: the app's bundle ID")
		}
	}
	for key, v := range map[string]string{"push.apns.url": p.APNs.URL, "push.fcm.url": p.FCM.URL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad(key, "%q is not an http(s) URL", v)
		}
	}
}
