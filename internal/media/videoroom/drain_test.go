package videoroom_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/media/janus"
)

// Once the node drains for shutdown, a long poll answers at once with a
// keepalive instead of holding the drain for the long-poll timeout (30 s).
func TestDrainEndsLongPolls(t *testing.T) {
	n := startSFU(t, testMediaConfig(t))
	resp, err := http.Post(n.http, "application/json", strings.NewReader(`{"janus":"create","transaction":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	var m janus.Message
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var d struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(b, &m); err != nil || json.Unmarshal(m.Data, &d) != nil || d.ID == 0 {
		t.Fatalf("create: %s", b)
	}
	polled := make(chan string, 1)
	go func() {
		c := &http.Client{Timeout: 15 * time.Second} // well under the 30 s a poll waits
		resp, err := c.Get(fmt.Sprintf("%s/%d", n.http, d.ID))
		if err != nil {
			polled <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		polled <- string(b)
	}()
	n.sfu.Drain()
	got := <-polled
	if err := json.Unmarshal([]byte(got), &m); err != nil || m.Janus != "keepalive" {
		t.Fatalf("a long poll during the drain: %s, want a keepalive", got)
	}
}
