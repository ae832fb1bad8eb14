package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"go/format"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	"sigs.k8s.io/yaml"
)

// ecosystemSet is one project whose CRDs are built in: a release of it and the module zips that hold the CRDs
// of that release, with the files to read in each.
type ecosystemSet struct {
	Name    string
	Version string
	Note    string
	modules []pinnedModule
}

// pinnedModule is a module version whose zip holds CRD files, with the h1: hash of the zip (as in go.sum), so that
// a regeneration reads exactly the bytes the pin names.
type pinnedModule struct {
	path, version, hash string
	files               string // glob of the CRD files inside the module
}

// ecosystem pins the built-in CRDs. Flux's are those of the controller releases a Flux distribution installs (its
// manifests/crds/kustomization.yaml names them); Gateway API's the experimental channel, a superset of the standard
// one, so that a tree using either is accepted. To move a project to a newer release: change its versions here, set
// its hashes to "" and run go generate ./internal/schema/ — the generator prints the hashes it found; check them
// against sum.golang.org (or `go mod download -json MODULE@VERSION`), pin them, run it again.
var ecosystem = []ecosystemSet{
	{Name: "Flux", Version: "v2.9.4", modules: []pinnedModule{
		{"github.com/fluxcd/source-controller", "v1.9.4", "h1:psO6g4NTAMl3GD9gL8TMF3shM939XhTjFvlQXCK3pZ4=", "config/crd/bases/*.yaml"},
		{"github.com/fluxcd/kustomize-controller", "v1.9.4", "h1:VBnBMhnemqnE5Zca2AoG2gC4472MoiTmk9rdqvLoMcY=", "config/crd/bases/*.yaml"},
		{"github.com/fluxcd/helm-controller", "v1.6.3", "h1:MSiDP/s8xRSkO3g11vBiDStxfmJ5ZVdwDEpW7BSE/UA=", "config/crd/bases/*.yaml"},
		{"github.com/fluxcd/notification-controller", "v1.9.3", "h1:vBONN/Lx5aQ2nDnJxYp5Sb0Wsgh13UbuP5A1MK4dmkY=", "config/crd/bases/*.yaml"},
		{"github.com/fluxcd/image-reflector-controller", "v1.2.4", "h1:pBC8XOgLXt3VaTzp9k2fYpuR3FFEnZRZBkuSfnGxPhM=", "config/crd/bases/*.yaml"},
		{"github.com/fluxcd/image-automation-controller", "v1.2.4", "h1:uYtQq2kUb02q6fJE6zT/NdAPLTPLZUOIVp+JGFslW+M=", "config/crd/bases/*.yaml"},
		{"github.com/fluxcd/source-watcher/v2", "v2.2.3", "h1:50kpO1U+7tj9s+n6onf59vTpsiOC6y20SELNqa3w170=", "config/crd/bases/*.yaml"},
	}},
	{Name: "Argo CD", Version: "v3.6.2", modules: []pinnedModule{
		{"github.com/argoproj/argo-cd/v3", "v3.6.2", "h1:t6RQrVV4hg9M0+lPMsUvi9e4RnYV9dE99/guXGxG6Lc=", "manifests/crds/*-crd.yaml"},
	}},
	{Name: "Gateway API", Version: "v1.7.0", Note: "experimental channel", modules: []pinnedModule{
		{"sigs.k8s.io/gateway-api", "v1.7.0", "h1:duVnm7nO6oXfMMUWfcDoBph47CYR/ME3NGxccOVglaY=", "config/crd/experimental/gateway.networking.*.yaml"},
	}},
	{Name: "cert-manager", Version: "v1.21.2", modules: []pinnedModule{
		{"github.com/cert-manager/cert-manager", "v1.21.2", "h1:UWgoYM+KLNtRlqmoWOKjKBOBUPVHeepQ6/ac3ERJW68=", "deploy/crds/*.yaml"},
	}},
}

// ecosystemCRD is one CRD as the schema package keeps it, and the set it comes from.
type ecosystemCRD struct {
	Set string
	CRD map[string]any
}

func extractEcosystem(out string) error {
	proxy, err := goProxy()
	if err != nil {
		return err
	}
	var crds []ecosystemCRD
	missing := false
	for _, set := range ecosystem {
		for _, m := range set.modules {
			data, err := fetchZip(proxy, m.path, m.version)
			if err != nil {
				return err
			}
			got, err := hashZip(data)
			if err != nil {
				return fmt.Errorf("hashing %s@%s: %w", m.path, m.version, err)
			}
			if m.hash == "" {
				fmt.Fprintf(os.Stderr, "gen: %s %s %s (not pinned: check it and pin it in ecosystem.go)\n", m.path, m.version, got)
				missing = true
			} else if got != m.hash {
				return fmt.Errorf("%s@%s: the proxy served a zip with hash %s, ecosystem.go pins %s", m.path, m.version, got, m.hash)
			}
			found, err := crdsOfZip(data, m)
			if err != nil {
				return err
			}
			for _, c := range found {
				crds = append(crds, ecosystemCRD{Set: set.Name, CRD: c})
			}
		}
	}
	if missing {
		return fmt.Errorf("pin the hashes printed above, then run again")
	}
	slices.SortFunc(crds, func(a, b ecosystemCRD) int { return strings.Compare(crdName(a.CRD), crdName(b.CRD)) })
	for i := 1; i < len(crds); i++ {
		if crdName(crds[i].CRD) == crdName(crds[i-1].CRD) {
			return fmt.Errorf("CRD %s comes from both %s and %s", crdName(crds[i].CRD), crds[i-1].Set, crds[i].Set)
		}
	}
	dir := filepath.Join(out, "ecosystem")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	total := 0
	for _, c := range crds {
		compact, err := json.Marshal(c.CRD)
		if err != nil {
			return err
		}
		size, err := writeGzip(filepath.Join(dir, crdName(c.CRD)+".json.gz"), compact)
		if err != nil {
			return err
		}
		total += size
	}
	fmt.Fprintf(os.Stderr, "gen: %s: %d CRDs, %d bytes\n", dir, len(crds), total)
	return writeIndex(filepath.Join(out, "..", "ecosystem_index.go"), crds)
}

// writeIndex writes the Go file that lists the sets and, per CRD, its group, kind and scope: what a process needs
// to know whether a kind is built in (and whether it is cluster-scoped) without decompressing the CRDs.
func writeIndex(name string, crds []ecosystemCRD) error {
	var b strings.Builder
	b.WriteString("// Code generated by go run ./gen; DO NOT EDIT.\n\npackage schema\n\n")
	b.WriteString("var ecosystemSets = []Ecosystem{\n")
	for _, s := range ecosystem {
		fmt.Fprintf(&b, "\t{Name: %q, Version: %q, Note: %q},\n", s.Name, s.Version, s.Note)
	}
	b.WriteString("}\n\n// ecosystemIndex lists the CRDs in data/ecosystem, each in NAME.json.gz.\nvar ecosystemIndex = []builtinEntry{\n")
	for _, c := range crds {
		spec, _ := c.CRD["spec"].(map[string]any)
		names, _ := spec["names"].(map[string]any)
		fmt.Fprintf(&b, "\t{set: %q, name: %q, group: %q, kind: %q, cluster: %v},\n", c.Set, crdName(c.CRD), spec["group"], names["kind"], spec["scope"] == "Cluster")
	}
	b.WriteString("}\n")
	src, err := format.Source([]byte(b.String()))
	if err != nil {
		return err
	}
	return os.WriteFile(name, src, 0o644)
}

func crdName(c map[string]any) string {
	meta, _ := c["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	return name
}

// goProxy returns the first proxy URL of go env GOPROXY.
func goProxy() (string, error) {
	raw, err := exec.Command("go", "env", "GOPROXY").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPROXY: %w", err)
	}
	for _, p := range strings.FieldsFunc(strings.TrimSpace(string(raw)), func(r rune) bool { return r == ',' || r == '|' }) {
		if strings.HasPrefix(p, "https://") || strings.HasPrefix(p, "http://") {
			return strings.TrimSuffix(p, "/"), nil
		}
	}
	return "", fmt.Errorf("GOPROXY %q names no proxy URL", strings.TrimSpace(string(raw)))
}

// fetchZip reads a module's zip from the proxy. It does not go through go mod download, which refuses modules that
// need a newer Go than the one running: only their files are wanted here, never their code.
func fetchZip(proxy, modPath, version string) ([]byte, error) {
	esc, err := module.EscapePath(modPath)
	if err != nil {
		return nil, err
	}
	escV, err := module.EscapeVersion(version)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 5 * time.Minute}
	resp, err := client.Get(proxy + "/" + esc + "/@v/" + escV + ".zip")
	if err != nil {
		return nil, fmt.Errorf("fetching %s@%s: %w", modPath, version, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s@%s from %s: %s", modPath, version, proxy, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 500<<20))
}

// hashZip is dirhash.HashZip over a zip in memory: the h1: hash go.sum records for the module.
func hashZip(data []byte) (string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", err
	}
	files := make([]string, 0, len(zr.File))
	byName := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		files = append(files, f.Name)
		byName[f.Name] = f
	}
	return dirhash.Hash1(files, func(name string) (io.ReadCloser, error) { return byName[name].Open() })
}

// crdsOfZip reads the CRDs in the files of the zip that match m.files, keeping what validation needs.
func crdsOfZip(data []byte, m pinnedModule) ([]map[string]any, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s@%s: %w", m.path, m.version, err)
	}
	prefix := m.path + "@" + m.version + "/"
	var out []map[string]any
	for _, f := range zr.File {
		rel := strings.TrimPrefix(f.Name, prefix)
		if ok, _ := path.Match(m.files, rel); !ok {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		for i, doc := range splitDocuments(raw) {
			var obj map[string]any
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				return nil, fmt.Errorf("%s@%s %s document %d: %w", m.path, m.version, rel, i+1, err)
			}
			if obj == nil || obj["kind"] != "CustomResourceDefinition" {
				continue // Gateway API ships its safe-upgrade ValidatingAdmissionPolicy beside its CRDs
			}
			out = append(out, minimalCRD(obj))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s@%s has no CRDs in %s", m.path, m.version, m.files)
	}
	return out, nil
}

// splitDocuments splits a YAML stream at its "---" lines.
func splitDocuments(raw []byte) [][]byte {
	var docs [][]byte
	var cur []byte
	for line := range bytes.Lines(raw) {
		if t := bytes.TrimRight(line, " \t\r\n"); bytes.Equal(t, []byte("---")) {
			docs = append(docs, cur)
			cur = nil
			continue
		}
		cur = append(cur, line...)
	}
	return append(docs, cur)
}

// minimalCRD keeps the name, group, kind, scope and the served versions' schemas and deprecation, without
// descriptions.
func minimalCRD(obj map[string]any) map[string]any {
	spec, _ := obj["spec"].(map[string]any)
	names, _ := spec["names"].(map[string]any)
	var versions []any
	raw, _ := spec["versions"].([]any)
	for _, v := range raw {
		v, _ := v.(map[string]any)
		keep := map[string]any{}
		for _, k := range []string{"name", "served", "deprecated", "deprecationWarning", "schema"} {
			if x, ok := v[k]; ok {
				keep[k] = x
			}
		}
		versions = append(versions, withoutDescriptions(keep))
	}
	meta, _ := obj["metadata"].(map[string]any)
	return map[string]any{
		"apiVersion": obj["apiVersion"],
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": meta["name"]},
		"spec": map[string]any{
			"group":    spec["group"],
			"scope":    spec["scope"],
			"names":    map[string]any{"kind": names["kind"]},
			"versions": versions,
		},
	}
}

// withoutDescriptions drops every "description" keyword (a string); a property named description has a schema
// (an object) as its value and stays.
func withoutDescriptions(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if _, isString := x.(string); k == "description" && isString {
				continue
			}
			out[k] = withoutDescriptions(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = withoutDescriptions(x)
		}
		return out
	}
	return v
}
