package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iogo-dev/iogo/pkg/broker"
)

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    settings
		wantErr string
	}{
		{
			name: "defaults, with credentials",
			env:  map[string]string{"IOGO_BROKER_USER": "svc", "IOGO_BROKER_PASSWORD": "pw"},
			want: settings{cfg: broker.Config{Host: "0.0.0.0", Port: 4222, User: "svc", Password: "pw"}, logLevel: slog.LevelInfo},
		},
		{name: "no credentials on a public host", wantErr: "refusing to accept unauthenticated clients"},
		{
			name: "no credentials, -no-auth",
			args: []string{"-no-auth"},
			want: settings{cfg: broker.Config{Host: "0.0.0.0", Port: 4222}, logLevel: slog.LevelInfo, noAuth: true},
		},
		{
			name: "no credentials on loopback",
			args: []string{"-host", "::1"},
			want: settings{cfg: broker.Config{Host: "::1", Port: 4222}, logLevel: slog.LevelInfo},
		},
		{
			name: "nkeys only",
			args: []string{"-nkeys", "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4, "},
			want: settings{cfg: broker.Config{Host: "0.0.0.0", Port: 4222,
				NKeys: []string{"UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"}}, logLevel: slog.LevelInfo},
		},
		{name: "bad nkey", args: []string{"-nkeys", "SUAFOO"}, wantErr: "public user nkey"},
		{
			name: "a user per role",
			env: map[string]string{
				"IOGO_BROKER_GATE_USER": "gate", "IOGO_BROKER_GATE_PASSWORD": "g",
				"IOGO_BROKER_LOGIC_USER": "logic", "IOGO_BROKER_LOGIC_PASSWORD": "l",
			},
			args: []string{"-tool-nkeys", "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"},
			want: settings{cfg: broker.Config{Host: "0.0.0.0", Port: 4222, Users: []broker.User{
				{Role: "gate", Name: "gate", Password: "g"},
				{Role: "logic", Name: "logic", Password: "l"},
				{Role: "tool", NKey: "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"},
			}}, logLevel: slog.LevelInfo},
		},
		{name: "role user without password", args: []string{"-logic-user", "logic"}, wantErr: "name and password"},
		{name: "role user twice", args: []string{"-logic-user", "x", "-logic-password", "a", "-gate-user", "x", "-gate-password", "b"}, wantErr: "twice"},
		{
			name:    "cluster with role users but no route credentials",
			args:    []string{"-gate-user", "g", "-gate-password", "p", "-routes", "a:1,b:1"},
			wantErr: "guard its routes",
		},
		{
			name: "flags",
			args: []string{
				"-name", "b1", "-host", "10.0.0.1", "-port", "-1", "-store", "/data",
				"-cluster-name", "prod", "-cluster-host", "10.0.0.2", "-cluster-port", "6333",
				"-routes", "nats-route://b1:6333, nats-route://b2:6333,,b3:6333",
				"-client-advertise", "b1.example:4222", "-cluster-advertise", "b1:6333",
				"-http-port", "8222", "-user", "svc", "-password", "pw", "-max-payload", "2097152",
				"-log-level", "debug", "-start-timeout", "1m",
			},
			want: settings{
				cfg: broker.Config{
					Name: "b1", Host: "10.0.0.1", Port: -1, StoreDir: "/data",
					ClusterName: "prod", ClusterHost: "10.0.0.2", ClusterPort: 6333,
					Routes:          []string{"nats-route://b1:6333", "nats-route://b2:6333", "b3:6333"},
					ClientAdvertise: "b1.example:4222", ClusterAdvertise: "b1:6333",
					HTTPPort: 8222, User: "svc", Password: "pw", MaxPayload: 2 << 20,
				},
				logLevel:     slog.LevelDebug,
				startTimeout: time.Minute,
			},
		},
		{
			name: "environment",
			env: map[string]string{
				"IOGO_BROKER_NAME": "b2", "IOGO_BROKER_HOST": "127.0.0.1", "IOGO_BROKER_PORT": "4333",
				"IOGO_BROKER_STORE": "/js", "IOGO_BROKER_CLUSTER_NAME": "c", "IOGO_BROKER_CLUSTER_PORT": "-1",
				"IOGO_BROKER_ROUTES": "a:1,b:2", "IOGO_BROKER_CLIENT_ADVERTISE": "x:1",
				"IOGO_BROKER_CLUSTER_ADVERTISE": "y:2", "IOGO_BROKER_HTTP_PORT": "-1",
				"IOGO_BROKER_USER": "u", "IOGO_BROKER_PASSWORD": "p", "IOGO_BROKER_MAX_PAYLOAD": "1024",
				"IOGO_BROKER_LOG_LEVEL": "WARN", "IOGO_BROKER_START_TIMEOUT": "5s",
				"IOGO_BROKER_CLUSTER_HOST": "0.0.0.0",
			},
			want: settings{
				cfg: broker.Config{
					Name: "b2", Host: "127.0.0.1", Port: 4333, StoreDir: "/js",
					ClusterName: "c", ClusterHost: "0.0.0.0", ClusterPort: -1, Routes: []string{"a:1", "b:2"},
					ClientAdvertise: "x:1", ClusterAdvertise: "y:2", HTTPPort: -1,
					User: "u", Password: "p", MaxPayload: 1024,
				},
				logLevel:     slog.LevelWarn,
				startTimeout: 5 * time.Second,
			},
		},
		{
			name: "flags override environment",
			env:  map[string]string{"IOGO_BROKER_PORT": "4333", "IOGO_BROKER_HOST": "10.0.0.9", "IOGO_BROKER_ROUTES": "a:1,b:1"},
			args: []string{"-port", "5000", "-routes", "c:1,d:1,e:1", "-no-auth"},
			want: settings{
				cfg:      broker.Config{Host: "10.0.0.9", Port: 5000, Routes: []string{"c:1", "d:1", "e:1"}},
				logLevel: slog.LevelInfo,
				noAuth:   true,
			},
		},
		{name: "bad env integer", env: map[string]string{"IOGO_BROKER_PORT": "abc"}, wantErr: "IOGO_BROKER_PORT"},
		{name: "bad env duration", env: map[string]string{"IOGO_BROKER_START_TIMEOUT": "soon"}, wantErr: "IOGO_BROKER_START_TIMEOUT"},
		{name: "bad flag", args: []string{"-port", "x"}, wantErr: "invalid value"},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: "not defined"},
		{name: "extra argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
		{name: "bad log level", args: []string{"-log-level", "loud"}, wantErr: "log-level"},
		{name: "negative max payload", args: []string{"-max-payload", "-1"}, wantErr: "max-payload"},
		{name: "negative start timeout", args: []string{"-start-timeout", "-1s"}, wantErr: "start-timeout"},
		{name: "invalid config", args: []string{"-port", "99999"}, wantErr: "invalid config"},
		{name: "cluster port without routes", args: []string{"-cluster-port", "6222"}, wantErr: "needs Routes"},
		{name: "user without password", env: map[string]string{"IOGO_BROKER_USER": "u"}, wantErr: "together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookupEnv := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			got, err := parseSettings(tt.args, lookupEnv, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseSettings: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseSettingsHelp(t *testing.T) {
	var out strings.Builder
	_, err := parseSettings([]string{"-h"}, func(string) (string, bool) { return "", false }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"-routes", "IOGO_BROKER_ROUTES", "-log-level", "IOGO_BROKER_PASSWORD",
		"-gate-user", "-logic-password", "IOGO_BROKER_TOOL_NKEYS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}
