package loadtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The media load names the CPUs the measured server may run on, from its
// /proc status; without a pid, or for a process that is gone, nothing.
func TestServerCPUs(t *testing.T) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc here:", err)
	}
	_, after, ok := strings.Cut(string(b), "Cpus_allowed_list:")
	if !ok {
		t.Skip("/proc/self/status lists no CPUs")
	}
	want := ", server on CPUs " + strings.TrimSpace(strings.SplitN(after, "\n", 2)[0])
	if got := serverCPUs(os.Getpid()); got != want {
		t.Errorf("serverCPUs(self) = %q, want %q", got, want)
	}
	if got := serverCPUs(0); got != "" {
		t.Errorf("serverCPUs(0) = %q, want nothing", got)
	}
	if got := serverCPUs(1 << 30); got != "" {
		t.Errorf("serverCPUs(a pid that does not exist) = %q, want nothing", got)
	}
}

func TestCgroupQuota(t *testing.T) {
	root := t.TempDir()
	write := func(path, content string) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cpu/bench/cpu.cfs_quota_us", "5000\n")
	write("cpu/bench/cpu.cfs_period_us", "10000\n")
	write("cpu/free/cpu.cfs_quota_us", "-1\n")
	write("cpu/free/cpu.cfs_period_us", "100000\n")
	write("cpu,cpuacct/both/cpu.cfs_quota_us", "150000\n")
	write("cpu,cpuacct/both/cpu.cfs_period_us", "100000\n")
	write("bench2/cpu.max", "4000 10000\n")
	write("free2/cpu.max", "max 100000\n")
	for _, c := range []struct {
		name, cgroup string
		want         float64
		ok           bool
	}{
		{"v1 quota", "4:memory:/x\n1:cpu:/bench\n0::/\n", 0.5, true},
		{"v1 no quota", "1:cpu:/free\n0::/\n", 0, false},
		{"v1 joint controllers", "3:cpu,cpuacct:/both\n0::/\n", 1.5, true},
		{"v2 quota", "0::/bench2\n", 0.4, true},
		{"v2 no quota", "0::/free2\n", 0, false},
		{"v2 group without the files", "0::/gone\n", 0, false},
		{"v1 group without the files", "1:cpu:/gone\n", 0, false},
		{"garbage", "not a cgroup line\n", 0, false},
	} {
		got, ok := cgroupQuota(c.cgroup, root)
		if ok != c.ok || got != c.want {
			t.Errorf("%s: cgroupQuota = %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
	if got := serverQuota(1 << 30); got != "" {
		t.Errorf("serverQuota(a pid that does not exist) = %q, want nothing", got)
	}
}
