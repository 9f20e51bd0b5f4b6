package broker

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	routes := []string{"nats-route://10.0.0.1:6222", "10.0.0.2:6222", "nats://b3:6222"}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" = valid
	}{
		{name: "zero value", cfg: Config{}},
		{name: "random ports", cfg: Config{Port: -1, HTTPPort: -1}},
		{name: "cluster", cfg: Config{ClusterPort: 6222, Routes: routes}},
		{name: "cluster random port", cfg: Config{ClusterPort: -1, Routes: routes}},
		{name: "routes only", cfg: Config{Routes: routes}},
		{name: "cluster without jetstream or routes", cfg: Config{ClusterPort: 6222, DisableJetStream: true}},
		{name: "auth", cfg: Config{User: "u", Password: "p"}},
		{name: "advertise", cfg: Config{ClientAdvertise: "b1.example:4222", ClusterAdvertise: "b1:6222"}},
		{name: "port too big", cfg: Config{Port: 70000}, wantErr: "Port 70000"},
		{name: "port negative", cfg: Config{Port: -2}, wantErr: "Port -2"},
		{name: "cluster port", cfg: Config{ClusterPort: -5}, wantErr: "ClusterPort"},
		{name: "http port", cfg: Config{HTTPPort: 65536}, wantErr: "HTTPPort"},
		{name: "max payload", cfg: Config{MaxPayload: -1}, wantErr: "MaxPayload"},
		{name: "user without password", cfg: Config{User: "u"}, wantErr: "together"},
		{name: "password without user", cfg: Config{Password: "p"}, wantErr: "together"},
		{name: "name with space", cfg: Config{Name: "a b"}, wantErr: "white space"},
		{name: "route without port", cfg: Config{Routes: []string{"nats-route://h"}}, wantErr: "host:port"},
		{name: "route bad port", cfg: Config{Routes: []string{"h:0"}}, wantErr: "bad port"},
		{name: "route bad scheme", cfg: Config{Routes: []string{"http://h:1"}}, wantErr: "scheme"},
		{name: "route empty", cfg: Config{Routes: []string{" "}}, wantErr: "empty"},
		{name: "route no host", cfg: Config{Routes: []string{":6222"}}, wantErr: "missing host"},
		{name: "advertise with scheme", cfg: Config{ClientAdvertise: "nats://h:1"}, wantErr: "ClientAdvertise"},
		{name: "jetstream cluster without routes", cfg: Config{ClusterPort: 6222}, wantErr: "needs Routes"},
		{name: "role users", cfg: Config{Users: []User{
			{Role: "gate", Name: "g", Password: "p"}, {Role: "logic", Name: "l", Password: "p"},
			{Role: "tool", NKey: "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"}}}},
		{name: "clustered role users with route credentials", cfg: Config{Routes: routes, User: "admin", Password: "p",
			Users: []User{{Role: "gate", Name: "g", Password: "p"}}}},
		{name: "unknown role", cfg: Config{Users: []User{{Role: "admin", Name: "a", Password: "p"}}}, wantErr: "unknown role"},
		{name: "role user without password", cfg: Config{Users: []User{{Role: "gate", Name: "g"}}}, wantErr: "name and password"},
		{name: "role nkey with a password", cfg: Config{Users: []User{{Role: "gate", Password: "p",
			NKey: "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"}}}, wantErr: "no name or password"},
		{name: "role bad nkey", cfg: Config{Users: []User{{Role: "gate", NKey: "SUAFOO"}}}, wantErr: "public user nkey"},
		{name: "role user twice", cfg: Config{Users: []User{{Role: "gate", Name: "x", Password: "p"}, {Role: "tool", Name: "x", Password: "q"}}}, wantErr: "twice"},
		{name: "role user named as the operator", cfg: Config{User: "x", Password: "p", Users: []User{{Role: "gate", Name: "x", Password: "q"}}}, wantErr: "twice"},
		{name: "clustered role users without route credentials", cfg: Config{Routes: routes,
			Users: []User{{Role: "gate", Name: "g", Password: "p"}}}, wantErr: "guard its routes"},
		{name: "clustered nkeys without route credentials", cfg: Config{Routes: routes,
			NKeys: []string{"UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"}}, wantErr: "guard its routes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate: %v, want error containing %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if _, err := New(tt.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("New: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want func(t *testing.T, c Config)
	}{
		{
			name: "standalone",
			cfg:  Config{},
			want: func(t *testing.T, c Config) {
				if c.Host != DefaultHost || c.Port != DefaultPort || c.Logger == nil {
					t.Errorf("defaults: %+v", c)
				}
				if !strings.HasPrefix(c.Name, "iogo-broker-") {
					t.Errorf("Name = %q", c.Name)
				}
				if c.ClusterName != "" || c.ClusterPort != 0 || c.ClusterHost != "" {
					t.Errorf("cluster settings on a standalone node: %+v", c)
				}
			},
		},
		{
			name: "clustered",
			cfg:  Config{Host: "10.1.1.1", Routes: []string{"a:1", "b:1"}},
			want: func(t *testing.T, c Config) {
				if c.ClusterName != DefaultClusterName || c.ClusterPort != DefaultClusterPort || c.ClusterHost != "10.1.1.1" {
					t.Errorf("cluster defaults: %+v", c)
				}
			},
		},
		{
			name: "explicit values kept",
			cfg:  Config{Name: "b1", Port: -1, ClusterName: "x", ClusterHost: "h", ClusterPort: -1, Routes: []string{"a:1"}},
			want: func(t *testing.T, c Config) {
				if c.Name != "b1" || c.Port != -1 || c.ClusterName != "x" || c.ClusterHost != "h" || c.ClusterPort != -1 {
					t.Errorf("explicit values changed: %+v", c)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.want(t, tt.cfg.withDefaults()) })
	}

	// Distinct random names.
	a, b := Config{}.withDefaults(), Config{}.withDefaults()
	if a.Name == b.Name {
		t.Errorf("two default names are equal: %q", a.Name)
	}
}
