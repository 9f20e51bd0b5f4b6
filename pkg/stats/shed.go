package stats

// ShedReason says why a logic server answered a request without running
// its handler (Recorder.Shed): the keys of RouteStats.Shed and the reason
// label of iogo_route_shed_total.
type ShedReason uint8

// The reasons a request is shed.
const (
	// ShedExpired: the caller had stopped waiting (its Iogo-Timeout had
	// passed) when the request left its queue.
	ShedExpired ShedReason = iota
	// ShedLate: the caller's time left was shorter than the route's
	// recent handler time, so the answer would have come too late.
	ShedLate
	// ShedBusy: the user (or key) already had its maximum of requests
	// waiting.
	ShedBusy
	// ShedInbound: the server's inbound buffer was full.
	ShedInbound

	// NumShedReasons is the number of reasons.
	NumShedReasons = int(ShedInbound) + 1
)

var shedNames = [NumShedReasons]string{"expired", "late", "busy", "inbound"}

// String returns the reason's name: "expired", "late", "busy" or
// "inbound".
func (r ShedReason) String() string {
	if int(r) < len(shedNames) {
		return shedNames[r]
	}
	return "unknown"
}
