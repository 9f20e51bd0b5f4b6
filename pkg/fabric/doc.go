// Package fabric names everything that travels between iogo processes over
// NATS: subjects, header names, KV bucket names and the request and reply
// metadata carried in headers.
//
// No other package builds a subject string or reads a header by name, so the
// internal protocol is defined here and nowhere else. Business payloads travel
// untouched as the NATS message body; everything else is a header.
//
// The package holds no state; all functions are safe for concurrent use.
package fabric
