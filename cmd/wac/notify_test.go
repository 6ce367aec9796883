package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wac notify sms renders a template and hands it to the configured
// backend (a local webhook here).
func TestNotifySMS(t *testing.T) {
	got := make(chan map[string]any, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		raw, _ := io.ReadAll(r.Body)
		json.Unmarshal(raw, &m)
		got <- m
	}))
	defer hook.Close()
	data := t.TempDir()
	tpl := filepath.Join(data, "smstemplates", "hello", "text.hbs")
	os.MkdirAll(filepath.Dir(tpl), 0o755)
	os.WriteFile(tpl, []byte("Hello {{name}}"), 0o644)
	t.Setenv("WAC_SENDSMS_BACKEND", "webhook")
	t.Setenv("WAC_SENDSMS_WEBHOOK_URL", hook.URL)
	out, err := wac(t, "", "notify", "sms", "--data", data, "--to", "+34600123456", "--json", `{"name":"Ana"}`, "acme", "hello")
	if err != nil || !strings.Contains(out, "sent: 1 part(s), GSM-7, 9 units") {
		t.Fatalf("notify sms: %q %v", out, err)
	}
	if m := <-got; m["text"] != "Hello Ana" || m["to"] != "+34600123456" {
		t.Errorf("the webhook got %v", m)
	}
	if _, err := wac(t, "", "notify", "sms", "--data", data, "--to", "12", "acme", "hello"); err == nil || !strings.Contains(err.Error(), "not a phone number") {
		t.Errorf("a bad number: %v", err)
	}
}

// Without a push service, or a user without tokens, wac notify push says
// what to set.
func TestNotifyPushRefusals(t *testing.T) {
	data := t.TempDir()
	if _, err := wac(t, "", "notify", "push", "--data", data, "admin@wac"); err == nil || !strings.Contains(err.Error(), "push.fcm.firebaseKey") {
		t.Errorf("no push service: %v", err)
	}
	if _, err := wac(t, "", "notify", "push", "--data", data, "admin"); err == nil || !strings.Contains(err.Error(), "USER@DOMAIN") {
		t.Errorf("no domain: %v", err)
	}
}
