package publish

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Limits bound what Extract writes; zero fields take the defaults.
type Limits struct {
	// MaxFiles is the most entries (files, directories, metadata) an archive may hold. Default 100,000.
	MaxFiles int
	// MaxFileSize is the largest entry, in bytes. Default 64 MiB.
	MaxFileSize int64
	// MaxTotal is the most bytes written in all, after decompression. Default 1 GiB, Argo CD's extraction limit.
	MaxTotal int64
	// Overwrite allows a non-empty directory: files of the same name are replaced (symbolic links in their place
	// are removed, never followed), other files are left alone. If extraction then fails, the files written are
	// removed and what they replaced is lost. Default false: the directory must be new or empty.
	Overwrite bool
}

const (
	defaultMaxFiles    = 100_000
	defaultMaxFileSize = 64 << 20
	defaultMaxTotal    = 1 << 30
	// maxTrailing bounds the decompressed bytes tolerated after the end-of-archive marker (tar pads to its record
	// size, 10 KiB by default); Extract reads them so that the reader it is given reaches its end, which is where a
	// verifying reader such as FetchBlob's checks the digest.
	maxTrailing = 1 << 20
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
	return l
}

// Extract writes a gzip'd tar (a statepack layer) into dir and returns the files written: relative, slash-separated,
// sorted. Files are written 0644 and directories 0755, whatever the archive and the umask say.
//
// It refuses, with ErrUnsafeArchive and the entry's name: absolute paths, "..", symbolic and hard links, devices,
// pipes and any other entry that is not a regular file or a directory, an entry that appears twice, and a path
// through a symbolic link already in dir (all writes go through an os.Root, so nothing lands outside dir
// whatever happens to it meanwhile). It refuses, with ErrTooLarge, more than l.MaxFiles entries, an entry over
// l.MaxFileSize and more than l.MaxTotal bytes in all, before writing them, so a decompression bomb costs little.
// After the archive it reads r to its end, so that a digest-verifying reader gets to check.
//
// dir is created when missing; an existing dir must be empty unless l.Overwrite (the error then matches
// fs.ErrExist). On failure, what Extract wrote is removed.
func Extract(r io.Reader, dir string, l Limits) (files []string, err error) {
	if dir == "" {
		return nil, errors.New("extracting: the destination directory is not named")
	}
	l = l.withDefaults()
	createdTop, err := prepareDir(dir, l.Overwrite)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("extracting into %s: %w", dir, err)
	}
	x := &extractor{root: root, limits: l, written: map[string]bool{}}
	defer func() {
		if err != nil {
			x.undo()
			if createdTop != "" {
				_ = os.RemoveAll(createdTop)
			}
			files = nil
		}
		root.Close()
	}()
	if createdTop != "" {
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, err
		}
	}
	if err := x.extract(r); err != nil {
		return nil, err
	}
	files = slices.Sorted(func(yield func(string) bool) {
		for f := range x.written {
			if !yield(f) {
				return
			}
		}
	})
	return files, nil
}

// prepareDir checks that dir is empty (unless overwrite) or creates it, returning the topmost directory it created.
func prepareDir(dir string, overwrite bool) (createdTop string, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil:
		if len(entries) > 0 && !overwrite {
			return "", &notEmptyError{dir: dir}
		}
		return "", nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("extracting into %s: %w", dir, err)
	}
	top := filepath.Clean(dir)
	for parent := filepath.Dir(top); parent != top; parent = filepath.Dir(top) {
		if _, err := os.Lstat(parent); err == nil {
			break
		}
		top = parent
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("extracting into %s: %w", dir, err)
	}
	return top, nil
}

// notEmptyError refuses to mix an artifact's files with others; it matches fs.ErrExist.
type notEmptyError struct{ dir string }

func (e *notEmptyError) Error() string {
	return fmt.Sprintf("extracting into %s: the directory is not empty: extract into a new or empty directory", e.dir)
}
func (e *notEmptyError) Is(target error) bool { return target == fs.ErrExist }

type extractor struct {
	root        *os.Root
	limits      Limits
	written     map[string]bool
	createdDirs []string
	total       int64
}

func (x *extractor) extract(r io.Reader) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("reading the archive: it is not gzip: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for n := 1; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		if n > x.limits.MaxFiles {
			return fmt.Errorf("%w: the archive has more than %d entries (at %q)", ErrTooLarge, x.limits.MaxFiles, h.Name)
		}
		if err := x.entry(tr, h); err != nil {
			return err
		}
	}
	// Read what follows the end-of-archive marker, up to a bound: the gzip trailer (checksum) and whatever the
	// reader under it still holds, so that a verifying reader reaches its end.
	trailing, err := io.Copy(io.Discard, io.LimitReader(zr, maxTrailing+1))
	if err != nil {
		return fmt.Errorf("reading the end of the archive: %w", err)
	}
	if trailing > maxTrailing {
		return fmt.Errorf("%w: more than %d bytes follow the end of the archive", ErrTooLarge, maxTrailing)
	}
	return nil
}

func (x *extractor) entry(tr *tar.Reader, h *tar.Header) error {
	unsafe := func(format string, args ...any) error {
		return fmt.Errorf("%w: entry %q %s", ErrUnsafeArchive, h.Name, fmt.Sprintf(format, args...))
	}
	switch h.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil // metadata for the entries that follow (git archive writes one); Go's reader applies it
	case tar.TypeReg, tar.TypeDir:
	default:
		return unsafe("is a %s, not a regular file or directory", typeName(h.Typeflag))
	}
	name, err := safeName(h.Name)
	if err != nil {
		return unsafe("%v", err)
	}
	if h.Typeflag == tar.TypeDir {
		if name == "." {
			return nil // the destination itself, as `tar -C dir .` writes it
		}
		if err := x.mkdirs(name); err != nil {
			return unsafe("%v", err)
		}
		return nil
	}
	if name == "." {
		return unsafe("names the destination directory itself")
	}
	if h.Size > x.limits.MaxFileSize {
		return fmt.Errorf("%w: entry %q is %d bytes, more than the limit of %d", ErrTooLarge, h.Name, h.Size, x.limits.MaxFileSize)
	}
	if x.total+h.Size > x.limits.MaxTotal {
		return fmt.Errorf("%w: entry %q takes the archive past %d bytes uncompressed", ErrTooLarge, h.Name, x.limits.MaxTotal)
	}
	if x.written[name] {
		return unsafe("appears twice in the archive")
	}
	if dirName := path.Dir(name); dirName != "." {
		if err := x.mkdirs(dirName); err != nil {
			return unsafe("%v", err)
		}
	}
	if fi, err := x.root.Lstat(name); err == nil {
		// Only with Overwrite can something be there: replace it, never write through it.
		if fi.IsDir() {
			return unsafe("would replace the directory %s", name)
		}
		if err := x.root.Remove(name); err != nil {
			return unsafe("cannot replace %s: %v", name, err)
		}
	}
	f, err := x.root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return unsafe("%v", err)
	}
	x.written[name] = true
	written, err := io.Copy(f, io.LimitReader(tr, h.Size))
	if err == nil {
		err = f.Chmod(0o644)
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("extracting entry %q: %w", h.Name, err)
	}
	if written != h.Size {
		return fmt.Errorf("extracting entry %q: %w", h.Name, io.ErrUnexpectedEOF)
	}
	x.total += written
	return nil
}

// mkdirs creates dir and its parents inside the root, refusing to pass through anything but a real directory.
func (x *extractor) mkdirs(dir string) error {
	parts := strings.Split(dir, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fi, err := x.root.Lstat(p)
		switch {
		case err == nil && fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("goes through %s, a symbolic link in the destination", p)
		case err == nil && !fi.IsDir():
			return fmt.Errorf("goes through %s, which is not a directory", p)
		case err == nil:
			continue
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if err := x.root.Mkdir(p, 0o755); err != nil {
			return err
		}
		x.createdDirs = append(x.createdDirs, p)
		if err := x.root.Chmod(p, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// undo removes the files and directories written so far.
func (x *extractor) undo() {
	for f := range x.written {
		_ = x.root.Remove(f)
	}
	for _, d := range slices.Backward(x.createdDirs) {
		_ = x.root.Remove(d)
	}
}

// safeName cleans an entry name and refuses one that is absolute or climbs out.
func safeName(name string) (string, error) {
	switch {
	case name == "":
		return "", errors.New("has an empty name")
	case strings.ContainsRune(name, 0):
		return "", errors.New("has a NUL in its name")
	case strings.HasPrefix(name, "/"), isDriveLetter(name):
		return "", errors.New("is an absolute path")
	case strings.Contains(name, `\`):
		return "", errors.New("has a backslash in its name")
	case slices.Contains(strings.Split(name, "/"), ".."):
		return "", errors.New("climbs out of the directory (a .. element)")
	}
	return path.Clean(name), nil
}

// isDriveLetter reports a Windows absolute path, "C:" or "C:/…" (a backslash is refused on its own).
func isDriveLetter(name string) bool {
	return len(name) >= 2 && name[1] == ':' && (len(name) == 2 || name[2] == '/') &&
		('a' <= name[0] && name[0] <= 'z' || 'A' <= name[0] && name[0] <= 'Z')
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
