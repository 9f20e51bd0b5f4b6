package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/broker/brokertest"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/stats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env turns a map into a lookupEnv function.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestURLTargets(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	defer ok.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	defer ln.Close()
	closedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := closedLn.Addr().String()
	closedLn.Close()

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"http 200", []string{ok.URL + "/healthz"}, 0},
		{"http 503", []string{ok.URL + "/other"}, 1},
		{"tcp open", []string{"tcp://" + open}, 0},
		{"tcp closed", []string{"tcp://" + closed}, 1},
		{"unknown scheme", []string{"udp://" + open}, 1},
		{"no target", nil, 2},
		{"two targets", []string{"tcp://" + open, "tcp://" + open}, 2},
		{"bad flag", []string{"-nope"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(append([]string{"-timeout", "2s"}, tc.args...), env(nil), &out, &errOut); code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, out.String(), errOut.String())
			}
		})
	}
}

func TestService(t *testing.T) {
	// The service's credential is a logic-role user, whose permissions
	// the check must live with.
	b := brokertest.Start(t, broker.Config{Users: []broker.User{{Role: fabric.RoleLogic, Name: "svc", Password: "secret"}}})
	nc, err := nats.Connect(b.ClientURL(), nats.UserInfo("svc", "secret"), nats.CustomInboxPrefix(fabric.InboxPrefix(fabric.RoleLogic)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	svc, err := stats.Register(nc, "login", "login-a", "", func() stats.Snapshot { return stats.Snapshot{} })
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	good := map[string]string{
		"IOGO_LOGIN_BROKERS": b.ClientURL(), "IOGO_LOGIN_USER": "svc", "IOGO_LOGIN_PASSWORD": "secret",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		code int
		says string
	}{
		{"any instance", []string{"-service", "login"}, good, 0, "instance login-a answers"},
		{"this instance", []string{"-service", "login"}, with("IOGO_LOGIN_ID", "login-a"), 0, "login-a"},
		{"instance flag", []string{"-service", "login", "-instance", "login-a"}, good, 0, "login-a"},
		{"other instance", []string{"-service", "login"}, with("IOGO_LOGIN_ID", "login-b"), 1, "1 other instances"},
		{"no such service", []string{"-service", "guild", "-env-prefix", "IOGO_LOGIN_"}, good, 1, "no instance of service guild"},
		{"wrong password", []string{"-service", "login"}, with("IOGO_LOGIN_PASSWORD", "nope"), 1, "brokers"},
		{"no broker", []string{"-service", "login"}, with("IOGO_LOGIN_BROKERS", "nats://127.0.0.1:1"), 1, "brokers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"-timeout", "1s"}, tc.args...), env(tc.env), &out, &errOut)
			if code != tc.code || !strings.Contains(out.String(), tc.says) {
				t.Fatalf("exit %d, want %d; stdout %q (want %q) stderr %q", code, tc.code, out.String(), tc.says, errOut.String())
			}
		})
	}
}

func TestLogicInbox(t *testing.T) {
	if want := fabric.InboxPrefix(fabric.RoleLogic); logicInbox != want {
		t.Fatalf("logicInbox = %q, want %q", logicInbox, want)
	}
}
