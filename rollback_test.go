package statepack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// commitAll stages every file of the work tree and commits it at when.
func commitAll(t testing.TB, repo *git.Repository, msg string, when time.Time) {
	t.Helper()
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddGlob("."); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Test", Email: "test@example.com", When: when}
	if _, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		t.Fatal(err)
	}
}

// TestNotOlderThan publishes two commits of a real git repository to one tag, then moves the tag back to the first
// artifact, which is still validly signed: NotOlderThan refuses it against the second, and passes the second
// against the first and an artifact against itself. Publishing the first commit again gives the first digest: the
// sequence keeps the artifact reproducible. An artifact published outside git has no sequence to compare.
func TestNotOlderThan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key, pub := keyPair(t)
	signer, err := sign.LoadSigner(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(ctx, Policy{Keys: []string{pub}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "repo")
	if err := os.CopyFS(dir, os.DirFS("testdata/demo")); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	ref := mustRef(t, "oci:"+layout+":main")
	publishHead := func() PublishResult {
		t.Helper()
		// The branch is named as CI names it on a detached HEAD, so a checkout of the first commit says "main" too.
		res, err := Publish(ctx, filepath.Join(dir, "production"), ref, PublishOptions{Signer: signer, Context: BuildContext{RefName: "main"}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	commitAll(t, repo, "three replicas", first)
	old := publishHead()
	kustomization := filepath.Join(dir, "production", "kustomization.yaml")
	k, _ := os.ReadFile(kustomization)
	if err := os.WriteFile(kustomization, []byte(strings.Replace(string(k), "value: 3", "value: 4", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo, "four replicas", first.Add(time.Hour))
	newer := publishHead()
	if old.Digest == newer.Digest {
		t.Fatal("two commits published to one digest")
	}
	if got, want := newer.Annotations[build.AnnotationSequence], strconv.FormatInt(first.Add(time.Hour).Unix(), 10); got != want {
		t.Errorf("the newer artifact's %s = %q, want the commit time %s", build.AnnotationSequence, got, want)
	}
	at := func(d string) publish.Ref { return mustRef(t, "oci:"+layout+"@"+d) }

	// Someone with write access moves the tag back to the old, validly signed artifact.
	tg, err := publish.Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	oldDesc, err := tg.Resolve(ctx, old.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Tag(ctx, oldDesc, "main"); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(ctx, ref, v, ReadOptions{}); err != nil {
		t.Fatalf("the rolled-back artifact no longer verifies (%v): the test shows nothing", err)
	}
	res, err := NotOlderThan(ctx, ref, at(newer.Digest), v, ReadOptions{})
	if !errors.Is(err, ErrOlder) || !strings.Contains(err.Error(), "the tag was moved back to older content") ||
		res.Digest != old.Digest || res.Sequence != first.Unix() || res.ThanSequence != first.Add(time.Hour).Unix() {
		t.Errorf("NotOlderThan(rolled back, newer) = %+v, %v; want ErrOlder with both sequences", res, err)
	}
	if res, err := NotOlderThan(ctx, at(newer.Digest), at(old.Digest), v, ReadOptions{}); err != nil || res.Sequence <= res.ThanSequence {
		t.Errorf("NotOlderThan(newer, older) = %+v, %v; want it to pass", res, err)
	}
	if _, err := NotOlderThan(ctx, at(newer.Digest), at(newer.Digest), v, ReadOptions{}); err != nil {
		t.Errorf("NotOlderThan(an artifact, itself) = %v", err)
	}

	// The same commit, checked out again, gives the same digest, sequence included.
	wt, _ := repo.Worktree()
	head, _ := repo.Head()
	commits, _ := repo.Log(&git.LogOptions{From: head.Hash()})
	var firstCommit *object.Commit
	_ = commits.ForEach(func(c *object.Commit) error { firstCommit = c; return nil })
	if err := wt.Checkout(&git.CheckoutOptions{Hash: firstCommit.Hash}); err != nil {
		t.Fatal(err)
	}
	if again := publishHead(); again.Digest != old.Digest {
		t.Errorf("publishing the first commit again gave %s, want %s", again.Digest, old.Digest)
	}

	// Outside git there is no sequence: the age cannot be compared, and the check says so.
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.CopyFS(plain, os.DirFS("testdata/demo")); err != nil {
		t.Fatal(err)
	}
	untracked, err := Publish(ctx, filepath.Join(plain, "production"), mustRef(t, "oci:"+layout+":plain"), PublishOptions{Signer: signer, Load: LoadOptions{Root: plain}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NotOlderThan(ctx, at(untracked.Digest), at(old.Digest), v, ReadOptions{}); !errors.Is(err, ErrNoSequence) {
		t.Errorf("NotOlderThan(no sequence, …) = %v, want ErrNoSequence", err)
	}
	// An unsigned reference cannot vouch for a sequence.
	_, otherPub := keyPair(t)
	ov, err := NewVerifier(ctx, Policy{Keys: []string{otherPub}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NotOlderThan(ctx, at(newer.Digest), at(old.Digest), ov, ReadOptions{}); !errors.Is(err, sign.ErrVerification) {
		t.Errorf("NotOlderThan with another key = %v, want the signature refused", err)
	}
}

// TestSequenceInShallowClone publishes the same commit from a full clone and from a clone one commit deep, as CI
// checks out by default: the sequence is read from the commit itself, so both give the same digest, where a count
// of the history's commits could not even be made in the shallow clone.
func TestSequenceInShallowClone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	origin := filepath.Join(t.TempDir(), "origin")
	if err := os.CopyFS(origin, os.DirFS("testdata/demo")); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInitWithOptions(origin, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	commitAll(t, repo, "first", when)
	if err := os.WriteFile(filepath.Join(origin, "README.md"), []byte("fleet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commitAll(t, repo, "second", when.Add(time.Minute))
	var digests, sequences []string
	for _, depth := range []int{0, 1} {
		clone := filepath.Join(t.TempDir(), "clone")
		if _, err := git.PlainClone(clone, false, &git.CloneOptions{URL: "file://" + origin, Depth: depth}); err != nil {
			t.Fatal(err)
		}
		res, err := Publish(ctx, filepath.Join(clone, "production"), mustRef(t, "oci:"+filepath.Join(t.TempDir(), "layout")+":main"), PublishOptions{})
		if err != nil {
			t.Fatal(err)
		}
		digests, sequences = append(digests, res.Digest), append(sequences, res.Annotations[build.AnnotationSequence])
	}
	if digests[0] != digests[1] || sequences[0] != strconv.FormatInt(when.Add(time.Minute).Unix(), 10) || sequences[1] != sequences[0] {
		t.Errorf("full and shallow clones gave %q with sequences %q; want one digest and the second commit's time", digests, sequences)
	}
}

// TestSequenceAnnotationChecked: a sequence given by hand must be a non-negative decimal integer, as the one
// statepack writes is.
func TestSequenceAnnotationChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		ok    bool
	}{{"1714564800", true}, {"0", true}, {"-1", false}, {"0042", false}, {"2024-05-01", false}, {"", false}} {
		err := PackageOptions{Annotations: map[string]string{build.AnnotationSequence: tc.value}}.Check()
		if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidOption) {
			t.Errorf("Check(%s=%q) = %v, want ok %v", build.AnnotationSequence, tc.value, err, tc.ok)
		}
	}
}
