package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/internal/testtree"
	"github.com/statepack/statepack/sign"
)

// benchTrees are the trees of docs/benchmarks.md: the corpus's staging apps and a generated 2,000-object tree.
func benchTrees(b *testing.B) map[string][2]string {
	b.Helper()
	trees := map[string][2]string{}
	root := b.TempDir()
	overlay, err := testtree.Kustomize(root, 100, 20)
	if err != nil {
		b.Fatal(err)
	}
	trees["generated-2000"] = [2]string{overlay, root}
	corpusRoot := filepath.Join("..", "..", "..", "shared", "corpus")
	staging := filepath.Join(corpusRoot, "flux2-kustomize-helm-example", "apps", "staging")
	if _, err := filepath.Glob(staging); err == nil {
		trees["corpus-apps-staging"] = [2]string{staging, corpusRoot}
	}
	return trees
}

func statepack(b *testing.B, env map[string]string, args ...string) {
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
				statepack(b, nil, "publish", tree[0], fmt.Sprintf("%s/bench/%s-%d:v1", reg.Host, name, i), "--root", tree[1], "--key", key)
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
				statepack(b, nil, "publish", tree[0], fmt.Sprintf("%s/bench/%s-unsigned-%d:v1", reg.Host, name, i), "--root", tree[1])
			}
		})
	}
}

// BenchmarkSignAttest measures what signing and attesting add to a publish with a key, on loopback (issue #4: at
// most 150 ms): the same rendered tree pushed, then signed, then signed and attested (provenance and inventory).
// Each iteration packages the tree with a new annotation (outside the timer), so there is always a new digest to
// sign and nothing is skipped as already there.
func BenchmarkSignAttest(b *testing.B) {
	reg := testregistry.Start(b)
	key, _ := keyPair(&testing.T{}, "")
	signer, err := sign.LoadSigner(context.Background(), key, nil)
	if err != nil {
		b.Fatal(err)
	}
	env := &Env{Getenv: func(string) string { return "" }, Version: "bench"}
	log := slog.New(slog.DiscardHandler)
	for name, tree := range benchTrees(b) {
		r, err := build.Render(context.Background(), tree[0], build.WithRoot(tree[1]))
		if err != nil {
			b.Fatal(err)
		}
		s := &source{path: tree[0], root: tree[1], rendering: r}
		for _, mode := range []string{"push", "push+sign", "push+sign+attest"} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				ref, err := parseRef(fmt.Sprintf("%s/bench/%s-%s", reg.Host, name, strings.ReplaceAll(mode, "+", "-")))
				if err != nil {
					b.Fatal(err)
				}
				var reg registryOptions
				reg.timeout = time.Minute
				t, err := reg.open(context.Background(), env, log, ref, "statepack/bench")
				if err != nil {
					b.Fatal(err)
				}
				i := 0
				for b.Loop() {
					b.StopTimer()
					i++
					bundle, err := build.Package(r.Objects, build.WithAnnotations(map[string]string{"bench": fmt.Sprint(i)}))
					if err != nil {
						b.Fatal(err)
					}
					var sg *sign.Signer
					var preds []sign.Predicate
					if mode != "push" {
						sg = signer
					}
					b.StartTimer()
					if mode == "push+sign+attest" {
						preds = predicates(env, publishJob{ref: ref, tags: []string{"v1"}}, s, bundle)
					}
					if _, err := pushSignTag(context.Background(), log, t, bundle, sg, preds, []string{"v1"}, false); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
