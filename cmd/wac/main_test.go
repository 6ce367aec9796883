package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/auth"
	"github.com/openwac/wac/internal/logging/logtest"
)

func wac(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

func TestAdminCommands(t *testing.T) {
	t.Setenv("WAC_PASSWORD_MEMORY", "8192")
	t.Setenv("WAC_PASSWORD_ITERATIONS", "1")
	data := t.TempDir()
	if _, err := wac(t, "", "migrate", "--data", data); err != nil {
		t.Fatal(err)
	}
	out, err := wac(t, "", "domain", "create", "--data", data, "quobis")
	if err != nil || !strings.Contains(out, "created domain quobis") {
		t.Fatalf("domain create: %q %v", out, err)
	}
	if _, err := wac(t, "", "domain", "create", "--data", data, "quobis"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate domain: %v", err)
	}
	if _, err := wac(t, "", "domain", "create", "--data", data, "--parent", "quobis", "sales.quobis"); err != nil {
		t.Fatal(err)
	}
	out, _ = wac(t, "", "domain", "list", "--data", data)
	if !strings.Contains(out, "sales.quobis") || !strings.Contains(out, "quobis") {
		t.Fatalf("domain list: %s", out)
	}
	out, err = wac(t, "alice-password\n", "user", "create", "--data", data, "--role", "admin", "--email", "alice@example.com", "alice@quobis")
	if err != nil || !strings.Contains(out, "created admin alice@quobis") {
		t.Fatalf("user create: %q %v", out, err)
	}
	if _, err := wac(t, "short\n", "user", "create", "--data", data, "bob@quobis"); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Fatalf("short password: %v", err)
	}
	if _, err := wac(t, "bob-password\n", "user", "create", "--data", data, "bob@nowhere"); err == nil || !strings.Contains(err.Error(), "wac domain create") {
		t.Fatalf("unknown domain: %v", err)
	}
	out, _ = wac(t, "", "user", "list", "--data", data, "--domain", "quobis")
	if !strings.Contains(out, "alice@quobis") || strings.Contains(out, "admin@wac") {
		t.Fatalf("user list: %s", out)
	}
	// passwd: the new password logs in, the old one does not, and the
	// tokens of the old one are gone.
	env, err := openAdmin(context.Background(), &common{data: data}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	old, err := env.auth.PasswordGrant(context.Background(), "alice@quobis", "alice-password", auth.LoginInfo{})
	if err != nil {
		t.Fatal(err)
	}
	out, err = wac(t, "new-password-1\n", "user", "passwd", "--data", data, "alice@quobis")
	if err != nil || !strings.Contains(out, "changed") {
		t.Fatalf("passwd: %q %v", out, err)
	}
	if _, err := env.auth.PasswordGrant(context.Background(), "alice@quobis", "alice-password", auth.LoginInfo{}); err == nil {
		t.Fatal("the old password still logs in")
	}
	if _, err := env.auth.PasswordGrant(context.Background(), "alice@quobis", "new-password-1", auth.LoginInfo{}); err != nil {
		t.Fatalf("the new password does not log in: %v", err)
	}
	if _, err := env.auth.RefreshGrant(context.Background(), old.RefreshToken, auth.LoginInfo{}); err == nil {
		t.Fatal("a token of the old password survived passwd")
	}
	env.st.Close()
	if _, err := wac(t, "", "domain", "frobnicate"); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
	if out, _ := wac(t, "", "version"); !strings.HasPrefix(out, "wac ") {
		t.Fatalf("version: %q", out)
	}
	if out, _ := wac(t, "", "config", "keys"); !strings.Contains(out, "WAC_LOGIN_LIMIT_RATE_UNITS") {
		t.Fatalf("config keys: %q", out)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("login:\n  limitRateUnits: -1\nwiface:\n  public:\n    port: 70000\n"), 0o600)
	_, err := wac(t, "", "migrate", "--config", bad, "--data", dir)
	if err == nil || !strings.Contains(err.Error(), "login.limitRateUnits") || !strings.Contains(err.Error(), "wiface.public.port") {
		t.Fatalf("bad values: %v", err)
	}
	os.WriteFile(bad, []byte("loggin:\n  level: debug\n"), 0o600)
	if _, err := wac(t, "", "migrate", "--config", bad); err == nil || !strings.Contains(err.Error(), "loggin") {
		t.Fatalf("unknown key: %v", err)
	}
	t.Setenv("WAC_LOGIN_EXCLUSIVE", "maybe")
	if _, err := wac(t, "", "migrate", "--data", dir); err == nil || !strings.Contains(err.Error(), "WAC_LOGIN_EXCLUSIVE") {
		t.Fatalf("bad environment value: %v", err)
	}
}

// serveForTest starts wac serve with its store in data on a free
// loopback port, and the flags extra, and waits for its ready line; stop
// ends it and returns what serve returned.
func serveForTest(t *testing.T, data string, extra ...string) (addr string, out, logs *logtest.Buffer, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out, logs = new(logtest.Buffer), new(logtest.Buffer)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--data", data, "--listen", addr}, extra...), strings.NewReader(""), out, logs)
	}()
	stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			return errors.New("serve did not stop")
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "OpenWAC is ready") {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("no ready line; logs:\n%s", logs.String())
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve ended before it was ready: %v; logs:\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return addr, out, logs, stop
}

func TestServeStartsAndStops(t *testing.T) {
	t.Setenv("WAC_PASSWORD_MEMORY", "8192")
	t.Setenv("WAC_PASSWORD_ITERATIONS", "1")
	t.Setenv("WAC_ROLES", "api")
	addr, out, logs, stop := serveForTest(t, t.TempDir())
	if !strings.Contains(logs.String(), "open http://"+addr) || !strings.Contains(logs.String(), "admin@wac") {
		t.Fatalf("the ready line does not say where to open and how to log in:\n%s", logs.String())
	}
	if !strings.Contains(out.String(), "Password: ") {
		t.Fatalf("the generated password was not printed: %q", out.String())
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// A configuration written the seeds' way starts the server: each of the
// seeds' keys OpenWAC does not need gets one warning at start-up, naming
// the key and why, and no value of it is logged.
func TestServeWarnsOnceOfTheSeedsKeys(t *testing.T) {
	t.Setenv("WAC_PASSWORD_MEMORY", "8192")
	t.Setenv("WAC_PASSWORD_ITERATIONS", "1")
	t.Setenv("WAC_ROLES", "api")
	dir := t.TempDir()
	file := filepath.Join(dir, "config.json")
	os.WriteFile(file, []byte(`{
"invites": {"basic": {"removeAfter": 10000, "resolveGroups": false, "resolvePush": false, "legacyUserGroupResolution": true,
  "wac": {"address": "http://wac:8000", "username": "admin@quobis", "password": "seed-secret"}},
  "parallelSip": false, "onlyOneDeviceWithInvitations": false},
"rooms": {"collectionType": "janus", "updateRoomOnwerWhenLeaves": true, "janusAddress": "http://dispatcher:8020"}
}`), 0o600)
	_, _, logs, stop := serveForTest(t, dir, "--config", file)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"invites.basic.wac", "invites.parallelSip", "rooms.collectionType", "rooms.janusAddress"} {
		if n := strings.Count(logs.String(), "level=warn msg=\"config key "+key+" has no effect\""); n != 1 {
			t.Errorf("%d warnings for %s, want 1; logs:\n%s", n, key, logs.String())
		}
	}
	if strings.Contains(logs.String(), "seed-secret") || strings.Contains(logs.String(), "updateRoomOnwerWhenLeaves") {
		t.Errorf("the log repeats a password or warns of an alias:\n%s", logs.String())
	}
}

// wac without a command prints the usage on stderr and exits 2, as for
// any command line it cannot understand; -h prints it on stdout, exit 0.
func TestNoCommandIsAUsageError(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runMain(context.Background(), nil, strings.NewReader(""), &out, &errOut); code != 2 {
		t.Errorf("wac with no arguments exited %d, want 2", code)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), "Usage:") || !strings.Contains(errOut.String(), "no command") {
		t.Errorf("wac with no arguments: stdout %q, stderr %q; want the usage on stderr", out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := runMain(context.Background(), []string{"-h"}, strings.NewReader(""), &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "Usage:") {
		t.Errorf("wac -h exited %d with %q", code, out.String())
	}
	if code := runMain(context.Background(), []string{"frobnicate"}, strings.NewReader(""), &out, &errOut); code != 2 {
		t.Errorf("wac frobnicate exited %d, want 2", code)
	}
}

// The usage names every command.
func TestUsageNamesEveryCommand(t *testing.T) {
	out, err := wac(t, "", "-h")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "migrate", "domain", "user", "config", "bench", "licenses", "version"} {
		if !strings.Contains(out, "\n  wac "+cmd+" ") {
			t.Errorf("wac -h does not name wac %s:\n%s", cmd, out)
		}
	}
}

// wac licenses prints OpenWAC's licence and the licences of what it is
// built with.
func TestLicenses(t *testing.T) {
	out, err := wac(t, "", "licenses")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Licensed under the Apache License, Version 2.0", "| `github.com/pion/webrtc/v4` |",
		"== github.com/pion/webrtc/v4 ", "Permission is hereby granted, free of charge", "Copyright 2011-2016 Canonical Ltd."} {
		if !strings.Contains(out, want) {
			t.Errorf("wac licenses does not print %q", want)
		}
	}
}

// A user created without @domain lands in the default domain, and wac user
// create says so; when that domain does not exist yet, the error says it
// was the default and how to create it.
func TestUserCreateNamesTheDefaultDomain(t *testing.T) {
	t.Setenv("WAC_PASSWORD_MEMORY", "8192")
	t.Setenv("WAC_PASSWORD_ITERATIONS", "1")
	data := t.TempDir()
	_, err := wac(t, "carol-password\n", "user", "create", "--data", data, "carol")
	if err == nil || !strings.Contains(err.Error(), `"carol" names no domain`) || !strings.Contains(err.Error(), `default domain "wac"`) ||
		!strings.Contains(err.Error(), "wac domain create wac") {
		t.Fatalf("a bare name before the default domain exists: %v", err)
	}
	if _, err := wac(t, "", "domain", "create", "--data", data, "wac"); err != nil {
		t.Fatal(err)
	}
	out, err := wac(t, "carol-password\n", "user", "create", "--data", data, "carol")
	if err != nil || !strings.Contains(out, "created user carol@wac") || !strings.Contains(out, "the default domain wac") {
		t.Fatalf("a bare name: %q %v", out, err)
	}
	out, err = wac(t, "dave-password\n", "user", "create", "--data", data, "dave@wac")
	if err != nil || strings.Contains(out, "default domain") {
		t.Fatalf("a name with its domain: %q %v", out, err)
	}
}

// -h anywhere on a command line prints the help of the (sub)command it
// names, on stdout and without an error; a bad flag is still an error
// that carries the subcommand's flags.
func TestHelpOfEverySubcommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-h"}, "wac serve"},
		{[]string{"user", "-h"}, "wac user    create"},
		{[]string{"user", "create", "-h"}, "wac user create flags:"},
		{[]string{"domain", "create", "--help"}, "-parent"},
		{[]string{"bench", "-h"}, "wac bench calls"},
		{[]string{"bench", "media", "-h"}, "wac bench media rooms"},
		{[]string{"bench", "media", "help"}, "wac bench media rooms"},
		{[]string{"bench", "help"}, "wac bench calls"},
		{[]string{"bench", "calls", "-h"}, "-workers"},
	} {
		out, err := wac(t, "", tc.args...)
		if err != nil {
			t.Errorf("wac %s: %v", strings.Join(tc.args, " "), err)
			continue
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("wac %s printed %q, want it to contain %q", strings.Join(tc.args, " "), out, tc.want)
		}
	}
	_, err := wac(t, "", "user", "create", "--nope")
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(ue.help, "-role") {
		t.Fatalf("a bad flag: %v (help %q), want a usage error listing the flags", err, ue.help)
	}
}
