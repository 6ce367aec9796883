package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"github.com/openwac/wac/internal/config"
	"github.com/openwac/wac/internal/node"
	"github.com/openwac/wac/internal/procs"
	"github.com/openwac/wac/internal/server"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c common
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.register(fs, true)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, warnings, err := c.load()
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	logWarnings(log, warnings)
	stopTuning := tuneRuntime(ctx, cfg.Runtime, log)
	defer stopTuning()
	log.Info("starting", "version", version(), "roles", cfg.Roles, "database", cfg.Database.Driver, "data", cfg.DataDir)
	n, err := node.New(ctx, cfg, log, node.Options{Options: server.Options{Out: stdout}})
	if err != nil {
		return err
	}
	defer n.Close()
	errc := make(chan error, 1)
	go func() { errc <- n.Run(ctx) }()
	url := n.PublicURL()
	if url == "" { // Run failed before binding
		return <-errc
	}
	log.Info(fmt.Sprintf("OpenWAC is ready: open %s and log in as admin@%s (%s)", url, cfg.DefaultDomain, loginHint(cfg)),
		"url", url, "api", url+"/sapi", "health", url+"/healthz")
	return <-errc
}

// tuneRuntime applies runtime.gcPercent, runtime.memoryLimit and
// runtime.procs unless the GOGC, GOMEMLIMIT and GOMAXPROCS variables,
// which the Go runtime has already read, say otherwise. With runtime.procs
// 0 a controller sizes GOMAXPROCS to the load until the returned function
// stops it.
func tuneRuntime(ctx context.Context, rt config.Runtime, log *slog.Logger) (stop func()) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(rt.GCPercent)
		log.Debug("go runtime: garbage collection", "gcPercent", rt.GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" && rt.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(rt.MemoryLimit) << 20)
		log.Debug("go runtime: memory limit", "MiB", rt.MemoryLimit)
	}
	switch {
	case os.Getenv("GOMAXPROCS") != "":
	case rt.Procs > 0:
		runtime.GOMAXPROCS(rt.Procs)
		log.Debug("go runtime: processors", "procs", rt.Procs)
	case procs.Supported():
		ctx, cancel := context.WithCancel(ctx)
		c := &procs.Controller{Max: runtime.GOMAXPROCS(0), Log: log}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Run(ctx)
		}()
		log.Debug("go runtime: processors follow the load", "max", c.Max)
		return func() { cancel(); <-done }
	}
	return func() {}
}

// loginHint says where the admin password is.
func loginHint(cfg *config.Config) string {
	file := filepath.Join(cfg.DataDir, server.AdminPasswordFile)
	if _, err := os.Stat(file); err == nil {
		return "the generated password is in " + file
	}
	return "with the password given in " + server.AdminPasswordEnv + " on the first start"
}

func cmdMigrate(ctx context.Context, args []string, stderr io.Writer) error {
	var c common
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	c.register(fs, false)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, warnings, err := c.load()
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	logWarnings(log, warnings)
	st, err := server.OpenStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	log.Info("database is up to date", "driver", cfg.Database.Driver)
	return nil
}

func cmdConfig(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "keys" || len(args) > 2 || len(args) == 2 && args[1] != "--markdown" {
		return usagef("config: want `wac config keys [--markdown]`")
	}
	if len(args) == 2 {
		fmt.Fprintln(stdout, "| key | environment variable | default | what it does |")
		fmt.Fprintln(stdout, "| --- | --- | --- | --- |")
		for _, k := range config.Keys() {
			def := "`" + k.Default + "`"
			if k.Default == "" {
				def = "(empty)"
			}
			fmt.Fprintf(stdout, "| `%s` | `%s` | %s | %s |\n", k.Path, k.Env, def, k.Doc)
		}
		return nil
	}
	for _, k := range config.Keys() {
		fmt.Fprintf(stdout, "%-40s %-45s %s\n", k.Path, k.Env, k.Default)
	}
	return nil
}
