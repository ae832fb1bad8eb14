package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/loader/archive"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	loaderv2 "helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/ignore"
)

// Limits bound what Load and LoadArchive read; zero fields take the defaults. They apply to the chart and every
// subchart together: the bytes of an archive under charts/ count once as a file and again, decompressed, as its
// entries.
type Limits struct {
	// MaxFiles is the most files a chart may hold, subcharts included. Default 10,000.
	MaxFiles int
	// MaxFileSize is the largest file, in bytes. Default 5 MiB (Helm's MaxDecompressedFileSize).
	MaxFileSize int64
	// MaxTotal is the most bytes read in all, after decompression. Default 100 MiB (Helm's
	// MaxDecompressedChartSize, which Helm applies to each archive on its own).
	MaxTotal int64
	// MaxDepth is how deep archives may nest (a chart's charts/x.tgz whose charts/y.tgz …). Default 8.
	MaxDepth int
}

const (
	defaultMaxFiles    = 10_000
	defaultMaxFileSize = 5 << 20
	defaultMaxTotal    = 100 << 20
	defaultMaxDepth    = 8
)

func (l Limits) withDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = defaultMaxFiles
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = defaultMaxFileSize
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = defaultMaxTotal
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = defaultMaxDepth
	}
	return l
}

var (
	// ErrUnsafeArchive is returned for an archive entry that could land outside the chart (absolute path, a ".."
	// element), that is not a regular file or directory (links, devices), that appears twice, or that has no
	// chart directory above it; and by Load for a symbolic link that leaves the chart directory or names a
	// directory.
	ErrUnsafeArchive = errors.New("unsafe chart archive")
	// ErrTooLarge is returned when a chart exceeds Limits, or its render exceeds ReleaseOptions.MaxOutput.
	ErrTooLarge = errors.New("chart exceeds the size limit")
	// ErrNotAChart is returned for content that is not a Helm chart of apiVersion v1 or v2.
	ErrNotAChart = errors.New("not a Helm chart")
)

// Chart is a loaded chart: its files, checked against Limits, with every archive under charts/ unpacked. It is
// immutable; Render builds the SDK's chart afresh from the files each time (the SDK's dependency processing
// edits the chart it is given), so one Chart can be rendered concurrently with different values.
type Chart struct {
	files []*archive.BufferedFile
	meta  chartv2.Metadata
}

// Name, Version and AppVersion are the chart's Chart.yaml fields.
func (c *Chart) Name() string       { return c.meta.Name }
func (c *Chart) Version() string    { return c.meta.Version }
func (c *Chart) AppVersion() string { return c.meta.AppVersion }

// Files returns the names of the chart's files, slash-separated and relative to the chart, sorted; unpacked
// subchart archives appear as charts/<archive name without .tgz>/….
func (c *Chart) Files() []string {
	names := make([]string, len(c.files))
	for i, f := range c.files {
		names[i] = f.Name
	}
	slices.Sort(names)
	return names
}

// File returns the content of the chart's file name (as Files names it), and whether it exists: a values file
// that a HelmRelease's valuesFiles or an Application's valueFiles names.
func (c *Chart) File(name string) ([]byte, bool) {
	for _, f := range c.files {
		if f.Name == name {
			return slices.Clone(f.Data), true
		}
	}
	return nil, false
}

// load builds the SDK's chart from the files. Only chart apiVersion v1 and v2 are accepted: v3 is Helm 4's
// experimental format, which neither helm-controller nor Argo CD renders.
func (c *Chart) load() (*chartv2.Chart, error) {
	files := make([]*archive.BufferedFile, len(c.files))
	for i, f := range c.files {
		copied := *f
		files[i] = &copied
	}
	ch, err := loaderv2.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotAChart, err)
	}
	return ch, nil
}

func newChart(files []*archive.BufferedFile) (*Chart, error) {
	c := &Chart{files: files}
	ch, err := c.load()
	if err != nil {
		return nil, err
	}
	if ch.Metadata.APIVersion != chartv2.APIVersionV1 && ch.Metadata.APIVersion != chartv2.APIVersionV2 {
		return nil, fmt.Errorf("%w: chart %q has apiVersion %q; only v1 and v2 charts are rendered", ErrNotAChart, ch.Metadata.Name, ch.Metadata.APIVersion)
	}
	c.meta = *ch.Metadata
	return c, nil
}

// budget counts what a chart has read so far against its Limits.
type budget struct {
	l     Limits
	files int
	total int64
}

func (b *budget) take(name string, size int64) error {
	b.files++
	switch {
	case b.files > b.l.MaxFiles:
		return fmt.Errorf("%w: more than %d files (at %s)", ErrTooLarge, b.l.MaxFiles, name)
	case size < 0 || size > b.l.MaxFileSize:
		return fmt.Errorf("%w: %s is %d bytes, more than the limit of %d", ErrTooLarge, name, size, b.l.MaxFileSize)
	case b.total+size > b.l.MaxTotal:
		return fmt.Errorf("%w: %s takes the chart past %d bytes", ErrTooLarge, name, b.l.MaxTotal)
	}
	b.total += size
	return nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// LoadArchive loads a packaged chart (a gzip'd tar whose entries sit under one directory, as `helm package` and
// the SDK's chartutil.Save write it) from memory: the bytes a caller fetched and checked against the digest of
// an index.yaml or an OCI manifest.
//
// Every entry is checked before it is read: regular files and directories only, no absolute path or ".."
// element, no name twice, within l (ErrUnsafeArchive, ErrTooLarge). Archives under charts/ are unpacked the same
// way, against the same budget, at most l.MaxDepth deep; the SDK's own archive reader, whose limits are package
// variables applied to each archive on its own, is never used.
func LoadArchive(data []byte, l Limits) (*Chart, error) {
	b := &budget{l: l.withDefaults()}
	files, err := readArchive(data, b, "", 1)
	if err != nil {
		return nil, err
	}
	return newChart(files)
}

// readArchive reads a chart archive's files, their top directory stripped, and unpacks the archives under its
// charts/. where names the archive in errors ("" for the top one).
func readArchive(data []byte, b *budget, where string, depth int) ([]*archive.BufferedFile, error) {
	if depth > b.l.MaxDepth {
		return nil, fmt.Errorf("%w: %s nests archives more than %d deep", ErrTooLarge, where, b.l.MaxDepth)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a gzip'd chart archive: %v", ErrNotAChart, orTop(where), err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var files []*archive.BufferedFile
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: reading %s: %v", ErrNotAChart, orTop(where), err)
		}
		unsafe := func(format string, args ...any) error {
			return fmt.Errorf("%w: %s: entry %q %s", ErrUnsafeArchive, orTop(where), h.Name, fmt.Sprintf(format, args...))
		}
		switch h.Typeflag {
		case tar.TypeXGlobalHeader, tar.TypeDir:
			continue
		case tar.TypeReg: // Go's reader reports an old archiver's TypeRegA entries as TypeReg
		default:
			return nil, unsafe("is not a regular file or a directory (type %q)", h.Typeflag)
		}
		name, err := entryName(h.Name)
		if err != nil {
			return nil, unsafe("%v", err)
		}
		if seen[name] {
			return nil, unsafe("appears twice")
		}
		seen[name] = true
		if err := b.take(where+name, h.Size); err != nil {
			return nil, err
		}
		data := make([]byte, h.Size)
		if _, err := io.ReadFull(tr, data); err != nil {
			return nil, fmt.Errorf("%w: reading %s in %s: %v", ErrNotAChart, name, orTop(where), err)
		}
		files = append(files, &archive.BufferedFile{Name: name, ModTime: h.ModTime, Data: bytes.TrimPrefix(data, utf8BOM)})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: %s has no files", ErrNotAChart, orTop(where))
	}
	return unpackSubcharts(files, b, where, depth)
}

func orTop(where string) string {
	if where == "" {
		return "the chart archive"
	}
	return strings.TrimSuffix(where, "/")
}

// entryName strips an archive entry's top directory, as Helm does (the chart's name, which Helm does not check
// either), and refuses a name that is absolute, climbs out or has no top directory. Like Helm, it reads "\" as
// the separator of a name that has one (archives made on Windows).
func entryName(name string) (string, error) {
	sep := "/"
	if strings.Contains(name, `\`) {
		sep = `\`
	}
	switch {
	case name == "":
		return "", errors.New("has an empty name")
	case strings.ContainsRune(name, 0):
		return "", errors.New("has a NUL in its name")
	case strings.HasPrefix(name, sep), len(name) >= 2 && name[1] == ':':
		return "", errors.New("is an absolute path")
	}
	parts := strings.Split(name, sep)
	if slices.Contains(parts, "..") {
		return "", errors.New("climbs out of the chart (a .. element)")
	}
	if len(parts) < 2 {
		return "", errors.New("is not under the chart's directory")
	}
	n := path.Clean(strings.Join(parts[1:], "/"))
	if n == "." || strings.HasPrefix(n, "/") {
		return "", errors.New("is not under the chart's directory")
	}
	return n, nil
}

// unpackSubcharts replaces each archive charts/<name>.tgz of a chart (not one of its subcharts', which their own
// call handles) by its files under charts/<name>/, which the SDK's loader reads as an unpacked subchart.
func unpackSubcharts(files []*archive.BufferedFile, b *budget, where string, depth int) ([]*archive.BufferedFile, error) {
	out := make([]*archive.BufferedFile, 0, len(files))
	have := map[string]bool{}
	for _, f := range files {
		have[f.Name] = true
	}
	for _, f := range files {
		rest, ok := strings.CutPrefix(f.Name, "charts/")
		// Helm skips charts/_x and charts/.x; it reads charts/x.tgz and nothing deeper as an archive.
		if !ok || strings.Contains(rest, "/") || path.Ext(rest) != ".tgz" || strings.IndexAny(rest, "_.") == 0 {
			out = append(out, f)
			continue
		}
		dir := "charts/" + strings.TrimSuffix(rest, ".tgz") + "/"
		for n := range have {
			if strings.HasPrefix(n, dir) {
				return nil, fmt.Errorf("%w: %s%s and the directory %s are both in the chart", ErrUnsafeArchive, where, f.Name, dir)
			}
		}
		sub, err := readArchive(f.Data, b, where+dir, depth+1)
		if err != nil {
			return nil, err
		}
		for _, s := range sub {
			s.Name = dir + s.Name
			out = append(out, s)
		}
	}
	return out, nil
}

// Load loads a chart directory, as the SDK's directory loader does: .helmignore and Helm's default ignore rules
// apply, a UTF-8 byte order mark is dropped, archives under charts/ are unpacked (LoadArchive's rules). Unlike
// the SDK's loader, it reads every file through an os.Root: a symbolic link to a file is followed only while it
// stays inside dir, and a symbolic link to a directory is refused (ErrUnsafeArchive), so a chart in a tree cannot
// read the rest of the machine.
func Load(dir string, l Limits) (*Chart, error) {
	b := &budget{l: l.withDefaults()}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("loading the chart %s: %w", dir, err)
	}
	defer root.Close()
	if _, err := root.Stat("Chart.yaml"); err != nil {
		return nil, fmt.Errorf("%w: %s has no Chart.yaml: %v", ErrNotAChart, dir, err)
	}
	rules := ignore.Empty()
	if data, err := root.ReadFile(ignore.HelmIgnore); err == nil {
		if rules, err = ignore.Parse(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("loading the chart %s: %s: %w", dir, ignore.HelmIgnore, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("loading the chart %s: %w", dir, err)
	}
	rules.AddDefaults()

	var files []*archive.BufferedFile
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		fi, err := root.Stat(name) // follows a link, inside the root only
		if err != nil {
			if d.Type()&fs.ModeSymlink != 0 {
				return fmt.Errorf("%w: %s is a symbolic link out of the chart directory: %v", ErrUnsafeArchive, name, err)
			}
			return err
		}
		if d.IsDir() {
			if rules.Ignore(name, fi) {
				return fs.SkipDir
			}
			return nil
		}
		if rules.Ignore(name, fi) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 && fi.IsDir() {
			return fmt.Errorf("%w: %s is a symbolic link to a directory", ErrUnsafeArchive, name)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%w: %s is not a regular file", ErrUnsafeArchive, name)
		}
		if err := b.take(name, fi.Size()); err != nil {
			return err
		}
		f, err := root.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, fi.Size()+1))
		if err != nil {
			return err
		}
		if int64(len(data)) != fi.Size() {
			return fmt.Errorf("%s changed while it was read", name)
		}
		files = append(files, &archive.BufferedFile{Name: name, ModTime: fi.ModTime(), Data: bytes.TrimPrefix(data, utf8BOM)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading the chart %s: %w", dir, err)
	}
	files, err = unpackSubcharts(files, b, "", 1)
	if err != nil {
		return nil, fmt.Errorf("loading the chart %s: %w", dir, err)
	}
	return newChart(files)
}
