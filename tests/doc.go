// Package tests holds iogo's end-to-end tests: they build the real service
// binaries, start them as separate OS processes on random loopback ports and
// drive them the way game clients do.
//
// The clients here are written against the wire specification (the
// iohao.ExternalMessage protobuf definition, encoded by protobuf-go) over raw
// TCP and WebSocket connections, independent of the framework's own wire
// and client packages, so that a symmetric bug in those cannot hide.
package tests
