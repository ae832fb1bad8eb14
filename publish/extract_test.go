package publish

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct {
	name     string
	typ      byte
	body     string
	size     int64 // when set, the header claims this size and body is repeated to fill it
	linkname string
}

func tarGz(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := int64(len(e.body))
		if e.size > 0 {
			size = e.size
		}
		if typ != tar.TypeReg {
			size = 0
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: typ, Size: size, Mode: 0o644, Linkname: e.linkname}); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			var r io.Reader = strings.NewReader(e.body)
			if e.size > 0 {
				r = io.LimitReader(zeros{}, e.size)
			}
			if _, err := io.Copy(tw, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestExtract(t *testing.T) {
	good := tarGz(t, entry{name: "b.yaml", body: "b: 1\n"}, entry{name: "./a.yaml", body: "a: 1\n"}, entry{name: "sub/", typ: tar.TypeDir}, entry{name: "sub/c.yaml", body: "c"})
	dir := filepath.Join(t.TempDir(), "out")
	files, err := Extract(bytes.NewReader(good), dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(files, " ") != "a.yaml b.yaml sub/c.yaml" {
		t.Errorf("Extract() files = %v", files)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "a.yaml")); string(data) != "a: 1\n" {
		t.Errorf("a.yaml = %q", data)
	}
	if _, err := Extract(bytes.NewReader(good), dir, Limits{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Extract() into a non-empty directory: %v, want a refusal", err)
	}
}

func TestExtractRefusesHostileArchives(t *testing.T) {
	tests := []struct {
		name    string
		archive []byte
		limits  Limits
		want    error
		wantMsg string
	}{
		{"parent escape", tarGz(t, entry{name: "ok.yaml", body: "x"}, entry{name: "../evil.yaml", body: "x"}), Limits{}, ErrUnsafeArchive, "climbs out"},
		{"nested parent escape", tarGz(t, entry{name: "a/../../evil.yaml", body: "x"}), Limits{}, ErrUnsafeArchive, "climbs out"},
		{"absolute path", tarGz(t, entry{name: "/etc/evil", body: "x"}), Limits{}, ErrUnsafeArchive, "absolute"},
		{"symlink", tarGz(t, entry{name: "link", typ: tar.TypeSymlink, linkname: "/etc/passwd"}), Limits{}, ErrUnsafeArchive, "symbolic link"},
		{"symlink then write through it", tarGz(t, entry{name: "d", typ: tar.TypeSymlink, linkname: "/tmp"}, entry{name: "d/evil", body: "x"}), Limits{}, ErrUnsafeArchive, "symbolic link"},
		{"hard link", tarGz(t, entry{name: "h", typ: tar.TypeLink, linkname: "/etc/passwd"}), Limits{}, ErrUnsafeArchive, "hard link"},
		{"char device", tarGz(t, entry{name: "dev", typ: tar.TypeChar}), Limits{}, ErrUnsafeArchive, "character device"},
		{"fifo", tarGz(t, entry{name: "fifo", typ: tar.TypeFifo}), Limits{}, ErrUnsafeArchive, "named pipe"},
		{"duplicate entry", tarGz(t, entry{name: "a.yaml", body: "1"}, entry{name: "a.yaml", body: "2"}), Limits{}, ErrUnsafeArchive, "a.yaml"},
		{"oversized entry", tarGz(t, entry{name: "big.yaml", size: 2 << 20}), Limits{MaxFileSize: 1 << 20}, ErrTooLarge, "big.yaml"},
		{"too many entries", tarGz(t, entry{name: "1", body: "x"}, entry{name: "2", body: "x"}, entry{name: "3", body: "x"}), Limits{MaxFiles: 2}, ErrTooLarge, "more than 2 entries"},
		{"decompression bomb", tarGz(t, entry{name: "a", size: 40 << 20}, entry{name: "b", size: 40 << 20}), Limits{MaxTotal: 64 << 20}, ErrTooLarge, "expands to more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "out")
			files, err := Extract(bytes.NewReader(tc.archive), dir, tc.limits)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Extract() = %v, %v; want %v containing %q", files, err, tc.want, tc.wantMsg)
			}
			if _, statErr := os.Stat(dir); !os.IsNotExist(statErr) {
				t.Errorf("Extract() left %s behind after refusing the archive", dir)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("Extract() wrote outside its directory: %v", entries)
			}
		})
	}
}

func TestExtractDoesNotFollowExistingSymlinks(t *testing.T) {
	outside := t.TempDir()
	dir := t.TempDir()
	// An empty directory is fine to extract into, but a symlink planted after the check must not be followed:
	// os.Root refuses to leave dir.
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	_, err := Extract(bytes.NewReader(tarGz(t, entry{name: "escape/evil.yaml", body: "x"})), dir, Limits{})
	if err == nil {
		t.Fatal("Extract() wrote through a symlink in the target directory")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("Extract() wrote outside its directory: %v", entries)
	}
}

// FuzzExtract checks that no archive makes Extract panic or write outside its directory.
func FuzzExtract(f *testing.F) {
	f.Add(tarGz(f, entry{name: "a.yaml", body: "a: 1\n"}))
	f.Add(tarGz(f, entry{name: "../x", body: "x"}))
	f.Add(tarGz(f, entry{name: "l", typ: tar.TypeSymlink, linkname: "/"}, entry{name: "l/x", body: "x"}))
	f.Add(tarGz(f, entry{name: "d/", typ: tar.TypeDir}, entry{name: "d/x", body: "x"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "out")
		files, err := Extract(bytes.NewReader(data), dir, Limits{MaxTotal: 1 << 20, MaxFiles: 100})
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if e.Name() != "out" {
				t.Fatalf("Extract() wrote %s outside its directory", e.Name())
			}
		}
		for _, f := range files {
			if strings.HasPrefix(f, "/") || strings.Contains(f, "..") {
				t.Fatalf("Extract() reported an unsafe file %q", f)
			}
		}
		if err != nil && len(entries) > 0 {
			t.Fatalf("Extract() failed (%v) but left %v behind", err, entries)
		}
	})
}
