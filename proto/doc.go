// Package proto holds the protobuf definitions of iogo and their generated Go
// code: the ioGame-compatible client envelope (package iohao) and the
// messages of the bundled services. Regenerate with `make proto`.
package proto
