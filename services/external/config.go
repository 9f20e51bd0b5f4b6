package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/iogo-dev/iogo/pkg/external"
	"github.com/iogo-dev/iogo/pkg/fabric"
	"github.com/iogo-dev/iogo/pkg/svcmain/svcbase"
	"github.com/iogo-dev/iogo/pkg/wire"
)

// envPrefix prefixes the environment variable of every flag: -max-frame is
// IOGO_EXTERNAL_MAX_FRAME.
const envPrefix = "IOGO_EXTERNAL_"

// settings is what the command line and environment configure.
type settings struct {
	cfg      external.Config
	logLevel slog.Level
}

// parseArgs reads flags from args over defaults taken from the environment
// (lookupEnv, as os.LookupEnv): a flag beats its variable, which beats the
// built-in default. A variable set to "" counts, so IOGO_EXTERNAL_WS=
// turns WebSocket off. Usage and errors go to errOut.
func parseArgs(args []string, lookupEnv func(string) (string, bool), errOut io.Writer) (settings, error) {
	var (
		s        settings
		brokers  string
		logLevel string
		proxies  string
	)
	fs := flag.NewFlagSet("external", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.StringVar(&brokers, "brokers", "nats://127.0.0.1:4222", "comma-separated NATS broker URLs")
	fs.StringVar(&s.cfg.WSAddr, "ws", ":10100", `WebSocket listen address; "" disables WebSocket`)
	fs.StringVar(&s.cfg.TCPAddr, "tcp", "", `TCP listen address; "" disables TCP`)
	fs.StringVar(&s.cfg.KCPAddr, "kcp", "", `KCP (UDP) listen address; "" disables KCP`)
	fs.StringVar(&s.cfg.KCPMode, "kcp-mode", external.KCPFast, "KCP mode: fast or normal")
	fs.BoolVar(&s.cfg.KCPPlain, "kcp-plain", false,
		"serve plain KCP clients, without the cookie handshake: exposes the gate as a UDP reflection amplifier and players to session hijack by spoofed datagrams")
	fs.StringVar(&s.cfg.MetricsAddr, "metrics", "", `Prometheus /metrics listen address (gate sessions, pending requests); "" = off`)
	fs.StringVar(&s.cfg.ID, "id", "", "gate instance ID, a NATS subject token (default random)")
	fs.StringVar(&s.cfg.Codec, "codec", wire.NameProtobuf, "default codec: protobuf or json")
	fs.IntVar(&s.cfg.MaxFrame, "max-frame", wire.DefaultMaxFrame, "largest client envelope in bytes")
	fs.DurationVar(&s.cfg.RequestTimeout, "timeout", external.DefaultRequestTimeout, "request timeout")
	fs.DurationVar(&s.cfg.IdleTimeout, "idle", external.DefaultIdleTimeout,
		"close a connection silent this long, after sending it -1003; negative disables")
	fs.Float64Var(&s.cfg.RateLimit, "rate", external.DefaultRateLimit,
		"requests per second per connection; more are answered -1000 \"rate limited\"; negative disables")
	fs.IntVar(&s.cfg.RateBurst, "rate-burst", 0, "requests a connection may send at once above -rate (default: 2 × -rate, rounded up)")
	fs.Float64Var(&s.cfg.RateCeiling, "rate-ceiling", 0,
		"requests per second per connection above which it is closed (default: 10 × -rate); negative disables")
	fs.DurationVar(&s.cfg.HandshakeTimeout, "handshake-timeout", external.DefaultHandshakeTimeout,
		"close a connection that has not finished its WebSocket upgrade, or sent its first TCP/KCP frame, "+
			"or its PROXY header, within this; negative disables")
	fs.IntVar(&s.cfg.MaxConnsPerAddr, "max-conns-per-addr", 0,
		"most connections one client address (an IPv6 /64) may hold, all transports together; 0 = no limit")
	fs.StringVar(&proxies, "trusted-proxies", "",
		"comma-separated IPs/CIDRs of proxies whose PROXY protocol header (TCP, WebSocket) or "+
			"X-Forwarded-For/X-Real-IP (WebSocket) names the client; \"\" = trust none")
	auth := svcbase.BrokerAuth(fs)
	security := securityFlags(fs, &s.cfg) // security.go
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	svcbase.AnnotateEnv(fs, envPrefix)
	fs.Usage = func() {
		fmt.Fprintf(errOut, "Usage: external [flags]\n\nThe iogo external server (gate). Every flag "+
			"can also be set by the environment variable shown; the flag wins.\n\n")
		fs.PrintDefaults()
	}
	if err := svcbase.ParseFlags(fs, envPrefix, args, lookupEnv); err != nil {
		return s, err
	}
	s.cfg.Brokers = svcbase.SplitList(brokers)
	s.cfg.TrustedProxies = svcbase.SplitList(proxies)
	authOpts, err := auth()
	if err != nil {
		return s, err
	}
	// The gate role's inbox prefix: a broker with per-role users answers
	// a gate there only.
	s.cfg.NATSOptions = append(s.cfg.NATSOptions, svcbase.RoleOption(fabric.RoleGate))
	s.cfg.NATSOptions = append(s.cfg.NATSOptions, authOpts...)
	if err := security(); err != nil {
		return s, err
	}
	if len(s.cfg.Brokers) == 0 {
		return s, fmt.Errorf("no broker URL in -brokers %q", brokers)
	}
	if err := s.logLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return s, fmt.Errorf("-log-level: %w", err)
	}
	return s, s.cfg.Validate()
}

// readyLine is the one line printed to stdout once the server serves:
// "iogo external ready ws=ws://ADDR/PATH tcp=tcp://ADDR kcp=kcp://ADDR",
// each key present only when its transport is on. An unspecified listen
// host (":10100") is shown as 127.0.0.1, so the URLs can be dialed as
// printed.
func readyLine(ws, tcp, kcp net.Addr, wsPath string) string {
	var kv []string
	if ws != nil {
		kv = append(kv, "ws", "ws://"+svcbase.Dialable(ws)+wsPath)
	}
	if tcp != nil {
		kv = append(kv, "tcp", "tcp://"+svcbase.Dialable(tcp))
	}
	if kcp != nil {
		kv = append(kv, "kcp", "kcp://"+svcbase.Dialable(kcp))
	}
	return svcbase.ReadyLine("external", kv...)
}
