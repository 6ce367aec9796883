// Package pionlog routes the logs of the Pion libraries (WebRTC, ICE, DTLS,
// TURN) to the node's slog logger, tagged with the Pion scope. Pion's trace
// level becomes slog's silly level.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"

	wlog "github.com/openwac/wac/internal/logging"
)

// Factory makes Pion loggers that write to one slog logger.
type Factory struct{ Log *slog.Logger }

// NewLogger implements logging.LoggerFactory.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return &logger{l: f.Log.With("pion", scope)}
}

type logger struct{ l *slog.Logger }

func (l *logger) log(level slog.Level, msg string) {
	if l.l.Enabled(context.Background(), level) {
		l.l.Log(context.Background(), level, msg)
	}
}

func (l *logger) logf(level slog.Level, format string, args ...any) {
	if l.l.Enabled(context.Background(), level) {
		l.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l *logger) Trace(msg string)                  { l.log(wlog.LevelSilly, msg) }
func (l *logger) Tracef(format string, args ...any) { l.logf(wlog.LevelSilly, format, args...) }
func (l *logger) Debug(msg string)                  { l.log(slog.LevelDebug, msg) }
func (l *logger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l *logger) Info(msg string)                   { l.log(slog.LevelDebug, msg) }
func (l *logger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l *logger) Warn(msg string)                   { l.log(slog.LevelDebug, msg) }
func (l *logger) Warnf(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l *logger) Error(msg string)                  { l.log(slog.LevelWarn, msg) }
func (l *logger) Errorf(format string, args ...any) { l.logf(slog.LevelWarn, format, args...) }
