package broker

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
)

// natsLogger adapts a *slog.Logger to the NATS server's Logger interface.
//
// Levels: Noticef → Info, Warnf → Warn, Errorf and Fatalf → Error,
// Debugf and Tracef → Debug. Fatalf never exits the process; it also reports
// the message through onFatal, because the NATS server stops a subsystem
// after a fatal error (for example a port already in use) and expects the
// process to end.
type natsLogger struct {
	log     *slog.Logger
	onFatal func(msg string)
}

var _ server.Logger = natsLogger{}

func (l natsLogger) Noticef(format string, v ...any) { l.emit(slog.LevelInfo, format, v) }
func (l natsLogger) Warnf(format string, v ...any)   { l.emit(slog.LevelWarn, format, v) }
func (l natsLogger) Errorf(format string, v ...any)  { l.emit(slog.LevelError, format, v) }
func (l natsLogger) Debugf(format string, v ...any)  { l.emit(slog.LevelDebug, format, v) }
func (l natsLogger) Tracef(format string, v ...any)  { l.emit(slog.LevelDebug, format, v) }

func (l natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.LogAttrs(context.Background(), slog.LevelError, msg, slog.Bool("fatal", true))
	if l.onFatal != nil {
		l.onFatal(msg)
	}
}

func (l natsLogger) emit(level slog.Level, format string, v []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.LogAttrs(ctx, level, fmt.Sprintf(format, v...))
}
