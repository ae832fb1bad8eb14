package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// podinfoDir is the real chart of the shared corpus, beside the work trees.
const podinfoDir = "../../../shared/corpus/charts/podinfo"

func needPodinfo(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(podinfoDir, "Chart.yaml")); err != nil {
		t.Skipf("the podinfo chart of the shared corpus is not at %s (it sits beside the work tree, in shared/corpus/charts): %v", podinfoDir, err)
	}
	return podinfoDir
}

// writeChart writes files (slash-separated names relative to dir) and returns dir.
func writeChart(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// entry is one tar entry for tgz.
type entry struct {
	name, body string
	typ        byte   // default tar.TypeReg
	link       string // for links
}

func tgz(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typ, Linkname: e.link, ModTime: time.Unix(0, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Typeflag == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
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

// chartTgz packages files (names relative to the chart) under top/, as helm package does.
func chartTgz(t *testing.T, top string, files map[string]string) []byte {
	t.Helper()
	var entries []entry
	for _, name := range sortedNames(files) {
		entries = append(entries, entry{name: top + "/" + name, body: files[name]})
	}
	return tgz(t, entries...)
}

func sortedNames(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
