package push

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// APNs sends to Apple's push service over HTTP/2 with a provider token: a
// JWT signed (ES256) with the team's .p8 key, renewed by apns2 before it
// expires.
type APNs struct {
	client *apns2.Client
	topic  string
}

// NewAPNs reads the .p8 key at keyFile and makes the sender; a request
// may take timeout. hc, when set, replaces the HTTP/2 client (tests trust
// their server's certificate through it).
func NewAPNs(c config.APNs, keyFile string, timeout time.Duration, hc *http.Client) (*APNs, error) {
	key, err := token.AuthKeyFromFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("push.apns.authKey: read the APNs auth key %s: %w", keyFile, err)
	}
	cl := apns2.NewTokenClient(&token.Token{AuthKey: key, KeyID: c.KeyID, TeamID: c.TeamID})
	switch {
	case c.URL != "":
		cl.Host = c.URL
	case c.Production:
		cl.Production()
	default:
		cl.Development()
	}
	if hc != nil {
		cl.HTTPClient = hc
	}
	cl.HTTPClient.Timeout = timeout
	return &APNs{client: cl, topic: c.Topic}, nil
}

// Send pushes m to one APNs or APNs VoIP token.
func (a *APNs) Send(ctx context.Context, tok *store.PushToken, m *Message) error {
	n := &apns2.Notification{DeviceToken: tok.Token, Topic: a.topic, CollapseID: m.Collapse}
	if len(n.CollapseID) > 64 {
		n.CollapseID = n.CollapseID[:64]
	}
	if m.TTL > 0 {
		n.Expiration = time.Now().Add(m.TTL)
	}
	aps := map[string]any{}
	switch {
	case tok.TokenType == store.PushAPNsVoIP:
		n.Topic, n.PushType, n.Priority = a.topic+".voip", apns2.PushTypeVOIP, apns2.PriorityHigh
	case m.Alert != "":
		n.PushType, n.Priority = apns2.PushTypeAlert, apns2.PriorityHigh
		aps["alert"], aps["sound"] = m.Alert, "default"
	default:
		n.PushType, n.Priority = apns2.PushTypeBackground, apns2.PriorityLow
		aps["content-available"] = 1
	}
	n.Payload = map[string]any{"aps": aps, "type": m.Type, "info": m.Info}
	res, err := a.client.PushWithContext(ctx, n)
	if err != nil {
		return fmt.Errorf("APNs: %w", err)
	}
	if res.StatusCode == http.StatusOK {
		return nil
	}
	e := &Error{Service: "APNs", Status: res.StatusCode, Reason: res.Reason}
	if !apnsReason(e.Reason) {
		e.Reason = http.StatusText(res.StatusCode)
	}
	return e
}

// retryAfter reads a Retry-After header in seconds.
func retryAfter(h http.Header) time.Duration {
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// apnsReason keeps what APNs said when it is a reason as Apple writes them
// (a short CamelCase word), so that it can go into logs and alarms as it
// is.
func apnsReason(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
