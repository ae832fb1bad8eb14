package statepack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/statepack/statepack/internal/faultproxy"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// The rules of Pull and Copy under a registry that fails, proved here against the real registry behind
// internal/faultproxy: a pulled tree is written fully or not at all; a copy never leaves a tag on content that is
// incomplete or unverified; transient failures are retried and permanent ones fail at once, clearly; a deadline
// names the step it ended. internal/cli keeps only what the command line adds (exit codes, flags).

// signedArtifact is the demo tree published signed and attested at src/app:v1 in a registry of its own, with what a
// test checks a pull or a copy of it against.
type signedArtifact struct {
	reg    *testregistry.Registry
	digest string
	// files are what a pull without faults extracts: slash-separated name → content.
	files map[string]string
	// gate verifies the signature and both attestations, as `pull --key … --attestation slsa --attestation inventory`.
	gate      *Verifier
	verifiers []signature.Verifier
}

func publishSigned(t *testing.T) signedArtifact {
	t.Helper()
	ctx := context.Background()
	reg := testregistry.Start(t)
	key, pub := keyPair(t)
	signer, err := sign.LoadSigner(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Publish(ctx, demoTree, mustRef(t, reg.Host+"/src/app:v1"), PublishOptions{Signer: signer, Attest: true, Registry: plainHTTP})
	if err != nil {
		t.Fatal(err)
	}
	a := signedArtifact{reg: reg, digest: res.Digest}
	if a.gate, err = NewVerifier(ctx, Policy{Keys: []string{pub}, Attestations: AttestationTypes}); err != nil {
		t.Fatal(err)
	}
	if a.verifiers, err = sign.LoadVerifiers(ctx, pub); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if _, err := Pull(ctx, mustRef(t, reg.Host+"/src/app:v1"), dir, a.gate, ReadOptions{Registry: plainHTTP}); err != nil {
		t.Fatal(err)
	}
	if a.files = readTree(t, dir); len(a.files) != 4 {
		t.Fatalf("a pull without faults extracted %d files, want 4: %v", len(a.files), slices.Sorted(maps.Keys(a.files)))
	}
	return a
}

// plainHTTP are the registry options of every test here: the test registries speak plain HTTP.
var plainHTTP = []publish.Option{publish.WithPlainHTTP(true)}

// readTree reads every file under dir, by slash-separated relative name; nil when dir does not exist.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// entries lists what dir holds (its names, sorted); nil when it does not exist.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, e := range list {
		names = append(names, e.Name())
	}
	return names
}

// notAVerdict fails the test when err, the failure of a pull or a copy under registry faults, would read as
// something else: a verification verdict, bad input or the caller's mistake (the CLI's exits 1 and 2). A registry
// that fails is a registry failure (exit 3), whatever step it met.
func notAVerdict(t *testing.T, what string, err error) {
	t.Helper()
	for _, sentinel := range []error{sign.ErrVerification, sign.ErrNoSignature, ErrInvalidOption, publish.ErrInvalidReference,
		publish.ErrUnsafeArchive, publish.ErrNotStatepackArtifact, ErrTagTaken} {
		if errors.Is(err, sentinel) {
			t.Errorf("%s under registry faults failed as %q: %v", what, sentinel, err)
		}
	}
}

// stepRetries records the steps the library retried, from its debug log ("retrying a step").
type stepRetries struct {
	mu    sync.Mutex
	steps []string
}

func (s *stepRetries) logger() *slog.Logger { return slog.New(s) }

func (s *stepRetries) Enabled(context.Context, slog.Level) bool { return true }
func (s *stepRetries) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *stepRetries) WithGroup(string) slog.Handler            { return s }
func (s *stepRetries) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "retrying a step" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "step" {
			s.mu.Lock()
			s.steps = append(s.steps, a.Value.String())
			s.mu.Unlock()
		}
		return true
	})
	return nil
}

func (s *stepRetries) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.steps)
}

var _ slog.Handler = (*stepRetries)(nil)

// TestPullAndCopyUnderRegistryFaults proves the rules of Pull and Copy against one signed and attested artifact in
// a real registry, with faults injected in front of it: the mixed faults (many runs, a success bar, every outcome
// checked), a request timeout through stalls, a deadline during a stall, and a destination that fails every time.
func TestPullAndCopyUnderRegistryFaults(t *testing.T) {
	t.Parallel()
	a := publishSigned(t)
	t.Run("pulls under mixed faults", func(t *testing.T) { pullsUnderMixedFaults(t, a) })
	t.Run("copies under mixed faults", func(t *testing.T) { copiesUnderMixedFaults(t, a) })
	t.Run("a request timeout ends stalls", func(t *testing.T) { requestTimeoutEndsStalls(t, a) })
	t.Run("a deadline names the step", func(t *testing.T) { deadlineNamesTheStep(t, a) })
	t.Run("a copy never leaves a half-moved tag", func(t *testing.T) { copyNeverLeavesAHalfMovedTag(t, a) })
}

// pullsUnderMixedFaults pulls, verifying the signature and both attestations first, through a proxy that
// injects the mixed faults (503, 429, cuts mid-body, resets, FIN closes, 200 ms stalls). At least 95% must
// succeed with the artifact's exact files; a failure must be a registry failure that leaves nothing at all: no
// output directory, no scratch directory beside it. Running a failed pull again without faults, into the same
// directory, converges.
//
// The bar comes from measurements: without step retries 5 of 16 pulls succeeded; with them and the transport's
// read-ahead of small answers, 16 of 16, run after run. With 20 runs, 95% lets one run fail.
func pullsUnderMixedFaults(t *testing.T, a signedArtifact) {
	dirs := make([]string, mixedRuns)
	// The seed's first draws hold a cut, a FIN close and a reset within the first 40 requests.
	underMixedFaults(t, a, "pulls", 20261204, func(host string, i int, log *slog.Logger) error {
		scratch := t.TempDir()
		dirs[i] = filepath.Join(scratch, "out")
		res, err := Pull(context.Background(), mustRef(t, host+"/src/app:v1"), dirs[i], a.gate, ReadOptions{Registry: plainHTTP, Logger: log})
		got := readTree(t, dirs[i])
		switch {
		case err == nil && !maps.Equal(got, a.files):
			t.Errorf("pull %d succeeded but extracted %d files that differ from the artifact's: %v", i, len(got), slices.Sorted(maps.Keys(got)))
		case err == nil && (res.Digest != a.digest || !res.Verified || !slices.Equal(res.Files, slices.Sorted(maps.Keys(a.files)))):
			t.Errorf("pull %d = %+v, want %s verified with the files %v", i, res, a.digest, slices.Sorted(maps.Keys(a.files)))
		case err != nil:
			if left := entries(t, scratch); len(left) > 0 {
				t.Errorf("pull %d failed but left %v beside its output directory (%d files in it)", i, left, len(got))
			}
		}
		return err
	}, func(i int) {
		if _, err := Pull(context.Background(), mustRef(t, a.reg.Host+"/src/app:v1"), dirs[i], a.gate, ReadOptions{Registry: plainHTTP}); err != nil {
			t.Errorf("pull %d again, without faults: %v", i, err)
		} else if got := readTree(t, dirs[i]); !maps.Equal(got, a.files) {
			t.Errorf("pull %d again extracted other files: %v", i, slices.Sorted(maps.Keys(got)))
		}
	})
}

// copiesUnderMixedFaults copies a signed artifact, verifying it at the source and again at the destination,
// through a proxy that injects the mixed faults, FIN closes included. At least 95% must succeed with a destination
// holding the manifest, every blob, the signature and attestation tags and the tag; a failure must be a registry
// failure, with no tag on incomplete content. Running a failed copy again without faults converges.
//
// Without step retries 3 of 12 copies succeeded; with them, 12 of 12.
func copiesUnderMixedFaults(t *testing.T, a signedArtifact) {
	underMixedFaults(t, a, "copies", 20261207, func(host string, i int, log *slog.Logger) error {
		dst := fmt.Sprintf("dst%d/app", i)
		res, err := Copy(context.Background(), mustRef(t, host+"/src/app:v1"), mustRef(t, host+"/"+dst), a.gate,
			CopyOptions{ReadOptions: ReadOptions{Registry: plainHTTP, Logger: log}})
		if err == nil && (res.Digest != a.digest || !res.Verified || !slices.Equal(res.Tags, []string{"v1"})) {
			t.Errorf("copy %d = %+v, want %s verified and tagged v1", i, res, a.digest)
		}
		checkCopy(t, a.reg.Host, dst, a.digest, a.verifiers, err == nil)
		return err
	}, func(i int) {
		dst := fmt.Sprintf("dst%d/app", i)
		if _, err := Copy(context.Background(), mustRef(t, a.reg.Host+"/src/app:v1"), mustRef(t, a.reg.Host+"/"+dst), a.gate, CopyOptions{ReadOptions: ReadOptions{Registry: plainHTTP}}); err != nil {
			t.Errorf("copy %d again, without faults: %v", i, err)
		}
		checkCopy(t, a.reg.Host, dst, a.digest, a.verifiers, true)
	})
}

// mixedRuns is how many pulls or copies run under the mixed faults, mixedWorkers at a time.
const mixedRuns, mixedWorkers = 20, 4

// underMixedFaults calls run for mixedRuns runs, mixedWorkers at a time, with the host of a proxy in front of a's
// registry that injects the mixed faults (FIN closes included) drawn from seed, and a logger that records the step
// retries; then again for each run that failed, now without faults. A failure must be a registry failure, not a
// verdict; at least 95% of the runs must succeed; and the runs must have met cuts, FIN closes and resets.
func underMixedFaults(t *testing.T, a signedArtifact, what string, seed uint64, run func(host string, i int, log *slog.Logger) error, again func(i int)) {
	if testing.Short() {
		t.Skip("fault injection runs many " + what)
	}
	t.Parallel()
	proxy := faultproxy.Start(a.reg.Host, faultproxy.Mixed(200*time.Millisecond, true), seed)
	defer proxy.Close()
	var retried stepRetries
	errs := make([]error, mixedRuns)
	faultproxy.InParallel(mixedRuns, mixedWorkers, func(i int) {
		if errs[i] = run(proxy.Host, i, retried.logger()); errs[i] != nil {
			t.Logf("run %d failed: %v", i, errs[i])
			notAVerdict(t, fmt.Sprintf("run %d", i), errs[i])
		}
	})
	proxy.Close()
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			again(i)
		}
	}
	counts := proxy.Counts()
	t.Logf("verified %s: %d attempted, %d succeeded, %d failed; %d step retries; faults injected: %s", what, mixedRuns, mixedRuns-failed, failed, len(retried.list()), counts)
	if ok := mixedRuns - failed; ok*100 < mixedRuns*95 {
		t.Errorf("%d of %d %s succeeded under faults, want at least 95%%", ok, mixedRuns, what)
	}
	// A bar met without the faults that retries exist for would prove nothing.
	if counts.ByKind[faultproxy.Cut] == 0 || counts.ByKind[faultproxy.Drop] == 0 || counts.ByKind[faultproxy.Reset] == 0 {
		t.Errorf("the %s met no cut, drop or reset (%s): the mix is not being tested", what, counts)
	}
}

// plainRepo opens a repository of a test registry directly (no proxy, no statepack code).
func plainRepo(t *testing.T, host, name string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	return repo
}

// completeManifest fetches the manifest desc names and every blob it references, checking their digests: nil when
// the content is all there.
func completeManifest(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor) error {
	raw, err := content.FetchAll(ctx, repo, desc)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	for _, b := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if _, err := content.FetchAll(ctx, repo, b); err != nil {
			return fmt.Errorf("blob %s of %s: %w", b.Digest, desc.Digest, err)
		}
	}
	return nil
}

// checkCopy checks a copy's destination straight at the registry: after a success (or whenever the tag exists),
// v1 must name digest, with the manifest, every blob, a verifying signature and verifying attestations; after a
// failure, a signature or attestation tag that exists must name a complete manifest.
func checkCopy(t *testing.T, host, dst, digest string, verifiers []signature.Verifier, succeeded bool) {
	t.Helper()
	ctx := context.Background()
	repo := plainRepo(t, host, dst)
	desc, err := repo.Resolve(ctx, "v1")
	switch {
	case err != nil && succeeded:
		t.Errorf("%s: copy succeeded but the tag v1 is missing: %v", dst, err)
		return
	case err != nil:
		for _, suffix := range []string{".sig", ".att"} {
			tag := strings.Replace(digest, ":", "-", 1) + suffix
			if sdesc, err := repo.Resolve(ctx, tag); err == nil {
				if err := completeManifest(ctx, repo, sdesc); err != nil {
					t.Errorf("%s: a failed copy left %s on incomplete content: %v", dst, tag, err)
				}
			}
		}
		return
	}
	if desc.Digest.String() != digest {
		t.Errorf("%s:v1 = %s, want %s", dst, desc.Digest, digest)
	}
	if err := completeManifest(ctx, repo, desc); err != nil {
		t.Errorf("%s:v1 points at incomplete content: %v", dst, err)
	}
	if _, err := sign.Verify(ctx, repo, desc, verifiers); err != nil {
		t.Errorf("%s:v1 is not signed at the destination: %v", dst, err)
	}
	if _, err := sign.VerifyAttestations(ctx, repo, desc, verifiers, AttestationTypes); err != nil {
		t.Errorf("%s:v1 lacks its attestations at the destination: %v", dst, err)
	}
}

// TestAFailedPullLeavesNothing pulls an artifact whose layer the registry serves with other bytes (its gzip header
// changed on the registry's disk, so that the whole tree extracts before the digest check fails at the end of the
// blob), and a tag that does not exist. Both are permanent: they fail at once, without a step retry, with an error
// that names the artifact and says nothing was extracted, and the destination is as it was: a new directory is not
// created (nor the parents Pull made for it), an empty one stays empty, and no scratch directory is left.
func TestAFailedPullLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := testregistry.Start(t) // of its own: the blob store is shared by every repository of a registry
	res, err := Publish(ctx, demoTree, mustRef(t, reg.Host+"/corrupt/app:v1"), PublishOptions{Registry: plainHTTP})
	if err != nil {
		t.Fatal(err)
	}
	corruptLayer(t, reg, "corrupt/app", res.Digest)
	full := reg.Host + "/corrupt/app@" + res.Digest

	for _, tc := range []struct {
		name, ref string
		exists    bool // the destination is an empty directory
		sentinel  error
		want      []string
	}{
		{"corrupt layer into a new directory", reg.Host + "/corrupt/app:v1", false, content.ErrMismatchedDigest,
			[]string{"extracting " + full + " into ", "does not match", "(nothing was extracted)"}},
		{"corrupt layer into an empty directory", reg.Host + "/corrupt/app:v1", true, content.ErrMismatchedDigest,
			[]string{"extracting " + full + " into ", "does not match", "(nothing was extracted)"}},
		{"missing tag", reg.Host + "/corrupt/app:v2", false, publish.ErrNotFound, []string{"v2", "corrupt/app", "not found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			scratch := t.TempDir()
			dir := filepath.Join(scratch, "parent", "out")
			if tc.exists {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			var retried stepRetries
			_, err := Pull(ctx, mustRef(t, tc.ref), dir, nil, ReadOptions{Registry: plainHTTP, Logger: retried.logger()})
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("Pull(%s) = %v, want %v", tc.ref, err, tc.sentinel)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Pull(%s) = %q, want it to say %q", tc.ref, err, w)
				}
			}
			if strings.Contains(err.Error(), "run the pull again") {
				t.Errorf("Pull(%s) = %q: it says to run the pull again, which only repeats the failure", tc.ref, err)
			}
			if steps := retried.list(); len(steps) > 0 {
				t.Errorf("Pull(%s) retried %v, a failure another try only repeats", tc.ref, steps)
			}
			switch left := entries(t, scratch); {
			case tc.exists && (!slices.Equal(left, []string{"parent"}) || len(entries(t, dir)) > 0):
				t.Errorf("a failed pull into an empty directory left %v in it (%v beside it)", entries(t, dir), left)
			case !tc.exists && len(left) > 0:
				t.Errorf("a failed pull into a new directory left %v behind", left)
			}
		})
	}

	// The local file system refuses the destination (its parent is a file): no retry, no word of the registry.
	t.Run("destination below a file", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		var retried stepRetries
		_, err := Pull(ctx, mustRef(t, reg.Host+"/corrupt/app@"+res.Digest), filepath.Join(file, "out"), nil, ReadOptions{Registry: plainHTTP, Logger: retried.logger()})
		if err == nil || strings.Contains(err.Error(), "run the pull again") {
			t.Errorf("Pull into a directory below a file = %v, want an error that does not blame the registry", err)
		}
		if steps := retried.list(); len(steps) > 0 {
			t.Errorf("Pull into a directory below a file retried %v, a failure another try only repeats", steps)
		}
	})
}

// corruptLayer changes the modification time in the gzip header of the layer of the manifest digest names, in the
// registry's storage: the blob keeps its size and still decompresses to the same tree, but no longer matches its
// digest.
func corruptLayer(t *testing.T, reg *testregistry.Registry, repoName, digest string) {
	t.Helper()
	repo := plainRepo(t, reg.Host, repoName)
	desc, err := repo.Resolve(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := content.FetchAll(context.Background(), repo, desc)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	hex := m.Layers[0].Digest.Encoded()
	path := filepath.Join(reg.Dir, "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the layer is not where distribution's file system driver keeps it: %v", err)
	}
	if len(data) < 10 || data[0] != 0x1f || data[1] != 0x8b {
		t.Fatalf("the layer %s is not gzip", path)
	}
	data[4] ^= 0xff // MTIME, which no checksum covers
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// failingRoute starts a proxy in front of the registry at upstream that sends the requests fail selects to a
// faultproxy answering every request with 503, and the rest straight to the registry. It returns the proxy's host.
func failingRoute(t *testing.T, upstream string, fail func(*http.Request) bool) string {
	t.Helper()
	faults := faultproxy.Start(upstream, faultproxy.Faults{Unavailable: 1}, 1)
	t.Cleanup(faults.Close)
	failed := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: faults.Host})
	// A client that gives up mid-request makes a reverse proxy log; that is the point of the exercise.
	failed.ErrorLog = log.New(io.Discard, "", 0)
	host, stop := faultproxy.Intercept(upstream, func(w http.ResponseWriter, r *http.Request) bool {
		if !fail(r) {
			return false
		}
		failed.ServeHTTP(w, r)
		return true
	})
	t.Cleanup(stop)
	return host
}

// copyNeverLeavesAHalfMovedTag copies a signed artifact to a registry that fails one kind of request every time:
// blob uploads (the copy step), the signature's tag (the copy step, after the content), then the tag (the last
// step). Each step is retried, then the copy fails with an error that says what to do, and the destination has no
// tag, whatever had arrived: the content by digest, complete, when only the signature or the tag failed; its
// signature and attestations too, verifying, when only the tag failed. Running the copy again converges.
func copyNeverLeavesAHalfMovedTag(t *testing.T, a signedArtifact) {
	t.Parallel()
	for _, tc := range []struct {
		name, dst, step, want string
		fail                  func(*http.Request) bool
		contentCopied, signed bool
	}{
		{"blob uploads fail", "halfmoved/blobs", "copy", "(no tag was written: run the copy again to resume)", func(r *http.Request) bool {
			return strings.Contains(r.URL.Path, "/blobs/uploads/")
		}, false, false},
		{"the signature's tag fails", "halfmoved/sig", "copy", "(no tag was written: run the copy again to resume)", func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, ".sig")
		}, true, false},
		{"the tag fails", "halfmoved/tag", "tag", "tagging " + a.digest + " as v1", func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/v1")
		}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dst := tc.dst
			host := failingRoute(t, a.reg.Host, tc.fail)
			var retried stepRetries
			_, err := Copy(ctx, mustRef(t, a.reg.Host+"/src/app:v1"), mustRef(t, host+"/"+dst), a.gate,
				CopyOptions{ReadOptions: ReadOptions{Registry: plainHTTP, Logger: retried.logger()}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Copy() to a registry where %s = %v, want an error saying %q", tc.name, err, tc.want)
			}
			notAVerdict(t, "Copy()", err)
			if steps := retried.list(); !slices.Contains(steps, tc.step) {
				t.Errorf("Copy() retried the steps %v, want the %s step retried", steps, tc.step)
			}
			if tags := testregistry.Tags(t, a.reg.Host, dst); slices.Contains(tags, "v1") {
				t.Errorf("a failed copy left the tag v1 at the destination (tags %q)", tags)
			}
			checkCopy(t, a.reg.Host, dst, a.digest, a.verifiers, false)
			if tc.contentCopied {
				repo := plainRepo(t, a.reg.Host, dst)
				desc, err := repo.Resolve(ctx, a.digest)
				if err != nil {
					t.Fatalf("the content is not at the destination by digest: %v", err)
				}
				if err := completeManifest(ctx, repo, desc); err != nil {
					t.Errorf("the content at the destination is incomplete: %v", err)
				}
			}
			if tc.signed {
				repo := plainRepo(t, a.reg.Host, dst)
				desc, err := repo.Resolve(ctx, a.digest)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := sign.VerifyAttestations(ctx, repo, desc, a.verifiers, AttestationTypes); err != nil {
					t.Errorf("the attestations at the destination do not verify: %v", err)
				}
			}
			if _, err := Copy(ctx, mustRef(t, a.reg.Host+"/src/app:v1"), mustRef(t, a.reg.Host+"/"+dst), a.gate, CopyOptions{ReadOptions: ReadOptions{Registry: plainHTTP}}); err != nil {
				t.Errorf("the copy again, without faults: %v", err)
			}
			checkCopy(t, a.reg.Host, dst, a.digest, a.verifiers, true)
		})
	}
}

// requestTimeoutEndsStalls pulls and copies through a proxy that holds a fifth of the requests until the
// client gives up: with publish.WithRequestTimeout, each stalled attempt is abandoned and retried, and both succeed
// with complete content well within the context's deadline, which would otherwise end them.
func requestTimeoutEndsStalls(t *testing.T, a signedArtifact) {
	if testing.Short() {
		t.Skip("fault injection")
	}
	t.Parallel()
	proxy := faultproxy.Start(a.reg.Host, faultproxy.Faults{Stall: 0.2, StallFor: faultproxy.Forever}, 3)
	defer proxy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // the test's own guard
	defer cancel()
	o := ReadOptions{Registry: []publish.Option{publish.WithPlainHTTP(true), publish.WithRequestTimeout(200 * time.Millisecond)}}

	dir := filepath.Join(t.TempDir(), "out")
	if _, err := Pull(ctx, mustRef(t, proxy.Host+"/src/app:v1"), dir, a.gate, o); err != nil {
		t.Errorf("Pull() with a request timeout through stalls: %v", err)
	} else if got := readTree(t, dir); !maps.Equal(got, a.files) {
		t.Errorf("Pull() extracted %v, want the artifact's files", slices.Sorted(maps.Keys(got)))
	}
	if _, err := Copy(ctx, mustRef(t, proxy.Host+"/src/app:v1"), mustRef(t, proxy.Host+"/dst/app"), a.gate, CopyOptions{ReadOptions: o}); err != nil {
		t.Errorf("Copy() with a request timeout through stalls: %v", err)
	}
	checkCopy(t, a.reg.Host, "dst/app", a.digest, a.verifiers, true)
	if ctx.Err() != nil {
		t.Errorf("the pull and the copy ran into the test's own deadline: the request timeout did not end the stalls")
	}
	if got := proxy.Counts().ByKind[faultproxy.Stall]; got == 0 {
		t.Errorf("no request stalled (%s): the request timeout is not being tested", proxy.Counts())
	}
}

// deadlineNamesTheStep: a pull or a copy whose deadline passes while the registry stalls says which
// step it interrupted, not only "context deadline exceeded", and leaves nothing: no directory, no tag.
func deadlineNamesTheStep(t *testing.T, a signedArtifact) {
	t.Parallel()
	proxy := faultproxy.Start(a.reg.Host, faultproxy.Faults{Stall: 1, StallFor: faultproxy.Forever}, 1)
	t.Cleanup(proxy.Close) // after the parallel subtests

	t.Run("pull", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		dir := filepath.Join(t.TempDir(), "out")
		_, err := Pull(ctx, mustRef(t, proxy.Host+"/src/app:v1"), dir, a.gate, ReadOptions{Registry: plainHTTP})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "it ended the resolve step") {
			t.Errorf("Pull() from a stalled registry = %v, want the deadline naming the resolve step", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a pull its deadline ended created %s (%v)", dir, err)
		}
	})
	t.Run("copy", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// The source answers; the destination stalls. Without a verifier, the copy step is the first to meet it.
		_, err := Copy(ctx, mustRef(t, a.reg.Host+"/src/app:v1"), mustRef(t, proxy.Host+"/stalled/app"), nil, CopyOptions{ReadOptions: ReadOptions{Registry: plainHTTP}})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "it ended the copy step") {
			t.Errorf("Copy() to a stalled registry = %v, want the deadline naming the copy step", err)
		}
		if tags := testregistry.Tags(t, a.reg.Host, "stalled/app"); len(tags) > 0 {
			t.Errorf("a copy its deadline ended left tags %q", tags)
		}
	})
}

// TestLostUploadAnswers publishes (push, signature, attestations) and copies to another registry through proxies
// that lose the answer to every first upload PUT: each push must find its blob in place and carry on, and the copy
// verifies and pulls whole at its destination. (publish's own TestLostUploadAnswers proves it for one target's
// push and copy; this proves it for every upload the library makes: signatures and attestations too.)
func TestLostUploadAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	regA, regB := testregistry.Start(t), testregistry.Start(t)
	hostA, lostA := faultproxy.LoseUploadAnswers(t, regA.Host)
	hostB, lostB := faultproxy.LoseUploadAnswers(t, regB.Host)
	key, pub := keyPair(t)
	signer, err := sign.LoadSigner(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	gate, err := NewVerifier(ctx, Policy{Keys: []string{pub}, Attestations: AttestationTypes})
	if err != nil {
		t.Fatal(err)
	}
	o := ReadOptions{Registry: plainHTTP}

	if _, err := Publish(ctx, demoTree, mustRef(t, hostA+"/lost/app:v1"), PublishOptions{Signer: signer, Attest: true, Registry: plainHTTP}); err != nil {
		t.Fatalf("Publish() when the registry's answers to uploads are lost: %v", err)
	}
	// The config and the layer, then a layer and a config for the signature and for each attestation (the empty
	// config they share may be there already).
	if got := lostA(); got < 4 {
		t.Errorf("%d upload answers were lost during publish, want at least 4: the test tests too little", got)
	}
	if _, err := Verify(ctx, mustRef(t, regA.Host+"/lost/app:v1"), gate, o); err != nil {
		t.Errorf("the artifact published through lost answers does not verify: %v", err)
	}

	if _, err := Copy(ctx, mustRef(t, regA.Host+"/lost/app:v1"), mustRef(t, hostB+"/lost/app"), gate, CopyOptions{ReadOptions: o}); err != nil {
		t.Fatalf("Copy() when the destination's answers to uploads are lost: %v", err)
	}
	if got := lostB(); got < 4 {
		t.Errorf("%d upload answers were lost during copy, want at least 4: the test tests too little", got)
	}
	if _, err := Verify(ctx, mustRef(t, regB.Host+"/lost/app:v1"), gate, o); err != nil {
		t.Errorf("the copy made through lost answers does not verify: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	if res, err := Pull(ctx, mustRef(t, regB.Host+"/lost/app:v1"), dir, gate, o); err != nil || len(res.Files) != 4 || len(readTree(t, dir)) != 4 {
		t.Errorf("a pull of the copy = %v files, %v; want 4 files", res.Files, err)
	}
}
