package statepack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"

	"github.com/statepack/statepack/internal/testtree"
)

// BenchmarkChangedTargets measures ChangedTargets on the generated fleet of scripts/bench-fleet.sh (24 clusters of
// 40 apps, each its own kustomization tree) after a commit that changes one cluster's overlay: git's diff, then
// each target's input closure and the changed path against it.
func BenchmarkChangedTargets(b *testing.B) {
	dir := b.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		b.Fatal(err)
	}
	config := "apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets:\n"
	for c := 1; c <= 24; c++ {
		name := fmt.Sprintf("cluster-%02d", c)
		if _, err := testtree.Kustomize(filepath.Join(dir, name), 40, 4); err != nil {
			b.Fatal(err)
		}
		config += fmt.Sprintf("- {name: %s, path: %s/overlay, ref: 'oci:out:%s'}\n", name, name, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "statepack.yaml"), []byte(config), 0o644); err != nil {
		b.Fatal(err)
	}
	when := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	commitAll(b, repo, "fleet", when)
	overlay := filepath.Join(dir, "cluster-01", "overlay", "kustomization.yaml")
	data, err := os.ReadFile(overlay)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(overlay, []byte(strings.Replace(string(data), "value: 3", "value: 4", 1)), 0o644); err != nil {
		b.Fatal(err)
	}
	commitAll(b, repo, "cluster-01 changed", when.Add(time.Hour))
	cfg, err := LoadConfig(filepath.Join(dir, "statepack.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	targets, err := cfg.Select(Selection{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := cfg.ChangedTargets(targets, ChangeOptions{Since: "HEAD~1"})
		if err != nil || len(got) != 1 || got[0].Name != "cluster-01" {
			b.Fatalf("ChangedTargets = %v, %v; want cluster-01", got, err)
		}
	}
}
