package charts

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/statepack/statepack/internal/redact"
)

// LockFileName is the lock's file name beside the tree. It does not end in .yaml so that the plain-YAML renderer,
// which reads every YAML file of a directory as manifests, never takes it for one.
const LockFileName = "statepack.lock"

const (
	lockAPIVersion = "statepack.dev/v1"
	lockKind       = "Lock"
)

// Lock records, for each chart request of a tree (repository, name, version constraint), the pin it resolved to.
// `statepack lock` writes it and the user commits it, as Chart.lock or go.sum: with it, the same tree renders the
// same charts on any machine and day. It is immutable once made.
type Lock struct {
	entries []LockEntry // sorted by request, no request twice
}

// LockEntry is one request and its pin, as the file holds it.
type LockEntry struct {
	Repository string `yaml:"repository"`
	Name       string `yaml:"name,omitempty"`
	// Constraint is the version as the tree asks for it ("" for the newest stable).
	Constraint string `yaml:"constraint,omitempty"`
	// SemverFilter is an OCIRepository's ref.semverFilter, when it has one.
	SemverFilter string `yaml:"semverFilter,omitempty"`
	Version      string `yaml:"version"`
	Digest       string `yaml:"digest"`
	URL          string `yaml:"url"`
}

type lockFile struct {
	APIVersion string      `yaml:"apiVersion"`
	Kind       string      `yaml:"kind"`
	Charts     []LockEntry `yaml:"charts"`
}

// NewLock makes a lock from resolved requests (Request.Declared is ignored; two requests that differ only by it
// are one entry).
func NewLock(pins map[Request]Pin) *Lock {
	seen := map[key]bool{}
	l := &Lock{}
	for r, p := range pins {
		if k := r.key(); !seen[k] {
			seen[k] = true
			l.entries = append(l.entries, entryFor(k, p))
		}
	}
	l.sort()
	return l
}

func entryFor(k key, p Pin) LockEntry {
	return LockEntry{Repository: k.repository, Name: k.name, Constraint: k.version, SemverFilter: k.filter, Version: p.Version, Digest: p.Digest, URL: p.URL}
}

func (e LockEntry) key() key {
	return key{normalizeRepository(e.Repository), e.Name, e.Constraint, e.SemverFilter}
}

func compareKeys(a, b key) int {
	return cmp.Or(cmp.Compare(a.repository, b.repository), cmp.Compare(a.name, b.name), cmp.Compare(a.version, b.version), cmp.Compare(a.filter, b.filter))
}

func (l *Lock) sort() {
	slices.SortFunc(l.entries, func(a, b LockEntry) int { return compareKeys(a.key(), b.key()) })
}

// Entries returns the lock's entries, sorted by repository, name and constraint.
func (l *Lock) Entries() []LockEntry {
	if l == nil {
		return nil
	}
	return slices.Clone(l.entries)
}

// Lookup returns the pin the lock holds for r.
func (l *Lock) Lookup(r Request) (Pin, bool) { return l.lookup(r.key()) }

func (l *Lock) lookup(k key) (Pin, bool) {
	if l == nil {
		return Pin{}, false
	}
	i, ok := slices.BinarySearchFunc(l.entries, k, func(e LockEntry, k key) int { return compareKeys(e.key(), k) })
	if !ok {
		return Pin{}, false
	}
	e := l.entries[i]
	return Pin{Repository: e.Repository, Name: e.Name, Version: e.Version, Digest: e.Digest, URL: e.URL}, true
}

const lockHeader = "# Chart pins for this tree, written by `statepack lock`: commit this file.\n"

// Marshal writes the lock file: a header comment, then YAML with the entries sorted. The same lock gives the same
// bytes.
func (l *Lock) Marshal() []byte {
	f := lockFile{APIVersion: lockAPIVersion, Kind: lockKind, Charts: l.Entries()}
	if f.Charts == nil {
		f.Charts = []LockEntry{}
	}
	var buf bytes.Buffer
	buf.WriteString(lockHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		panic(fmt.Sprintf("encoding a lock cannot fail: %v", err)) // plain strings only
	}
	_ = enc.Close()
	return buf.Bytes()
}

// ReadLock reads a lock file. A missing file is no lock: (nil, nil). A malformed one is ErrInvalidLock naming the
// file and, where known, the line.
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the lock file: %w", err)
	}
	return ParseLock(path, data)
}

// ParseLock parses the bytes of a lock file; name names it in errors. Every entry is checked as outside input: a
// lock file is edited by hand and merged by git, and its digests name files in the chart cache.
func ParseLock(name string, data []byte) (*Lock, error) {
	bad := func(line int, format string, args ...any) error {
		where := name
		if line > 0 {
			where = fmt.Sprintf("%s:%d", name, line)
		}
		return fmt.Errorf("%w: %s: %s: fix it or delete it and run `statepack lock`", ErrInvalidLock, where, fmt.Sprintf(format, args...))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, bad(0, "%v", err)
	}
	if len(doc.Content) == 0 {
		return nil, bad(0, "the file is empty")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f lockFile
	if err := dec.Decode(&f); err != nil {
		return nil, bad(0, "%v", err)
	}
	if f.APIVersion != lockAPIVersion || f.Kind != lockKind {
		return nil, bad(1, "apiVersion %q, kind %q: a statepack lock file is apiVersion %s, kind %s", f.APIVersion, f.Kind, lockAPIVersion, lockKind)
	}
	lines := entryLines(&doc)
	l := &Lock{}
	seen := map[key]int{}
	for i, e := range f.Charts {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		if err := e.check(); err != nil {
			return nil, bad(line, "charts[%d]: %v", i, err)
		}
		e.Repository = normalizeRepository(e.Repository)
		if first, ok := seen[e.key()]; ok {
			return nil, bad(line, "charts[%d] repeats the request of line %d (%s)", i, first, e.key().describe())
		}
		seen[e.key()] = line
		l.entries = append(l.entries, e)
	}
	l.sort()
	return l, nil
}

// entryLines returns the line of each element of the top-level "charts" sequence.
func entryLines(doc *yaml.Node) []int {
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "charts" {
			var lines []int
			for _, n := range root.Content[i+1].Content {
				lines = append(lines, n.Line)
			}
			return lines
		}
	}
	return nil
}

func (e LockEntry) check() error {
	k := e.key()
	kind, err := k.check()
	switch {
	case err != nil:
		return err
	case e.Version == "":
		return errors.New("no version")
	case !digestPattern.MatchString(e.Digest):
		return fmt.Errorf("digest %q is not sha256:<64 lower-case hex digits>", e.Digest)
	}
	u, err := url.Parse(e.URL)
	ref, _ := k.ociRef()
	switch {
	case err != nil:
		return errors.New("url is not a URL")
	case u.User != nil:
		return errors.New("url carries credentials: remove them (they never belong in a lock file)")
	case kind == kindHTTP && u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("url %s is not an http(s) URL", redact.URL(e.URL))
	case kind == kindOCI && e.URL != "oci://"+ref.WithDigest(e.Digest):
		return fmt.Errorf("url %s is not the repository's manifest oci://%s", redact.URL(e.URL), ref.WithDigest(e.Digest))
	}
	return nil
}
