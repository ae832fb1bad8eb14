package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const chartYAML = "apiVersion: v2\nname: app\nversion: 1.0.0\n"

// TestLoadArchiveRefusesHostileArchives feeds LoadArchive archives that try to write or read outside the chart,
// or to cost more than the limits allow, and checks each is refused with the right sentinel before anything is
// rendered.
func TestLoadArchiveRefusesHostileArchives(t *testing.T) {
	ok := entry{name: "app/Chart.yaml", body: chartYAML}
	for _, tc := range []struct {
		name    string
		archive []byte
		limits  Limits
		want    error
		says    string
	}{
		{"parent directory", tgz(t, ok, entry{name: "app/../../etc/cron.d/x", body: "x"}), Limits{}, ErrUnsafeArchive, "climbs out"},
		{"parent directory only", tgz(t, ok, entry{name: "app/templates/../../x.yaml", body: "x"}), Limits{}, ErrUnsafeArchive, "climbs out"},
		{"windows parent directory", tgz(t, ok, entry{name: `app\..\..\x.yaml`, body: "x"}), Limits{}, ErrUnsafeArchive, "climbs out"},
		{"absolute path", tgz(t, ok, entry{name: "/etc/passwd", body: "x"}), Limits{}, ErrUnsafeArchive, "absolute"},
		{"drive letter", tgz(t, ok, entry{name: "C:/x/y", body: "x"}), Limits{}, ErrUnsafeArchive, "absolute"},
		{"symbolic link", tgz(t, ok, entry{name: "app/templates/x.yaml", typ: tar.TypeSymlink, link: "/etc/passwd"}), Limits{}, ErrUnsafeArchive, "not a regular file"},
		{"hard link", tgz(t, ok, entry{name: "app/values.yaml", typ: tar.TypeLink, link: "app/Chart.yaml"}), Limits{}, ErrUnsafeArchive, "not a regular file"},
		{"device", tgz(t, ok, entry{name: "app/dev", typ: tar.TypeChar}), Limits{}, ErrUnsafeArchive, "not a regular file"},
		{"twice", tgz(t, ok, entry{name: "app/values.yaml", body: "a: 1"}, entry{name: "app/values.yaml", body: "a: 2"}), Limits{}, ErrUnsafeArchive, "twice"},
		{"at the top", tgz(t, entry{name: "Chart.yaml", body: chartYAML}), Limits{}, ErrUnsafeArchive, "not under the chart's directory"},
		{"too many files", tgz(t, ok, entry{name: "app/a", body: "a"}, entry{name: "app/b", body: "b"}), Limits{MaxFiles: 2}, ErrTooLarge, "more than 2 files"},
		{"file too large", tgz(t, ok, entry{name: "app/big", body: strings.Repeat("x", 2000)}), Limits{MaxFileSize: 1000}, ErrTooLarge, "more than the limit"},
		{"total too large", tgz(t, ok, entry{name: "app/a", body: strings.Repeat("x", 600)}, entry{name: "app/b", body: strings.Repeat("x", 600)}), Limits{MaxTotal: 1000}, ErrTooLarge, "past 1000 bytes"},
		{"not gzip", []byte("apiVersion: v2\n"), Limits{}, ErrNotAChart, "not a gzip"},
		{"no Chart.yaml", tgz(t, entry{name: "app/values.yaml", body: "a: 1"}), Limits{}, ErrNotAChart, "Chart.yaml"},
		{"nested traversal", tgz(t, ok, entry{name: "app/charts/sub-1.0.0.tgz", body: string(tgz(t, entry{name: "sub/Chart.yaml", body: chartYAML}, entry{name: "sub/../../../x", body: "x"}))}), Limits{}, ErrUnsafeArchive, "climbs out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadArchive(tc.archive, tc.limits)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, want %v saying %q", err, tc.want, tc.says)
			}
		})
	}
}

// TestLoadArchiveStopsADecompressionBomb gives a 100 MiB entry that compresses to about 100 KiB and checks that
// LoadArchive refuses it from its header, without inflating it.
func TestLoadArchiveStopsADecompressionBomb(t *testing.T) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	_ = tw.WriteHeader(&tar.Header{Name: "app/Chart.yaml", Mode: 0o644, Size: int64(len(chartYAML))})
	_, _ = tw.Write([]byte(chartYAML))
	const bomb = 100 << 20
	_ = tw.WriteHeader(&tar.Header{Name: "app/templates/bomb.yaml", Mode: 0o644, Size: bomb})
	zero := make([]byte, 1<<20)
	for range bomb >> 20 {
		_, _ = tw.Write(zero)
	}
	_ = tw.Close()
	_ = zw.Close()
	if buf.Len() > 1<<20 {
		t.Fatalf("the bomb is %d bytes compressed", buf.Len())
	}
	_, err := LoadArchive(buf.Bytes(), Limits{})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	// Subcharts share the budget: ten archives of 60 KiB each pass alone but not together under 500 KiB.
	sub := chartTgz(t, "sub", map[string]string{"Chart.yaml": strings.Replace(chartYAML, "app", "sub", 1), "blob": strings.Repeat("y", 60<<10)})
	files := map[string]string{"Chart.yaml": chartYAML}
	for i := range 10 {
		files["charts/sub"+string(rune('a'+i))+".tgz"] = string(sub)
	}
	_, err = LoadArchive(chartTgz(t, "app", files), Limits{MaxTotal: 500 << 10})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("subcharts over the shared budget: got %v, want ErrTooLarge", err)
	}
}

// TestLoadArchiveLimitsNesting nests chart archives deeper than MaxDepth.
func TestLoadArchiveLimitsNesting(t *testing.T) {
	data := chartTgz(t, "c0", map[string]string{"Chart.yaml": "apiVersion: v2\nname: c0\nversion: 1.0.0\n"})
	for i := 1; i <= 4; i++ {
		name := "c" + string(rune('0'+i))
		data = chartTgz(t, name, map[string]string{
			"Chart.yaml": "apiVersion: v2\nname: " + name + "\nversion: 1.0.0\n",
			"charts/c" + string(rune('0'+i-1)) + ".tgz": string(data),
		})
	}
	if _, err := LoadArchive(data, Limits{MaxDepth: 5}); err != nil {
		t.Fatalf("five levels under MaxDepth 5: %v", err)
	}
	if _, err := LoadArchive(data, Limits{MaxDepth: 4}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than 4 deep") {
		t.Fatalf("five levels under MaxDepth 4: got %v", err)
	}
}

// TestLoadDirectory reads a chart directory as Helm does (.helmignore, subchart archives unpacked) and refuses
// symbolic links that leave it.
func TestLoadDirectory(t *testing.T) {
	dir := writeChart(t, t.TempDir(), map[string]string{
		"Chart.yaml":           chartYAML,
		"values.yaml":          "a: 1\n",
		".helmignore":          "secret.txt\nignored/\n",
		"secret.txt":           "no",
		"ignored/x.yaml":       "no",
		"templates/cm.yaml":    "kind: ConfigMap\n",
		"charts/sub-1.0.0.tgz": string(chartTgz(t, "sub", map[string]string{"Chart.yaml": "apiVersion: v2\nname: sub\nversion: 1.0.0\n"})),
		"files/inside.txt":     "inside",
	})
	if err := os.Symlink("files/inside.txt", filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	c, err := Load(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.Files(), " ")
	want := ".helmignore Chart.yaml charts/sub-1.0.0/Chart.yaml files/inside.txt link.txt templates/cm.yaml values.yaml"
	if got != want {
		t.Errorf("files:\n got %s\nwant %s", got, want)
	}

	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "files", "out.txt")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, Limits{}); !errors.Is(err, ErrUnsafeArchive) {
		t.Errorf("a link out of the chart: got %v, want ErrUnsafeArchive", err)
	}
	os.Remove(filepath.Join(dir, "files", "out.txt"))

	if err := os.Symlink("files", filepath.Join(dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, Limits{}); !errors.Is(err, ErrUnsafeArchive) {
		t.Errorf("a link to a directory: got %v, want ErrUnsafeArchive", err)
	}
	os.Remove(filepath.Join(dir, "dirlink"))

	if _, err := Load(dir, Limits{MaxFileSize: 3}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxFileSize 3: got %v, want ErrTooLarge", err)
	}
	if _, err := Load(t.TempDir(), Limits{}); !errors.Is(err, ErrNotAChart) {
		t.Errorf("an empty directory: got %v, want ErrNotAChart", err)
	}
}
