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
}

func (x *extractor) extract(r io.Reader) error {
	return walkArchive(r, x.limits, func(name string) error {
		return x.mkdirs(name)
	}, func(name string, h *tar.Header, body io.Reader) error {
		if dirName := path.Dir(name); dirName != "." {
			if err := x.mkdirs(dirName); err != nil {
				return err
			}
		}
		if fi, err := x.root.Lstat(name); err == nil {
			// Only with Overwrite can something be there: replace it, never write through it.
			if fi.IsDir() {
				return fmt.Errorf("would replace the directory %s", name)
			}
			if err := x.root.Remove(name); err != nil {
				return fmt.Errorf("cannot replace %s: %v", name, err)
			}
		}
		f, err := x.root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		x.written[name] = true
		written, err := io.Copy(f, body)
		if err == nil {
			err = f.Chmod(0o644)
		}
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
		if err == nil && written != h.Size {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return &entryIOError{err}
		}
		return nil
	})
}

// entryIOError is a failure to write an entry that is not the archive's fault.
type entryIOError struct{ err error }

func (e *entryIOError) Error() string { return e.err.Error() }
func (e *entryIOError) Unwrap() error { return e.err }

// File is one regular file of an archive read into memory.
type File struct {
	// Name is slash-separated, cleaned and relative ("deploy/app.yaml").
	Name string
	Data []byte
}

// ReadArchive reads a gzip'd tar (a statepack layer) into memory and returns its regular files, sorted by name: the
// way to look at an artifact's layer without writing to disk. It refuses exactly what Extract refuses, with the
// same errors (ErrUnsafeArchive, ErrTooLarge), and reads r to its end so that a verifying reader gets to check.
// Directories and pax global headers are skipped.
func ReadArchive(r io.Reader, l Limits) ([]File, error) {
	var files []File
	err := walkArchive(r, l.withDefaults(), func(string) error { return nil }, func(name string, h *tar.Header, body io.Reader) error {
		data := make([]byte, h.Size)
		if _, err := io.ReadFull(body, data); err != nil {
			return &entryIOError{err}
		}
		files = append(files, File{Name: name, Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	return files, nil
}

// checkPlace refuses an entry that would go through a file of the archive, or a file that would take the place of
// one of its directories, and records the directories name implies. seen holds the files so far.
func checkPlace(name string, dir bool, seen, isDir map[string]bool) error {
	parts := strings.Split(name, "/")
	for i := 1; i <= len(parts); i++ {
		p := strings.Join(parts[:i], "/")
		if i == len(parts) && !dir {
			if isDir[p] {
				return fmt.Errorf("would replace the directory %s", p)
			}
			break
		}
		if seen[p] {
			return fmt.Errorf("goes through %s, which is not a directory", p)
		}
		isDir[p] = true
	}
	return nil
}

// walkArchive reads a gzip'd tar and checks every entry by the rules of Extract — only regular files and
// directories, clean relative names, no name twice, within the limits — before it hands a directory to dir and a
// regular file (its cleaned name, its header, a reader of exactly its body) to file. An error of dir or file is
// the entry's: it is reported as ErrUnsafeArchive, unless it is an entryIOError (the destination's trouble).
func walkArchive(r io.Reader, l Limits, dir func(name string) error, file func(name string, h *tar.Header, body io.Reader) error) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("reading the archive: it is not gzip: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	seen := map[string]bool{}
	isDir := map[string]bool{} // every directory the archive makes, named or implied, so that a file never takes one's place
	var total int64
	for n := 1; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		if n > l.MaxFiles {
			return fmt.Errorf("%w: the archive has more than %d entries (at %q)", ErrTooLarge, l.MaxFiles, h.Name)
		}
		unsafe := func(format string, args ...any) error {
			return fmt.Errorf("%w: entry %q %s", ErrUnsafeArchive, h.Name, fmt.Sprintf(format, args...))
		}
		entryErr := func(err error) error {
			var ioErr *entryIOError
			if errors.As(err, &ioErr) {
				return fmt.Errorf("extracting entry %q: %w", h.Name, ioErr.err)
			}
			return unsafe("%v", err)
		}
		switch h.Typeflag {
		case tar.TypeXGlobalHeader:
			continue // metadata for the entries that follow (git archive writes one); Go's reader applies it
		case tar.TypeReg, tar.TypeDir:
		default:
			return unsafe("is a %s, not a regular file or directory", typeName(h.Typeflag))
		}
		name, err := safeName(h.Name)
		if err != nil {
			return unsafe("%v", err)
		}
		if name != "." {
			if err := checkPlace(name, h.Typeflag == tar.TypeDir, seen, isDir); err != nil {
				return unsafe("%v", err)
			}
		}
		if h.Typeflag == tar.TypeDir {
			if name == "." {
				continue // the destination itself, as `tar -C dir .` writes it
			}
			if err := dir(name); err != nil {
				return entryErr(err)
			}
			continue
		}
		switch {
		case name == ".":
			return unsafe("names the destination directory itself")
		case h.Size < 0 || h.Size > l.MaxFileSize:
			return fmt.Errorf("%w: entry %q is %d bytes, more than the limit of %d", ErrTooLarge, h.Name, h.Size, l.MaxFileSize)
		case total+h.Size > l.MaxTotal:
			return fmt.Errorf("%w: entry %q takes the archive past %d bytes uncompressed", ErrTooLarge, h.Name, l.MaxTotal)
		case seen[name]:
			return unsafe("appears twice in the archive")
		}
		seen[name] = true
		if err := file(name, h, io.LimitReader(tr, h.Size)); err != nil {
			return entryErr(err)
		}
		total += h.Size
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
