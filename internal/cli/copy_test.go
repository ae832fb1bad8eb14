package cli

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testregistry"
)

func TestCopyRegistryToRegistry(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	key, pub := keyPair(t, "")
	digestRef := publishTree(t, writeTree(t, diffTree), reg.Host+"/staging/app:v1", "--key", key)
	digest := digestRef[strings.Index(digestRef, "@")+1:]

	r := mustRun(t, 0, nil, "copy", reg.Host+"/staging/app:v1", reg.Host+"/production/app", "--tag", "stable", "--key", pub)
	if want := reg.Host + "/production/app@" + digest + "\n"; r.stdout != want {
		t.Errorf("copy stdout = %q, want %q", r.stdout, want)
	}
	// The tag of SRC carries over, --tag adds one, and the signature and attestation tags came along.
	sigTag := "sha256-" + strings.TrimPrefix(digest, "sha256:") + ".sig"
	attTag := strings.TrimSuffix(sigTag, ".sig") + ".att"
	if got, want := testregistry.Tags(t, reg.Host, "production/app"), []string{attTag, sigTag, "stable", "v1"}; !slices.Equal(got, want) {
		t.Errorf("tags at the destination = %q, want %q", got, want)
	}
	// The signature and attestations verify at the destination: they sign the digest, which the copy kept.
	for _, tag := range []string{"v1", "stable"} {
		mustRun(t, 0, nil, "verify", reg.Host+"/production/app:"+tag, "--key", pub, "--attestation", "slsa", "--attestation", "inventory")
	}
	_, files := fluxPull(t, reg.Host, "production/app", "stable")
	if len(files) != 4 {
		t.Errorf("a Flux-style pull at the destination yields %d files, want 4", len(files))
	}
	mustRun(t, 0, nil, "diff", reg.Host+"/staging/app:v1", reg.Host+"/production/app:stable")

	// Running it again changes nothing and succeeds; -o json says what is there.
	r = mustRun(t, 0, nil, "copy", reg.Host+"/staging/app:v1", reg.Host+"/production/app", "--tag", "stable", "--key", pub, "-o", "json")
	var got copyResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("copy -o json printed %q: %v", r.stdout, err)
	}
	if got.Ref != reg.Host+"/production/app@"+digest || got.Source != digestRef || !slices.Equal(got.Tags, []string{"stable", "v1"}) ||
		!slices.Equal(got.SignatureTags, []string{sigTag, attTag}) || !got.Verified || got.Repository != reg.Host+"/production/app" {
		t.Errorf("copy -o json = %+v", got)
	}
	if got := testregistry.Tags(t, reg.Host, "production/app"); len(got) != 4 {
		t.Errorf("tags after the second copy = %q, want the same four", got)
	}
}

func TestCopyAcrossAirGap(t *testing.T) {
	t.Parallel()
	// Registry A → an OCI layout carried across → registry B, verified at every step.
	regA, regB := testregistry.Start(t), testregistry.Start(t)
	key, pub := keyPair(t, "")
	digestRef := publishTree(t, writeTree(t, diffTree), regA.Host+"/team/app:v1", "--key", key)
	digest := digestRef[strings.Index(digestRef, "@")+1:]
	layout := "oci:" + filepath.Join(t.TempDir(), "carry")

	r := mustRun(t, 0, nil, "copy", regA.Host+"/team/app:v1", layout, "--key", pub)
	if r.stdout != layout+"@"+digest+"\n" {
		t.Errorf("copy to the layout printed %q", r.stdout)
	}
	mustRun(t, 0, nil, "verify", layout+":v1", "--key", pub)
	mustRun(t, 0, nil, "copy", layout+":v1", regB.Host+"/mirror/app:release", "--key", pub)
	mustRun(t, 0, nil, "verify", regB.Host+"/mirror/app:release", "--key", pub)
	mustRun(t, 0, nil, "verify", regB.Host+"/mirror/app@"+digest, "--key", pub)
	if got := testregistry.Tags(t, regB.Host, "mirror/app"); !slices.Contains(got, "release") || slices.Contains(got, "v1") {
		t.Errorf("tags at B = %q, want DST's tag release and not SRC's v1", got)
	}
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, 0, nil, "pull", regB.Host+"/mirror/app:release", "-o", out, "--key", pub)
	if entries, _ := os.ReadDir(out); len(entries) != 4 {
		t.Errorf("pull at B extracted %d files, want 4", len(entries))
	}
	// Copying to DST@digest writes no tag of the artifact: only its signature's and attestations'.
	mustRun(t, 0, nil, "copy", layout+":v1", regB.Host+"/bydigest/app@"+digest)
	sigTag := "sha256-" + strings.TrimPrefix(digest, "sha256:") + ".sig"
	attTag := strings.TrimSuffix(sigTag, ".sig") + ".att"
	if got := testregistry.Tags(t, regB.Host, "bydigest/app"); !slices.Equal(got, []string{attTag, sigTag}) {
		t.Errorf("copy to DST@digest left tags %q, want only %s and %s", got, attTag, sigTag)
	}
	mustRun(t, 0, nil, "verify", regB.Host+"/bydigest/app@"+digest, "--key", pub, "--attestation", "slsa")
}

func TestCopyRefusesWhatDoesNotVerify(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	key, _ := keyPair(t, "")
	_, otherPub := keyPair(t, "")
	publishTree(t, writeTree(t, diffTree), reg.Host+"/staging/app:v1", "--key", key)
	publishTree(t, writeTree(t, diffTree), reg.Host+"/staging/unsigned:v1")

	layoutDir := filepath.Join(t.TempDir(), "never")
	for _, tc := range []struct{ name, src, dst, want string }{
		{"wrong key to a registry", reg.Host + "/staging/app:v1", reg.Host + "/production/app", "nothing was copied"},
		{"wrong key to a layout", reg.Host + "/staging/app:v1", "oci:" + layoutDir + ":v1", "nothing was copied"},
		{"unsigned", reg.Host + "/staging/unsigned:v1", reg.Host + "/production/unsigned", "no signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, 1, nil, "copy", tc.src, tc.dst, "--key", otherPub)
			if r.stdout != "" || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("copy --key (wrong) = %s\nwant nothing on stdout and %q on stderr", r, tc.want)
			}
		})
	}
	if got := testregistry.Tags(t, reg.Host, "production/app"); got != nil {
		t.Errorf("a refused copy left tags %q at the destination", got)
	}
	resp, err := http.Get("http://" + reg.Host + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var catalog struct{ Repositories []string }
	if err := json.NewDecoder(resp.Body).Decode(&catalog); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(catalog.Repositories, []string{"staging/app", "staging/unsigned"}) {
		t.Errorf("repositories after refused copies = %q, want only the sources", catalog.Repositories)
	}
	if _, err := os.Stat(layoutDir); !os.IsNotExist(err) {
		t.Errorf("a refused copy created the layout %s (%v)", layoutDir, err)
	}
}

func TestCopyUsage(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	digestRef := publishTree(t, writeTree(t, diffTree), reg.Host+"/staging/app:v1")
	other := "sha256:" + strings.Repeat("0", 64)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"one argument", []string{reg.Host + "/staging/app:v1"}, 2, "SRC DST"},
		{"source without tag", []string{reg.Host + "/staging/app", reg.Host + "/p/app"}, 2, "names no tag or digest"},
		{"other digest", []string{digestRef, reg.Host + "/p/app@" + other}, 2, "DST names " + other},
		{"bad tag", []string{digestRef, reg.Host + "/p/app", "--tag", "-x"}, 2, "not a valid tag"},
		{"missing source", []string{reg.Host + "/staging/app:nope", reg.Host + "/p/app"}, 3, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, tc.code, nil, append([]string{"copy"}, tc.args...)...)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr = %q, want it to say %q", r.stderr, tc.want)
			}
		})
	}
}
