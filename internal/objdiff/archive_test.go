package objdiff

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"testing"
)

type tarEntry struct {
	name string
	typ  byte
	body string
}

func tarGz(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if typ == tar.TypeSymlink {
			h.Linkname = "/etc/passwd"
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
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

var testLimits = Limits{MaxFiles: 10, MaxTotal: 100}

func TestDiffReadArchive(t *testing.T) {
	files, err := ReadArchive(bytes.NewReader(tarGz(t,
		tarEntry{name: "deploy/", typ: tar.TypeDir},
		tarEntry{name: "deploy/b.yaml", body: "b: 1\n"},
		tarEntry{name: "./a.yaml", body: "a: 1\n"},
	)), testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Name != "a.yaml" || string(files[0].Data) != "a: 1\n" || files[1].Name != "deploy/b.yaml" {
		t.Errorf("ReadArchive() = %+v, want a.yaml and deploy/b.yaml", files)
	}

	refused := []struct {
		name    string
		archive []byte
	}{
		{"not gzip", []byte("plain text")},
		{"symlink", tarGz(t, tarEntry{name: "a.yaml", typ: tar.TypeSymlink})},
		{"climbs out", tarGz(t, tarEntry{name: "../a.yaml", body: "a: 1\n"})},
		{"absolute", tarGz(t, tarEntry{name: "/a.yaml", body: "a: 1\n"})},
		{"twice", tarGz(t, tarEntry{name: "a.yaml", body: "1"}, tarEntry{name: "./a.yaml", body: "2"})},
		{"too large", tarGz(t, tarEntry{name: "a.yaml", body: string(make([]byte, 101))})},
		{"too many", tarGz(t, manyEntries(11)...)},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadArchive(bytes.NewReader(tc.archive), testLimits); !errors.Is(err, ErrArchive) {
				t.Errorf("ReadArchive(%s) = %v, want ErrArchive", tc.name, err)
			}
		})
	}
}

func manyEntries(n int) []tarEntry {
	out := make([]tarEntry, n)
	for i := range out {
		out[i] = tarEntry{name: fmt.Sprintf("f%d.yaml", i), body: "x"}
	}
	return out
}

// FuzzDiffReadArchive checks that any input either is refused with ErrArchive or yields files within the limits, with
// clean relative names, sorted and distinct.
func FuzzDiffReadArchive(f *testing.F) {
	f.Add(tarGz(f, tarEntry{name: "a.yaml", body: "a: 1\n"}, tarEntry{name: "d/", typ: tar.TypeDir}))
	f.Add(tarGz(f, tarEntry{name: "../x", body: "x"}))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := ReadArchive(bytes.NewReader(data), testLimits)
		if err != nil {
			if !errors.Is(err, ErrArchive) {
				t.Fatalf("ReadArchive() = %v, want ErrArchive", err)
			}
			return
		}
		var total int64
		for i, f := range files {
			total += int64(len(f.Data))
			if f.Name == "" || f.Name[0] == '/' || f.Name == "." || bytes.Contains([]byte("/"+f.Name+"/"), []byte("/../")) {
				t.Fatalf("file name %q is not clean and relative", f.Name)
			}
			if i > 0 && files[i-1].Name >= f.Name {
				t.Fatalf("files not sorted and distinct: %q, %q", files[i-1].Name, f.Name)
			}
		}
		if len(files) > testLimits.MaxFiles || total > testLimits.MaxTotal {
			t.Fatalf("%d files, %d bytes: over the limits", len(files), total)
		}
	})
}
