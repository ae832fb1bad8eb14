package releases

import (
	"strings"
	"testing"
)

// TestPin: each consumer's chart reference is made exact where that consumer reads it, and nothing else changes.
func TestPin(t *testing.T) {
	t.Parallel()
	objs := decode(t, helmRepo+`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: a, namespace: apps}
spec: {chart: {spec: {chart: web, version: ">=1.0.0-alpha", sourceRef: {kind: HelmRepository, name: charts}}}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: b, namespace: apps}
spec: {chartRef: {kind: OCIRepository, name: web-chart}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: c, namespace: argocd}
spec:
  destination: {namespace: prod}
  sources:
    - {repoURL: "https://github.com/example/values", targetRevision: main, ref: values}
    - {repoURL: "https://charts.example.com/stable", chart: web, targetRevision: "~1.2"}
`)
	found, fs := Find(objs)
	if len(fs) > 0 || len(found) != 3 {
		t.Fatalf("found %d, findings %v", len(found), fs)
	}
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	out := objs
	for i := range found {
		var err error
		if out, err = Pin(out, &found[i], Pinned{Version: "1.2.7", Digest: digest}); err != nil {
			t.Fatal(err)
		}
	}
	y := func(i int) string { return string(out[i].YAML) }
	if !strings.Contains(y(found[0].Object), "version: 1.2.7") {
		t.Errorf("HelmRelease a not pinned:\n%s", y(found[0].Object))
	}
	if s := y(found[1].Source); !strings.Contains(s, "digest: "+digest) || strings.Contains(s, "semver") || !strings.Contains(s, "tag: 1.2.7") {
		t.Errorf("OCIRepository not pinned to the digest (semver removed):\n%s", s)
	}
	if s := y(found[2].Object); !strings.Contains(s, "targetRevision: 1.2.7") || !strings.Contains(s, "targetRevision: main") {
		t.Errorf("Application: the chart source pinned, the values source left alone:\n%s", s)
	}
	if string(objs[found[0].Object].YAML) == y(found[0].Object) {
		t.Error("Pin modified the objects it was given")
	}
	// The objects Pin did not touch are the very same.
	for _, i := range []int{0, 1} {
		if string(objs[i].YAML) != y(i) {
			t.Errorf("object %d changed:\n%s", i, y(i))
		}
	}
}

// TestHydrateDropsOnlyUnusedSources: a hydrated release is replaced where it stood; its source goes when no other
// release uses it, and stays when one that is kept does.
func TestHydrateDropsOnlyUnusedSources(t *testing.T) {
	t.Parallel()
	objs := decode(t, helmRepo+`apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: a, namespace: apps}
spec: {chart: {spec: {chart: web, version: "1.0.0", sourceRef: {kind: HelmRepository, name: charts}}}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: b, namespace: apps}
spec: {chart: {spec: {chart: api, version: "1.0.0", sourceRef: {kind: HelmRepository, name: charts}}}}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: c, namespace: apps}
spec: {chartRef: {kind: OCIRepository, name: web-chart}}
`)
	found, _ := Find(objs)
	cm := decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-a, namespace: apps}\n")
	cm2 := decode(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-c, namespace: apps}\n")
	out := Hydrate(objs, found, []Release{found[0], found[2]}, []*Rendered{{Objects: cm}, {Objects: cm2}})
	var names []string
	for _, o := range out {
		names = append(names, o.ID.Kind+"/"+o.ID.Name)
	}
	want := "HelmRepository/charts HelmRepository/ocicharts ConfigMap/from-a HelmRelease/b ConfigMap/from-c"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("hydrated tree %s\nwant %s (charts kept for b, web-chart dropped with c)", got, want)
	}
}
