package broker_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/iogo-dev/iogo/pkg/broker"
	"github.com/iogo-dev/iogo/pkg/fabric"
)

func TestStartTCPAndInProcess(t *testing.T) {
	b := startBroker(t, localConfig())

	url := b.ClientURL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || strings.HasSuffix(url, ":4222") || strings.HasSuffix(url, ":-1") {
		t.Fatalf("ClientURL = %q, want nats://127.0.0.1:<random port>", url)
	}
	if got := b.ClusterURL(); got != "" {
		t.Errorf("ClusterURL = %q, want \"\" for a standalone node", got)
	}
	if b.Server() == nil || !b.Server().Running() {
		t.Fatal("Server() is not a running server")
	}

	tcp, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect over TCP: %v", err)
	}
	defer tcp.Close()
	inproc, err := b.InProcessConn()
	if err != nil {
		t.Fatalf("InProcessConn: %v", err)
	}
	defer inproc.Close()

	tests := []struct {
		name     string
		pub, sub *nats.Conn
	}{
		{"tcp to in-process", tcp, inproc},
		{"in-process to tcp", inproc, tcp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.sub.SubscribeSync("test.hello")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Unsubscribe()
			if err := tt.sub.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := tt.pub.Publish("test.hello", []byte(tt.name)); err != nil {
				t.Fatal(err)
			}
			m, err := s.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("NextMsg: %v", err)
			}
			if string(m.Data) != tt.name {
				t.Errorf("got %q, want %q", m.Data, tt.name)
			}
		})
	}
}

func TestBuckets(t *testing.T) {
	b := startBroker(t, localConfig())
	nc, err := b.InProcessConn()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	if got := b.Replicas(); got != 1 {
		t.Errorf("Replicas() = %d, want 1", got)
	}
	checkBuckets(ctx, t, js, 1)

	// Idempotent: a second EnsureBuckets changes nothing and keeps data.
	kv, err := js.KeyValue(ctx, fabric.BucketBindings)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "u1", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := broker.EnsureBuckets(ctx, js, 1); err != nil {
		t.Fatalf("EnsureBuckets again: %v", err)
	}
	e, err := kv.Get(ctx, "u1")
	if err != nil || string(e.Value()) != "v" {
		t.Fatalf("value after EnsureBuckets: %v, %v", e, err)
	}
	checkBuckets(ctx, t, js, 1)
}

// checkBuckets checks that every framework bucket exists with the given
// replica count and its expected settings.
func checkBuckets(ctx context.Context, t *testing.T, js jetstream.JetStream, replicas int) {
	t.Helper()
	for _, name := range fabric.Buckets() {
		kv, err := js.KeyValue(ctx, name)
		if err != nil {
			t.Errorf("bucket %s: %v", name, err)
			continue
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Errorf("bucket %s status: %v", name, err)
			continue
		}
		info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
		if info.Config.Replicas != replicas {
			t.Errorf("bucket %s: replicas %d, want %d", name, info.Config.Replicas, replicas)
		}
		wantTTL := time.Duration(0)
		if name == fabric.BucketServices {
			wantTTL = broker.ServicesTTL
			if st.LimitMarkerTTL() != broker.ServicesTTL {
				t.Errorf("bucket %s: limit marker TTL %v, want %v", name, st.LimitMarkerTTL(), broker.ServicesTTL)
			}
		}
		if st.TTL() != wantTTL {
			t.Errorf("bucket %s: TTL %v, want %v", name, st.TTL(), wantTTL)
		}
	}
}

func TestDontListen(t *testing.T) {
	cfg := localConfig()
	cfg.DontListen = true
	b := startBroker(t, cfg)
	if got := b.ClientURL(); got != "" {
		t.Errorf("ClientURL = %q, want \"\" with DontListen", got)
	}
	nc, err := b.InProcessConn()
	if err != nil {
		t.Fatalf("InProcessConn: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, fabric.BucketServices)
	if err != nil {
		t.Fatalf("services bucket: %v", err)
	}
	if _, err := kv.Put(ctx, "inst1", []byte("alive")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	e, err := kv.Get(ctx, "inst1")
	if err != nil || string(e.Value()) != "alive" {
		t.Fatalf("Get: %v, %v", e, err)
	}
}

func TestDisableJetStream(t *testing.T) {
	cfg := localConfig()
	cfg.DisableJetStream = true
	b := startBroker(t, cfg)
	if b.Server().JetStreamEnabled() {
		t.Error("JetStream enabled")
	}
	if b.Replicas() != 0 {
		t.Errorf("Replicas() = %d, want 0", b.Replicas())
	}
}

func TestLifecycle(t *testing.T) {
	var nilBroker *broker.Broker
	if err := nilBroker.Shutdown(t.Context()); err != nil {
		t.Errorf("nil Shutdown: %v", err)
	}

	t.Run("never started", func(t *testing.T) {
		b, err := broker.New(localConfig())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.InProcessConn(); !errors.Is(err, broker.ErrNotStarted) {
			t.Errorf("InProcessConn before Start: %v, want ErrNotStarted", err)
		}
		if b.ClientURL() != "" || b.Server() != nil {
			t.Error("URL or server before Start")
		}
		shutdown(t, b)
		shutdown(t, b)
		if err := b.Start(t.Context()); !errors.Is(err, broker.ErrClosed) {
			t.Errorf("Start after Shutdown: %v, want ErrClosed", err)
		}
	})

	t.Run("started", func(t *testing.T) {
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp)
		b, err := broker.New(localConfig())
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := b.Start(t.Context()); !errors.Is(err, broker.ErrAlreadyStarted) {
			t.Errorf("second Start: %v, want ErrAlreadyStarted", err)
		}
		srv := b.Server()
		if n := len(dirEntries(t, tmp)); n != 1 {
			t.Fatalf("%d entries in TMPDIR, want the temporary store", n)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { shutdown(t, b) })
		}
		wg.Wait()
		if srv.Running() {
			t.Error("server still running after Shutdown")
		}
		if left := dirEntries(t, tmp); len(left) != 0 {
			t.Errorf("temporary store not removed: %v", left)
		}
		if _, err := b.InProcessConn(); !errors.Is(err, broker.ErrClosed) {
			t.Errorf("InProcessConn after Shutdown: %v, want ErrClosed", err)
		}
	})

	t.Run("own store kept", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "js")
		cfg := localConfig()
		cfg.StoreDir = dir
		b, err := broker.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		shutdown(t, b)
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("configured store dir removed: %v", err)
		}
	})
}

func TestRun(t *testing.T) {
	b, err := broker.New(localConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- b.Run(ctx) }()
	waitFor(t, startTimeout, func() error {
		if b.Replicas() == 0 {
			return errors.New("not ready")
		}
		return nil
	})
	nc, err := nats.Connect(b.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
	if b.Server().Running() {
		t.Error("server running after Run returned")
	}
}

func TestStartFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	unused := freePorts(t, 2)
	storeFile := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(storeFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		cfg     broker.Config
		timeout time.Duration
		wantCtx bool // want a context error rather than a server error
	}{
		{
			name:    "client port in use",
			cfg:     broker.Config{Host: "127.0.0.1", Port: busyPort},
			timeout: startTimeout,
		},
		{
			name:    "monitor port in use",
			cfg:     broker.Config{Host: "127.0.0.1", Port: -1, HTTPPort: busyPort},
			timeout: startTimeout,
		},
		{
			name:    "store is a file",
			cfg:     broker.Config{Host: "127.0.0.1", Port: -1, StoreDir: storeFile},
			timeout: startTimeout,
		},
		{
			name: "cluster without quorum",
			cfg: broker.Config{
				Host: "127.0.0.1", Port: -1, ClusterPort: -1,
				Routes: []string{
					"nats-route://127.0.0.1:" + itoa(unused[0]),
					"nats-route://127.0.0.1:" + itoa(unused[1]),
				},
			},
			timeout: 300 * time.Millisecond,
			wantCtx: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			b, err := broker.New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), tt.timeout)
			defer cancel()
			begin := time.Now()
			err = b.Start(ctx)
			if err == nil {
				shutdown(t, b)
				t.Fatal("Start succeeded")
			}
			if got := errors.Is(err, context.DeadlineExceeded); got != tt.wantCtx {
				t.Errorf("Start error %v: deadline exceeded = %v, want %v", err, got, tt.wantCtx)
			}
			t.Logf("Start failed after %v: %v", time.Since(begin).Round(time.Millisecond), err)
			srv := b.Server()
			if srv == nil {
				t.Fatal("no server")
			}
			if srv.Running() {
				t.Error("server still running after a failed Start")
			}
			if left := dirEntries(t, tmp); len(left) != 0 {
				t.Errorf("temporary store not removed: %v", left)
			}
			if err := b.Start(t.Context()); !errors.Is(err, broker.ErrClosed) {
				t.Errorf("Start after failure: %v, want ErrClosed", err)
			}
			shutdown(t, b)
		})
	}
}

func TestAuth(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	seedFile := filepath.Join(t.TempDir(), "svc.nk")
	otherFile := filepath.Join(t.TempDir(), "other.nk")
	if os.WriteFile(seedFile, seed, 0o600) != nil || os.WriteFile(otherFile, otherSeed, 0o600) != nil {
		t.Fatal("writing seeds")
	}
	nkeyOpt := func(file string) nats.Option {
		opt, err := nats.NkeyOptionFromSeed(file)
		if err != nil {
			t.Fatal(err)
		}
		return opt
	}
	cfg := localConfig()
	cfg.User, cfg.Password = "svc", "s3cret"
	cfg.NKeys = []string{pub}
	b := startBroker(t, cfg)

	tests := []struct {
		name    string
		opts    []nats.Option
		wantErr error
	}{
		{"no credentials", nil, nats.ErrAuthorization},
		{"wrong password", []nats.Option{nats.UserInfo("svc", "nope")}, nats.ErrAuthorization},
		{"right credentials", []nats.Option{nats.UserInfo("svc", "s3cret")}, nil},
		{"the internal user's name", []nats.Option{nats.UserInfo("iogo-internal", "")}, nats.ErrAuthorization},
		{"allowed nkey", []nats.Option{nkeyOpt(seedFile)}, nil},
		{"unknown nkey", []nats.Option{nkeyOpt(otherFile)}, nats.ErrAuthorization},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := nats.Connect(b.ClientURL(), tt.opts...)
			if nc != nil {
				defer nc.Close()
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Connect: %v, want %v", err, tt.wantErr)
			}
		})
	}

	nc, err := b.InProcessConn()
	if err != nil {
		t.Fatalf("InProcessConn with auth: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.KeyValue(t.Context(), fabric.BucketRoutes); err != nil {
		t.Errorf("routes bucket through an authenticated connection: %v", err)
	}
}

func TestMonitor(t *testing.T) {
	cfg := localConfig()
	cfg.HTTPPort = -1
	b := startBroker(t, cfg)
	u := b.MonitorURL()
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Fatalf("MonitorURL = %q", u)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := client.Get(u + "/jsz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "streams") {
		t.Errorf("/jsz: %s %s", resp.Status, body)
	}
}

func TestReplicasFor(t *testing.T) {
	tests := []struct {
		name string
		size int
		want int
	}{
		{"zero", 0, 1}, {"single", 1, 1}, {"two", 2, 2}, {"three", 3, 3}, {"five", 5, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := broker.ReplicasFor(tt.size); got != tt.want {
				t.Errorf("ReplicasFor(%d) = %d, want %d", tt.size, got, tt.want)
			}
		})
	}
}

func TestShutdownDuringStart(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	unused := freePorts(t, 2)
	// A node whose cluster cannot form waits in Start until shut down.
	b, err := broker.New(broker.Config{
		Host: "127.0.0.1", Port: -1, ClusterPort: -1,
		Routes: []string{"127.0.0.1:" + itoa(unused[0]), "127.0.0.1:" + itoa(unused[1])},
	})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- b.Start(t.Context()) }()
	waitFor(t, 10*time.Second, func() error {
		if b.ClientURL() == "" {
			return errors.New("not listening yet")
		}
		return nil
	})
	shutdown(t, b)
	select {
	case err := <-errc:
		if !errors.Is(err, broker.ErrClosed) {
			t.Errorf("Start: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Start still running after Shutdown")
	}
	if left := dirEntries(t, tmp); len(left) != 0 {
		t.Errorf("temporary store not removed: %v", left)
	}
}
