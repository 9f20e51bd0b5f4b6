package logic_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/iogo-dev/iogo/pkg/errs"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/logic"
	"github.com/iogo-dev/iogo/pkg/route"
)

// errorLog is a slog handler that keeps the messages of error-level
// records.
type errorLog struct {
	mu   sync.Mutex
	msgs []string
}

func (h *errorLog) Enabled(_ context.Context, l slog.Level) bool { return true }
func (h *errorLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.mu.Lock()
		h.msgs = append(h.msgs, r.Message)
		h.mu.Unlock()
	}
	return nil
}
func (h *errorLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *errorLog) WithGroup(string) slog.Handler      { return h }

func (h *errorLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.msgs
	h.msgs = nil
	return out
}

// TestSessionGone: a session action on a session that closed before the
// gate saw it returns ErrSessionGone, and a handler that returns it is
// answered without an error-level log; other refusals stay errors.
func TestSessionGone(t *testing.T) {
	b := startNATS(t)
	fakeControl(t, b, fabric.GateControl("g1"), func(c fabric.Control) fabric.ControlReply {
		switch c.User {
		case 1: // what a gate answers for a session it does not hold
			return fabric.ControlReply{Error: "external: no such session: no session 44 on gate g1", Gone: true}
		case 2: // a session that closed during the bind
			return fabric.ControlReply{Error: "external: no such session: session 44 closed", Gone: true}
		}
		// Another refusal, even one whose text looks like a gone session:
		// only Gone says so.
		return fabric.ControlReply{Error: "external: bind user 3: no session in registry, closed"}
	})
	var gone sync.Map
	r := route.NewRouter()
	route.Handle(r.Group(7), 0, func(c *logic.Ctx, user int64) (int64, error) {
		err := c.Bind(user)
		gone.Store(user, errors.Is(err, logic.ErrSessionGone))
		return 0, err
	})
	log := &errorLog{}
	startLogic(t, b, r, func(c *logic.Config) { c.Logger = slog.New(log) })
	gw := connect(t, b)
	tests := []struct {
		name   string
		user   int64
		gate   string
		gone   bool
		logged bool
	}{
		{"no such session", 1, "g1", true, false},
		{"session closed during the bind", 2, "g1", true, false},
		{"gate gone", 4, "gone", true, false},
		{"other refusal", 3, "g1", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rep := ask[int64, int64](t, gw, "", fabric.Meta{Cmd: 7, Sub: 0, Session: 44, Gate: tt.gate}, tt.user)
			if rep.Status != errs.CodeSystem {
				t.Fatalf("answered %+v, want %d", rep, errs.CodeSystem)
			}
			if g, _ := gone.Load(tt.user); g != tt.gone {
				t.Fatalf("ErrSessionGone %v, want %v", g, tt.gone)
			}
			if logged := log.take(); (len(logged) > 0) != tt.logged {
				t.Fatalf("error-level logs %q, want some: %v", logged, tt.logged)
			}
		})
	}
}
