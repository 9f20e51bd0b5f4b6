package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestNATSLogger(t *testing.T) {
	tests := []struct {
		name      string
		minLevel  slog.Level
		call      func(l natsLogger)
		wantLevel string // "" = nothing logged
		wantFatal bool
	}{
		{"notice", slog.LevelDebug, func(l natsLogger) { l.Noticef("n %d", 1) }, "INFO", false},
		{"warn", slog.LevelDebug, func(l natsLogger) { l.Warnf("n %d", 1) }, "WARN", false},
		{"error", slog.LevelDebug, func(l natsLogger) { l.Errorf("n %d", 1) }, "ERROR", false},
		{"debug", slog.LevelDebug, func(l natsLogger) { l.Debugf("n %d", 1) }, "DEBUG", false},
		{"trace", slog.LevelDebug, func(l natsLogger) { l.Tracef("n %d", 1) }, "DEBUG", false},
		{"fatal", slog.LevelDebug, func(l natsLogger) { l.Fatalf("n %d", 1) }, "ERROR", true},
		{"debug filtered", slog.LevelInfo, func(l natsLogger) { l.Debugf("n %d", 1) }, "", false},
		{"fatal reported even when filtered", slog.LevelError + 1, func(l natsLogger) { l.Fatalf("n %d", 1) }, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			var fatal string
			l := natsLogger{
				log:     slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.minLevel})),
				onFatal: func(msg string) { fatal = msg },
			}
			tt.call(l)
			out := buf.String()
			if tt.wantLevel == "" {
				if out != "" {
					t.Errorf("logged %q, want nothing", out)
				}
			} else if !strings.Contains(out, "level="+tt.wantLevel) || !strings.Contains(out, `msg="n 1"`) {
				t.Errorf("logged %q, want level=%s msg=\"n 1\"", out, tt.wantLevel)
			}
			if got := fatal != ""; got != tt.wantFatal {
				t.Errorf("fatal reported = %v (%q), want %v", got, fatal, tt.wantFatal)
			}
		})
	}
}
