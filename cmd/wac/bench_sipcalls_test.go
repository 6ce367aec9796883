package main

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The SIP call load drives a running server with the sip role end to end:
// two app users call two numbers of the tool's own trunk, publishing
// PCMU (passed through) and then Opus (transcoded); both calls come up and
// audio flows both ways, counted by the trunk's RTP endpoints and the
// apps' subscriptions to the phones.
func TestBenchSIPCallsLoadsServe(t *testing.T) {
	if testing.Short() {
		t.Skip("sets up bridged phone calls against a server for several seconds")
	}
	t.Setenv("WAC_PASSWORD_MEMORY", "8192")
	t.Setenv("WAC_PASSWORD_ITERATIONS", "1")
	t.Setenv("WAC_ADMIN_PASSWORD", "bench-password")
	t.Setenv("WAC_BENCH_PASSWORD", "bench-password")
	t.Setenv("WAC_TURN_ENABLED", "false")
	t.Setenv("WAC_MEDIA_LISTEN_IP", "127.0.0.1")
	t.Setenv("WAC_MEDIA_UDP_PORT", strconv.Itoa(freeUDP(t)))
	trunkPort := freeUDP(t)
	t.Setenv("WAC_TRUNK_ADDRESS", "127.0.0.1")
	t.Setenv("WAC_TRUNK_PORT", strconv.Itoa(trunkPort))
	t.Setenv("WAC_TRUNK_LISTEN_PORT", strconv.Itoa(freeUDP(t)))
	data := t.TempDir()
	addr, _, _, stop := serveForTest(t, data)
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	for i, codec := range []string{"pcmu", "opus"} {
		got, err := wac(t, "", "bench", "sipcalls", "--url", "http://"+addr, "--trunk", "127.0.0.1:"+strconv.Itoa(trunkPort),
			"--calls", "2", "--codec", codec, "--warmup", "1s", "--duration", "2s", "--pid", strconv.Itoa(os.Getpid()),
			"--number", strconv.Itoa(15550000+10*i))
		if err != nil {
			t.Fatalf("%s: %v\n%s", codec, err, got)
		}
		t.Logf("%s:\n%s", codec, got)
		var row, packets []string
		for _, line := range strings.Split(got, "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) > 3 && f[0] == "1" && f[1] == "openwac":
				row = f
			case len(f) > 0 && f[0] == "packets:":
				packets = f
			}
		}
		if len(row) < 4 || len(packets) < 15 {
			t.Fatalf("%s: no result row or packet counts:\n%s", codec, got)
		}
		if row[2] != "2" || row[3] != "2" {
			t.Errorf("%s: %s of %s calls up, want 2 of 2\n%s", codec, row[3], row[2], got)
		}
		// packets: to SIP R received of S sent, from SIP R received of S sent
		toRecv, _ := strconv.Atoi(packets[3])
		fromRecv, _ := strconv.Atoi(packets[10])
		// Audio flowed both ways; how much is lost is the benchmark's to
		// say, not this test's (a loaded machine drops some).
		if toRecv <= 0 || fromRecv <= 0 {
			t.Errorf("%s: the trunk got %d packets from the apps, the apps %d from the trunk; want both > 0\n%s", codec, toRecv, fromRecv, got)
		}
	}
}

func freeUDP(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
