package releases

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"sigs.k8s.io/yaml"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/helm"
)

// TestHydrateMatchesSDKInstall: what a HelmRelease of the real podinfo chart hydrates into is, object for object,
// what the Helm SDK's own action.Install (client-only, as `helm template` and helm-controller's dry run) renders
// for the same chart, values, name and namespace — its manifests and non-test hooks — with the release namespace
// filled in where the chart leaves it out, as Helm's client does when it applies them.
func TestHydrateMatchesSDKInstall(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "..", "shared", "corpus", "charts", "podinfo")
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		t.Skipf("the podinfo chart of the shared corpus is not at %s: %v", dir, err)
	}
	objs := decode(t, `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, namespace: apps}
spec:
  chart: {spec: {chart: ./charts/podinfo, sourceRef: {kind: GitRepository, name: flux-system}}}
  values:
    replicaCount: 3
    redis: {enabled: true}
    ingress: {enabled: true, hosts: [{host: podinfo.example.com, paths: [{path: /, pathType: Prefix}]}]}
`)
	found, fs := Find(objs)
	if len(fs) > 0 || len(found) != 1 {
		t.Fatalf("%v", fs)
	}
	c, err := helm.Load(dir, helm.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	rd, fs := Render(context.Background(), &found[0], c, objs[0], RenderOptions{KubernetesVersion: "1.34.0"})
	if len(fs) > 0 {
		t.Fatalf("%v", fs)
	}

	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(io.Discard, nil))))
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName, install.Namespace = "podinfo", "apps"
	if install.KubeVersion, err = common.ParseKubeVersion("1.34.0"); err != nil {
		t.Fatal(err)
	}
	values, err := Values(&found[0], c)
	if err != nil {
		t.Fatal(err)
	}
	r, err := install.RunWithContext(context.Background(), ch, values)
	if err != nil {
		t.Fatal(err)
	}
	rel := r.(*releasev1.Release)
	stream := rel.Manifest
	for _, h := range rel.Hooks {
		if !slices.ContainsFunc(h.Events, func(e releasev1.HookEvent) bool { return strings.HasPrefix(string(e), "test") }) {
			stream += "\n---\n" + h.Manifest
		}
	}
	sdkObjs, fs := build.DecodeManifests("sdk", []byte(stream))
	if len(fs) > 0 {
		t.Fatalf("%v", fs)
	}
	want := map[string]map[string]any{}
	for _, o := range sdkObjs {
		meta := o.Content["metadata"].(map[string]any)
		if _, ok := meta["namespace"]; !ok {
			meta["namespace"] = "apps"
		}
		want[o.ID.Kind+"/"+o.ID.Name] = o.Content
	}
	got := map[string]map[string]any{}
	for _, o := range rd.Objects {
		got[o.ID.Kind+"/"+o.ID.Name] = o.Content
	}
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("hydrated %v\nthe SDK installs %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for k := range want {
		if !reflect.DeepEqual(got[k], want[k]) {
			g, _ := yaml.Marshal(got[k])
			w, _ := yaml.Marshal(want[k])
			t.Errorf("%s differs:\nhydrated:\n%s\nthe SDK:\n%s", k, g, w)
		}
	}
	if len(got) < 5 {
		t.Errorf("only %d objects: the chart's values did not take", len(got))
	}
}
