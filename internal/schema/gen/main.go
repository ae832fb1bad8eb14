// Command gen extracts the Kubernetes OpenAPI (v2) schema of several Kubernetes releases into the compressed files
// that package schema embeds. It reads api/openapi-spec/swagger.json from the k8s.io/kubernetes module, fetched
// through the Go module proxy at development time, keeps only what validation needs (types, properties, items,
// required fields, references, group-version-kinds) and writes one gzip'd JSON file per minor version. Beside the
// definitions, under "x-statepack-lifecycle", it records when each prerelease apiVersion is deprecated and removed and
// what replaces it, read from the APILifecycle* methods in the matching k8s.io/api module (v0.X.Y for Kubernetes
// v1.X.Y).
//
// It also writes ecosystem.json.gz: the CustomResourceDefinitions of the projects almost every GitOps tree uses
// (Flux, Argo CD, Gateway API, cert-manager), at the releases pinned in ecosystem.go, taken from their modules'
// zips on the Go module proxy and checked against the hashes pinned there (see ecosystem.go).
//
// Run it from the repository root with: go generate ./internal/schema/
package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// keep lists the schema keywords that survive extraction; descriptions and patch/list hints are dropped.
var keep = map[string]bool{
	"type": true, "format": true, "$ref": true, "properties": true, "items": true, "additionalProperties": true,
	"required": true, "x-kubernetes-group-version-kind": true, "x-kubernetes-preserve-unknown-fields": true,
	"x-kubernetes-int-or-string": true, "x-kubernetes-embedded-resource": true, "enum": true,
}

func main() {
	versions := flag.String("versions", "v1.34.1,v1.33.5,v1.32.9", "comma-separated k8s.io/kubernetes module versions")
	out := flag.String("out", "data", "output directory")
	only := flag.String("only", "", "generate only kubernetes or ecosystem (default: both)")
	flag.Parse()
	if *only != "kubernetes" {
		if err := extractEcosystem(*out); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
	if *only == "ecosystem" {
		return
	}
	for _, v := range strings.Split(*versions, ",") {
		if err := extract(v, *out); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}

// download fetches a module through the Go module proxy and returns its directory.
func download(module string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", module, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(raw, &mod); err != nil {
		return "", fmt.Errorf("reading go mod download output: %w", err)
	}
	return mod.Dir, nil
}

func extract(version, out string) error {
	dir, err := download("k8s.io/kubernetes@" + version)
	if err != nil {
		return err
	}
	apiDir, err := download("k8s.io/api@v0." + strings.SplitN(strings.TrimPrefix(version, "v"), ".", 2)[1])
	if err != nil {
		return err
	}
	lifecycles, err := readLifecycles(apiDir)
	if err != nil {
		return fmt.Errorf("reading API lifecycles of %s: %w", version, err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "api", "openapi-spec", "swagger.json"))
	if err != nil {
		return err
	}
	var spec struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("decoding swagger.json of %s: %w", version, err)
	}
	defs := make(map[string]any, len(spec.Definitions))
	for name, d := range spec.Definitions {
		defs[name] = strip(d)
	}
	// Map keys are sorted and lifecycles are sorted: same input, same bytes.
	compact, err := json.Marshal(map[string]any{"definitions": defs, "x-statepack-lifecycle": lifecycles})
	if err != nil {
		return err
	}
	minor := strings.Join(strings.Split(strings.TrimPrefix(version, "v"), ".")[:2], ".")
	name := filepath.Join(out, "kubernetes-"+minor+".json.gz")
	size, err := writeGzip(name, compact)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gen: %s: %d definitions, %d lifecycles, %d bytes (%d uncompressed)\n", name, len(defs),
		len(lifecycles), size, len(compact))
	return nil
}

// writeGzip writes data compressed to name, with no time or name in the header: same input, same bytes.
func writeGzip(name string, data []byte) (int, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return 0, err
	}
	if _, err := zw.Write(data); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return buf.Len(), os.WriteFile(name, buf.Bytes(), 0o644)
}

// strip removes the keywords validation does not use, recursively.
func strip(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	res := make(map[string]any, len(m))
	for k, val := range m {
		if !keep[k] {
			continue
		}
		switch k {
		case "properties":
			props := map[string]any{}
			for p, s := range val.(map[string]any) {
				props[p] = strip(s)
			}
			res[k] = props
		case "items", "additionalProperties":
			res[k] = strip(val)
		default:
			res[k] = val
		}
	}
	return res
}

// lifecycle is one prerelease kind's deprecation, as package schema reads it.
type lifecycle struct {
	Group       string `json:"group"`
	Version     string `json:"version"`
	Kind        string `json:"kind"`
	Deprecated  string `json:"deprecated,omitempty"`
	Removed     string `json:"removed,omitempty"`
	Replacement string `json:"replacement,omitempty"`
}

// readLifecycles parses every zz_generated.prerelease-lifecycle.go of a k8s.io/api module: the methods
// APILifecycleDeprecated, APILifecycleRemoved and APILifecycleReplacement of each type, with the group from the
// package's GroupName constant and the version from its directory. List types are left out: they are not objects.
func readLifecycles(apiDir string) ([]lifecycle, error) {
	var out []lifecycle
	err := filepath.WalkDir(apiDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Name() != "zz_generated.prerelease-lifecycle.go" {
			return err
		}
		group, err := groupName(filepath.Join(filepath.Dir(p), "register.go"))
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
		if err != nil {
			return err
		}
		byKind := map[string]*lifecycle{}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 || fn.Body == nil || len(fn.Body.List) != 1 {
				continue
			}
			star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
			if !ok {
				continue
			}
			ident, ok := star.X.(*ast.Ident)
			if !ok || strings.HasSuffix(ident.Name, "List") {
				continue
			}
			ret, ok := fn.Body.List[0].(*ast.ReturnStmt)
			if !ok {
				continue
			}
			l := byKind[ident.Name]
			if l == nil {
				l = &lifecycle{Group: group, Version: filepath.Base(filepath.Dir(p)), Kind: ident.Name}
				byKind[ident.Name] = l
			}
			switch fn.Name.Name {
			case "APILifecycleDeprecated":
				l.Deprecated = minorOf(ret.Results)
			case "APILifecycleRemoved":
				l.Removed = minorOf(ret.Results)
			case "APILifecycleReplacement":
				l.Replacement = replacementOf(ret.Results)
			}
		}
		for _, l := range byKind {
			if l.Deprecated != "" {
				out = append(out, *l)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b lifecycle) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Kind, b.Kind))
	})
	return out, err
}

// groupName reads `const GroupName = "…"` from a register.go.
func groupName(path string) (string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return "", err
	}
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs, ok := spec.(*ast.ValueSpec)
			if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "GroupName" || len(vs.Values) != 1 {
				continue
			}
			if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
				return strconv.Unquote(lit.Value)
			}
		}
	}
	return "", fmt.Errorf("%s: no GroupName constant", path)
}

// minorOf turns `return 1, 29` into "1.29".
func minorOf(results []ast.Expr) string {
	if len(results) != 2 {
		return ""
	}
	major, ok1 := results[0].(*ast.BasicLit)
	minor, ok2 := results[1].(*ast.BasicLit)
	if !ok1 || !ok2 {
		return ""
	}
	return major.Value + "." + minor.Value
}

// replacementOf turns `return schema.GroupVersionKind{Group: "g", Version: "v1", Kind: "K"}` into "g/v1".
func replacementOf(results []ast.Expr) string {
	if len(results) != 1 {
		return ""
	}
	lit, ok := results[0].(*ast.CompositeLit)
	if !ok {
		return ""
	}
	fields := map[string]string{}
	for _, e := range lit.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		key, _ := kv.Key.(*ast.Ident)
		val, _ := kv.Value.(*ast.BasicLit)
		if key != nil && val != nil {
			fields[key.Name], _ = strconv.Unquote(val.Value)
		}
	}
	if fields["Version"] == "" {
		return ""
	}
	if fields["Group"] == "" {
		return fields["Version"]
	}
	return fields["Group"] + "/" + fields["Version"]
}
