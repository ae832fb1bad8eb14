// Command image builds statepack's container image as an OCI image layout, without Docker: what the Dockerfile's
// release stage builds (distroless static, non-root), made from the statepack binary, the build machine's CA bundle
// and a passwd file, with fixed timestamps so that the same binary gives the same image digest.
//
// `make image` runs it:
//
//	go run ./internal/tools/image -binary dist/image-bin/statepack -version v0.1.0 -out dist/image
//
// Push the result with `crane push dist/image REF` or `skopeo copy oci:dist/image:statepack:<version> docker://REF`;
// the layout's index names the image "statepack:<version>".
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"slices"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Paths and identity inside the image, as in gcr.io/distroless/static-debian12:nonroot.
const (
	binaryPath = "/usr/local/bin/statepack"
	caPath     = "/etc/ssl/certs/ca-certificates.crt"
	nonrootUID = 65532
	homeDir    = "/home/nonroot"
)

// options say what goes into the image.
type options struct {
	binary   string    // the static statepack binary for the image's platform
	caBundle string    // PEM CA bundle; /etc/ssl/certs/ca-certificates.crt on Debian
	version  string    // org.opencontainers.image.version and the ref name in the layout
	revision string    // org.opencontainers.image.revision (a commit), optional
	arch     string    // GOARCH of the binary
	created  time.Time // every timestamp in the image
}

func main() {
	var o options
	var out string
	flag.StringVar(&o.binary, "binary", "bin/statepack", "static statepack binary (CGO_ENABLED=0, GOOS=linux)")
	flag.StringVar(&o.caBundle, "ca", caPath, "CA certificate bundle (PEM) to copy into the image")
	flag.StringVar(&o.version, "version", "dev", "version label and layout ref name")
	flag.StringVar(&o.revision, "revision", "", "org.opencontainers.image.revision label (a git commit)")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "architecture of the binary (GOARCH)")
	flag.StringVar(&out, "out", "dist/image", "directory of the OCI image layout to write (replaced)")
	flag.Parse()
	created, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		fatal(err)
	}
	o.created = created
	img, err := build(o)
	if err != nil {
		fatal(err)
	}
	if err := writeLayout(out, img, o.version); err != nil {
		fatal(err)
	}
	d, _ := img.Digest()
	compressed, uncompressed, err := sizes(img)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("%s@%s\ncompressed %.1f MB, uncompressed %.1f MB\n", out, d, float64(compressed)/1e6, float64(uncompressed)/1e6)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}

// sourceDateEpoch is the time every timestamp in the image gets: SOURCE_DATE_EPOCH, else the Unix epoch.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", v)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// build assembles the image: one layer with the system files (CA bundle, passwd, group, /tmp, the home directory)
// and one with the binary, so that a new binary changes only the last layer.
func build(o options) (v1.Image, error) {
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return nil, fmt.Errorf("reading the binary: %w (run `make image`, which builds it)", err)
	}
	if err := checkStatic(o.binary, o.arch); err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(o.caBundle)
	if err != nil {
		return nil, fmt.Errorf("reading the CA bundle: %w (on Debian: apt-get install ca-certificates)", err)
	}
	system := []entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: nonrootUID},
		{name: "root/", mode: 0o700},
		{name: "tmp/", mode: 0o1777},
	}
	app := []entry{
		{name: "usr/", mode: 0o755},
		{name: "usr/local/", mode: 0o755},
		{name: "usr/local/bin/", mode: 0o755},
		{name: "usr/local/bin/statepack", mode: 0o755, data: bin},
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var adds []mutate.Addendum
	for _, l := range []struct {
		entries []entry
		comment string
	}{{system, "CA bundle, passwd, group, /tmp, home"}, {app, "statepack " + o.version}} {
		layer, err := newLayer(l.entries, o.created)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{Layer: layer, History: v1.History{
			Created: v1.Time{Time: o.created}, CreatedBy: "make image (internal/tools/image)", Comment: l.comment}})
	}
	if img, err = mutate.Append(img, adds...); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = o.arch, "linux"
	cf.Created = v1.Time{Time: o.created}
	cf.Author = "statepack"
	labels := map[string]string{
		"org.opencontainers.image.title":       "statepack",
		"org.opencontainers.image.description": "Publish a GitOps repository's desired state as a signed, reproducible OCI artifact",
		"org.opencontainers.image.source":      "https://github.com/statepack/statepack",
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.created":     o.created.Format(time.RFC3339),
	}
	if o.revision != "" {
		labels["org.opencontainers.image.revision"] = o.revision
	}
	cf.Config = v1.Config{
		User:       fmt.Sprintf("%d:%d", nonrootUID, nonrootUID),
		Entrypoint: []string{binaryPath},
		Env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"SSL_CERT_FILE=" + caPath,
			"HOME=" + homeDir,
		},
		WorkingDir: homeDir,
		Labels:     labels,
	}
	return mutate.ConfigFile(img, cf)
}

// checkStatic refuses a binary that would not run in an image without libc: not ELF, for another architecture, or
// dynamically linked (built with cgo).
func checkStatic(file, arch string) error {
	f, err := elf.Open(file)
	if err != nil {
		return fmt.Errorf("%s is not a Linux executable (ELF): %w; build it with GOOS=linux", file, err)
	}
	defer f.Close()
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386,
		"arm": elf.EM_ARM, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV}
	if want, ok := machines[arch]; ok && f.Machine != want {
		return fmt.Errorf("%s is built for %s, not %s: build it with GOARCH=%s", file, f.Machine, arch, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: build it with CGO_ENABLED=0", file)
		}
	}
	return nil
}

// entry is one file or directory (a name ending in "/") of a layer.
type entry struct {
	name string
	mode int64
	uid  int
	data []byte
}

// newLayer writes entries into a reproducible tar (sorted, fixed times, numeric owners only) and gzips it.
func newLayer(entries []entry, mtime time.Time) (v1.Layer, error) {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b entry) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: mtime, Format: tar.FormatPAX}
		if e.name[len(e.name)-1] == '/' {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if path.Clean(e.name) == "." {
			return nil, errors.New("empty entry name")
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression))
}

// writeLayout replaces dir with an OCI image layout holding img, named statepack:<version>.
func writeLayout(dir string, img v1.Image, version string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("writing the layout %s: %w", dir, err)
	}
	if err := p.WriteImage(img); err != nil {
		return fmt.Errorf("writing the image into %s: %w", dir, err)
	}
	// The index entry is written by hand: go-containerregistry's AppendImage would add an artifactType, which
	// describes artifacts, not images.
	desc, err := partialDescriptor(img)
	if err != nil {
		return err
	}
	desc.Annotations = map[string]string{"org.opencontainers.image.ref.name": "statepack:" + version}
	return p.AppendDescriptor(desc)
}

func partialDescriptor(img v1.Image) (v1.Descriptor, error) {
	d, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := img.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Size: size, Digest: d, Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture}}, nil
}

// sizes returns what a pull transfers (manifest, config, compressed layers) and the layers' uncompressed size.
func sizes(img v1.Image) (compressed, uncompressed int64, err error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, 0, err
	}
	compressed = int64(len(raw)) + m.Config.Size
	layers, err := img.Layers()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range layers {
		size, err := l.Size()
		if err != nil {
			return 0, 0, err
		}
		compressed += size
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, 0, err
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return 0, 0, err
		}
		uncompressed += n
	}
	return compressed, uncompressed, nil
}
