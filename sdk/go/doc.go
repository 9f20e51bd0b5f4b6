// Package sdk holds the typed Go clients of the bundled services, generated
// by `iogo gen -lang go` (make gen) on top of pkg/client: loginapi and
// demoapi. Do not edit the generated packages; regenerate them.
package sdk
