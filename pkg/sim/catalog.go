package sim

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Params tune a scenario of a Catalog, such as the built-in ones
// (package builtin).
type Params struct {
	// Payload is the size in bytes of the text that echo sends.
	Payload int
	// Think is a pause at the end of every loop iteration.
	Think time.Duration
	// Run distinguishes the device IDs of one run's players from those of
	// another run against the same server, so that logins do not kick the
	// players of a run still going. Default: the current time.
	Run string
}

// Factory builds a scenario from parameters.
type Factory struct {
	Doc   string
	Build func(Params) (*Scenario, error)
}

// Catalog maps scenario names to their factories. The built-in catalog
// comes from package builtin (builtin.Catalog); modules with scenarios of
// their own add them to the catalog the caller holds.
type Catalog map[string]Factory

// Names returns the catalog's scenario names in order.
func (c Catalog) Names() []string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Build returns the named scenario.
func (c Catalog) Build(name string, p Params) (*Scenario, error) {
	f, ok := c[name]
	if !ok {
		return nil, fmt.Errorf("sim: unknown scenario %q (have %s)", name, strings.Join(c.Names(), ", "))
	}
	sc, err := f.Build(p)
	if err != nil {
		return nil, fmt.Errorf("sim: scenario %q: %w", name, err)
	}
	if sc.Name == "" {
		sc.Name = name
	}
	return sc, nil
}
