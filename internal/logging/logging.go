// Package logging builds the server's structured logger on log/slog, with the
// five levels the seeds use: silly, debug, info, warn and error.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// LevelSilly is more detailed than debug, as in the seeds' logs.
const LevelSilly = slog.LevelDebug - 4

// ParseLevel maps a seeds level name onto a slog level.
func ParseLevel(name string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "silly":
		return LevelSilly, nil
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want silly, debug, info, warn or error)", name)
}

// LevelName is the seeds' name of a slog level.
func LevelName(l slog.Level) string {
	switch {
	case l <= LevelSilly:
		return "silly"
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warn"
	}
	return "error"
}

// New returns a logger writing to w at the given level, as text or JSON.
func New(w io.Writer, level slog.Level, format string) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.LevelKey {
				if l, ok := a.Value.Any().(slog.Level); ok {
					a.Value = slog.StringValue(LevelName(l))
				}
			}
			return a
		},
	}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q (want text or json)", format)
}

// Silly logs at the silly level.
func Silly(ctx context.Context, l *slog.Logger, msg string, args ...any) {
	l.Log(ctx, LevelSilly, msg, args...)
}

// Discard is a logger that writes nothing, for tests and tools.
func Discard() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}
