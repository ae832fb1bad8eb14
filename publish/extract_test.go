package publish

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestExtract(t *testing.T) {
	t.Parallel()
	old := syscall.Umask(0o077) // modes must not depend on the umask
	t.Cleanup(func() { syscall.Umask(old) })
	archive := tarGz(t,
		entry{name: "b.yaml", body: "b: 1\n"},
		entry{name: "./a.yaml", body: "a: 1\n"},
		entry{name: "./", typ: tar.TypeDir},
		entry{name: "sub/", typ: tar.TypeDir},
		entry{name: "sub/c.yaml", body: "c: 1\n"},
		entry{name: "deep/er/d.yaml", body: "d: 1\n"},
		entry{name: "pax_global_header", typ: tar.TypeXGlobalHeader},
	)
	dir := filepath.Join(t.TempDir(), "out")
	files, err := Extract(bytes.NewReader(archive), dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.yaml", "b.yaml", "deep/er/d.yaml", "sub/c.yaml"}; !slices.Equal(files, want) {
		t.Errorf("Extract() files = %q, want %q", files, want)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if want := strings.TrimSuffix(filepath.Base(f), ".yaml") + ": 1\n"; err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", f, data, err, want)
		}
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		want := fs.FileMode(0o644)
		if d.IsDir() {
			want = 0o755 | fs.ModeDir
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %s, want %s", p, fi.Mode(), want)
		}
		return nil
	})
}

func TestExtractRefusesANonEmptyDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine.txt"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Extract(bytes.NewReader(tarGz(t, entry{name: "a.yaml", body: "a"})), dir, Limits{})
	want := fmt.Sprintf("extracting into %s: the directory is not empty: extract into a new or empty directory", dir)
	if !errors.Is(err, fs.ErrExist) || err.Error() != want {
		t.Fatalf("Extract() into a non-empty directory = %v; want %q matching fs.ErrExist", err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Extract() wrote a.yaml after refusing the directory")
	}
}

func TestExtractOverwrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"a.yaml": "old", "mine.txt": "keep"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "b.yaml")); err != nil {
		t.Fatal(err)
	}
	files, err := Extract(bytes.NewReader(tarGz(t, entry{name: "a.yaml", body: "new"}, entry{name: "b.yaml", body: "new"})), dir, Limits{Overwrite: true})
	if err != nil || !slices.Equal(files, []string{"a.yaml", "b.yaml"}) {
		t.Fatalf("Extract(Overwrite) = %q, %v", files, err)
	}
	for name, want := range map[string]string{"a.yaml": "new", "b.yaml": "new", "mine.txt": "keep"} {
		if got, _ := os.ReadFile(filepath.Join(dir, name)); string(got) != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if fi, _ := os.Lstat(filepath.Join(dir, "b.yaml")); fi.Mode()&fs.ModeSymlink != 0 {
		t.Errorf("b.yaml is still a symbolic link")
	}
	if got, _ := os.ReadFile(outside); string(got) != "untouched" {
		t.Errorf("Extract() wrote through a symbolic link already in the directory: %s = %q", outside, got)
	}
}

func TestExtractDoesNotFollowSymlinksInTheDirectory(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	for _, target := range []string{outside, "."} { // a link out, and a link that stays inside
		dir := t.TempDir()
		if err := os.Symlink(target, filepath.Join(dir, "link")); err != nil {
			t.Fatal(err)
		}
		_, err := Extract(bytes.NewReader(tarGz(t, entry{name: "link/evil.yaml", body: "x"})), dir, Limits{Overwrite: true})
		want := `unsafe archive entry: entry "link/evil.yaml" goes through link, a symbolic link in the destination`
		if !errors.Is(err, ErrUnsafeArchive) || err.Error() != want {
			t.Errorf("Extract() through a link to %s = %v, want %q", target, err, want)
		}
		if entries, _ := os.ReadDir(outside); len(entries) != 0 {
			t.Errorf("Extract() wrote outside its directory: %v", entries)
		}
		if _, err := os.Lstat(filepath.Join(dir, "evil.yaml")); err == nil {
			t.Errorf("Extract() followed a symbolic link inside its directory")
		}
	}
}

// bomb is a gzip stream of 2 GiB of tar: 2048 entries of 1 MiB of zeros, each under the per-file limit, built
// from concatenated gzip members so that building it is cheap. It is about 2 MiB compressed.
func bomb(t testing.TB) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	member := func(data []byte) []byte {
		var b bytes.Buffer
		zw.Reset(&b)
		if _, err := zw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	mib := member(make([]byte, 1<<20))
	for i := range 2048 {
		var hdr bytes.Buffer
		tw := tar.NewWriter(&hdr)
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%04d.yaml", i), Typeflag: tar.TypeReg, Size: 1 << 20, Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		out.Write(member(hdr.Bytes()))
		out.Write(mib)
	}
	out.Write(member(make([]byte, 1024)))
	return out.Bytes()
}

// trailingBomb is a valid little archive followed, inside the same gzip stream, by 64 MiB of zeros.
func trailingBomb(t testing.TB) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	writeTar(t, zw, entry{name: "a.yaml", body: "a: 1\n"})
	if _, err := io.Copy(zw, io.LimitReader(zeros{}, 64<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// countingReader counts the compressed bytes Extract consumed.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestExtractRefusesHostileArchives(t *testing.T) {
	t.Parallel()
	bombBytes := bomb(t)
	tests := []struct {
		name    string
		archive []byte
		limits  Limits
		want    error
		wantMsg string
	}{
		{"parent escape", tarGz(t, entry{name: "ok.yaml", body: "x"}, entry{name: "../evil.yaml", body: "x"}), Limits{}, ErrUnsafeArchive, `entry "../evil.yaml" climbs out of the directory (a .. element)`},
		{"nested parent escape", tarGz(t, entry{name: "a/../../evil.yaml", body: "x"}), Limits{}, ErrUnsafeArchive, `entry "a/../../evil.yaml" climbs out of the directory (a .. element)`},
		{"parent escape in a directory", tarGz(t, entry{name: "../d/", typ: tar.TypeDir}), Limits{}, ErrUnsafeArchive, "climbs out"},
		{"absolute path", tarGz(t, entry{name: "/tmp/evil", body: "x"}), Limits{}, ErrUnsafeArchive, `entry "/tmp/evil" is an absolute path`},
		{"windows absolute path", tarGz(t, entry{name: "C:/evil", body: "x"}), Limits{}, ErrUnsafeArchive, "is an absolute path"},
		{"backslash", tarGz(t, entry{name: `..\evil`, body: "x"}), Limits{}, ErrUnsafeArchive, "backslash"},
		{"symlink", tarGz(t, entry{name: "link", typ: tar.TypeSymlink, linkname: "/etc/passwd"}), Limits{}, ErrUnsafeArchive, `entry "link" is a symbolic link`},
		{"symlink then write through it", tarGz(t, entry{name: "d", typ: tar.TypeSymlink, linkname: "/tmp"}, entry{name: "d/evil", body: "x"}), Limits{}, ErrUnsafeArchive, "symbolic link"},
		{"hard link", tarGz(t, entry{name: "h", typ: tar.TypeLink, linkname: "/etc/passwd"}), Limits{}, ErrUnsafeArchive, `entry "h" is a hard link`},
		{"char device", tarGz(t, entry{name: "dev", typ: tar.TypeChar}), Limits{}, ErrUnsafeArchive, `entry "dev" is a character device`},
		{"block device", tarGz(t, entry{name: "blk", typ: tar.TypeBlock}), Limits{}, ErrUnsafeArchive, "block device"},
		{"fifo", tarGz(t, entry{name: "fifo", typ: tar.TypeFifo}), Limits{}, ErrUnsafeArchive, `entry "fifo" is a named pipe`},
		{"duplicate entry", tarGz(t, entry{name: "a.yaml", body: "1"}, entry{name: "./a.yaml", body: "2"}), Limits{}, ErrUnsafeArchive, `entry "./a.yaml" appears twice`},
		{"file over a directory", tarGz(t, entry{name: "d/a.yaml", body: "1"}, entry{name: "d", body: "2"}), Limits{}, ErrUnsafeArchive, "would replace the directory d"},
		{"oversized entry", tarGz(t, entry{name: "big.yaml", size: 2 << 20}), Limits{MaxFileSize: 1 << 20}, ErrTooLarge, `entry "big.yaml" is 2097152 bytes, more than the limit of 1048576`},
		{"too many entries", tarGz(t, entry{name: "1", body: "x"}, entry{name: "2", body: "x"}, entry{name: "3", body: "x"}), Limits{MaxFiles: 2}, ErrTooLarge, `more than 2 entries (at "3")`},
		{"too many directories", tarGz(t, entry{name: "1/", typ: tar.TypeDir}, entry{name: "2/", typ: tar.TypeDir}), Limits{MaxFiles: 1}, ErrTooLarge, "more than 1 entries"},
		{"gzip bomb", bombBytes, Limits{MaxTotal: 8 << 20}, ErrTooLarge, `entry "f0008.yaml" takes the archive past 8388608 bytes uncompressed`},
		{"trailing bomb", trailingBomb(t), Limits{}, ErrTooLarge, "more than 1048576 bytes follow the end of the archive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "out")
			in := &countingReader{r: bytes.NewReader(tc.archive)}
			files, err := Extract(in, dir, tc.limits)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Extract() = %q, %v; want %v containing %q", files, err, tc.want, tc.wantMsg)
			}
			if files != nil {
				t.Errorf("Extract() returned files %q with an error", files)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("Extract() left %v behind after refusing the archive", entries)
			}
			if tc.name == "gzip bomb" && in.n > int64(len(tc.archive))/100 {
				t.Errorf("Extract() read %d of the bomb's %d compressed bytes before refusing it", in.n, len(tc.archive))
			}
			// Reading into memory refuses the same archive the same way.
			if read, err := ReadArchive(bytes.NewReader(tc.archive), tc.limits); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("ReadArchive() = %d files, %v; want %v containing %q", len(read), err, tc.want, tc.wantMsg)
			}
		})
	}
}

func TestExtractCleansUpAnExistingDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Extract(bytes.NewReader(tarGz(t, entry{name: "sub/a.yaml", body: "a"}, entry{name: "link", typ: tar.TypeSymlink, linkname: "x"})), dir, Limits{})
	if !errors.Is(err, ErrUnsafeArchive) {
		t.Fatalf("Extract() = %v, want ErrUnsafeArchive", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Extract() left %v in the directory it was given after failing", entries)
	}
}

func TestExtractRefusesWhatIsNotAGzippedTar(t *testing.T) {
	t.Parallel()
	for name, data := range map[string][]byte{
		"plain tar":       func() []byte { var b bytes.Buffer; writeTar(t, &b, entry{name: "a", body: "a"}); return b.Bytes() }(),
		"truncated":       tarGz(t, entry{name: "a.yaml", size: 4096})[:100],
		"junk after gzip": append(tarGz(t, entry{name: "a.yaml", body: "a"}), "junk"...),
	} {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			if _, err := Extract(bytes.NewReader(data), filepath.Join(parent, "out"), Limits{}); err == nil {
				t.Fatal("Extract() accepted it")
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("Extract() left %v behind", entries)
			}
		})
	}
}

// FuzzExtract checks that no input makes Extract panic, write outside its directory, or leave files behind when
// it fails.
func FuzzExtract(f *testing.F) {
	f.Add(tarGz(f, entry{name: "a.yaml", body: "a: 1\n"}, entry{name: "b.yaml", body: "b: 1\n"}))
	f.Add(tarGz(f, entry{name: "../x", body: "x"}))
	f.Add(tarGz(f, entry{name: "/abs", body: "x"}))
	f.Add(tarGz(f, entry{name: "l", typ: tar.TypeSymlink, linkname: "/"}, entry{name: "l/x", body: "x"}))
	f.Add(tarGz(f, entry{name: "h", typ: tar.TypeLink, linkname: "a"}))
	f.Add(tarGz(f, entry{name: "d/", typ: tar.TypeDir}, entry{name: "d/x", body: "x"}, entry{name: "d", body: "x"}))
	f.Add(tarGz(f, entry{name: "a", body: "1"}, entry{name: "a", body: "2"}))
	f.Add(tarGz(f, entry{name: "a", body: "1"}, entry{name: "a/b", body: "2"}))
	f.Add(tarGz(f, entry{name: "a/b", body: "1"}, entry{name: "a", body: "2"}))
	f.Add(tarGz(f, entry{name: "big", size: 2 << 20}))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "out")
		limits := Limits{MaxTotal: 1 << 20, MaxFileSize: 1 << 20, MaxFiles: 100}
		files, err := Extract(bytes.NewReader(data), dir, limits)
		// ReadArchive refuses what Extract refuses and reads what it writes: one set of rules for both.
		read, readErr := ReadArchive(bytes.NewReader(data), limits)
		if (err == nil) != (readErr == nil) {
			t.Fatalf("Extract() = %v but ReadArchive() = %v: they must agree", err, readErr)
		}
		if err == nil {
			names := make([]string, len(read))
			for i, f := range read {
				names[i] = f.Name
				if got, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Name))); !bytes.Equal(got, f.Data) {
					t.Fatalf("ReadArchive() read %q as %q, Extract() wrote %q", f.Name, f.Data, got)
				}
			}
			if !slices.Equal(names, files) {
				t.Fatalf("ReadArchive() files %q, Extract() files %q", names, files)
			}
		}
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if e.Name() != "out" {
				t.Fatalf("Extract() wrote %s outside its directory", e.Name())
			}
		}
		if err != nil {
			if len(entries) > 0 {
				t.Fatalf("Extract() failed (%v) but left %v behind", err, entries)
			}
			return
		}
		for _, f := range files {
			fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(f)))
			if err != nil || !fi.Mode().IsRegular() || strings.HasPrefix(f, "/") || slices.Contains(strings.Split(f, "/"), "..") {
				t.Fatalf("Extract() reported %q, which is not a regular file inside the directory (%v)", f, err)
			}
		}
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !d.Type().IsRegular() {
				t.Fatalf("Extract() created %s of type %s", p, d.Type())
			}
			return nil
		})
	})
}
