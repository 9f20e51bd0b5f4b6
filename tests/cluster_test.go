package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"google.golang.org/protobuf/proto"

	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/proto/iohao"
)

// The cluster tests run every component as its own process on loopback and
// break things the way production does: SIGKILL a broker, roll logic servers
// over, offer more load than a handler can take. Their figures (failed
// requests, time to recovery) are logged and written to
// tests/artifacts/cluster-*.json; docs/BENCHMARKS.md quotes them.

// freePorts returns n distinct free TCP ports on loopback. They are held
// open together so that they differ, then released for the caller.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	ls := make([]net.Listener, n)
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls[i], ports[i] = l, l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// brokerCluster is a NATS cluster of broker processes.
type brokerCluster struct {
	nodes   []*proc
	urls    []string // client URLs, in node order
	monitor []string // NATS monitoring endpoints, in node order
}

// busiest returns the node with the most client connections (NATS
// monitoring /connz): the one whose crash hurts most.
func (bc *brokerCluster) busiest(t *testing.T) int {
	t.Helper()
	best, most := 0, -1
	for i, m := range bc.monitor {
		resp, err := http.Get(m + "/connz")
		if err != nil {
			t.Fatal(err)
		}
		var cz struct {
			NumConns int `json:"num_connections"`
		}
		err = json.NewDecoder(resp.Body).Decode(&cz)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if cz.NumConns > most {
			best, most = i, cz.NumConns
		}
	}
	return best
}

// startBrokers starts an n-node broker cluster (n = 1: a single broker,
// no cluster port): every node gets the full
// route list (itself included) and keeps its JetStream store in a directory
// that outlives a crash, so a restarted node rejoins with its data.
func startBrokers(t *testing.T, n int, extra ...string) *brokerCluster {
	t.Helper()
	ports := freePorts(t, 3*n)
	bc := &brokerCluster{nodes: make([]*proc, n)}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
		bc.urls = append(bc.urls, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
		bc.monitor = append(bc.monitor, fmt.Sprintf("http://127.0.0.1:%d", ports[2*n+i]))
	}
	stores := t.TempDir()
	for i := range n {
		args := []string{"-name", fmt.Sprintf("b%d", i), "-host", "127.0.0.1", "-port", strconv.Itoa(ports[i]),
			"-http-port", strconv.Itoa(ports[2*n+i]), "-store", filepath.Join(stores, strconv.Itoa(i))}
		if n > 1 {
			args = append(args, "-cluster-port", strconv.Itoa(ports[n+i]), "-routes", strings.Join(routes, ","))
		}
		args = append(args, extra...)
		bc.nodes[i] = launch(t, "broker", "broker", args...)
	}
	for _, p := range bc.nodes {
		p.waitReady(t)
	}
	return bc
}

// restart starts node i again with its original flags and store.
func (bc *brokerCluster) restart(t *testing.T, i int) {
	t.Helper()
	bc.nodes[i] = startProc(t, "broker", "broker", bc.nodes[i].args...)
}

// brokers is the -brokers value for services.
func (bc *brokerCluster) brokers() string { return strings.Join(bc.urls, ",") }

// loadStats are the outcomes of a load run, per 100 ms bucket.
type loadStats struct {
	mu      sync.Mutex
	start   time.Time
	ok      []int
	failed  []int
	errs    map[string]int // failure reasons
	maxWait time.Duration
}

const bucket = 100 * time.Millisecond

func (s *loadStats) record(at time.Time, took time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := int(at.Sub(s.start) / bucket)
	for len(s.ok) <= i {
		s.ok, s.failed = append(s.ok, 0), append(s.failed, 0)
	}
	s.maxWait = max(s.maxWait, took)
	if err == nil {
		s.ok[i]++
		return
	}
	s.failed[i]++
	if s.errs == nil {
		s.errs = map[string]int{}
	}
	s.errs[err.Error()]++
}

// totals returns the successful and failed requests.
func (s *loadStats) totals() (ok, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.ok {
		ok, failed = ok+s.ok[i], failed+s.failed[i]
	}
	return ok, failed
}

// rate returns the successful requests per second between two offsets
// from the start.
func (s *loadStats) rate(from, to time.Duration) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := max(0, int(from/bucket)); i < int(to/bucket) && i < len(s.ok); i++ {
		n += s.ok[i]
	}
	return float64(n) / (to - from).Seconds()
}

// recovery returns how long after at the throughput first reached half of
// the rate before at again, measured to the end of the first 100 ms bucket
// that did (so its resolution is one bucket), or -1 if it never did.
func (s *loadStats) recovery(at time.Duration, before float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	need := before / 2 * bucket.Seconds()
	for i := int(at/bucket) + 1; i < len(s.ok); i++ { // the first bucket wholly after at
		if float64(s.ok[i]) >= need {
			return time.Duration(i)*bucket + bucket - at
		}
	}
	return -1
}

// loader drives request/response traffic: each worker is one logged-in
// player on a raw TCP connection, sending its next request when the last
// one is answered.
type loader struct {
	stats  *loadStats
	wg     sync.WaitGroup
	stop   atomic.Bool
	hung   atomic.Int64 // requests with no answer within the client's deadline
	broken atomic.Int64 // connections lost
}

// clientDeadline is how long a load client waits for an answer: far longer
// than the gates' request timeout, so that a request that reaches it hung.
const clientDeadline = ioTimeout

// startLoad logs players in (user IDs from firstUser) spread over the gates
// and starts them sending echo requests until stopLoad.
func startLoad(t *testing.T, gates []string, players int, firstUser int64) *loader {
	t.Helper()
	l := &loader{stats: &loadStats{start: time.Now()}}
	conns := make([]*tcpSpec, players)
	for i := range conns {
		c := dialSpec(t, gates[i%len(gates)]).(*tcpSpec)
		user := firstUser + int64(i)
		if r := request(t, c, cmdModels, subLogin, 1, &iohao.LongValue{Value: user}); r.ResponseStatus != 0 {
			t.Fatalf("login %d: %d %q", user, r.ResponseStatus, r.GetValidMsg())
		}
		conns[i] = c
	}
	l.stats.start = time.Now()
	for i, c := range conns {
		l.wg.Go(func() { l.run(c, int32(i)) })
	}
	return l
}

func (l *loader) run(c *tcpSpec, id int32) {
	text := fmt.Sprintf("p%d", id)
	data, _ := proto.Marshal(&iohao.StringValue{Value: text})
	for msgID := int32(2); !l.stop.Load(); msgID++ {
		began := time.Now()
		err := l.roundTrip(c, msgID, data, text)
		if errors.Is(err, errHung) {
			l.hung.Add(1)
		}
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, errBroken) {
			l.broken.Add(1)
			return
		}
		l.stats.record(time.Now(), time.Since(began), err)
	}
}

var (
	errHung   = errors.New("no answer within the client deadline")
	errBroken = errors.New("connection lost")
)

func (l *loader) roundTrip(c *tcpSpec, msgID int32, data []byte, want string) error {
	req, _ := proto.Marshal(&iohao.ExternalMessage{CmdCode: 1, CmdMerge: cmdModels<<16 | subEcho, MsgId: msgID, Data: data})
	if err := c.sendRaw(req); err != nil {
		return fmt.Errorf("%w: %v", errBroken, err)
	}
	for {
		b, err := c.recvRaw() // its deadline is clientDeadline

		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return errHung
			}
			return fmt.Errorf("%w: %v", errBroken, err)
		}
		var m iohao.ExternalMessage
		if err := proto.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("undecodable envelope: %v", err)
		}
		if m.CmdCode != 1 || m.MsgId != msgID {
			continue // a push or a heartbeat
		}
		if m.ResponseStatus != 0 {
			return fmt.Errorf("status %d %s", m.ResponseStatus, m.GetValidMsg())
		}
		var got iohao.StringValue
		if err := proto.Unmarshal(m.Data, &got); err != nil || got.Value != want {
			return fmt.Errorf("echo %q, want %q (%v)", got.Value, want, err)
		}
		return nil
	}
}

// stopLoad stops the workers and waits for their last requests.
func (l *loader) stopLoad() {
	l.stop.Store(true)
	l.wg.Wait()
}

// report logs the run's figures and writes them to tests/artifacts.
func report(t *testing.T, name string, figures map[string]any) {
	t.Helper()
	b, _ := json.MarshalIndent(figures, "", "  ")
	t.Logf("%s: %s", name, b)
	if err := os.MkdirAll("artifacts", 0o755); err == nil {
		_ = os.WriteFile(filepath.Join("artifacts", name+".json"), append(b, '\n'), 0o644)
	}
}

// TestClusterBrokerFailover kills one of three brokers under load: requests
// keep flowing through the other two, at most 0.1% fail, none hangs, the
// killed node rejoins, and the players' bindings survive.
//
// The brokers require credentials, as outside `iogo dev` they should: the
// gates log in with a user and password (which also guard the cluster
// routes), the logic servers with an nkey.
func TestClusterBrokerFailover(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "logic.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	bc := startBrokers(t, 3, "-user", "gate", "-password", "gate-secret", "-nkeys", pub)
	for i := range 2 {
		startProc(t, "testsvc", "logic", "-brokers", bc.brokers(), "-id", fmt.Sprintf("svc-%d", i), "-nkey-seed", seedFile)
	}
	gates := startGates(t, bc, 2, "-timeout", "2s", "-user", "gate", "-password", "gate-secret")
	const players, firstUser = 40, 5000
	l := startLoad(t, gates, players, firstUser)

	// Steady state, then a crash of the node most components talk to.
	// The failure budget is 0.1% and the kill costs each player at most
	// its request in flight, so the run must hold enough requests however
	// slow a loaded machine makes it: 20,000 before the kill, 100,000 in
	// all (about 12 s on the CI machine).
	const first, total = 20_000, 100_000
	waitFor(t, 60*time.Second, func() bool {
		ok, _ := l.stats.totals()
		return ok >= first && time.Since(l.stats.start) > 3*time.Second
	})
	killAt := time.Since(l.stats.start)
	rateBefore := l.stats.rate(killAt-time.Second, killAt)
	victim := bc.busiest(t)
	bc.nodes[victim].kill()
	waitFor(t, 30*time.Second, func() bool { return time.Since(l.stats.start) > killAt+5*time.Second })
	bc.restart(t, victim)
	waitFor(t, 90*time.Second, func() bool {
		ok, failed := l.stats.totals()
		return time.Since(l.stats.start) > killAt+8*time.Second && ok+failed >= total
	})
	l.stopLoad()

	ok, failed := l.stats.totals()
	rec := l.stats.recovery(killAt, rateBefore)
	report(t, "cluster-failover", map[string]any{
		"players": players, "killed": victim, "ok": ok, "failed": failed, "failed_pct": 100 * float64(failed) / float64(ok+failed),
		"rate_before": rateBefore, "rate_after_kill_2s": l.stats.rate(killAt, killAt+2*time.Second),
		"recovery_ms": rec.Milliseconds(), "max_request_ms": l.stats.maxWait.Milliseconds(),
		"errors": l.stats.errs, "hung": l.hung.Load(), "broken": l.broken.Load(),
	})
	if n := l.broken.Load(); n != 0 {
		t.Errorf("%d player connections lost", n)
	}
	if n := l.hung.Load(); n != 0 {
		t.Errorf("%d requests hung past the client deadline", n)
	}
	if failed*1000 > ok+failed {
		t.Errorf("%d of %d requests failed (> 0.1%%): %v", failed, ok+failed, l.stats.errs)
	}
	if rec < 0 {
		t.Errorf("throughput never came back after the kill (%.0f/s before)", rateBefore)
	}

	// The restarted node is back in the cluster with the framework buckets.
	nc, err := nats.Connect(bc.urls[victim], nats.UserInfo("gate", "gate-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool {
		kv, err := js.KeyValue(deadline(t), fabric.BucketBindings)
		if err != nil {
			return false
		}
		// Every logged-in player's binding names the gate holding it.
		for i := range players {
			e, err := kv.Get(deadline(t), fabric.BindingKey(firstUser+int64(i)))
			if err != nil {
				return false
			}
			var b struct{ Gate string }
			if json.Unmarshal(e.Value(), &b) != nil || b.Gate != fmt.Sprintf("gate-%d", i%len(gates)) {
				t.Logf("user %d binding %s", firstUser+i, e.Value())
				return false
			}
		}
		return true
	})
	if _, err := nats.Connect(bc.urls[victim]); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("connect without credentials: %v, want an authorization error", err)
	}
}

// waitFor polls cond until it holds or total elapses.
func waitFor(t *testing.T, total time.Duration, cond func() bool) {
	t.Helper()
	waitUntil(t, total, func() error {
		if cond() {
			return nil
		}
		return errors.New("condition not met")
	})
}

// startGates starts n externals on TCP against the brokers and returns
// their client URLs.
func startGates(t *testing.T, bc *brokerCluster, n int, extra ...string) []string {
	t.Helper()
	var urls []string
	for i := range n {
		args := append([]string{"-brokers", bc.brokers(), "-id", fmt.Sprintf("gate-%d", i),
			"-ws", "", "-tcp", "127.0.0.1:0", "-rate", "-1"}, extra...)
		urls = append(urls, startProc(t, "external", "external", args...).ready["tcp"])
	}
	return urls
}

// TestClusterRollover replaces the instances of a service under load, the
// way a deployment does: start the new version's instances, then stop the
// old ones with SIGTERM. Not one request may fail.
func TestClusterRollover(t *testing.T) {
	bc := startBrokers(t, 3)
	svc := func(id, version string) *proc {
		return startProc(t, "testsvc", "logic", "-brokers", bc.brokers(), "-id", id, "-version", version)
	}
	old := []*proc{svc("a-1", "1"), svc("a-2", "1")}
	gates := startGates(t, bc, 2)
	const players = 40
	l := startLoad(t, gates, players, 7000)
	waitFor(t, 20*time.Second, func() bool { ok, _ := l.stats.totals(); return ok >= 2000 })

	svc("a-3", "2")
	svc("a-4", "2")
	for _, p := range old {
		p.stop(t) // SIGTERM: drain, finish in flight, deregister, exit 0
	}
	rolled := time.Since(l.stats.start)
	waitFor(t, 30*time.Second, func() bool { return time.Since(l.stats.start) > rolled+2*time.Second })
	l.stopLoad()

	ok, failed := l.stats.totals()
	report(t, "cluster-rollover", map[string]any{
		"players": players, "ok": ok, "failed": failed, "errors": l.stats.errs,
		"max_request_ms": l.stats.maxWait.Milliseconds(), "hung": l.hung.Load(), "broken": l.broken.Load(),
	})
	if failed != 0 || l.hung.Load() != 0 || l.broken.Load() != 0 {
		t.Errorf("rollover: %d failed %v, %d hung, %d connections lost; want none", failed, l.stats.errs, l.hung.Load(), l.broken.Load())
	}
	c := dialSpec(t, gates[0])
	for i := range 20 {
		var id iohao.StringValue
		decode(t, request(t, c, cmdBasics, 0, int32(i+1), &iohao.StringValue{}), &id)
		if id.Value != "a-3" && id.Value != "a-4" {
			t.Fatalf("served by %q after the rollover", id.Value)
		}
	}
}

// TestClusterOverload offers three times what a handler can serve for 10 s,
// without waiting for answers: every request must still get an answer (its
// response or an error code, never silence), and once the load stops, the
// latency returns to what it was before.
func TestClusterOverload(t *testing.T) {
	bc := startBrokers(t, 1)
	startProc(t, "testsvc", "logic", "-brokers", bc.brokers(), "-id", "slow-1")
	gates := startGates(t, bc, 1, "-timeout", "2s")

	const (
		work     = 5                         // ms per request: 200 requests/s
		players  = 30                        // each sending every 50 ms: 600 requests/s, 3× capacity
		every    = 50 * time.Millisecond     //
		duration = 10 * time.Second          //
		settle   = 2*time.Second + ioTimeout // gate timeout, then slack
	)
	slow, _ := proto.Marshal(&iohao.IntValue{Value: work})
	latency := func(n int) time.Duration { // median of n sequential requests from a fresh player
		c := dialSpec(t, gates[0])
		var took []time.Duration
		for i := range n {
			began := time.Now()
			if r := request(t, c, cmdBasics, subSlow, int32(i+1), &iohao.IntValue{Value: work}); r.ResponseStatus != 0 {
				t.Fatalf("request %d after the overload: %d %q", i, r.ResponseStatus, r.GetValidMsg())
			}
			took = append(took, time.Since(began))
		}
		slices.Sort(took)
		return took[n/2]
	}
	before := latency(20)

	var (
		mu      sync.Mutex
		codes   = map[string]int{}
		sent    atomic.Int64
		answers atomic.Int64
		wg      sync.WaitGroup
	)
	stop := make(chan struct{})
	for p := range players {
		c := dialSpec(t, gates[0]).(*tcpSpec)
		var mine atomic.Int64 // requests this player sent
		wg.Go(func() {        // writer: a fixed pace, whatever comes back
			tick := time.NewTicker(every)
			defer tick.Stop()
			for id := int32(1); ; id++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				m, _ := proto.Marshal(&iohao.ExternalMessage{CmdCode: 1, CmdMerge: cmdBasics<<16 | subSlow, MsgId: id, Data: slow})
				if err := c.sendRaw(m); err != nil {
					t.Errorf("player %d: %v", p, err)
					return
				}
				mine.Add(1)
				sent.Add(1)
			}
		})
		wg.Go(func() { // reader: counts answers until every sent request has one
			seen := map[int32]bool{}
			for {
				select {
				case <-stop:
					if int64(len(seen)) >= mine.Load() {
						return
					}
				default:
				}
				b, err := c.recvRaw()
				if err != nil {
					t.Errorf("player %d: %d of %d answered: %v", p, len(seen), mine.Load(), err)
					return
				}
				var m iohao.ExternalMessage
				if proto.Unmarshal(b, &m) != nil || m.CmdCode != 1 || seen[m.MsgId] {
					t.Errorf("player %d: bad or duplicate answer %v", p, &m)
					continue
				}
				seen[m.MsgId] = true
				answers.Add(1)
				mu.Lock()
				codes[fmt.Sprintf("%d %s", m.ResponseStatus, m.GetValidMsg())]++
				mu.Unlock()
				select {
				case <-stop:
					if int64(len(seen)) >= mine.Load() {
						return
					}
				default:
				}
			}
		})
	}
	overloadEnds := time.Now().Add(duration)
	waitFor(t, duration+10*time.Second, func() bool { return time.Now().After(overloadEnds) })
	close(stop)
	waitFor(t, settle, func() bool { return answers.Load() >= sent.Load() })
	wg.Wait()
	after := latency(20)

	mu.Lock()
	defer mu.Unlock()
	report(t, "cluster-overload", map[string]any{
		"offered_per_s": float64(sent.Load()) / duration.Seconds(), "capacity_per_s": 1000 / work,
		"sent": sent.Load(), "answered": answers.Load(), "answers": codes,
		"median_before_ms": before.Seconds() * 1000, "median_after_ms": after.Seconds() * 1000,
	})
	if answers.Load() != sent.Load() {
		t.Fatalf("%d requests sent, %d answered", sent.Load(), answers.Load())
	}
	if codes["0 "] == 0 || codes["0 "] == int(sent.Load()) {
		t.Fatalf("answers %v: want some served and some refused under 3× load", codes)
	}
}

// TestClusterLogicBeforeBroker starts a logic server 5 s before any broker
// exists: it waits, then serves once the broker is up, and at no time does
// it listen on a port of its own.
func TestClusterLogicBeforeBroker(t *testing.T) {
	port := freePorts(t, 1)[0]
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	launched := time.Now()
	early := launch(t, "testsvc", "logic", "-brokers", url, "-id", "early")
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(early.log(), "waiting for one") })
	waitFor(t, 10*time.Second, func() bool { return time.Since(launched) >= 5*time.Second }) // the scenario: 5 s without a broker

	startProc(t, "broker", "broker", "-host", "127.0.0.1", "-port", strconv.Itoa(port), "-store", t.TempDir())
	brokerReady := time.Now()
	early.waitReady(t)
	serving := time.Since(brokerReady)

	gate := startProc(t, "external", "external", "-brokers", url, "-ws", "", "-tcp", "127.0.0.1:0")
	c := dialSpec(t, gate.ready["tcp"])
	var id iohao.StringValue
	if decode(t, request(t, c, cmdBasics, 0, 1, &iohao.StringValue{}), &id); id.Value != "early" {
		t.Fatalf("served by %q", id.Value)
	}
	listening, err := listeningSockets(early.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	report(t, "cluster-logic-before-broker", map[string]any{
		"serving_after_broker_ready_ms": serving.Milliseconds(), "listening_sockets": listening,
	})
	if len(listening) != 0 {
		t.Fatalf("the logic server listens on %v", listening)
	}
}

// listeningSockets returns the TCP sockets in LISTEN state and the unbound
// or bound-but-unconnected UDP sockets of process pid, from /proc, as
// "tcp 127.0.0.1:4222"-style strings. It is `ss -ltnup` for one process.
func listeningSockets(pid int) ([]string, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []struct{ file, proto, state string }{
		{"tcp", "tcp", "0A"}, {"tcp6", "tcp6", "0A"}, // LISTEN
		{"udp", "udp", "07"}, {"udp6", "udp6", "07"}, // UDP "CLOSE": not connected, receives from anyone
	} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table.file))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && f[3] == table.state && inodes[f[9]] {
				out = append(out, table.proto+" "+f[1])
			}
		}
	}
	return out, nil
}
