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

// TestValidateChecksObjectsWithValueErrors: an object whose structural errors are about values (a label, a name's
// syntax, a quantity, an image) is still given to the schema and policy validators, so that one run reports all its
// findings (issue 16, item 9); an object without a sound identity (no kind, an invalid namespace) is not, so that
// its one mistake is reported once.
func TestValidateChecksObjectsWithValueErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		checked  bool
		wantRule string
	}{
		{"clean", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", true, ""},
		{"a bad label", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {t: -x-}}\n", true, "object/invalid-label"},
		{"a bad name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: A_b}\n", true, "object/invalid-name"},
		{"a bad quantity", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, resources: {limits: {cpu: 1.5.0}}}]}\n", true, "object/invalid-quantity"},
		{"no kind", "apiVersion: v1\nmetadata: {name: a}\n", false, "object/missing-kind"},
		{"no name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: a}\n", false, "object/missing-name"},
		{"a bad namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: B_c}\n", false, "object/invalid-namespace"},
		{"a bad apiVersion", "apiVersion: a/b/c\nkind: ConfigMap\nmetadata: {name: a}\n", false, "object/invalid-apiversion"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs, fs := decodeStream("f.yaml", []byte(tc.in))
			if len(fs) > 0 || len(objs) != 1 {
				t.Fatalf("decodeStream = %v, %v", objs, fs)
			}
			seen := false
			extra := ValidatorFunc(func(_ context.Context, objs []Object) Findings {
				seen = len(objs) == 1
				return nil
			})
			got := Validate(context.Background(), objs, extra)
			if seen != tc.checked {
				t.Errorf("Validate(%s): the extra validator saw the object: %v, want %v (findings %v)", tc.name, seen, tc.checked, got)
			}
			if (tc.wantRule == "") != (len(got) == 0) || (tc.wantRule != "" && got[0].Rule != tc.wantRule) {
				t.Errorf("Validate(%s) = %v, want %q", tc.name, got, tc.wantRule)
			}
		})
	}
}

// TestStructuralFindingsNameTheirField: each structural and policy finding names the field it is about, which is
// what places it on that field's line (Rendering.PlaceFields).
func TestStructuralFindingsNameTheirField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, rule, field string
	}{
		{"name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: A_b}\n", "object/invalid-name", "metadata.name"},
		{"namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: B_c}\n", "object/invalid-namespace", "metadata.namespace"},
		{"label key with dots", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {a.b/c/d: x}}\n", "object/invalid-label", `metadata.labels["a.b/c/d"]`},
		{"annotation", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, annotations: {\"a b\": x}}\n", "object/invalid-annotation", `metadata.annotations["a b"]`},
		{"quantity", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x:1, resources: {limits: {cpu: 1.5.0}}}]}\n", "object/invalid-quantity", "spec.containers[0].resources.limits.cpu"},
		{"image", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {initContainers: [{name: c, image: \"a b\"}]}\n", "object/invalid-image", "spec.initContainers[0].image"},
		{"generateName", "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: j-}\n", "object/generate-name", "metadata.generateName"},
		{"unpinned image", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec: {containers: [{name: a, image: x:1}, {name: b, image: nginx}]}\n", "policy/image-unpinned", "spec.containers[1].image"},
		{"clear-text Secret", "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\nstringData: {a: b}\n", "policy/secret-not-encrypted", "stringData"},
		{"unknown namespace", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: elsewhere}\n", "policy/namespace-unknown", "metadata.namespace"},
	}
	policies, err := PolicyValidator(PolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs, _ := decodeStream("f.yaml", []byte(tc.in))
			got := Validate(context.Background(), objs, policies)
			for _, f := range got {
				if f.Rule == tc.rule {
					if f.Field != tc.field {
						t.Errorf("Validate(%s): %s names field %q, want %q", tc.name, tc.rule, f.Field, tc.field)
					}
					return
				}
			}
			t.Errorf("Validate(%s) = %v, want a %s finding", tc.name, got, tc.rule)
		})
	}
}
