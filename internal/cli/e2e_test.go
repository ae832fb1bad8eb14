package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testregistry"
)

const demoTree = "../../testdata/demo/production"

// fluxPull fetches an artifact the way Flux's source-controller does.
func fluxPull(t *testing.T, host, repoName, tag string) (ocispec.Manifest, map[string]string) {
	t.Helper()
	return testregistry.FluxPull(t, host, repoName, tag)
}

// argoCDAccepts applies Argo CD's default rules for OCI sources (3.1+): at most 10 layers, exactly one tar-like layer
// of an allowed media type, and a config that is not Helm's.
func argoCDAccepts(m ocispec.Manifest) []string {
	allowed := []string{"application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.cncf.helm.chart.content.v1.tar+gzip"}
	var problems []string
	if len(m.Layers) > 10 {
		problems = append(problems, "more than 10 layers")
	}
	tarLike := 0
	for _, l := range m.Layers {
		if strings.Contains(l.MediaType, "tar") {
			tarLike++
			if !slices.Contains(allowed, l.MediaType) {
				problems = append(problems, "layer media type "+l.MediaType+" is not in the default allow-list")
			}
		}
	}
	if tarLike != 1 {
		problems = append(problems, "not exactly one tar-like layer")
	}
	if m.Config.MediaType == "application/vnd.cncf.helm.config.v1+json" {
		problems = append(problems, "Helm config type on a non-chart")
	}
	return problems
}

// renderedFiles renders path and returns the canonical YAML of each object, sorted.
func renderedObjects(t *testing.T, path string) []string {
	t.Helper()
	r := mustRun(t, 0, nil, "render", path)
	docs := strings.Split(r.stdout, "---\n")
	slices.Sort(docs)
	return docs
}

func sortedValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func TestPublishSignVerifyPullAgainstRegistry(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	plant("correct horse", "ghp_SECRETTOKEN")
	key, pub := keyPair(t, "correct horse")
	env := map[string]string{"COSIGN_PASSWORD": "correct horse"}
	repoDir, commit := gitRepo(t, "../../testdata/demo", "https://ci-bot:ghp_SECRETTOKEN@github.com/example/gitops.git")
	path := filepath.Join(repoDir, "production")
	ref := reg.Host + "/team/demo"

	r := mustRun(t, 0, env, "publish", path, ref+":v1", "--tag", "latest", "--key", key)
	if !strings.HasPrefix(r.stdout, ref+"@sha256:") || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("publish stdout = %q, want one line %s@sha256:…", r.stdout, ref)
	}
	digestRef := strings.TrimSpace(r.stdout)
	if strings.Contains(r.stdout+r.stderr, "SECRETTOKEN") || strings.Contains(r.stdout+r.stderr, "correct horse") {
		t.Fatalf("a secret leaked into the output:\n%s", r)
	}

	m, files := fluxPull(t, reg.Host, "team/demo", "v1")
	if problems := argoCDAccepts(m); len(problems) > 0 {
		t.Errorf("Argo CD would refuse the artifact: %v", problems)
	}
	if m.Config.MediaType != build.ConfigMediaType || m.Layers[0].MediaType != build.LayerMediaType {
		t.Errorf("media types = config %s layer %s", m.Config.MediaType, m.Layers[0].MediaType)
	}
	wantAnnotations := map[string]string{
		ocispec.AnnotationSource:   "https://github.com/example/gitops",
		ocispec.AnnotationRevision: "main@sha1:" + commit,
		ocispec.AnnotationCreated:  "2024-05-01T10:00:00Z",
	}
	for k, v := range wantAnnotations {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	if got, want := sortedValues(files), renderedObjects(t, path); !slices.Equal(got, want) {
		t.Errorf("Flux-style pull yields\n%v\nwant the rendered objects\n%v", got, want)
	}

	// Both tags point at the signed digest; verification passes by tag and by digest.
	for _, tag := range []string{"v1", "latest"} {
		v := mustRun(t, 0, nil, "verify", ref+":"+tag, "--key", pub)
		if !strings.Contains(v.stdout, digestRef) || !strings.Contains(v.stdout, "verified") {
			t.Errorf("verify %s stdout = %q, want it to name %s", tag, v.stdout, digestRef)
		}
	}
	mustRun(t, 0, nil, "verify", digestRef, "--key", pub)

	// pull verifies first and extracts exactly the objects.
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, 0, nil, "pull", ref+":v1", "-o", out, "--key", pub)
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(files) {
		t.Errorf("pull extracted %d files, want %d", len(entries), len(files))
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || string(got) != want {
			t.Errorf("pulled %s = %q, %v; want %q", name, got, err, want)
		}
	}

	// Publishing the same tree again converges on the same digest.
	again := mustRun(t, 0, env, "publish", path, ref+":v1", "--key", key)
	if strings.TrimSpace(again.stdout) != digestRef {
		t.Errorf("second publish = %s, want %s", again.stdout, digestRef)
	}
}

func TestPublishJSONOutput(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	r := mustRun(t, 0, nil, "publish", "../../testdata/plain", reg.Host+"/plain:main", "-t", "extra", "-o", "json")
	var got publishResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("publish -o json printed %q: %v", r.stdout, err)
	}
	if got.Repository != reg.Host+"/plain" || !strings.HasPrefix(got.Digest, "sha256:") || got.Ref != got.Repository+"@"+got.Digest ||
		!slices.Equal(got.Tags, []string{"extra", "main"}) || got.MediaType != ocispec.MediaTypeImageManifest ||
		got.Objects != 6 || got.Size <= 0 || got.Signed {
		t.Errorf("publish -o json = %+v", got)
	}
}

func TestPublishToOCILayout(t *testing.T) {
	t.Parallel()
	key, pub := keyPair(t, "")
	dir := filepath.Join(t.TempDir(), "layout")
	r := mustRun(t, 0, nil, "publish", demoTree, "oci:"+dir+":v1", "--key", key)
	if !strings.HasPrefix(r.stdout, "oci:"+dir+"@sha256:") {
		t.Fatalf("publish stdout = %q", r.stdout)
	}
	mustRun(t, 0, nil, "verify", "oci:"+dir+":v1", "--key", pub)
	out := filepath.Join(t.TempDir(), "out")
	r = mustRun(t, 0, nil, "pull", "oci:"+dir+":v1", "-o", out)
	if !strings.Contains(r.stderr, "extracted without verification") {
		t.Errorf("pull without --key does not say it verified nothing: %s", r)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 4 {
		t.Errorf("pull from the layout extracted %d files, want 4", len(entries))
	}
}

func TestPublishResultFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	digestFile, refFile := filepath.Join(dir, "IMAGE_DIGEST"), filepath.Join(dir, "IMAGE_URL")
	r := mustRun(t, 0, nil, "publish", demoTree, "oci:"+layout+":v1", "--digest-file", digestFile, "--ref-file", refFile)
	d, _ := os.ReadFile(digestFile)
	u, _ := os.ReadFile(refFile)
	if !strings.HasPrefix(string(d), "sha256:") || len(d) != 71 {
		t.Errorf("digest file = %q, want sha256:<64 hex> without a newline", d)
	}
	if string(u)+"\n" != r.stdout || !strings.HasSuffix(string(u), string(d)) {
		t.Errorf("ref file = %q, want %q", u, strings.TrimSpace(r.stdout))
	}
}

// TestImmutableTagsFlag checks the flag and its exit code; the rule itself is tested in the library
// (TestImmutableTags).
func TestImmutableTagsFlag(t *testing.T) {
	t.Parallel()
	ref := "oci:" + filepath.Join(t.TempDir(), "layout") + ":v1.0.0"
	mustRun(t, 0, nil, "publish", demoTree, ref, "--immutable-tags")
	r := run(t, nil, "", "publish", "../../testdata/plain", ref, "--immutable-tags")
	if r.code != 1 || !strings.Contains(r.stderr, "never moves a tag") {
		t.Fatalf("%s\nwant exit 1: the tag is taken", r)
	}
	mustRun(t, 0, nil, "publish", "../../testdata/plain", ref)
}
