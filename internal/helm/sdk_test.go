package helm

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	loaderv2 "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	releasev1 "helm.sh/helm/v4/pkg/release/v1"
	"sigs.k8s.io/yaml"
)

// sdkInstall renders dir as the SDK's own action.Install does in client-only dry-run mode (what `helm template`
// runs), with the SDK's own loader.
func sdkInstall(t *testing.T, dir string, values map[string]any, opts ReleaseOptions) *releasev1.Release {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(io.Discard, nil)))
	install := action.NewInstall(cfg)
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = opts.Name
	install.Namespace = opts.Namespace
	install.IncludeCRDs = true
	install.APIVersions = opts.APIVersions
	kv, err := common.ParseKubeVersion(opts.KubernetesVersion)
	if err != nil {
		t.Fatal(err)
	}
	install.KubeVersion = kv
	rel, err := install.RunWithContext(context.Background(), ch, CopyValues(values))
	if err != nil {
		t.Fatalf("the SDK's install: %v", err)
	}
	return rel.(*releasev1.Release)
}

// randomName matches the names podinfo's test hooks draw with randAlphaNum 5 | lower: they differ at each render,
// the SDK's as ours.
var randomName = regexp.MustCompile(`-test-[a-z0-9]{5}\b`)

func unrandom(s string) string { return randomName.ReplaceAllString(s, "-test-RANDOM") }

// sourced is one object of a render: where it came from and what it is, parsed.
type sourced struct {
	Source string
	Object map[string]any
}

// splitStream reads the manifest stream action.Install writes ("---\n# Source: name\n<doc>\n" each).
func splitStream(t *testing.T, stream string) []sourced {
	t.Helper()
	var out []sourced
	for _, doc := range strings.Split(stream, "---\n# Source: ") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		source, body, _ := strings.Cut(doc, "\n")
		out = append(out, sourced{source, parse(t, body)})
	}
	return out
}

func parse(t *testing.T, doc string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatalf("parsing %q: %v", doc, err)
	}
	return obj
}

// TestPodinfoMatchesSDKInstall renders the real podinfo chart with several sets of values and compares the result,
// object for object and in order, with the SDK's action.Install (DryRunClient, IncludeCRDs): manifests, hooks
// (their source, events, weight and whole content, annotations included) and notes.
func TestPodinfoMatchesSDKInstall(t *testing.T) {
	dir := needPodinfo(t)
	prodData, err := os.ReadFile(filepath.Join(dir, "values-prod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	prod, err := loaderv2.LoadValues(bytes.NewReader(prodData))
	if err != nil {
		t.Fatal(err)
	}
	everything := map[string]any{
		"ingress":        map[string]any{"enabled": true, "tls": []any{map[string]any{"secretName": "tls", "hosts": []any{"podinfo.local"}}}},
		"hpa":            map[string]any{"enabled": true, "memory": "512Mi", "requests": 10},
		"serviceMonitor": map[string]any{"enabled": true},
		"certificate":    map[string]any{"create": true},
		"httpRoute":      map[string]any{"enabled": true},
		"tls":            map[string]any{"enabled": true, "secretName": "podinfo-tls"},
		"serviceAccount": map[string]any{"enabled": true, "name": "podinfo"},
		"redis":          map[string]any{"enabled": true},
		"podAnnotations": map[string]any{"a": "b"},
		"service":        map[string]any{"annotations": nil}, // a null deletes the chart's default
	}
	ch, err := Load(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		values map[string]any
		opts   ReleaseOptions
	}{
		{"defaults", nil, ReleaseOptions{Name: "podinfo", Namespace: "default", KubernetesVersion: "1.31.0"}},
		{"values-prod", prod, ReleaseOptions{Name: "web", Namespace: "apps", KubernetesVersion: "v1.33.4-gke.1245000"}},
		{"everything", MergeValues(prod, everything), ReleaseOptions{Name: "frontend", Namespace: "prod", KubernetesVersion: "1.34.1",
			APIVersions: []string{"monitoring.coreos.com/v1", "cert-manager.io/v1", "gateway.networking.k8s.io/v1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, err := Render(context.Background(), ch, tc.values, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			sdk := sdkInstall(t, dir, tc.values, tc.opts)

			want := splitStream(t, sdk.Manifest)
			var got []sourced
			for _, c := range ours.CRDs {
				got = append(got, sourced{c.Source, parse(t, c.Content)})
			}
			for _, m := range ours.Manifests {
				got = append(got, sourced{m.Source, parse(t, m.Content)})
			}
			if len(got) != len(want) {
				t.Errorf("%d objects, the SDK renders %d", len(got), len(want))
			}
			for i := range min(len(got), len(want)) {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("object %d:\n got %s %v\nwant %s %v", i, got[i].Source, got[i].Object, want[i].Source, want[i].Object)
				}
			}
			if len(ours.Hooks) != len(sdk.Hooks) {
				t.Errorf("%d hooks, the SDK has %d", len(ours.Hooks), len(sdk.Hooks))
			}
			for i := range min(len(ours.Hooks), len(sdk.Hooks)) {
				g, w := ours.Hooks[i], sdk.Hooks[i]
				var events []string
				for _, e := range w.Events {
					events = append(events, string(e))
				}
				if g.Source != w.Path || unrandom(g.Name) != unrandom(w.Name) || g.Kind != w.Kind || g.Weight != w.Weight || !reflect.DeepEqual(g.Events, events) || unrandom(g.Content) != unrandom(w.Manifest) {
					t.Errorf("hook %d:\n got %s %s/%s %v %d\nwant %s %s/%s %v %d", i, g.Source, g.Kind, g.Name, g.Events, g.Weight, w.Path, w.Kind, w.Name, events, w.Weight)
				}
				if !strings.Contains(g.Content, "helm.sh/hook") {
					t.Errorf("hook %s lost its helm.sh/hook annotation:\n%s", g.Name, g.Content)
				}
			}
			if ours.Notes != sdk.Info.Notes {
				t.Errorf("notes differ:\n got %q\nwant %q", ours.Notes, sdk.Info.Notes)
			}
			if len(ours.Manifests) == 0 || len(ours.Hooks) == 0 {
				t.Errorf("podinfo rendered %d manifests and %d hooks; it has both", len(ours.Manifests), len(ours.Hooks))
			}
			t.Logf("%d manifests, %d hooks, %d CRDs", len(ours.Manifests), len(ours.Hooks), len(ours.CRDs))
		})
	}
}

// TestPackagedPodinfoRendersAsTheDirectory packages podinfo with the SDK (what `helm package` writes) and checks
// that LoadArchive reads it and renders it exactly as Load and Render do the directory.
func TestPackagedPodinfoRendersAsTheDirectory(t *testing.T) {
	dir := needPodinfo(t)
	sdkChart, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	v2, ok := sdkChart.(*chartv2.Chart)
	if !ok {
		t.Fatalf("the SDK loaded a %T", sdkChart)
	}
	path, err := chartutil.Save(v2, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fromArchive, err := LoadArchive(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	fromDir, err := Load(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if fromArchive.Name() != "podinfo" || fromArchive.Version() != "6.14.1" {
		t.Errorf("archive chart is %s %s", fromArchive.Name(), fromArchive.Version())
	}
	opts := ReleaseOptions{Name: "podinfo", KubernetesVersion: "1.31.0"}
	a, err := Render(context.Background(), fromArchive, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Render(context.Background(), fromDir, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Release{a, d} {
		for i := range r.Hooks {
			r.Hooks[i].Name, r.Hooks[i].Content = unrandom(r.Hooks[i].Name), unrandom(r.Hooks[i].Content)
		}
	}
	if !reflect.DeepEqual(a, d) {
		t.Errorf("the packaged chart renders differently from its directory")
	}
}
