package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"

	"github.com/openwac/wac/internal/loadtest"
	"github.com/openwac/wac/internal/logging"
	"github.com/openwac/wac/internal/server"
)

// cmdBench runs the load tools (wac bench, package loadtest) with this
// command's flag parsing, usage errors and store.
func cmdBench(ctx context.Context, args []string, stdout, _ io.Writer) error {
	return loadtest.Run(ctx, args, stdout, loadtest.Env{
		Parse:      parse,
		Usage:      func(msg, help string) error { return usageError{msg: msg, help: help} },
		StoreFlags: storeFlags,
	})
}

// storeFlags adds --config and --data to fs; what it returns reads the
// cluster secret of the store they name.
func storeFlags(fs *flag.FlagSet) func(context.Context) ([]byte, error) {
	var c common
	c.register(fs, false)
	return func(ctx context.Context) ([]byte, error) { return clusterSecret(ctx, &c) }
}

// clusterSecret reads the cluster secret from the store the flags name.
func clusterSecret(ctx context.Context, c *common) ([]byte, error) {
	cfg, _, err := c.load()
	if err != nil {
		return nil, err
	}
	st, err := server.OpenStore(ctx, cfg, logging.Discard())
	if err != nil {
		return nil, err
	}
	defer st.Close()
	b := make([]byte, 32)
	rand.Read(b)
	s, err := st.SettingOrInit(ctx, "cluster-secret", hex.EncodeToString(b))
	if err != nil {
		return nil, fmt.Errorf("read the cluster secret: %w", err)
	}
	return []byte(s), nil
}
