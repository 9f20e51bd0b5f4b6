module github.com/iogo-dev/iogo/tests

go 1.26.8

require (
	github.com/fasthttp/websocket v1.5.12
	github.com/iogo-dev/iogo/proto v0.0.0
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/andybalholm/brotli v1.1.1 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/savsgio/gotils v0.0.0-20240704082632-aef3928b8a38 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	github.com/valyala/fasthttp v1.58.0 // indirect
	go.opentelemetry.io/proto/otlp v1.11.1 // indirect
	golang.org/x/net v0.60.0 // indirect
)

replace (
	github.com/iogo-dev/iogo/pkg => ../pkg
	github.com/iogo-dev/iogo/proto => ../proto
	github.com/iogo-dev/iogo/sdk/go => ../sdk/go
)
