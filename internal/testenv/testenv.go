// Package testenv tells tests what the machine they run on has. A test that
// needs a program of Debian's (ffmpeg, ffprobe) is skipped where it is not
// installed, so that `go test ./...` runs on a fresh machine; CI, which
// installs them (.ci/run), sets WAC_TEST_NEED_PROGRAMS=1, and there a
// missing program fails the test instead of skipping it.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the variable that turns a missing program into a failure.
const RequireEnv = "WAC_TEST_NEED_PROGRAMS"

// NeedPrograms skips t (fails it under RequireEnv) unless every program
// in names is on the PATH.
func NeedPrograms(t testing.TB, names ...string) {
	t.Helper()
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "needs " + strings.Join(missing, ", ") + " (Debian packages); .ci/run installs them"
	if os.Getenv(RequireEnv) != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// ProcessCPU is the CPU time (user and system) the test process has used
// so far. Benchmarks divide its growth by their operations to report CPU
// per operation, which other processes on a shared machine change far
// less than the wall time of ns/op.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
