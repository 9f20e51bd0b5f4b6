package stats

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Micro service layout.
const (
	// MetaInstance is the micro service metadata key naming the iogo
	// instance (a logic server's instance ID, a gate's ID); Gather keeps
	// only services that have it.
	MetaInstance = "iogo.instance"
	// MetaKind is the metadata key saying what an iogo micro service is:
	// KindLogic (also assumed when absent) or KindGate.
	MetaKind  = "iogo.kind"
	KindLogic = "logic"
	KindGate  = "gate"
	// Endpoint is the name of the micro endpoint answering with the
	// Snapshot (GateSnapshot for a gate); its STATS data is the same.
	Endpoint = "stats"
	// SubjectPrefix prefixes the stats endpoint's subject, one per
	// instance: iogo.stats.<instance>.
	SubjectPrefix = "iogo.stats."
)

var semver = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// Register registers a logic server as a NATS micro service named service
// on nc, with the stats endpoint (iogo.stats.<instance>) answering snap().
// version must be SemVer for micro; anything else is reported as 0.0.0.
// Stop the returned service before closing nc.
func Register(nc *nats.Conn, service, instance, version string, snap func() Snapshot) (micro.Service, error) {
	return register(nc, service, "iogo logic service "+service, instance, KindLogic, version,
		func() any { return snap() })
}

// RegisterGate registers an external server as an instance of the micro
// service GateService on nc, with the stats endpoint
// (iogo.stats.<gate>) answering snap(). Stop the returned service before
// closing nc.
func RegisterGate(nc *nats.Conn, gate, version string, snap func() GateSnapshot) (micro.Service, error) {
	return register(nc, GateService, "iogo external server (gate)", gate, KindGate, version,
		func() any { return snap() })
}

func register(nc *nats.Conn, name, desc, instance, kind, version string, snap func() any) (micro.Service, error) {
	if semver.MatchString(version) {
		version = strings.TrimPrefix(version, "v")
	} else {
		version = "0.0.0"
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:               name,
		Version:            version,
		Description:        desc,
		Metadata:           map[string]string{MetaInstance: instance, MetaKind: kind},
		QueueGroupDisabled: true,
		StatsHandler:       func(*micro.Endpoint) any { return snap() },
	})
	if err != nil {
		return nil, fmt.Errorf("stats: micro service %s: %w", name, err)
	}
	err = svc.AddEndpoint(Endpoint, micro.HandlerFunc(func(r micro.Request) {
		data, err := json.Marshal(snap())
		if err != nil {
			_ = r.Error("500", err.Error(), nil)
			return
		}
		_ = r.Respond(data)
	}), micro.WithEndpointSubject(SubjectPrefix+instance), micro.WithEndpointQueueGroupDisabled())
	if err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("stats: micro endpoint: %w", err)
	}
	// Once Register returns, the broker knows the subscriptions, so a
	// request from another connection reaches the service. While nc is
	// reconnecting the flush waits for the reconnect, at most a second;
	// the client sends the subscriptions on reconnect anyway.
	_ = nc.FlushTimeout(time.Second)
	return svc, nil
}
