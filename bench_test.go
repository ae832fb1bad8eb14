package statepack

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/internal/testtree"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// benchTrees are the trees of docs/benchmarks.md: the corpus's staging apps and a generated 2,000-object tree.
func benchTrees(b *testing.B) map[string][2]string {
	b.Helper()
	trees, err := testtree.BenchTrees(b.TempDir(), filepath.Join("..", "shared", "corpus"))
	if err != nil {
		b.Fatal(err)
	}
	return trees
}

// BenchmarkSignAttest measures what signing and attesting add to a publish with a key, on loopback (issue #4: at
// most 150 ms): the same rendered tree pushed, then signed, then signed and attested (provenance and inventory).
// Each iteration packages the tree with a new annotation (outside the timer), so there is always a new digest to
// sign and nothing is skipped as already there.
func BenchmarkSignAttest(b *testing.B) {
	reg := testregistry.Start(b)
	key, _ := keyPair(b)
	signer, err := sign.LoadSigner(context.Background(), key, nil)
	if err != nil {
		b.Fatal(err)
	}
	bc := BuildContext{Version: "bench"}
	log := slog.New(slog.DiscardHandler)
	for name, tree := range benchTrees(b) {
		r, err := build.Render(context.Background(), tree[0], build.WithRoot(tree[1]))
		if err != nil {
			b.Fatal(err)
		}
		s := &Source{Path: tree[0], Root: tree[1], Rendering: r}
		for _, mode := range []string{"push", "push+sign", "push+sign+attest"} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				ref, err := publish.ParseRef(fmt.Sprintf("%s/bench/%s-%s", reg.Host, name, strings.ReplaceAll(mode, "+", "-")))
				if err != nil {
					b.Fatal(err)
				}
				t, err := openTarget(context.Background(), ref, bc, log, nil)
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
						preds = predicates(bc, ref.Name(), []string{"v1"}, s, bundle, nil, false)
					}
					if _, err := pushSignTag(context.Background(), log, t, bundle, sg, preds, []string{"v1"}, pushOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDiffArtifact is the part of `statepack diff PATH REF` that is not the render, on the generated
// 2,000-object tree: fetch the artifact from a real registry, extract and decode it, compare with the rendered
// objects. One Deployment differs (its image), so one unified diff is made.
func BenchmarkDiffArtifact(b *testing.B) {
	reg := testregistry.Start(b)
	root := b.TempDir()
	overlay, err := testtree.Kustomize(root, 100, 20)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ref, _ := publish.ParseRef(reg.Host + "/bench/diff:v1")
	epoch := time.Unix(1714564800, 0)
	if _, err := Publish(ctx, overlay, ref, PublishOptions{Load: LoadOptions{Root: root}, Context: BuildContext{SourceDateEpoch: &epoch}}); err != nil {
		b.Fatal(err)
	}
	s, err := Load(ctx, overlay, LoadOptions{Root: root})
	if err != nil || s.Findings.HasErrors() {
		b.Fatal(err, s.Findings)
	}
	tree := TreeSide(s)
	for i := range tree.objects {
		if tree.objects[i].ID.Kind == "Deployment" {
			tree.objects[i].YAML = bytes.Replace(tree.objects[i].YAML, []byte("image: "), []byte("image: changed-"), 1)
			break
		}
	}
	b.ResetTimer()
	for b.Loop() {
		side, err := LoadArtifactSide(ctx, ref, nil, false, ReadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		rep, err := Compare(side, tree, 3)
		if err != nil || len(rep.Entries) != 1 || side.Objects != 2001 {
			b.Fatalf("Compare() = %d entries of %d objects, %v; want 1 of 2001", len(rep.Entries), side.Objects, err)
		}
	}
}

// BenchmarkLoadFinding is issue 17's first target: Load of a generated tree with one error to place, against Load
// of the same tree without it (1,000 objects; 5,000 with BENCH_5000=1). Placing must cost at most
// 1.2 times the clean load.
func BenchmarkLoadFinding(b *testing.B) {
	for _, apps := range testtree.IssueApps(os.Getenv("BENCH_5000") == "1") {
		for _, withFinding := range []bool{false, true} {
			root := b.TempDir()
			overlay, err := testtree.Kustomize(root, apps, 20)
			if err == nil && withFinding {
				err = testtree.AddFinding(root)
			}
			if err != nil {
				b.Fatal(err)
			}
			name := fmt.Sprintf("%d/clean", apps*20)
			if withFinding {
				name = fmt.Sprintf("%d/one-finding", apps*20)
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					s, err := Load(context.Background(), overlay, LoadOptions{Root: root})
					if err != nil || len(s.Findings) != map[bool]int{false: 0, true: 1}[withFinding] {
						b.Fatalf("Load() = %v, %v", s, err)
					}
					if withFinding && s.Findings[0].Line != 1 {
						b.Fatalf("the finding is not placed: %v", s.Findings[0])
					}
				}
			})
		}
	}
}
