package node_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/media/janus"
)

// The media server counts sessions without a room grant by the client
// address the node's middleware found: behind a trusted proxy, the
// forwarded-for address.
func TestPendingSessionsCountedByClientAddress(t *testing.T) {
	_, url := startNodeWith(t, t.TempDir(), func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.0/8"}
		c.Media.MaxPendingSessionsPerAddress = 1
	})
	create := func(client string) janus.Message {
		t.Helper()
		req, _ := http.NewRequest("POST", url+"/janus", strings.NewReader(`{"janus":"create","transaction":"t"}`))
		req.Header.Set("X-Forwarded-For", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m janus.Message
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := create("203.0.113.7"); m.Janus != "success" {
		t.Fatalf("first session of 203.0.113.7: %+v", m)
	}
	if m := create("203.0.113.7"); m.Error == nil || m.Error.Code != janus.ErrNotAcceptingSessions {
		t.Fatalf("second session of 203.0.113.7: %+v, want 472", m)
	}
	if m := create("203.0.113.8"); m.Janus != "success" {
		t.Fatalf("first session of 203.0.113.8 through the same proxy: %+v", m)
	}
}
