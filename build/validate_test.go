package build

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

func TestStructural(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantRule string // "" for clean
		wantMsg  string
	}{
		{"clean", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: b}\n", "", ""},
		{"missing apiVersion", "kind: ConfigMap\nmetadata: {name: a}\n", "object/missing-apiversion", "apiVersion is missing"},
		{"bad apiVersion", "apiVersion: apps/v1/x\nkind: Deployment\nmetadata: {name: a}\n", "object/invalid-apiversion", `"apps/v1/x"`},
		{"missing kind", "apiVersion: v1\nmetadata: {name: a}\n", "object/missing-kind", "kind is missing"},
		{"kind not a string", "apiVersion: v1\nkind: [a]\nmetadata: {name: a}\n", "object/missing-kind", "not a string"},
		{"missing metadata", "apiVersion: v1\nkind: ConfigMap\n", "object/missing-metadata", "metadata.name"},
		{"missing name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: a}\n", "object/missing-name", "metadata.name is missing"},
		{"generateName", "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: job-}\n", "object/generate-name", "cannot be applied declaratively"},
		{"hook with an invalid generateName", "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: Job_, annotations: {helm.sh/hook: pre-install}}\n", "object/invalid-name", `metadata.generateName "Job_" is invalid`},
		{"hook with generateName, other checks still run", "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: job-, namespace: Bad_NS, annotations: {argocd.argoproj.io/hook: PreSync}}\n", "object/invalid-namespace", `"Bad_NS"`},
		{"invalid subdomain name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_Valid}\n", "object/invalid-name", `"Not_Valid" is invalid`},
		{"service name must be a label", "apiVersion: v1\nkind: Service\nmetadata: {name: a.b}\n", "object/invalid-name", "DNS-1035 label"},
		{"service name must start with a letter", "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\n", "object/invalid-name", "DNS-1035 label"},
		{"RBAC names take colons", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: \"system:x\"}\n", "", ""},
		{"RBAC names refuse slashes", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: a/b, namespace: n}\n", "object/invalid-name", "'/'"},
		{"invalid namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: Team_A}\n", "object/invalid-namespace", `"Team_A"`},
		{"image with a line break", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: \"web:1\\n| x | # pwned\"}\n", "object/invalid-image", `"web:1\n| x | # pwned" holds white space`},
		{"label value too long", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {app: " + strings.Repeat("x", 64) + "}}\n", "object/invalid-label", "must be no more than 63"},
		{"label key with two slashes", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {a/b/c: x}}\n", "object/invalid-label", `label key "a/b/c" is invalid`},
		{"annotation key with a space", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {\"my key\": x}}\n", "object/invalid-annotation", `annotation key "my key" is invalid`},
		{"annotations over 256 KiB", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {big: " + strings.Repeat("x", 256<<10) + "}}\n", "object/invalid-annotation", "more than the API server's limit of 262144"},
		{"quantity with two points", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: \"web:1\", resources: {limits: {cpu: \"1.5.0\"}}}\n", "object/invalid-quantity", `containers[c].resources.limits.cpu "1.5.0" is not a quantity`},
		{"quantity of a claim", "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: c}\nspec: {resources: {requests: {storage: 1GB}}}\n", "object/invalid-quantity", `spec.resources.requests.storage "1GB"`},
		{"image with a space", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers:\n  - {name: c, image: \"web :1\"}\n", "object/invalid-image", "white space or a control character"},
		{"duplicate", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "object/duplicate", "defined twice (first at f.yaml:1)"},
		{"same name, other group", "apiVersion: example.com/v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", "", ""},
		{"same name, other version is a duplicate", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a}\n---\napiVersion: example.com/v2\nkind: Widget\nmetadata: {name: a}\n", "object/duplicate", "Widget.example.com/a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs, findings := decodeStream("f.yaml", []byte(tc.in))
			if len(findings) > 0 {
				t.Fatalf("decoding: %v", findings)
			}
			got := Validate(context.Background(), objs)
			if tc.wantRule == "" {
				if len(got) > 0 {
					t.Fatalf("Validate() = %v, want no findings", got)
				}
				return
			}
			for _, f := range got {
				if f.Rule == tc.wantRule && strings.Contains(f.Message, tc.wantMsg) && f.File == "f.yaml" && f.Line > 0 {
					return
				}
			}
			t.Fatalf("Validate() = %v, want %s containing %q at f.yaml:line", got, tc.wantRule, tc.wantMsg)
		})
	}
}

func TestValidateRunsExtraValidators(t *testing.T) {
	objs, _ := decodeStream("f.yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"))
	extra := ValidatorFunc(func(_ context.Context, objs []Object) Findings {
		return Findings{{Severity: SeverityWarning, Rule: "test/extra", Message: objs[0].ID.Name}}
	})
	got := Validate(context.Background(), objs, extra)
	if len(got) != 1 || got[0].Rule != "test/extra" || got[0].Message != "a" {
		t.Fatalf("Validate() = %v, want the extra validator's finding", got)
	}
}

// TestBuildHasNoNetworkDependencies guards the architecture: build must not link registry, signing or HTTP client
// packages (design.md: "build knows nothing of registries").
func TestBuildHasNoNetworkDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, forbidden := range []string{"oras.land/", "github.com/google/go-containerregistry/", "github.com/sigstore/", "github.com/statepack/statepack/publish", "github.com/statepack/statepack/sign"} {
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, forbidden) {
				t.Errorf("build depends on %s", dep)
			}
		}
	}
}
