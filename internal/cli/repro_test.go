package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
)

type buildResult struct {
	Digest         string
	ManifestDigest string
	Annotations    map[string]string
}

func buildJSON(t *testing.T, env map[string]string, args ...string) buildResult {
	t.Helper()
	out := filepath.Join(t.TempDir(), "layer.tar.gz")
	r := mustRun(t, 0, env, append([]string{"build", "-o", out, "--format", "json"}, args...)...)
	var b buildResult
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
		t.Fatalf("build --format json printed %q: %v", r.stdout, err)
	}
	layer, err := os.ReadFile(out)
	if err != nil || len(layer) == 0 {
		t.Fatalf("build wrote no layer: %v", err)
	}
	return b
}

// TestReproducibleAcrossClones builds the demo from two clones of one repository at different paths, with
// different file modes, time zones and a pause between, and wants the same manifest digest.
// Not parallel: it sets time.Local, which every other test reads.
func TestReproducibleAcrossClones(t *testing.T) {
	origin, _ := gitRepo(t, "../../testdata/demo", "https://github.com/example/gitops.git")
	var digests []string
	for i, tc := range []struct {
		zone *time.Location
		mode os.FileMode
	}{
		{time.UTC, 0o644},
		{time.FixedZone("UTC+13", 13*3600), 0o600},
	} {
		clone := filepath.Join(t.TempDir(), strings.Repeat("deeper/", i+1), "clone")
		if _, err := git.PlainClone(clone, false, &git.CloneOptions{URL: origin}); err != nil {
			t.Fatal(err)
		}
		_ = filepath.Walk(clone, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() && !strings.Contains(p, ".git") {
				return os.Chmod(p, tc.mode)
			}
			return nil
		})
		saved := time.Local
		time.Local = tc.zone
		b := buildJSON(t, nil, filepath.Join(clone, "production"))
		time.Local = saved
		if b.Annotations["org.opencontainers.image.created"] != "2024-05-01T10:00:00Z" {
			t.Errorf("created = %q, want the commit time in UTC", b.Annotations["org.opencontainers.image.created"])
		}
		digests = append(digests, b.ManifestDigest)
		time.Sleep(1100 * time.Millisecond) // a different wall-clock second for the next build
	}
	if digests[0] != digests[1] {
		t.Errorf("two clones gave manifests %s and %s, want one digest", digests[0], digests[1])
	}
}

func TestAnnotations(t *testing.T) {
	t.Parallel()
	plant("ghs_SECRET")
	repo, commit := gitRepo(t, "../../testdata/demo", "https://x-access-token:ghs_SECRET@github.com/example/gitops.git")
	detached, _ := gitRepo(t, "../../testdata/demo", "")
	r, err := git.PlainOpen(detached)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := r.Head()
	wt, _ := r.Worktree()
	if err := wt.Checkout(&git.CheckoutOptions{Hash: head.Hash()}); err != nil {
		t.Fatal(err)
	}
	plain := t.TempDir()
	copyDir(t, "../../testdata/demo", plain)

	tests := []struct {
		name    string
		path    string
		env     map[string]string
		args    []string
		want    map[string]string
		absent  []string
		wantLog string
	}{
		{name: "branch checkout", path: filepath.Join(repo, "production"),
			want: map[string]string{"org.opencontainers.image.source": "https://github.com/example/gitops",
				"org.opencontainers.image.revision": "main@sha1:" + commit, "org.opencontainers.image.created": "2024-05-01T10:00:00Z",
				"dev.statepack.sequence": "1714557600"}},
		{name: "SOURCE_DATE_EPOCH wins over the commit time, not over the sequence", path: filepath.Join(repo, "production"),
			env:  map[string]string{"SOURCE_DATE_EPOCH": "1700000000"},
			want: map[string]string{"org.opencontainers.image.created": "2023-11-14T22:13:20Z", "dev.statepack.sequence": "1714557600"}},
		{name: "detached HEAD in GitHub Actions", path: filepath.Join(detached, "production"),
			env:  map[string]string{"GITHUB_REF": "refs/tags/v1.4.0", "GITHUB_REF_NAME": "v1.4.0"},
			want: map[string]string{"org.opencontainers.image.revision": "v1.4.0@sha1:" + head.Hash().String()}, absent: []string{"org.opencontainers.image.source"},
			wantLog: "org.opencontainers.image.source (the repository has no remote)"},
		{name: "detached HEAD without CI", path: filepath.Join(detached, "production"),
			want: map[string]string{"org.opencontainers.image.revision": "sha1:" + head.Hash().String()}},
		{name: "user annotations", path: filepath.Join(repo, "production"),
			args: []string{"--annotation", "org.opencontainers.image.revision=override", "--annotation", "team=platform"},
			want: map[string]string{"org.opencontainers.image.revision": "override", "team": "platform"}},
		{name: "outside git", path: filepath.Join(plain, "production"), args: []string{"--root", plain},
			absent:  []string{"org.opencontainers.image.source", "org.opencontainers.image.revision", "org.opencontainers.image.created", "dev.statepack.sequence"},
			wantLog: "not in a git work tree: annotations left out"},
		{name: "outside git with SOURCE_DATE_EPOCH", path: filepath.Join(plain, "production"), args: []string{"--root", plain},
			env:  map[string]string{"SOURCE_DATE_EPOCH": "0"},
			want: map[string]string{"org.opencontainers.image.created": "1970-01-01T00:00:00Z"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "layer.tar.gz")
			r := mustRun(t, 0, tc.env, append([]string{"build", "-o", out, "--format", "json", tc.path}, tc.args...)...)
			var b buildResult
			if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if b.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, b.Annotations[k], v)
				}
			}
			for _, k := range tc.absent {
				if v, ok := b.Annotations[k]; ok {
					t.Errorf("annotation %s = %q, want it left out", k, v)
				}
			}
			if !strings.Contains(r.stderr, tc.wantLog) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tc.wantLog)
			}
			if strings.Contains(r.stdout+r.stderr, "ghs_SECRET") {
				t.Errorf("the token in the remote URL leaked:\n%s", r)
			}
		})
	}
	t.Run("bad SOURCE_DATE_EPOCH", func(t *testing.T) {
		r := run(t, map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, "", "build", "-o", filepath.Join(t.TempDir(), "l"), filepath.Join(repo, "production"))
		if r.code != 2 || !strings.Contains(r.stderr, "SOURCE_DATE_EPOCH") {
			t.Fatalf("%s\nwant exit 2 naming SOURCE_DATE_EPOCH", r)
		}
	})
}
