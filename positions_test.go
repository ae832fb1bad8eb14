package statepack

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var updatePositions = flag.Bool("update-positions", false, "rewrite testdata/positions/*.txt from the current implementation")

// positionTrees lists the trees whose findings' positions are pinned by TestFindingPositions, by golden file: the
// bad trees, the locate trees (kustomize's transformers, generators, components, overlays), and the corpus's
// kustomize trees when ../shared/corpus holds them. Each entry is the path rendered and its source root.
func positionTrees(t *testing.T) map[string][][2]string {
	t.Helper()
	trees := map[string][][2]string{}
	for _, group := range []string{"bad", "locate"} {
		dirs, err := filepath.Glob(filepath.Join("testdata", group, "*"))
		if err != nil || len(dirs) == 0 {
			t.Fatalf("no trees under testdata/%s: %v", group, err)
		}
		slices.Sort(dirs)
		for _, dir := range dirs {
			path := dir
			if st, err := os.Stat(filepath.Join(dir, "app")); err == nil && st.IsDir() {
				path = filepath.Join(dir, "app")
			}
			trees[group] = append(trees[group], [2]string{path, dir})
		}
	}
	corpus := filepath.Join("..", "shared", "corpus")
	for _, p := range []string{
		"flux2-kustomize-helm-example/apps/staging",
		"flux2-kustomize-helm-example/apps/production",
		"flux2-kustomize-helm-example/infrastructure/configs",
		"flux2-kustomize-helm-example/infrastructure/controllers",
		"flux2-kustomize-helm-example/clusters/production",
		"microservices-demo-kustomize",
		"microservices-demo-kustomize/tests/memorystore-with-all-components",
		"microservices-demo-kustomize/tests/service-mesh-istio-with-all-components",
		"microservices-demo-kustomize/tests/spanner-with-all-components",
	} {
		if st, err := os.Stat(filepath.Join(corpus, p)); err == nil && st.IsDir() {
			trees["corpus"] = append(trees["corpus"], [2]string{filepath.Join(corpus, p), corpus})
		}
	}
	return trees
}

// TestFindingPositions pins the file and line of every finding Load reports, warnings placed too, over every tree
// above: however findings are placed (a second render with kustomize's origin annotations, or the source index),
// no finding may move. The corpus group is skipped when ../shared/corpus is absent.
func TestFindingPositions(t *testing.T) {
	t.Parallel()
	for group, trees := range positionTrees(t) {
		t.Run(group, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			for _, tree := range trees {
				// The corpus's chart repositories are on the internet: its releases are judged as written.
				s, err := Load(context.Background(), tree[0], LoadOptions{Root: tree[1], PlaceWarnings: true, Helm: HelmOptions{Mode: HelmOff}})
				if err != nil {
					t.Fatalf("Load(%s) = %v", tree[0], err)
				}
				b.WriteString("== " + filepath.ToSlash(strings.TrimPrefix(tree[0], tree[1])) + " in " + filepath.Base(tree[1]) + "\n")
				for _, f := range s.Findings {
					b.WriteString(f.String() + "\n")
				}
			}
			golden := filepath.Join("testdata", "positions", group+".txt")
			if *updatePositions {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading %s (run with -update-positions to create it): %v", golden, err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("finding positions differ from %s:\n%s", golden, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff lists the lines only in want (-) and only in got (+), in order.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for _, l := range w {
		if !slices.Contains(g, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
