package fabric

// JetStream KV buckets shared by all iogo processes.
const (
	// BucketBindings maps a userID to its player-to-logic-server bindings.
	BucketBindings = "iogo_bindings"
	// BucketRoutes is the route registry: route → service, access flags,
	// request and response types, doc.
	BucketRoutes = "iogo_routes"
	// BucketServices lists live logic-server instances, kept by heartbeats.
	BucketServices = "iogo_services"
)

// Buckets lists every framework KV bucket.
func Buckets() []string { return []string{BucketBindings, BucketRoutes, BucketServices} }
