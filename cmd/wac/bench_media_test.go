package main

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The media load tool drives a running server end to end: one publisher
// and two subscribers, then one room of 4, each step's row counting the
// streams it set up and the packets its subscriptions received of what
// their publishers sent.
func TestBenchMediaLoadsServe(t *testing.T) {
	if testing.Short() {
		t.Skip("sets up WebRTC peers against a server for several seconds")
	}
	t.Setenv("WAC_PASSWORD_MEMORY", "8192")
	t.Setenv("WAC_PASSWORD_ITERATIONS", "1")
	t.Setenv("WAC_TURN_ENABLED", "false")
	t.Setenv("WAC_MEDIA_LISTEN_IP", "127.0.0.1")
	// Every session the load opens shows its room grant: with one session
	// without a grant allowed per address, a stray one fails the load.
	t.Setenv("WAC_MEDIA_MAX_PENDING_SESSIONS_PER_ADDRESS", "1")
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("WAC_MEDIA_UDP_PORT", strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port))
	udp.Close()
	data := t.TempDir()
	addr, _, _, stop := serveForTest(t, data)
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	url := "ws://" + addr + "/janus"
	for _, c := range []struct {
		args    []string
		step    string
		streams int
		best    string
	}{
		{[]string{"fanout", "--subscribers", "2"}, "N=2", 4, "largest N with < 1% loss: "},
		{[]string{"rooms", "--rooms", "1"}, "rooms=1", 24, "largest number of 4-party rooms with < 1% loss: "},
		{[]string{"rooms", "--rooms", "1", "--record"}, "rooms=1", 24, "largest number of 4-party rooms with < 1% loss: "},
	} {
		args := append([]string{"bench", "media"}, c.args...)
		args = append(args, "--url", url, "--data", data, "--warmup", "1s", "--duration", "2s")
		got, err := wac(t, "", args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c.args, " "), err, got)
		}
		var row []string
		for _, line := range strings.Split(got, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == c.step {
				row = f
			}
		}
		if len(row) < 5 || !strings.Contains(got, c.best) {
			t.Fatalf("%s: no %s row or no result line:\n%s", c.step, c.step, got)
		}
		streams, _ := strconv.Atoi(row[1])
		sent, _ := strconv.ParseFloat(row[2], 64)
		recv, _ := strconv.ParseFloat(row[3], 64)
		if streams != c.streams {
			t.Errorf("%s: %d streams, want %d\n%s", c.step, streams, c.streams, got)
		}
		// What was sent reached the subscriptions: the server forwards.
		// How fast is the benchmark's to say, not this test's (a loaded
		// machine sends and forwards less).
		if sent <= 0 || recv <= 0 {
			t.Errorf("%s: subscriptions got %.0f packets/s of %.0f sent; the server does not forward\n%s", c.step, recv, sent, got)
		}
	}
	// --record: the server recorded the four publishers' audio and video.
	tracks, _ := filepath.Glob(filepath.Join(data, "recordings", "*", "*", "seg1", "*.webm"))
	if len(tracks) != 8 {
		t.Errorf("with --record the server wrote %d track files, want 8: %v", len(tracks), tracks)
	}
}
