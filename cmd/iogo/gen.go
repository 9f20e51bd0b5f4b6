package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/iogo-dev/iogo/pkg/gen"
	"github.com/iogo-dev/iogo/pkg/registry"
	"github.com/iogo-dev/iogo/pkg/svcmain"
	"github.com/iogo-dev/iogo/pkg/svcmain/svcbase"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// genConfig is the flags of `iogo gen`.
type genConfig struct {
	lang, out, services, binaries, brokers, root, protocGenES string
	auth                                                      []nats.Option // credentials for -brokers
}

// runGen is `iogo gen`: it reads the route tables of services and writes
// client SDK code or API docs.
func runGen(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	var cfg genConfig
	fs := flag.NewFlagSet("iogo gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.lang, "lang", "md", "output: "+strings.Join(gen.Languages(), ", "))
	fs.StringVar(&cfg.out, "out", "", "output directory (required)")
	fs.StringVar(&cfg.services, "service", "", "comma-separated services to generate (default: all)")
	fs.StringVar(&cfg.binaries, "binary", "", "comma-separated logic service binaries to read with -dump-routes, instead of the bundled services")
	fs.StringVar(&cfg.brokers, "brokers", "", "NATS URL of a running cluster whose registry to read, instead of the bundled services")
	fs.StringVar(&cfg.root, "source-root", ".", "handler source paths in docs are shown relative to this directory")
	fs.StringVar(&cfg.protocGenES, "protoc-gen-es", "", "path of protoc-gen-es (npm @bufbuild/protoc-gen-es): with -lang ts, also generate the message code under pb/")
	auth := svcbase.BrokerAuth(fs)
	svcbase.AnnotateEnv(fs, "IOGO_GEN_")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: iogo gen -lang LANG -out DIR [flags]\n\n"+
			"Generates API docs or typed client code from the route tables of the bundled\n"+
			"services (default), of service binaries (-binary) or of a running cluster (-brokers).\n\n")
		fs.PrintDefaults()
	}
	err := svcbase.ParseFlags(fs, "IOGO_GEN_", args, lookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return svcmain.ExitOK
	}
	if err == nil && cfg.out == "" {
		err = errors.New("-out is required")
	}
	if err == nil && cfg.binaries != "" && cfg.brokers != "" {
		err = errors.New("-binary and -brokers exclude each other")
	}
	if err == nil {
		cfg.auth, err = auth()
	}
	if err != nil {
		fmt.Fprintf(stderr, "iogo gen: %v\n", err)
		return svcmain.ExitUsage
	}
	files, err := generate(ctx, cfg)
	if err == nil {
		err = gen.Write(cfg.out, files)
	}
	if err != nil {
		fmt.Fprintf(stderr, "iogo gen: %v\n", err)
		return svcmain.ExitError
	}
	fmt.Fprintf(stdout, "iogo gen: wrote %d files to %s\n", len(files), cfg.out)
	return svcmain.ExitOK
}

// generate loads the model the flags select and renders it.
func generate(ctx context.Context, cfg genConfig) (map[string][]byte, error) {
	services, err := loadServices(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if want := svcbase.SplitList(cfg.services); len(want) > 0 {
		services = slices.DeleteFunc(services, func(s gen.Service) bool { return !slices.Contains(want, s.Name) })
		if len(services) != len(want) {
			return nil, fmt.Errorf("-service %s: not all found", cfg.services)
		}
	}
	m := gen.NewModel(services...)
	gen.ResolveDocs(&m)
	root := cfg.root
	if root != "" {
		if abs, err := filepath.Abs(root); err == nil {
			root = abs
		}
	}
	return gen.Generate(ctx, cfg.lang, m, gen.Options{SourceRoot: root, ProtocGenES: cfg.protocGenES})
}

// loadServices reads the services from the source the flags select.
func loadServices(ctx context.Context, cfg genConfig) ([]gen.Service, error) {
	switch {
	case cfg.binaries != "":
		var out []gen.Service
		for _, bin := range svcbase.SplitList(cfg.binaries) {
			cmd := exec.CommandContext(ctx, bin, "-dump-routes")
			cmd.Stderr = os.Stderr
			b, err := cmd.Output()
			if err != nil {
				return nil, fmt.Errorf("%s -dump-routes: %w", bin, err)
			}
			s, err := gen.ParseDump(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", bin, err)
			}
			out = append(out, s)
		}
		return out, nil
	case cfg.brokers != "":
		return loadRegistryServices(ctx, cfg.brokers, cfg.auth)
	}
	var out []gen.Service
	for _, d := range devServices() {
		s, err := gen.FromRouter(d.name, d.source())
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// loadRegistryServices reads the route registry of a running cluster,
// connecting as a tool.
func loadRegistryServices(ctx context.Context, brokers string, auth []nats.Option) ([]gen.Service, error) {
	nc, err := connectTool(brokers, "iogo gen", 5*time.Second, auth)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	reg, err := registry.Open(ctx, js)
	if err != nil {
		return nil, err
	}
	routes, err := reg.Routes(ctx)
	if err != nil {
		return nil, err
	}
	instances, err := reg.Instances(ctx)
	if err != nil {
		return nil, err
	}
	return gen.FromRegistry(instances, routes), nil
}
