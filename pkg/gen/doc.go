// Package gen generates client SDKs and API documentation from the routes
// of iogo services.
//
// Its input is a Model: services with their routes (cmd, sub, access, void,
// request and response message names, documentation and the source location
// of the handler), declared pushes, error codes and the protobuf descriptors
// of every message the routes carry. A Model is built from in-process
// routers (FromRouter), from a service binary run with -dump-routes
// (FromBinary), or from a running cluster's registry (FromRegistry).
// ResolveDocs then replaces each route's documentation by the doc comment of
// its handler function, read from source with go/parser and go/ast, where the
// source is at hand.
//
// Generators write files into a map of relative path to content
// (Generate, Write, Diff): Markdown docs, a typed Go client on pkg/client,
// TypeScript (a runtime on WebSocket plus typed functions; message code from
// protoc-gen-es, which RunPlugin drives without protoc) and C# (a runtime on
// TCP plus message classes with their own encoders, plain source for Unity)
// and GDScript for Godot 4 (likewise; checked by golden files only).
// Output is deterministic: services, routes, pushes, messages and error
// codes are sorted. The TypeScript and C# runtimes are embedded files
// (tsruntime/, csruntime/, gdruntime/) copied into the output.
//
// Nothing in the package keeps state between calls; every function is safe
// for concurrent use with distinct arguments.
package gen
