package statepack

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/statepack/statepack"

// layers lists, for every package of the product, the statepack packages it may depend on, directly or not: the
// arrows of docs/architecture.md. A package missing from this list fails the test, so a new room is placed on
// purpose. Test helpers (internal/test*, internal/faultproxy) are for tests only and may be reached by none.
var layers = map[string][]string{
	"cmd/statepack":        {"internal/cli", "", "internal/strictyaml", "build", "publish", "sign", "internal/ghactions", "internal/objdiff", "internal/gitmeta", "internal/schema", "internal/manifest", "internal/helm", "internal/releases", "internal/charts", "internal/images", "internal/substitute", "internal/redact", "internal/third_party/kustomize", "internal/retrywait"},
	"internal/cli":         {"", "internal/strictyaml", "build", "publish", "sign", "internal/ghactions", "internal/objdiff", "internal/gitmeta", "internal/schema", "internal/manifest", "internal/helm", "internal/releases", "internal/charts", "internal/images", "internal/substitute", "internal/redact", "internal/third_party/kustomize", "internal/retrywait"},
	"":                     {"build", "publish", "sign", "internal/strictyaml", "internal/gitmeta", "internal/objdiff", "internal/schema", "internal/manifest", "internal/helm", "internal/releases", "internal/charts", "internal/images", "internal/substitute", "internal/redact", "internal/third_party/kustomize", "internal/retrywait"},
	"build":                {"internal/manifest", "internal/substitute", "internal/helm", "internal/redact", "internal/third_party/kustomize"},
	"publish":              {"internal/redact", "internal/retrywait"},
	"sign":                 {},
	"internal/schema":      {"internal/manifest", "internal/substitute"},
	"internal/substitute":  {"internal/manifest"},
	"internal/objdiff":     {"internal/manifest"},
	"internal/manifest":    {},
	"internal/redact":      {},
	"internal/strictyaml":  {},
	"internal/retrywait":   {},
	"internal/gitmeta":     {},
	"internal/ghactions":   {},
	"internal/helm":        {},
	"internal/releases":    {"build", "internal/helm", "internal/manifest", "internal/substitute", "internal/redact", "internal/third_party/kustomize"},
	"internal/charts":      {"internal/helm", "publish", "internal/redact", "internal/retrywait"},
	"internal/images":      {"publish", "sign", "internal/redact", "internal/retrywait"},
	"internal/tools/image": {"internal/gitmeta"},
	// The fork of kustomize's api (its packages count as one room, which uses no other).
	"internal/third_party/kustomize": {"internal/third_party/kustomize"},
}

// room returns the layer a package belongs to: itself, or the fork of kustomize for any package of it.
func room(pkg string) string {
	if strings.HasPrefix(pkg, "internal/third_party/kustomize/") {
		return "internal/third_party/kustomize"
	}
	return pkg
}

// TestLayering is go-containerregistry's depcheck for the whole house: each package depends only on the rooms
// below it, and the library never on the command line (cobra, pflag) or on internal/cli.
func TestLayering(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	t.Parallel()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		fields, imports := append([]string{parts[0]}, strings.Fields(parts[2])...), strings.Fields(parts[1])
		pkg := room(strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/"))
		if strings.HasPrefix(pkg, "internal/test") || pkg == "internal/faultproxy" || strings.HasPrefix(pkg, "internal/schema/gen") ||
			strings.HasSuffix(fields[0], "/third_party/kustomize/gen") {
			continue
		}
		allowed, ok := layers[pkg]
		if !ok {
			t.Errorf("package %q is not placed in the layering: add it to layers with the packages it may use", fields[0])
			continue
		}
		for _, dep := range fields[1:] {
			if dep == module || strings.HasPrefix(dep, module+"/") {
				d := room(strings.TrimPrefix(strings.TrimPrefix(dep, module), "/"))
				if !slices.Contains(allowed, d) {
					t.Errorf("%s depends on %s, which its layer does not allow (allowed: %q)", fields[0], dep, allowed)
				}
			}
		}
		// cosign links cobra for its own commands, so the rule is on what a package imports itself.
		for _, imp := range imports {
			if (imp == "github.com/spf13/cobra" || imp == "github.com/spf13/pflag") && pkg != "internal/cli" && pkg != "cmd/statepack" {
				t.Errorf("%s imports %s: only the command line parses flags", fields[0], imp)
			}
		}
	}
}

// TestLibraryReadsNoEnvironment keeps the library and the packages below it deterministic given their inputs: only
// internal/cli reads environment variables (sign's KMS providers, which read their cloud credentials, are the
// exception its package doc names; sign/kms*.go reads them only to redact them from the providers' errors).
func TestLibraryReadsNoEnvironment(t *testing.T) {
	t.Parallel()
	read := regexp.MustCompile(`\bos\.(Getenv|LookupEnv|Environ)\(`)
	for _, dir := range []string{".", "build", "publish", "sign", "internal/strictyaml", "internal/schema", "internal/objdiff", "internal/gitmeta", "internal/helm", "internal/releases", "internal/charts", "internal/images", "internal/substitute", "internal/redact"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") || strings.HasPrefix(filepath.Base(f), "kms") && dir == "sign" {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if loc := read.FindIndex(data); loc != nil {
				t.Errorf("%s reads the environment (%s): take the value as an option; only internal/cli reads it", f, data[loc[0]:loc[1]])
			}
		}
	}
}
