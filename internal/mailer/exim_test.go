package mailer_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/mailer"
	"github.com/openwac/wac/internal/mailer/smtptest"
	"github.com/openwac/wac/internal/testenv"
)

// eximConfig is a one-domain exim: it accepts mail for example.net on a
// loopback port and delivers it to the mailbox <dir>/mail/inbox.
const eximConfig = `primary_hostname = wac-test.localdomain
exim_user = %[1]s
exim_group = %[1]s
spool_directory = %[2]s/spool
log_file_path = %[2]s/log/%%slog
pid_file_path = %[2]s/exim.pid
daemon_smtp_ports = %[3]d
local_interfaces = 127.0.0.1
domainlist local_domains = example.net
acl_smtp_rcpt = acl_check_rcpt
tls_advertise_hosts =
host_lookup =
rfc1413_hosts =
keep_environment =

begin acl
acl_check_rcpt:
  accept domains = +local_domains
  deny message = relay not permitted

begin routers
local_mailbox:
  driver = accept
  domains = +local_domains
  transport = mailbox

begin transports
mailbox:
  driver = appendfile
  file = %[2]s/mail/inbox
  user = %[1]s
  group = %[1]s
  mode = 0600
  message_prefix =
  envelope_to_add
  return_path_add

begin retry
* * F,1m,1m
`

// A mail sent through Debian's exim4 (a real MTA: SMTP in, a router, a
// local delivery) lands in the mailbox with its structure intact: the
// text, HTML and calendar alternatives and the invite.ics attachment.
func TestDeliveryThroughExim(t *testing.T) {
	testenv.NeedPrograms(t, "exim4")
	if os.Geteuid() != 0 {
		t.Skip("exim4 with a test configuration runs as root (CI does)")
	}
	eximUser := "Debian-exim"
	if _, err := user.Lookup(eximUser); err != nil {
		t.Fatalf("exim4's user: %v", err)
	}
	dir, err := os.MkdirTemp("", "wac-exim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{dir, dir + "/spool", dir + "/log", dir + "/mail"} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(eximConfig, eximUser, dir, port)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("exim4", "-C", conf, "-bdf", "-odi")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exim4 does not listen: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ml := mailer.New(config.Mailer{Host: "127.0.0.1", Port: port, StartTLS: "opportunistic", From: "Meetings <meetings@example.com>", Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cal := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
	if err := ml.Send(ctx, &mailer.Message{To: "bob@example.net", Subject: "Invitation: Review", Text: "Hello bob",
		HTML: "<p>Hello bob</p>", Calendar: cal, CalendarMethod: "REQUEST", MessageID: "exim-test@example.com"}); err != nil {
		t.Fatalf("send through exim4: %v\n%s", err, out)
	}
	if err := ml.Send(ctx, &mailer.Message{To: "bob@elsewhere.example", Subject: "x", Text: "x"}); err == nil {
		t.Error("exim4 relayed to a domain it does not serve")
	}
	box := filepath.Join(dir, "mail", "inbox")
	var data []byte
	for {
		data, err = os.ReadFile(box)
		if err == nil && len(data) > 0 {
			break
		}
		if time.Now().After(deadline.Add(10 * time.Second)) {
			logs, _ := os.ReadFile(filepath.Join(dir, "log", "mainlog"))
			t.Fatalf("no mail in %s: %v\n%s\n%s", box, err, out, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p, err := smtptest.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject() != "Invitation: Review" || p.Header.Get("Message-Id") != "<exim-test@example.com>" ||
		p.Header.Get("Envelope-To") != "bob@example.net" || !strings.Contains(p.Header.Get("Received"), "wac-test.localdomain") {
		t.Errorf("headers %v", p.Header)
	}
	if tp := p.Find("text/plain"); tp == nil || strings.TrimSpace(tp.Body) != "Hello bob" {
		t.Errorf("text part %+v", tp)
	}
	if a := p.Attachment("invite.ics"); a == nil || !strings.Contains(a.Body, "METHOD:REQUEST") {
		t.Errorf("attachment %+v", a)
	}
	if c := p.Find("text/calendar"); c == nil || c.Params["method"] != "REQUEST" {
		t.Errorf("calendar part %+v", c)
	}
}
