package stats

import "time"

// GateService is the micro service name every external server (gate)
// registers under; its instances are told apart by MetaInstance.
const GateService = "iogo-gate"

// GateSnapshot is the state of one external server, as published in its
// micro service's STATS data and on its stats endpoint.
type GateSnapshot struct {
	Gate    string    `json:"gate"`
	Time    time.Time `json:"time"`
	Started time.Time `json:"started"`
	// Addrs are the listen addresses by transport ("ws", "tcp", "kcp").
	Addrs map[string]string `json:"addrs,omitempty"`
	// Sessions counts the open client connections by transport; Users
	// the logged-in users among them.
	Sessions map[string]int64 `json:"sessions"`
	Users    int64            `json:"users"`
	// Pending counts the requests forwarded and not yet answered.
	Pending int64 `json:"pending"`
	// Requests counts the business requests received; RequestsPerSecond
	// is their rate over the last RateSeconds full seconds;
	// RequestsPerMinute and ErrorsPerMinute count them over the last
	// Minutes minutes, oldest first.
	Requests          uint64   `json:"requests"`
	RequestsPerSecond float64  `json:"requestsPerSecond"`
	RequestsPerMinute []uint64 `json:"requestsPerMinute"`
	ErrorsPerMinute   []uint64 `json:"errorsPerMinute"`
	// Errors counts the error replies sent to clients by code, whether a
	// logic server or the gate itself refused the request.
	Errors map[string]uint64 `json:"errors,omitempty"`
	// BytesIn and BytesOut count the envelope bytes read from and written
	// to clients (transport framing included for TCP and KCP).
	BytesIn  uint64 `json:"bytesIn"`
	BytesOut uint64 `json:"bytesOut"`
}

// RateSeconds is the window of GateSnapshot.RequestsPerSecond.
const RateSeconds = 10

// Connections returns the total of Sessions.
func (g *GateSnapshot) Connections() int64 {
	var n int64
	for _, c := range g.Sessions {
		n += c
	}
	return n
}
