// Command wac is OpenWAC: the WebRTC application controller. `wac serve`
// runs a node; the other subcommands migrate its database and do the first
// administrative chores.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	openwac "github.com/openwac/wac"
	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/logging"
)

const usage = `wac: the OpenWAC WebRTC application controller

Usage:
  wac serve   [--config FILE] [--data DIR] [--listen ADDR]   run a node
  wac migrate [--config FILE] [--data DIR]                    apply database migrations
  wac domain  create NAME [--parent NAME] [--anonymous]      add a domain
  wac domain  list                                            list domains
  wac user    create USER@DOMAIN [--role ROLE] [--email E]   add a user (password from stdin)
  wac user    list [--domain NAME]                            list users
  wac user    passwd USER@DOMAIN                              set a password (from stdin)
  wac config  keys [--markdown]                               list every configuration key
  wac bench   api|login|sessions|rooms|calls|media|sipcalls    load a running server (wac bench -h)
  wac notify  push USER@DOMAIN [--text T]                     send a test push to the user's devices
  wac notify  sms --to NUMBER DOMAIN TEMPLATE [--json DATA]   send a test SMS from a template
  wac licenses                                                print the licence and the notices
  wac version                                                 print the version

Every admin command takes --config and --data and works on the configured
database. Configuration: docs/configuration.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runMain runs a command line and returns the exit status: 0, 1 for an
// error, 2 for a command line that could not be understood (with the
// usage on stderr).
func runMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdin, stdout, stderr)
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "wac: %v\n\n%s", err, ue.helpText())
		return 2
	}
	fmt.Fprintf(stderr, "wac: %v\n", err)
	return 1
}

// usageError is a command line that could not be understood; help, when
// set, is the usage or the flags of the subcommand at fault (the whole
// usage otherwise).
type usageError struct{ msg, help string }

func (e usageError) Error() string { return e.msg }

// helpText is the help to show with the error.
func (e usageError) helpText() string {
	if e.help != "" {
		return e.help
	}
	return usage
}

func usagef(format string, args ...any) error { return usageError{msg: fmt.Sprintf(format, args...)} }

// run runs a command line; tests call it directly. A command line that
// asks for help (-h or --help anywhere) gets the help of the (sub)command
// it names on stdout, and no error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdin, stdout, stderr)
	var ue usageError
	if errors.As(err, &ue) && asksHelp(args) {
		fmt.Fprint(stdout, ue.helpText())
		return nil
	}
	return err
}

func asksHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// dispatch runs the command args name.
func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("no command given")
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, args[1:], stderr)
	case "domain":
		return cmdDomain(ctx, args[1:], stdout, stderr)
	case "user":
		return cmdUser(ctx, args[1:], stdin, stdout, stderr)
	case "config":
		return cmdConfig(args[1:], stdout)
	case "bench":
		return cmdBench(ctx, args[1:], stdout, stderr)
	case "notify":
		return cmdNotify(ctx, args[1:], stdout, stderr)
	case "licenses", "licences":
		if len(args) > 1 {
			return usagef("licenses: takes no arguments")
		}
		fmt.Fprint(stdout, licenses())
		return nil
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, version())
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usagef("unknown command %q", args[0])
}

// common holds the flags every command that opens the store takes.
type common struct {
	config string
	data   string
	listen string
}

func (c *common) register(fs *flag.FlagSet, withListen bool) {
	fs.StringVar(&c.config, "config", "", "configuration file (YAML)")
	fs.StringVar(&c.data, "data", "", "data directory (overrides dataDir)")
	if withListen {
		fs.StringVar(&c.listen, "listen", "", "public HTTP address host:port (overrides wiface.public)")
	}
}

// load reads the configuration and applies the flags over it. The
// warnings name keys of the file that have no effect (logWarnings).
func (c *common) load() (*config.Config, []config.Warning, error) {
	cfg, warnings, err := config.Load(c.config, os.Environ())
	if err != nil {
		return nil, nil, err
	}
	if c.data != "" {
		cfg.DataDir = c.data
	}
	if c.listen != "" {
		host, port, err := net.SplitHostPort(c.listen)
		if err != nil {
			return nil, nil, fmt.Errorf("--listen %q: want host:port: %w", c.listen, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return nil, nil, fmt.Errorf("--listen %q: %q is not a port", c.listen, port)
		}
		cfg.Wiface.Public.Iface, cfg.Wiface.Public.Port = host, n
		if err := cfg.Validate(); err != nil {
			return nil, nil, err
		}
	}
	return &cfg, warnings, nil
}

// logWarnings logs, once each, the keys of the configuration file that
// were accepted but have no effect.
func logWarnings(log *slog.Logger, warnings []config.Warning) {
	for _, w := range warnings {
		log.Warn("config key "+w.Key+" has no effect", "key", w.Key, "why", w.Reason)
	}
}

func newLogger(cfg *config.Config, w io.Writer) (*slog.Logger, error) {
	level, err := logging.ParseLevel(cfg.Log.Level)
	if err != nil {
		return nil, err
	}
	return logging.New(w, level, cfg.Log.Format)
}

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		var flags strings.Builder
		fmt.Fprintf(&flags, "wac %s flags:\n", fs.Name())
		fs.SetOutput(&flags)
		fs.PrintDefaults()
		return usageError{msg: fmt.Sprintf("%s: %v", fs.Name(), err), help: flags.String()}
	}
	return nil
}

// licenses is OpenWAC's notice, its licence and the licence texts of the
// software built into it.
func licenses() string {
	return openwac.Notice + "\n\n== OpenWAC: LICENSE\n\n" + openwac.License + "\n\n" + openwac.ThirdPartyLicenses
}

func version() string {
	v, rev, dirty := "devel", "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
				if len(rev) > 12 {
					rev = rev[:12]
				}
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		out := "wac " + v
		if rev != "" {
			out += " (" + rev + dirty + ")"
		}
		return out + " " + bi.GoVersion
	}
	return "wac " + v
}
