package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/statepack/statepack/publish"
)

// TestVerifyNotOlderThan publishes two commits of a git repository to one tag, then moves the tag back to the first
// artifact, validly signed: verify alone passes, verify --not-older-than the second refuses it (exit 1, saying the
// tag moved back), and the second verifies as not older than the first, given as a reference or as a bare digest
// in the same repository.
func TestVerifyNotOlderThan(t *testing.T) {
	t.Parallel()
	key, pub := keyPair(t, "")
	dir, _ := gitRepo(t, "../../testdata/demo", "https://github.com/example/gitops.git")
	layout := filepath.Join(t.TempDir(), "layout")
	ref := "oci:" + layout + ":main"
	publishDigest := func() string {
		t.Helper()
		r := mustRun(t, 0, nil, "publish", filepath.Join(dir, "production"), ref, "--key", key, "-o", "json")
		var res publishResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatal(err)
		}
		return res.Digest
	}
	old := publishDigest()
	kustomization := filepath.Join(dir, "production", "kustomization.yaml")
	k, _ := os.ReadFile(kustomization)
	if err := os.WriteFile(kustomization, []byte(strings.Replace(string(k), "value: 3", "value: 5", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Test", Email: "test@example.com", When: commitTime.Add(time.Hour)}
	if _, err := wt.Commit("five replicas", &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
	newer := publishDigest()

	// The tag moves back to the first artifact.
	ctx := context.Background()
	r, _ := publish.ParseRef(ref)
	tg, err := publish.Open(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := tg.Resolve(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Tag(ctx, desc, "main"); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, nil, "verify", ref, "--key", pub)
	v := mustRun(t, 1, nil, "verify", ref, "--key", pub, "--not-older-than", "oci:"+layout+"@"+newer)
	if !strings.Contains(v.stderr, "@"+old+" (sequence 1714557600, committed 2024-05-01T10:00:00Z) is older than the reference artifact oci:"+layout+"@"+newer+
		" (sequence 1714561200, committed 2024-05-01T11:00:00Z): the tag was moved back to older content") || strings.Contains(v.stdout, "signature verified") {
		t.Errorf("verify --not-older-than the newer artifact, after the tag moved back: %s", v)
	}
	// Forward passes, the reference given as a bare digest of the same repository.
	ok := mustRun(t, 0, nil, "verify", "oci:"+layout+"@"+newer, "--key", pub, "--not-older-than", old)
	if !strings.Contains(ok.stdout, "not older than oci:"+layout+"@"+old+" (sequence 1714561200 ≥ 1714557600)") {
		t.Errorf("verify --not-older-than the older digest: %s", ok)
	}
	j := mustRun(t, 1, nil, "verify", ref, "--key", pub, "--not-older-than", newer, "-o", "json")
	var res verifyResult
	if err := json.Unmarshal([]byte(j.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Verified || !strings.Contains(res.Error, "is older than the reference artifact") {
		t.Errorf("verify --not-older-than -o json = %+v, want it refused with the reason", res)
	}
	if u := mustRun(t, 2, nil, "verify", ref, "--key", pub, "--not-older-than", "no tag here"); !strings.Contains(u.stderr, "--not-older-than") {
		t.Errorf("verify --not-older-than with neither a reference nor a digest: %s", u)
	}
}
