package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/internal/testtree"
)

// benchTrees are the trees of docs/benchmarks.md: the corpus's staging apps and a generated 2,000-object tree.
func benchTrees(b *testing.B) map[string][2]string {
	b.Helper()
	trees, err := testtree.BenchTrees(b.TempDir(), filepath.Join("..", "..", "..", "shared", "corpus"))
	if err != nil {
		b.Fatal(err)
	}
	return trees
}

func runCLI(b *testing.B, env map[string]string, args ...string) {
	b.Helper()
	var stderr strings.Builder
	code := Run(context.Background(), args, Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] }, Version: "bench"})
	if code != 0 {
		b.Fatalf("statepack %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
}

// BenchmarkRenderOnly is the baseline: the kustomize render inside statepack, as `kustomize build` does it.
func BenchmarkRenderOnly(b *testing.B) {
	for name, tree := range benchTrees(b) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				r, err := build.Render(context.Background(), tree[0], build.WithRoot(tree[1]))
				if err != nil || r.Findings.HasErrors() {
					b.Fatal(err, r.Findings)
				}
			}
		})
	}
}

// BenchmarkPublish is the whole `statepack publish --key` through the CLI into a real registry on loopback: render,
// validate, package, push, sign, tag. Each iteration publishes to a new repository, so every blob is uploaded.
func BenchmarkPublish(b *testing.B) {
	reg := testregistry.Start(b)
	key, _ := keyPair(&testing.T{}, "")
	for name, tree := range benchTrees(b) {
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				runCLI(b, nil, "publish", tree[0], fmt.Sprintf("%s/bench/%s-%d:v1", reg.Host, name, i), "--root", tree[1], "--key", key)
			}
		})
	}
}

// BenchmarkPublishUnsigned is the same without signing, to tell signing's share from pushing's.
func BenchmarkPublishUnsigned(b *testing.B) {
	reg := testregistry.Start(b)
	for name, tree := range benchTrees(b) {
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				runCLI(b, nil, "publish", tree[0], fmt.Sprintf("%s/bench/%s-unsigned-%d:v1", reg.Host, name, i), "--root", tree[1])
			}
		})
	}
}
