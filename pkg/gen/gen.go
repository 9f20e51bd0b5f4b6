package gen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A Generator renders a model as files, keyed by slash-separated path
// relative to the output directory.
type Generator func(context.Context, Model, Options) (map[string][]byte, error)

// generators are the languages Generate knows.
var generators = map[string]Generator{
	"md": func(_ context.Context, m Model, o Options) (map[string][]byte, error) { return Markdown(m, o) },
	"go": func(_ context.Context, m Model, o Options) (map[string][]byte, error) { return Go(m, o) },
	"ts": TypeScript,
	"gd": func(_ context.Context, m Model, o Options) (map[string][]byte, error) { return GDScript(m, o) },
	"cs": func(_ context.Context, m Model, o Options) (map[string][]byte, error) { return CSharp(m, o) },
}

// Languages returns the names Generate accepts, sorted.
func Languages() []string {
	out := make([]string, 0, len(generators))
	for l := range generators {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// Generate renders m in the named language.
func Generate(ctx context.Context, lang string, m Model, opt Options) (map[string][]byte, error) {
	g, ok := generators[lang]
	if !ok {
		return nil, fmt.Errorf("gen: unknown language %q (want one of %s)", lang, strings.Join(Languages(), ", "))
	}
	return g(ctx, m, opt)
}

// Write writes files under dir, creating directories as needed.
func Write(dir string, files map[string][]byte) error {
	for _, name := range sortedKeys(files) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Diff returns the paths of files whose content under dir differs from
// files, or that are missing, sorted; tests use it to find stale committed
// output.
func Diff(dir string, files map[string][]byte) []string {
	var stale []string
	for _, name := range sortedKeys(files) {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(b, files[name]) {
			stale = append(stale, name)
		}
	}
	return stale
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
