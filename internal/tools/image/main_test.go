package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// staticBinary builds a small static program that stands in for statepack (building statepack itself takes a
// minute; what the image must do with a binary does not depend on which one).
func staticBinary(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the image holds a Linux binary; this test runs it")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"statepack stand-in\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "statepack")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in binary: %v\n%s", err, out)
	}
	return bin
}

func testOptions(t *testing.T) options {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\ntest bundle\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return options{binary: staticBinary(t), caBundle: ca, version: "v9.9.9", revision: "0123abc", arch: runtime.GOARCH,
		created: time.Unix(1700000000, 0).UTC()}
}

func TestImageLayout(t *testing.T) {
	o := testOptions(t)
	img, err := build(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "image")
	if err := writeLayout(dir, img, o.version); err != nil {
		t.Fatal(err)
	}

	// Read it back as a consumer would: from the layout's index.
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("index = %+v, %v; want one image", im, err)
	}
	if name := im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; name != "statepack:v9.9.9" {
		t.Errorf("ref name = %q, want statepack:v9.9.9", name)
	}
	got, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("config user = %q, want 65532:65532 (non-root)", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/statepack"}) {
		t.Errorf("entrypoint = %q, want [/usr/local/bin/statepack]", c.Entrypoint)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform = %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if !cf.Created.Time.Equal(o.created) {
		t.Errorf("created = %v, want %v", cf.Created, o.created)
	}
	for k, v := range map[string]string{"org.opencontainers.image.version": "v9.9.9", "org.opencontainers.image.revision": "0123abc",
		"org.opencontainers.image.source": "https://github.com/statepack/statepack", "org.opencontainers.image.title": "statepack"} {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
	if !slices.Contains(c.Env, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") {
		t.Errorf("env = %q, want SSL_CERT_FILE set", c.Env)
	}

	// The flattened file system holds the binary (executable), the CA bundle and the non-root user.
	files := map[string]*tar.Header{}
	contents := map[string][]byte{}
	tr := tar.NewReader(mutate.Extract(got))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		files[name] = h
		contents[name], _ = io.ReadAll(tr)
		if !h.ModTime.Equal(o.created) {
			t.Errorf("%s mtime = %v, want %v", name, h.ModTime, o.created)
		}
	}
	bin, ok := files["/usr/local/bin/statepack"]
	if !ok {
		t.Fatalf("no /usr/local/bin/statepack in the image; files: %v", keys(files))
	}
	if bin.Mode&0o111 != 0o111 || bin.Uid != 0 {
		t.Errorf("/usr/local/bin/statepack mode %o uid %d, want executable by all, owned by root", bin.Mode, bin.Uid)
	}
	want, _ := os.ReadFile(o.binary)
	if !bytes.Equal(contents["/usr/local/bin/statepack"], want) {
		t.Error("/usr/local/bin/statepack differs from the binary given")
	}
	wantCA, _ := os.ReadFile(o.caBundle)
	if !bytes.Equal(contents["/etc/ssl/certs/ca-certificates.crt"], wantCA) {
		t.Errorf("/etc/ssl/certs/ca-certificates.crt = %q, want the CA bundle", contents["/etc/ssl/certs/ca-certificates.crt"])
	}
	if !strings.Contains(string(contents["/etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd = %q, want the nonroot user 65532", contents["/etc/passwd"])
	}
	if h := files["/tmp"]; h == nil || h.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp = %+v, want mode 1777", h)
	}
	if h := files["/home/nonroot"]; h == nil || h.Uid != 65532 {
		t.Errorf("/home/nonroot = %+v, want owned by 65532", h)
	}

	// The binary as extracted from the image runs.
	exe := filepath.Join(t.TempDir(), "statepack")
	if err := os.WriteFile(exe, contents["/usr/local/bin/statepack"], os.FileMode(bin.Mode).Perm()); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe).Output()
	if err != nil || string(out) != "statepack stand-in\n" {
		t.Errorf("running the binary from the image: %q, %v", out, err)
	}
}

func TestImageIsReproducible(t *testing.T) {
	o := testOptions(t)
	var digests []string
	for range 2 {
		img, err := build(o)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of the same inputs gave %s and %s", digests[0], digests[1])
	}
	o.created = o.created.Add(time.Second)
	img, _ := build(o)
	if d, _ := img.Digest(); d.String() == digests[0] {
		t.Error("a different SOURCE_DATE_EPOCH gave the same digest: timestamps are not in the image")
	}
}

func TestImageRefusesUnfitBinaries(t *testing.T) {
	o := testOptions(t)
	notELF := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	for _, tc := range []struct {
		name, binary, arch, want string
	}{
		{"not ELF", notELF, runtime.GOARCH, "is not a Linux executable (ELF)"},
		{"other architecture", o.binary, other, "build it with GOARCH=" + other},
		{"missing", filepath.Join(t.TempDir(), "absent"), runtime.GOARCH, "run `make image`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := o
			o.binary, o.arch = tc.binary, tc.arch
			if _, err := build(o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("build(%s) = %v, want an error containing %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestSourceDateEpoch(t *testing.T) {
	for in, want := range map[string]time.Time{"": time.Unix(0, 0).UTC(), "1700000000": time.Unix(1700000000, 0).UTC()} {
		if got, err := sourceDateEpoch(in); err != nil || !got.Equal(want) {
			t.Errorf("sourceDateEpoch(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := sourceDateEpoch("yesterday"); err == nil {
		t.Error(`sourceDateEpoch("yesterday") = nil error`)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
