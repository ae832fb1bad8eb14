package kustomize_test

import (
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/statepack/statepack/internal/testtree"
	fork "github.com/statepack/statepack/internal/third_party/kustomize/api/krusty"
)

// The fork against upstream kustomize on the same generated trees, in the same process: `go test -bench Build
// ./internal/third_party/kustomize/` (make bench). 2,000 objects are 100 apps of 20 under one overlay (a
// namespace, labels, generated ConfigMaps referenced by name); the fleet target is 40 apps of 4 (161 objects in 41
// kustomizations).
func benchBuild(b *testing.B, apps, objects int, build func(fsys filesys.FileSystem, dir string) error) {
	root := b.TempDir()
	overlay, err := testtree.Kustomize(root, apps, objects)
	if err != nil {
		b.Fatal(err)
	}
	fsys := filesys.MakeFsOnDisk()
	b.ReportAllocs()
	for b.Loop() {
		if err := build(fsys, overlay); err != nil {
			b.Fatal(err)
		}
	}
}

func forkBuild(fsys filesys.FileSystem, dir string) error {
	o := fork.MakeDefaultOptions()
	o.PluginConfig = types.DisabledPluginConfig()
	_, err := fork.MakeKustomizer(o).Run(fsys, dir)
	return err
}

func upstreamBuild(fsys filesys.FileSystem, dir string) error {
	o := krusty.MakeDefaultOptions()
	o.PluginConfig = types.DisabledPluginConfig()
	_, err := krusty.MakeKustomizer(o).Run(fsys, dir)
	return err
}

func BenchmarkBuild2000Fork(b *testing.B)     { benchBuild(b, 100, 20, forkBuild) }
func BenchmarkBuild2000Upstream(b *testing.B) { benchBuild(b, 100, 20, upstreamBuild) }
func BenchmarkBuildFleetTargetFork(b *testing.B) {
	benchBuild(b, 40, 4, forkBuild)
}
func BenchmarkBuildFleetTargetUpstream(b *testing.B) { benchBuild(b, 40, 4, upstreamBuild) }
