package objdiff

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// ErrArchive is returned by ReadArchive for an archive it does not read: not a gzip'd tar, an entry that is not a
// regular file or a directory, a name that is absolute or climbs out, a name that appears twice, or more than the
// limits allow. Callers that must say exactly what is wrong extract the archive with publish.Extract, which refuses
// the same things with a precise error.
var ErrArchive = errors.New("unsupported archive")

// File is one regular file of an archive.
type File struct {
	// Name is slash-separated, cleaned and relative ("deploy/app.yaml").
	Name string
	Data []byte
}

// Limits bound what ReadArchive reads.
type Limits struct {
	// MaxFiles is the most entries the archive may hold.
	MaxFiles int
	// MaxTotal is the most bytes its files may hold in all, after decompression.
	MaxTotal int64
}

// ReadArchive reads a gzip'd tar into memory and returns its regular files, sorted by name. It is the fast way to
// look at an artifact's layer: nothing is written to disk. Directories and pax global headers are skipped.
func ReadArchive(r io.Reader, l Limits) ([]File, error) {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrArchive, fmt.Sprintf(format, args...))
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, refuse("not gzip: %v", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var files []File
	seen := map[string]bool{}
	var total int64
	for n := 1; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, refuse("%v", err)
		}
		if n > l.MaxFiles {
			return nil, refuse("more than %d entries", l.MaxFiles)
		}
		switch h.Typeflag {
		case tar.TypeDir, tar.TypeXGlobalHeader:
			continue
		case tar.TypeReg:
		default:
			return nil, refuse("entry %q is not a regular file", h.Name)
		}
		name := path.Clean(h.Name)
		if h.Name == "" || strings.HasPrefix(h.Name, "/") || strings.ContainsAny(h.Name, "\\\x00") || name == "." ||
			slices.Contains(strings.Split(h.Name, "/"), "..") {
			return nil, refuse("entry name %q", h.Name)
		}
		if seen[name] {
			return nil, refuse("entry %q appears twice", h.Name)
		}
		seen[name] = true
		if h.Size < 0 || total+h.Size > l.MaxTotal {
			return nil, refuse("more than %d bytes", l.MaxTotal)
		}
		data := make([]byte, h.Size)
		if _, err := io.ReadFull(tr, data); err != nil {
			return nil, refuse("entry %q: %v", h.Name, err)
		}
		total += h.Size
		files = append(files, File{Name: name, Data: data})
	}
	// Read the rest of the stream, so that the gzip checksum is checked and a digest-verifying reader underneath
	// reaches its end.
	if _, err := io.Copy(io.Discard, io.LimitReader(zr, l.MaxTotal)); err != nil {
		return nil, refuse("%v", err)
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	return files, nil
}
