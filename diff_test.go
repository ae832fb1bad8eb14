package statepack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testtree"
	"github.com/statepack/statepack/publish"
)

// TestDiffReadsArchivesAlike checks that reading an archive in memory as two streams gives the objects that
// extracting it and rendering the directory gives, byte for byte, or falls back to that.
func TestDiffReadsArchivesAlike(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		fallback bool // the shortcut must not be taken
		wantErr  string
	}{
		{name: "statepack files", files: map[string]string{
			"configmap_shop_settings.yaml":  "apiVersion: v1\ndata:\n  LOG_LEVEL: info\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\n",
			"namespace_shop.yaml":           "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
			"deployment.apps_shop_web.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 2\n",
			"configmap_shop_url.yaml":       "apiVersion: v1\ndata:\n  URL: https://x.example.com/?a=1&b=2\nkind: ConfigMap\nmetadata:\n  name: url\n  namespace: shop\n",
			"serviceaccount_shop_robot.yml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: robot, namespace: shop}\n",
			"sub/dir/more.yaml":             "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: more\n  namespace: shop\n",
			"sub/.hidden/ignored.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hidden}\n",
			"README.md":                     "# not a manifest\n",
			"values.json":                   `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json"}}{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json2"}}`,
			"empty.yaml":                    "",
			"comments.yaml":                 "# nothing but a comment\n---\n",
		}},
		{name: "byte-order marks and CRLF", files: map[string]string{
			"a.yaml": "\xef\xbb\xbfapiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n",
			"b.json": "\xef\xbb\xbf{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"b\"}}",
		}},
		{name: "block scalar at the end of a file without a line end", files: map[string]string{
			"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  script: |\n    echo hi",
			"b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
		}},
		{name: "anchors stay in their file", files: map[string]string{
			"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: &l {x: y}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a2\n  labels: *l\n",
			"b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  labels: *l\n",
		}, fallback: true, wantErr: "b.yaml"},
		{name: "syntax error", files: map[string]string{
			"good.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n",
			"bad.yaml":  "kind: [unclosed\n",
		}, fallback: true, wantErr: "bad.yaml"},
	}
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blob, err := testtree.TarGz(nil, tc.files)
			if err != nil {
				t.Fatal(err)
			}
			files, err := publish.ReadArchive(bytes.NewReader(blob), publish.Limits{MaxFiles: 1000, MaxTotal: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			fast, ok, err := decodeBatched(ctx, files)
			if err != nil || ok == tc.fallback {
				t.Fatalf("decodeBatched() = ok %v, %v; want ok %v", ok, err, !tc.fallback)
			}
			// The reference: extract and render, as pull and Flux would see the files.
			dir := filepath.Join(t.TempDir(), "x")
			if _, err := publish.Extract(bytes.NewReader(blob), dir, publish.Limits{}); err != nil {
				t.Fatal(err)
			}
			r, err := build.Render(ctx, dir, build.WithRoot(dir))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readLayerObjects(ctx, log, blob)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !r.Findings.HasErrors() {
					t.Fatalf("readLayerObjects() = %v, want an error naming %s (render: %v)", err, tc.wantErr, r.Findings)
				}
				return
			}
			if err != nil || r.Findings.HasErrors() {
				t.Fatalf("readLayerObjects() = %v; render: %v", err, r.Findings)
			}
			if a, b := objectSet(got), objectSet(r.Objects); !slices.Equal(a, b) {
				t.Errorf("objects read in memory:\n%s\nobjects rendered from the extracted files:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
			if ok && !slices.Equal(objectSet(fast), objectSet(r.Objects)) {
				t.Errorf("the shortcut decodes other objects than the render")
			}
		})
	}
}

// TestDiffNeverBuildsAnArtifactsKustomization checks that an artifact is read as data: a kustomization in it is
// left out, never built, whichever way the archive is read (issue #15: a kustomization naming a remote base made
// diff fetch it and print what came back).
func TestDiffNeverBuildsAnArtifactsKustomization(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	// A listener that fails the test when asked anything, and a git that records being run, first on PATH.
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++; http.NotFound(w, r) }))
	defer srv.Close()
	bin, ran := t.TempDir(), filepath.Join(t.TempDir(), "git-ran")
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte("#!/bin/sh\necho \"$@\" >> "+ran+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	defer func() {
		if hits > 0 {
			t.Errorf("reading the artifact made %d request(s) to the listener its kustomization names", hits)
		}
		if _, err := os.Stat(ran); err == nil {
			t.Error("reading the artifact ran git")
		}
	}()
	for name, extra := range map[string]map[string]string{
		"in memory":    {},
		"file by file": {"bad.yaml": "kind: [unclosed\n"}, // a syntax error forces the fallback
	} {
		t.Run(name, func(t *testing.T) {
			files := map[string]string{
				"app/kustomization.yaml": "resources: [cm.yaml, " + srv.URL + "/remote.yaml, github.com/acme/fleet//base?ref=main]\nnamePrefix: p-\n",
				"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
				"Kustomization":          "resources: [app]\n",
			}
			for k, v := range extra {
				files[k] = v
			}
			blob, err := testtree.TarGz(nil, files)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := readLayerObjects(ctx, log, blob)
			if len(extra) > 0 {
				if err == nil || !strings.Contains(err.Error(), "bad.yaml") || strings.Contains(err.Error(), "kustomiz") {
					t.Fatalf("readLayerObjects() = %v, want only the syntax error of bad.yaml", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := objectSet(objs); len(got) != 1 || !strings.HasPrefix(got[0], "ConfigMap/a\n") {
				t.Errorf("readLayerObjects() = %q, want the ConfigMap as it is, unprefixed: the kustomization is data", got)
			}
		})
	}
}

// TestDiffRefusesManifestsTooLargeToDecode: a layer of a few hundred KB that unpacks to more manifests than diff
// decodes is refused with ErrTooLarge before it is decoded (issue #15: 900 MiB of YAML took diff to 6.2 GB).
func TestDiffRefusesManifestsTooLargeToDecode(t *testing.T) {
	t.Parallel()
	doc := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  x: \"" + strings.Repeat("a", 1<<20) + "\"\n"
	files := map[string]string{}
	// Files of a little over 1 MiB, one more than the budget holds: the refusal comes at a header near the end, after
	// diff has read the budget's worth (a bigger archive would only cost the test more to write and compress).
	for i := range maxDiffManifests>>20 + 1 {
		files[fmt.Sprintf("cm-%03d.yaml", i)] = strings.Replace(doc, "name: big", fmt.Sprintf("name: big-%d", i), 1)
	}
	blob, err := testtree.TarGz(nil, files)
	if err != nil {
		t.Fatal(err)
	}
	if len(blob) > 4<<20 {
		t.Fatalf("the layer is %d bytes: the test wants a small layer that unpacks big", len(blob))
	}
	_, err = readLayerObjects(context.Background(), slog.New(slog.DiscardHandler), blob)
	if !errors.Is(err, publish.ErrTooLarge) || !strings.Contains(err.Error(), "diff decodes at most 128 MiB of manifests") {
		t.Errorf("readLayerObjects() = %v, want ErrTooLarge naming the budget", err)
	}
}
