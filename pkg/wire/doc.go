// Package wire is the client wire protocol of iogo, byte-compatible with
// ioGame: the ExternalMessage envelope, its protobuf and JSON codecs, the
// value wrappers for bare payloads, and TCP length-prefix framing.
//
// Message is a plain struct with a hand-written protobuf encoder and decoder
// (protowire), several times faster than the generated code and allocation
// free; tests prove it byte-identical to the generated iohao.ExternalMessage.
// A decoded Message's Data aliases the input buffer: copy it to keep it past
// the buffer's reuse.
//
// Codecs and frame functions are safe for concurrent use; a FrameReader is
// not (one per connection).
package wire
