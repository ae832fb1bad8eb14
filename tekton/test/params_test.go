package tektontest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyTree copies a tree of the main module's testdata into a fresh source workspace.
func copyTree(t *testing.T, tree string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "source")
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(repoRoot, "testdata", tree))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestTaskScriptSourceParams: the params named after publish's source flags reach statepack as those flags:
// SUBSTITUTE (values with spaces, one a line), SUBSTITUTE_FROM, SUBSTITUTE_STRICT, ALLOW (reasons with spaces),
// IGNORE_PATHS, LOAD_RESTRICTOR; a bad boolean stops the step before statepack runs.
func TestTaskScriptSourceParams(t *testing.T) {
	task := readTask(t)
	flux := copyTree(t, "flux-substitute")
	layout := func() string { return "oci:" + filepath.Join(t.TempDir(), "layout") + ":main" }
	allow := "object/invalid-label=the opted-out ConfigMap's label is literal, on purpose\nschema/no-schema=none here"
	for _, tc := range []struct {
		name    string
		source  string
		params  map[string]string
		wantErr string // "" for a published artifact
	}{
		{"strict: a variable without value", flux, map[string]string{"PATH": "app", "SUBSTITUTE": "replicas=1\nnote=two words, one line",
			"SUBSTITUTE_STRICT": "true", "ALLOW": allow}, `variable not set (strict mode): "cluster_name"`},
		{"strict with every value", flux, map[string]string{"PATH": "app", "SUBSTITUTE_FROM": "vars/cluster.env", "SUBSTITUTE_STRICT": "true", "ALLOW": allow}, ""},
		{"without ALLOW", flux, map[string]string{"PATH": "app", "SUBSTITUTE_FROM": "vars/cluster.env"}, "[object/invalid-label]"},
		{"a file not ignored", copyTree(t, "sourceignore"), map[string]string{"PATH": "app"}, "app/docs/example.yaml"},
		{"IGNORE_PATHS", copyTree(t, "sourceignore"), map[string]string{"PATH": "app", "IGNORE_PATHS": "docs/, nothing.yaml"}, ""},
		{"LOAD_RESTRICTOR", flux, map[string]string{"PATH": "app", "LOAD_RESTRICTOR": "none"}, `--load-restrictor "none"`},
		{"bad boolean", flux, map[string]string{"PATH": "app", "SUBSTITUTE_STRICT": "yes"}, `SUBSTITUTE_STRICT must be true or false, not "yes"`},
		{"bad CHART_AUTH", flux, map[string]string{"PATH": "app", "CHART_AUTH": "https://charts.example.com"}, `CHART_AUTH entry "https://charts.example.com" is not URL=PREFIX`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := map[string]string{"IMAGE": layout()}
			for k, v := range tc.params {
				params[k] = v
			}
			res := stepRun{params: params, workspaces: map[string]string{"source": tc.source}}.run(t, task)
			if tc.wantErr == "" {
				if res.err != nil || !strings.HasPrefix(res.results["IMAGE_DIGEST"], "sha256:") {
					t.Errorf("step = %v, want it published:\n%s", res.err, res.output)
				}
				return
			}
			if res.err == nil || !strings.Contains(res.output, tc.wantErr) {
				t.Errorf("step = %v, want a failure saying %q:\n%s", res.err, tc.wantErr, res.output)
			}
		})
	}
}

// TestTaskScriptPackageParams: ANNOTATIONS (one a line, values with commas), LAYER_MEDIA_TYPE and IMMUTABLE_TAGS
// shape the artifact as the flags do.
func TestTaskScriptPackageParams(t *testing.T) {
	task := readTask(t)
	layout := filepath.Join(t.TempDir(), "layout")
	params := map[string]string{"PATH": "production", "IMAGE": "oci:" + layout + ":main", "ANNOTATIONS": "team=platform, apps\nticket=OPS-1",
		"LAYER_MEDIA_TYPE": "application/vnd.cncf.flux.content.v1.tar+gzip", "IMMUTABLE_TAGS": "true"}
	res := stepRun{params: params, workspaces: map[string]string{"source": sourceWorkspace(t)}}.run(t, task)
	if res.err != nil {
		t.Fatalf("step: %v\n%s", res.err, res.output)
	}
	manifest, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(res.results["IMAGE_DIGEST"], "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"team":"platform, apps"`, `"ticket":"OPS-1"`, `"mediaType":"application/vnd.cncf.flux.content.v1.tar+gzip"`} {
		if !strings.Contains(string(manifest), want) {
			t.Errorf("the manifest lacks %s:\n%s", want, manifest)
		}
	}
	other := sourceWorkspace(t) // other content: production with a label more
	if err := os.WriteFile(filepath.Join(other, "production", "kustomization.yaml"), []byte("resources: [../base]\nlabels:\n- pairs: {tier: web}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := (stepRun{params: params, workspaces: map[string]string{"source": other}}).run(t, task); res.err == nil ||
		!strings.Contains(res.output, "tag already points at other content") {
		t.Errorf("moving the immutable tag main: %v\n%s\nwant the publish refused", res.err, res.output)
	}
}

// TestTaskScriptChartAuth: CHART_AUTH takes an HTTP chart repository's credentials from the chart-credentials
// workspace's files PREFIX_USERNAME and PREFIX_PASSWORD; the step never prints the password, and without the
// workspace statepack names the variables it lacks.
func TestTaskScriptChartAuth(t *testing.T) {
	task := readTask(t)
	const user, password = "reader", "T3kton-CH4RT-PW"
	repo := chartRepo(t, user, password)
	source := t.TempDir()
	data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "helmrelease-http", "release.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	release := strings.ReplaceAll(string(data), "REPO_URL", repo)
	creds := t.TempDir()
	for file, body := range map[string]string{filepath.Join(source, "release.yaml"): release,
		filepath.Join(creds, "CHARTS_USERNAME"): user, filepath.Join(creds, "CHARTS_PASSWORD"): password} {
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	params := map[string]string{"IMAGE": "oci:" + filepath.Join(t.TempDir(), "layout") + ":main", "CHART_AUTH": repo + "=CHARTS"}
	cache := t.TempDir()
	res := stepRun{params: params, workspaces: map[string]string{"source": source, "chart-credentials": creds, "chart-cache": cache}}.run(t, task)
	if res.err != nil || !strings.HasPrefix(res.results["IMAGE_DIGEST"], "sha256:") {
		t.Fatalf("step with chart-credentials = %v:\n%s", res.err, res.output)
	}
	if strings.Contains(res.output, password) {
		t.Errorf("the step printed the chart password:\n%s", res.output)
	}
	if entries, _ := os.ReadDir(cache); len(entries) == 0 {
		t.Error("the chart-cache workspace is empty: the chart was not cached there")
	}
	res = stepRun{params: params, workspaces: map[string]string{"source": source}}.run(t, task)
	if res.err == nil || !strings.Contains(res.output, "set CHARTS_USERNAME and CHARTS_PASSWORD") {
		t.Errorf("step without chart-credentials = %v, want statepack to name the variables:\n%s", res.err, res.output)
	}
}

// chartRepo serves a Helm chart repository (index.yaml and the chart web 1.2.3) on loopback, behind basic auth.
func chartRepo(t *testing.T, user, password string) string {
	t.Helper()
	archive := chartArchive(t)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/index.yaml":
			fmt.Fprintf(w, "apiVersion: v1\nentries:\n  web:\n  - apiVersion: v2\n    name: web\n    version: 1.2.3\n    digest: %x\n    urls: [%s/web-1.2.3.tgz]\n",
				sha256.Sum256(archive), srv.URL)
		case "/web-1.2.3.tgz":
			w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// chartArchive is the chart web 1.2.3 as helm package writes it: a gzip'd tar under web/.
func chartArchive(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range map[string]string{
		"web/Chart.yaml":        "apiVersion: v2\nname: web\nversion: 1.2.3\n",
		"web/values.yaml":       "greeting: hello\n",
		"web/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n  namespace: {{ .Release.Namespace }}\ndata:\n  greeting: {{ .Values.greeting }}\n",
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTaskScriptIncremental: with INCREMENTAL, a second run of the same inputs publishes nothing new and still
// gives Tekton Chains the same IMAGE_URL and IMAGE_DIGEST.
func TestTaskScriptIncremental(t *testing.T) {
	task := readTask(t)
	layout := filepath.Join(t.TempDir(), "layout")
	source := sourceWorkspace(t)
	params := map[string]string{"PATH": "production", "IMAGE": "oci:" + layout + ":main", "INCREMENTAL": "true"}
	first := stepRun{params: params, workspaces: map[string]string{"source": source}}.run(t, task)
	checkResults(t, first, "oci:"+layout)
	second := stepRun{params: params, workspaces: map[string]string{"source": source}}.run(t, task)
	checkResults(t, second, "oci:"+layout)
	if second.results["IMAGE_DIGEST"] != first.results["IMAGE_DIGEST"] {
		t.Errorf("the incremental run gave IMAGE_DIGEST %s, the first %s", second.results["IMAGE_DIGEST"], first.results["IMAGE_DIGEST"])
	}
	if !strings.Contains(second.output, "unchanged") {
		t.Errorf("the incremental run did not say the inputs were unchanged:\n%s", second.output)
	}
}
