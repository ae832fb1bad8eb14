// Command gen extracts the Kubernetes OpenAPI (v2) schema of several Kubernetes releases into the compressed files
// that package schema embeds. It reads api/openapi-spec/swagger.json from the k8s.io/kubernetes module, fetched
// through the Go module proxy at development time, keeps only what validation needs (types, properties, items,
// required fields, references, group-version-kinds) and writes one gzip'd JSON file per minor version.
//
// Run it from the repository root with: go generate ./internal/schema/
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	flag.Parse()
	for _, v := range strings.Split(*versions, ",") {
		if err := extract(v, *out); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}

func extract(version, out string) error {
	cmd := exec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@"+version)
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("downloading k8s.io/kubernetes@%s: %w", version, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(raw, &mod); err != nil {
		return fmt.Errorf("reading go mod download output: %w", err)
	}
	data, err := os.ReadFile(filepath.Join(mod.Dir, "api", "openapi-spec", "swagger.json"))
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
	compact, err := json.Marshal(map[string]any{"definitions": defs}) // map keys are sorted: same input, same bytes
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(compact); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	minor := strings.Join(strings.Split(strings.TrimPrefix(version, "v"), ".")[:2], ".")
	name := filepath.Join(out, "kubernetes-"+minor+".json.gz")
	fmt.Fprintf(os.Stderr, "gen: %s: %d definitions, %d bytes (%d uncompressed)\n", name, len(defs), buf.Len(), len(compact))
	return os.WriteFile(name, buf.Bytes(), 0o644)
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
