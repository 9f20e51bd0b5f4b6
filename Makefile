# iogo — build, run and test the whole monorepo. Every tool runs through the
# Go command; nothing needs installing besides Go.

GO      ?= go
PKGS    := github.com/iogo-dev/iogo/...
MODULES := $(shell $(GO) list -m -f '{{.Dir}}')
BUF     := $(GO) run github.com/bufbuild/buf/cmd/buf@v1.75.0
BIN     := $(CURDIR)/bin
# the buf.validate rules (proto/protovalidate/buf/validate/validate.proto)
PROTOVALIDATE := github.com/bufbuild/protovalidate@v1.2.2

.PHONY: all run test unit e2e bench bench-micro bench-e2e proto gen lint build images compose-test clean

all: lint test

## run: start broker, external and the logic services in one process (iogo dev)
run:
	$(GO) run github.com/iogo-dev/iogo/cmd/iogo dev

## test: lint, unit tests with the race detector, end-to-end tests with real processes
test: lint unit e2e

unit:
	$(GO) test -race -count=1 -timeout 10m $(shell $(GO) list $(PKGS) | grep -v '/tests')

e2e:
	$(GO) test -race -count=1 -timeout 15m github.com/iogo-dev/iogo/tests/...

## bench: Go micro-benchmarks, then end-to-end runs of iogo sim (docs/BENCHMARKS.md)
bench: bench-micro bench-e2e

## bench-micro: Go micro-benchmarks of the hot paths
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(PKGS)

## bench-e2e: iogo sim against a raw WebSocket echo, iogo dev and a split
## deployment in one run, idle RSS per connection, iogo dev start-up time
## (BENCH_FLAGS="-players 100,1000 -duration 15s -out results.json")
bench-e2e:
	$(GO) run github.com/iogo-dev/iogo/bench/e2e $(BENCH_FLAGS)

## proto: regenerate Go code from proto/ (buf and protoc-gen-go as Go modules)
## (the buf.validate rules come from the Go module github.com/bufbuild/protovalidate,
## linked from the module cache to proto/third_party/protovalidate)
proto:
	mkdir -p proto/third_party
	ln -sfn "$$(cd proto && $(GO) mod download -json $(PROTOVALIDATE) | sed -n 's/.*"Dir": "\(.*\)",/\1/p')/proto/protovalidate" proto/third_party/protovalidate
	cd proto && $(BUF) lint && $(BUF) generate --exclude-path third_party/protovalidate/buf

## gen: regenerate the bundled services' API docs (docs/api) and client SDKs
## (sdk/go, sdk/csharp, sdk/gdscript, sdk/ts; TypeScript needs npm) with iogo gen; cmd/iogo's
## TestGeneratedUpToDate and tests' TestTypeScriptSDK fail when they are stale
gen:
	$(GO) run github.com/iogo-dev/iogo/cmd/iogo gen -lang md -out docs/api
	$(GO) run github.com/iogo-dev/iogo/cmd/iogo gen -lang go -out sdk/go
	$(GO) run github.com/iogo-dev/iogo/cmd/iogo gen -lang cs -out sdk/csharp/Iogo
	$(GO) run github.com/iogo-dev/iogo/cmd/iogo gen -lang gd -out sdk/gdscript/iogo
	cd sdk/ts && npm ci --no-audit --no-fund
	$(GO) run github.com/iogo-dev/iogo/cmd/iogo gen -lang ts -out sdk/ts/src \
		-protoc-gen-es $(CURDIR)/sdk/ts/node_modules/.bin/protoc-gen-es

## lint: gofmt and go vet over every module
lint:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## build: the service binaries and the iogo CLI into bin/
build:
	$(GO) build -o $(BIN)/ github.com/iogo-dev/iogo/services/... github.com/iogo-dev/iogo/cmd/iogo

## images: static service binaries built here (CGO_ENABLED=0), each copied
## with iogo-health into a FROM scratch image $(IMAGE_PREFIX)/<service>:$(IMAGE_TAG);
## pulls nothing (deploy/compose/Dockerfile.scratch; docs/deploy.md)
IMAGE_PREFIX ?= iogo
IMAGE_TAG    ?= local
IMAGES       := broker external logic-login logic-guild logic-rank logic-demo
IMAGE_CTX    := $(BIN)/images

images:
	rm -rf $(IMAGE_CTX) && mkdir -p $(IMAGE_CTX)/bin
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags='-s -w' -o $(IMAGE_CTX)/bin/ \
		$(addprefix github.com/iogo-dev/iogo/services/,$(IMAGES)) github.com/iogo-dev/iogo/deploy/iogo-health
	@set -e; for s in $(IMAGES); do \
		ctx=$(IMAGE_CTX)/$$s; mkdir -p $$ctx/data $$ctx/tmp; chmod 1777 $$ctx/tmp; \
		ln $(IMAGE_CTX)/bin/$$s $$ctx/service; ln $(IMAGE_CTX)/bin/iogo-health $$ctx/iogo-health; \
		echo "docker build $(IMAGE_PREFIX)/$$s:$(IMAGE_TAG)"; \
		out=$$(docker build -f deploy/compose/Dockerfile.scratch \
			-t $(IMAGE_PREFIX)/$$s:$(IMAGE_TAG) $$ctx 2>&1) || { echo "$$out"; exit 1; }; \
	done
	@docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep '^$(IMAGE_PREFIX)/' | sort

## compose-test: the Compose stack end to end (deploy/compose/test.sh): installs
## and starts Docker if needed, make images, 3 brokers + 2 gates + the logic
## services up and healthy, iogo sim through both gates, a broker stopped under
## load, everything removed afterwards (COMPOSE_TEST_FLAGS, see the script)
compose-test:
	bash deploy/compose/test.sh $(COMPOSE_TEST_FLAGS)

clean:
	rm -rf $(BIN)
