package node_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
)

// BenchmarkSIPCallAttempts is the call-attempt rate of the sip role with
// SIPp: each call is INVITE → 180 → 200 → ACK → BYE → 200, answered by
// bob's app (a Go client that accepts every invitation), the phone
// joining the call's room and its media (a WebRTC participant). SIPp
// offers WAC_SIPP_RATE calls a second (default 200) for WAC_SIPP_CALLS
// calls (default 1000); the figure is the calls answered a second.
//
//	go test ./internal/node -run XXX -bench SIPCallAttempts -benchtime 1x
func BenchmarkSIPCallAttempts(b *testing.B) {
	benchSIP(b, "uac_call.xml", "206")
}

// BenchmarkSIPRefusals is the rate of INVITEs the sip role refuses (404,
// an unknown number): the SIP stack and the mapping lookup alone.
func BenchmarkSIPRefusals(b *testing.B) {
	benchSIP(b, "uac_refused.xml", "999")
}

func benchSIP(b *testing.B, scenario, number string) {
	rate, calls := envInt("WAC_SIPP_RATE", 200), envInt("WAC_SIPP_CALLS", 1000)
	r := newSIPRig(b, func(c *config.Config) {
		c.Trunk.InvitesPerSecond, c.Trunk.InvitesBurst = 1e6, 1e6
		c.Trunk.RTPPortMin, c.Trunk.RTPPortMax = 20000, 29999
		c.Log.Level = "error"
		c.Rooms.MaxPerUser = 0 // every call rings bob: his rooms are not a limit here
	})
	bob := r.connect(r.bob)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case f := <-bob.Incoming():
				if f.Request == "invitation" {
					_ = bob.Accept(ctx, f, nil)
				}
			}
		}
	}()
	data, err := os.ReadFile(filepath.Join("..", "sip", "testdata", "sipp", scenario))
	if err != nil {
		b.Fatal(err)
	}
	text := strings.NewReplacer("PAUSE", "0", "FORMATS", "0", "CODE", "404").Replace(string(data))
	dir := b.TempDir()
	file := filepath.Join(dir, scenario)
	os.WriteFile(file, []byte(text), 0o600)
	for i := 0; i < b.N; i++ {
		start := time.Now()
		cmd := exec.Command("sipp", "-sf", file, "-s", number, "-r", strconv.Itoa(rate), "-m", strconv.Itoa(calls),
			"-l", "400", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(b)),
			"-timeout", "120s", "-trace_err", "-error_file", filepath.Join(dir, "errors.log"),
			"127.0.0.1:"+strconv.Itoa(r.node.SIP().Addr().Port))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		elapsed := time.Since(start)
		ok := successful(string(out))
		if err != nil && ok == 0 {
			b.Fatalf("sipp: %v\n%s", err, tail(string(out), 2000))
		}
		if ok < calls {
			errs, _ := os.ReadFile(filepath.Join(dir, "errors.log"))
			codes := map[string]int{}
			for _, m := range regexp.MustCompile(`received 'SIP/2.0 (\d+)`).FindAllStringSubmatch(string(errs), -1) {
				codes[m[1]]++
			}
			b.Logf("unexpected responses by code: %v", codes)
		}
		b.ReportMetric(float64(ok)/elapsed.Seconds(), "calls/s")
		b.ReportMetric(float64(calls-ok), "failed")
	}
}

var successRe = regexp.MustCompile(`Successful call\s+\|\s+\d+\s+\|\s+(\d+)`)

func successful(out string) int {
	m := successRe.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
