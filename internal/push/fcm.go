package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/segmentio/encoding/json"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/store"
)

// fcmScope is the OAuth2 scope of FCM's HTTP v1 API.
const fcmScope = "https://www.googleapis.com/auth/firebase.messaging"

// FCM sends through Firebase Cloud Messaging's HTTP v1 API, with the
// access tokens of a service account (a JWT assertion signed with its key,
// exchanged at its token_uri; x/oauth2 caches and renews them).
type FCM struct {
	client  *http.Client
	sendURL string
}

// NewFCMFromFile reads the service account key file (push.fcm.firebaseKey).
func NewFCMFromFile(ctx context.Context, c config.FCM, hc *http.Client) (*FCM, error) {
	data, err := os.ReadFile(c.FirebaseKey)
	if err != nil {
		return nil, fmt.Errorf("push.fcm.firebaseKey: %w", err)
	}
	return NewFCM(ctx, c, data, hc)
}

// NewFCM makes the sender from a service account key (JSON). hc is the
// HTTP client for the token endpoint and FCM; ctx must outlive the sender
// (token renewals use it).
func NewFCM(ctx context.Context, c config.FCM, key []byte, hc *http.Client) (*FCM, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	ctx = context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, hc)
	creds, err := google.CredentialsFromJSONWithType(ctx, key, google.ServiceAccount, fcmScope)
	if err != nil {
		return nil, fmt.Errorf("push.fcm.firebaseKey: not a service account key: %w", err)
	}
	if creds.ProjectID == "" {
		return nil, fmt.Errorf("push.fcm.firebaseKey: the service account key has no project_id")
	}
	base := strings.TrimSuffix(c.URL, "/")
	if base == "" {
		base = "https://fcm.googleapis.com"
	}
	client := &http.Client{Timeout: hc.Timeout, Transport: &oauth2.Transport{Source: creds.TokenSource, Base: hc.Transport}}
	return &FCM{client: client, sendURL: base + "/v1/projects/" + creds.ProjectID + "/messages:send"}, nil
}

type fcmMessage struct {
	Message fcmBody `json:"message"`
}

type fcmBody struct {
	Token   string            `json:"token"`
	Data    map[string]string `json:"data"`
	Android fcmAndroid        `json:"android"`
}

type fcmAndroid struct {
	Priority    string `json:"priority"`
	TTL         string `json:"ttl,omitempty"`
	CollapseKey string `json:"collapse_key,omitempty"`
}

// Send pushes m as a data message (the app decides what to show): "type"
// and "info" (JSON text: FCM data values are strings).
func (f *FCM) Send(ctx context.Context, tok *store.PushToken, m *Message) error {
	info, err := json.Marshal(m.Info)
	if err != nil {
		return fmt.Errorf("FCM: encode info: %w", err)
	}
	body := fcmMessage{Message: fcmBody{Token: tok.Token, Data: map[string]string{"type": m.Type, "info": string(info)},
		Android: fcmAndroid{Priority: "normal", CollapseKey: m.Collapse}}}
	if m.Call {
		body.Message.Android.Priority = "high"
	}
	if m.TTL > 0 {
		body.Message.Android.TTL = fmt.Sprintf("%ds", int(m.TTL.Seconds()))
	}
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("FCM: encode message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.sendURL, bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("FCM: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := f.client.Do(req)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			// The token endpoint refused the service account.
			return &Error{Service: "FCM", Status: re.Response.StatusCode, Reason: "AuthorizationError"}
		}
		return fmt.Errorf("FCM: %w", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode == http.StatusOK {
		return nil
	}
	e := &Error{Service: "FCM", Status: res.StatusCode, Reason: ParseFCMError(raw), RetryAfter: retryAfter(res.Header)}
	if e.Reason == "" {
		e.Reason = http.StatusText(res.StatusCode)
	}
	return e
}

// ParseFCMError reads the reason of an FCM v1 error body: the FcmError
// detail's errorCode (UNREGISTERED, SENDER_ID_MISMATCH ...), else the
// status (INVALID_ARGUMENT, UNAVAILABLE ...); "" when the body says neither.
func ParseFCMError(body []byte) string {
	var e struct {
		Error struct {
			Status  string `json:"status"`
			Details []struct {
				Type      string `json:"@type"`
				ErrorCode string `json:"errorCode"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	for _, d := range e.Error.Details {
		if strings.HasSuffix(d.Type, "google.firebase.fcm.v1.FcmError") && validReason(d.ErrorCode) {
			return d.ErrorCode
		}
	}
	if validReason(e.Error.Status) {
		return e.Error.Status
	}
	return ""
}

// validReason keeps what the network said to a short upper-case word, so
// that it can go into logs and alarms as it is.
func validReason(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && r != '_' && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
