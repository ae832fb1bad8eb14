package publish

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
)

// Limits bound what Extract writes. Zero fields take the defaults.
type Limits struct {
	// MaxFiles is the most entries an archive may hold. Default 100,000.
	MaxFiles int
	// MaxFileSize is the largest entry. Default 64 MiB.
	MaxFileSize int64
	// MaxTotal is the most bytes written in all, after decompression. Default 1 GiB, Argo CD's extraction limit.
	MaxTotal int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = 100_000
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = 64 << 20
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = 1 << 30
	}
	return l
}

// Extract writes a gzip'd tar into dir and returns the files written (slash paths, sorted). It refuses absolute
// paths, "..", links, devices and every other non-regular entry, and entries or totals over the limits; it writes
// through an os.Root, so no path and no symlink already in dir can lead outside it. dir is created; an existing dir
// must be empty. On failure, what Extract created is removed.
func Extract(r io.Reader, dir string, l Limits) (files []string, err error) {
	l = l.withDefaults()
	created := false
	if entries, statErr := os.ReadDir(dir); statErr == nil {
		if len(entries) > 0 {
			return nil, fmt.Errorf("%s is not empty: extract into a new or empty directory", dir)
		}
	} else if errors.Is(statErr, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		created = true
	} else {
		return nil, statErr
	}
	defer func() {
		if err != nil {
			if created {
				_ = os.RemoveAll(dir)
			} else if root, rerr := os.OpenRoot(dir); rerr == nil {
				for _, f := range files {
					_ = root.Remove(f)
				}
				root.Close()
			}
			files = nil
		}
	}()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()

	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("the layer is not gzip: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var total int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return files, fmt.Errorf("reading the archive: %w", err)
		}
		if n >= l.MaxFiles {
			return files, fmt.Errorf("%w: more than %d entries", ErrTooLarge, l.MaxFiles)
		}
		name, err := safeName(h.Name)
		if err != nil {
			return files, err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return files, fmt.Errorf("%w: entry %q: %v", ErrUnsafeArchive, h.Name, err)
			}
			continue
		case tar.TypeReg:
		default:
			return files, fmt.Errorf("%w: entry %q is a %s, not a regular file", ErrUnsafeArchive, h.Name, typeName(h.Typeflag))
		}
		if h.Size > l.MaxFileSize {
			return files, fmt.Errorf("%w: entry %q is %d bytes (limit %d)", ErrTooLarge, h.Name, h.Size, l.MaxFileSize)
		}
		if total+h.Size > l.MaxTotal {
			return files, fmt.Errorf("%w: the archive expands to more than %d bytes", ErrTooLarge, l.MaxTotal)
		}
		if dirName := path.Dir(name); dirName != "." {
			if err := root.MkdirAll(dirName, 0o755); err != nil {
				return files, fmt.Errorf("%w: entry %q: %v", ErrUnsafeArchive, h.Name, err)
			}
		}
		f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return files, fmt.Errorf("%w: entry %q: %v", ErrUnsafeArchive, h.Name, err)
		}
		files = append(files, name)
		written, err := io.Copy(f, io.LimitReader(tr, h.Size))
		closeErr := f.Close()
		if err != nil {
			return files, fmt.Errorf("writing %q: %w", h.Name, err)
		}
		if closeErr != nil {
			return files, closeErr
		}
		if written != h.Size {
			return files, fmt.Errorf("entry %q is truncated", h.Name)
		}
		total += written
	}
	slices.Sort(files)
	return files, nil
}

// safeName cleans an entry name and refuses one that is absolute or climbs out.
func safeName(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: empty or NUL in entry name %q", ErrUnsafeArchive, name)
	}
	if strings.HasPrefix(name, "/") || strings.Contains(name, `\`) || (len(name) > 1 && name[1] == ':') {
		return "", fmt.Errorf("%w: entry %q is an absolute path", ErrUnsafeArchive, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: entry %q climbs out with ..", ErrUnsafeArchive, name)
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", fmt.Errorf("%w: entry %q names the directory itself", ErrUnsafeArchive, name)
	}
	return clean, nil
}

func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "named pipe"
	}
	return fmt.Sprintf("entry of type %q", t)
}
