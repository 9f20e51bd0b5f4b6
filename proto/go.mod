module github.com/iogo-dev/iogo/proto

go 1.26.8

require google.golang.org/protobuf v1.36.12

require buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go v1.36.12-20260825204119-511051f7f437.1
