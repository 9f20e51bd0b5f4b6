package stats

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Micro service layout.
const (
	// MetaInstance is the micro service metadata key naming the iogo
	// instance; Gather keeps only services that have it.
	MetaInstance = "iogo.instance"
	// Endpoint is the name of the micro endpoint answering with the
	// Snapshot; its STATS data is the Snapshot too.
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
	if semver.MatchString(version) {
		version = strings.TrimPrefix(version, "v")
	} else {
		version = "0.0.0"
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:               service,
		Version:            version,
		Description:        "iogo logic service " + service,
		Metadata:           map[string]string{MetaInstance: instance},
		QueueGroupDisabled: true,
		StatsHandler:       func(*micro.Endpoint) any { return snap() },
	})
	if err != nil {
		return nil, fmt.Errorf("stats: micro service %s: %w", service, err)
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
	return svc, nil
}
