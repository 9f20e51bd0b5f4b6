package broker

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/stats"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// dashboardFS holds the dashboard's single self-contained page.
//
//go:embed dashboard/index.html
var dashboardFS embed.FS

// EnvTraceURL is the environment variable giving Config.TraceURL its
// default.
const EnvTraceURL = "IOGO_TRACE_URL"

// Cluster is the JSON document served at /api/cluster on MetricsAddr.
type Cluster struct {
	Time     time.Time        `json:"time"`
	Brokers  []BrokerNode     `json:"brokers"`
	Services []ServiceView    `json:"services"`
	Routes   []registry.Route `json:"routes"`
	// Gates are the external servers' STATS (micro service
	// stats.GateService): each gate with its connection counts.
	Gates []stats.GateSnapshot `json:"gates"`
	// Stats are the logic servers' STATS ($SRV.STATS), as /metrics reads them.
	Stats []stats.Snapshot `json:"stats"`
	// TraceURL is Config.TraceURL: a trace UI's URL with {traceID} in
	// place of the trace ID; "" when there is none.
	TraceURL string `json:"traceURL,omitempty"`
	// Errors lists the parts that could not be read.
	Errors []string `json:"errors,omitempty"`
}

// BrokerNode is one broker node: this one, then its cluster routes.
type BrokerNode struct {
	Name        string   `json:"name"`
	ID          string   `json:"id,omitempty"`
	URLs        []string `json:"urls,omitempty"`
	Connections int      `json:"connections"`
	Uptime      string   `json:"uptime,omitempty"`
	// JetStream reports the node's JetStream state ("" for a route peer).
	JetStream   string `json:"jetstream,omitempty"`
	MetaLeader  string `json:"metaLeader,omitempty"`
	ClusterSize int    `json:"clusterSize,omitempty"`
	Local       bool   `json:"local"`
}

// ServiceView is one logic service with its live instances.
type ServiceView struct {
	Name      string         `json:"name"`
	Instances []InstanceView `json:"instances"`
}

// InstanceView is a logic-server instance, without its descriptors.
type InstanceView struct {
	ID      string    `json:"id"`
	Version string    `json:"version,omitempty"`
	Started time.Time `json:"started"`
	Routes  []string  `json:"routes"` // "cmd-sub"
}

// dashboard serves the page and its API from the metrics listener.
type dashboard struct {
	srv      func() *server.Server
	nc       *nats.Conn
	traceURL string
}

// register adds the dashboard's handlers to mux.
func (d *dashboard) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", d.page)
	mux.HandleFunc("GET /api/cluster", d.api)
}

func (d *dashboard) page(w http.ResponseWriter, _ *http.Request) {
	b, err := dashboardFS.ReadFile("dashboard/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

func (d *dashboard) api(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	c := d.cluster(ctx)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(c)
}

// cluster gathers the dashboard's document; parts that fail are reported
// in Errors rather than failing the whole.
func (d *dashboard) cluster(ctx context.Context) Cluster {
	c := Cluster{
		Time:     time.Now().UTC(),
		Brokers:  []BrokerNode{},
		Services: []ServiceView{},
		Routes:   []registry.Route{},
		Gates:    []stats.GateSnapshot{},
		Stats:    []stats.Snapshot{},
		TraceURL: d.traceURL,
	}
	fail := func(part string, err error) { c.Errors = append(c.Errors, fmt.Sprintf("%s: %v", part, err)) }
	if srv := d.srv(); srv != nil {
		c.Brokers = brokerNodes(srv, fail)
	}
	js, err := jetstream.New(d.nc)
	if err != nil {
		fail("jetstream", err)
	} else if reg, err := registry.Open(ctx, js); err != nil {
		fail("registry", err)
	} else {
		if routes, err := reg.Routes(ctx); err != nil {
			fail("routes", err)
		} else {
			slices.SortFunc(routes, func(a, b registry.Route) int { return int(a.Merge() - b.Merge()) })
			c.Routes = routes
		}
		if ins, err := reg.Instances(ctx); err != nil {
			fail("instances", err)
		} else {
			c.Services = services(ins)
		}
	}
	all, err := stats.GatherAll(ctx, d.nc)
	if err != nil && ctx.Err() == nil {
		fail("stats", err)
	}
	if all.Logic != nil {
		c.Stats = all.Logic
	}
	if all.Gates != nil {
		c.Gates = all.Gates
	}
	return c
}

// brokerNodes reads Varz, Jsz and Routez of the embedded server.
func brokerNodes(srv *server.Server, fail func(string, error)) []BrokerNode {
	local := BrokerNode{Name: srv.Name(), ID: srv.ID(), Local: true}
	if u := srv.ClientURL(); u != "" {
		local.URLs = append(local.URLs, u)
	}
	if v, err := srv.Varz(nil); err != nil {
		fail("varz", err)
	} else {
		local.Connections = v.Connections
		local.Uptime = v.Uptime
		if v.Cluster.Name != "" && len(v.Cluster.URLs) > 0 {
			local.URLs = append(local.URLs, v.Cluster.URLs...)
		}
	}
	if j, err := srv.Jsz(&server.JSzOptions{}); err != nil {
		local.JetStream = "error: " + err.Error()
	} else if j.Disabled {
		local.JetStream = "disabled"
	} else {
		local.JetStream = "ok"
		if j.Meta != nil {
			local.MetaLeader = j.Meta.Leader
			local.ClusterSize = j.Meta.Size
			if j.Meta.Leader == "" {
				local.JetStream = "no meta leader"
			}
		}
	}
	nodes := []BrokerNode{local}
	if rz, err := srv.Routez(nil); err != nil {
		fail("routez", err)
	} else {
		seen := map[string]bool{}
		for _, ri := range rz.Routes {
			name := ri.RemoteName
			if name == "" {
				name = ri.RemoteID
			}
			if seen[name] {
				continue // one entry per peer, not per pooled route
			}
			seen[name] = true
			n := BrokerNode{Name: name, ID: ri.RemoteID}
			if ri.IP != "" {
				n.URLs = []string{fmt.Sprintf("nats-route://%s:%d", ri.IP, ri.Port)}
			}
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// services groups instances by service, sorted by name.
func services(ins []registry.Instance) []ServiceView {
	by := map[string]*ServiceView{}
	for _, in := range ins {
		sv := by[in.Service]
		if sv == nil {
			sv = &ServiceView{Name: in.Service}
			by[in.Service] = sv
		}
		iv := InstanceView{ID: in.ID, Version: in.Version, Started: in.Started, Routes: []string{}}
		for _, m := range in.Routes {
			iv.Routes = append(iv.Routes, fmt.Sprintf("%d-%d", m>>16, m&0xffff))
		}
		sv.Instances = append(sv.Instances, iv)
	}
	out := make([]ServiceView, 0, len(by))
	for _, sv := range by {
		slices.SortFunc(sv.Instances, func(a, b InstanceView) int { return strings.Compare(a.ID, b.ID) })
		out = append(out, *sv)
	}
	slices.SortFunc(out, func(a, b ServiceView) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// DashboardURL returns the URL of the dashboard, or "" when MetricsAddr is
// off or before Start.
func (b *Broker) DashboardURL() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.metrics == nil {
		return ""
	}
	return "http://" + b.metrics.ln.Addr().String() + "/"
}
