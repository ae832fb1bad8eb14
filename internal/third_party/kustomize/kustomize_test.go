package kustomize_test

import (
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"

	fork "github.com/statepack/statepack/internal/third_party/kustomize/api/krusty"
)

// builds returns what the fork and upstream kustomize make of the kustomization in dir: the YAML of kustomize
// build, its error, or its panic.
func builds(t testing.TB, files map[string]string, dir string) (forked, upstream string) {
	t.Helper()
	fsys := func() filesys.FileSystem {
		fsys := filesys.MakeFsInMemory()
		for name, content := range files {
			if err := fsys.WriteFile(name, []byte(content)); err != nil {
				t.Fatal(err)
			}
		}
		return fsys
	}
	forked = recovered(func() string {
		o := fork.MakeDefaultOptions()
		o.PluginConfig = types.DisabledPluginConfig()
		o.Reorder = fork.ReorderOptionUnspecified // kustomize build's, without --reorder
		m, err := fork.MakeKustomizer(o).Run(fsys(), dir)
		return outcome(m, err)
	})
	upstream = recovered(func() string {
		o := krusty.MakeDefaultOptions()
		o.PluginConfig = types.DisabledPluginConfig()
		o.Reorder = krusty.ReorderOptionUnspecified
		m, err := krusty.MakeKustomizer(o).Run(fsys(), dir)
		return outcome(m, err)
	})
	return forked, upstream
}

func recovered(build func() string) (s string) {
	defer func() {
		if r := recover(); r != nil {
			s = fmt.Sprint("panic: ", r)
		}
	}()
	return build()
}

func outcome[M interface{ AsYaml() ([]byte, error) }](m M, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	y, err := m.AsYaml()
	if err != nil {
		return "AsYaml error: " + err.Error()
	}
	return string(y)
}

const (
	deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      serviceAccountName: web
      containers:
      - name: web
        image: web:1
        envFrom:
        - configMapRef:
            name: web-config
        volumes:
        - name: c
          configMap:
            name: web-config
`
	accounts = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: web
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: reader
subjects:
- kind: ServiceAccount
  name: web
- kind: ServiceAccount
  name: web
  namespace: other
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: viewer
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: viewer
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: viewer
subjects:
- kind: ServiceAccount
  name: web
  namespace: team-a
`
	base = `resources:
- deployment.yaml
- accounts.yaml
configMapGenerator:
- name: web-config
  literals: [A=1]
`
)

// The trees exercise each path the fork's edits change: appending many resources (accumulation, a file of many
// documents, sorting), the namespace transformer and its conflict check, and name references across namespaces,
// role bindings, cluster-scoped referrers, prefixes and suffixes; and the errors of each.
var trees = []struct {
	name  string
	dir   string
	files map[string]string
}{
	{"two namespaces of one base", "/overlay", map[string]string{
		"/base/kustomization.yaml": base, "/base/deployment.yaml": deployment, "/base/accounts.yaml": accounts,
		"/a/kustomization.yaml":       "namespace: team-a\nnamePrefix: a-\nresources: [../base]\n",
		"/b/kustomization.yaml":       "namespace: team-b\nnameSuffix: -b\nresources: [../base]\n",
		"/overlay/kustomization.yaml": "resources: [../a, ../b]\nlabels: [{pairs: {tier: web}, includeSelectors: true}]\n",
	}},
	{"overlay namespace over a prefixed base", "/overlay", map[string]string{
		"/base/kustomization.yaml": base, "/base/deployment.yaml": deployment, "/base/accounts.yaml": accounts,
		"/a/kustomization.yaml":       "namePrefix: a-\nresources: [../base]\n",
		"/overlay/kustomization.yaml": "namespace: fleet\nresources: [../a]\nsortOptions: {order: fifo}\n",
	}},
	{"labels of every kind", "/overlay", map[string]string{
		"/base/kustomization.yaml": base + "labels:\n- pairs: {app: web}\n  includeSelectors: true\n- pairs: {team: a}\n" +
			"  includeTemplates: true\n- pairs: {plain: x}\n  fields: [{path: spec/template/metadata/labels, kind: Deployment, create: true}]\n",
		"/base/deployment.yaml": deployment, "/base/accounts.yaml": accounts,
		"/overlay/kustomization.yaml": "resources: [../base]\ncommonLabels: {env: prod}\nlabels: [{pairs: {tier: web}}]\n",
	}},
	{"legacy sort", "/app", map[string]string{
		"/app/kustomization.yaml": "resources: [deployment.yaml, accounts.yaml]\nsortOptions: {order: legacy}\n",
		"/app/deployment.yaml":    deployment, "/app/accounts.yaml": accounts,
	}},
	{"namespace conflict", "/app", map[string]string{
		"/app/kustomization.yaml": "namespace: one\nresources: [a.yaml]\n",
		"/app/a.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: x}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: y}\n",
	}},
	{"namespace conflict with an untouched resource", "/app", map[string]string{
		"/app/kustomization.yaml": "namespace: one\nresources: [a.yaml]\n",
		"/app/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: x}\n---\napiVersion: v1\nkind: ConfigMap\n" +
			"metadata: {name: c, namespace: one, annotations: {helm.sh/chart: x, app.kubernetes.io/managed-by: Helm}}\n",
	}},
	{"duplicate id in one file", "/app", map[string]string{
		"/app/kustomization.yaml": "resources: [a.yaml]\n",
		"/app/a.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\n",
	}},
	{"duplicate id across files", "/app", map[string]string{
		"/app/kustomization.yaml": "resources: [a.yaml, b.yaml]\n",
		"/app/a.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		"/app/b.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
	}},
	{"duplicate id across bases", "/overlay", map[string]string{
		"/base/kustomization.yaml": base, "/base/deployment.yaml": deployment, "/base/accounts.yaml": accounts,
		"/overlay/kustomization.yaml": "resources: [../base, extra.yaml]\n",
		"/overlay/extra.yaml":         "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: viewer}\n",
	}},
	{"cluster-scoped ids ignore namespaces", "/app", map[string]string{
		"/app/kustomization.yaml": "namespace: one\nresources: [a.yaml]\n",
		"/app/a.yaml":             "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: n, namespace: other}\n",
	}},
	{"two prefixed copies of one base", "/overlay", map[string]string{
		"/base/kustomization.yaml": base, "/base/deployment.yaml": deployment, "/base/accounts.yaml": accounts,
		"/a/kustomization.yaml":       "namePrefix: a-\nresources: [../base]\n",
		"/b/kustomization.yaml":       "namePrefix: b-\nresources: [../base]\n",
		"/overlay/kustomization.yaml": "resources: [../a, ../b]\n",
	}},
}

// TestForkBuildsAsUpstream: on every tree, the fork's output (or error) is byte for byte upstream kustomize's.
// build's TestRenderOutputIsKustomizeBuild does the same through statepack's render on the repository's trees and
// the shared corpus.
func TestForkBuildsAsUpstream(t *testing.T) {
	t.Parallel()
	for _, tc := range trees {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forked, upstream := builds(t, tc.files, tc.dir)
			if forked != upstream {
				t.Errorf("the fork builds\n%s\nupstream kustomize builds\n%s", forked, upstream)
			}
		})
	}
}

// TestTreesReachTheEditedPaths keeps the table honest: the error trees fail the way their names say, so a change
// that made them build would not leave the errors untested.
func TestTreesReachTheEditedPaths(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"namespace conflict":                            "namespace transformation produces ID conflict",
		"namespace conflict with an untouched resource": "namespace transformation produces ID conflict",
		"duplicate id in one file":                      "may not add resource with an already registered id",
		"duplicate id across files":                     "may not add resource with an already registered id",
		"duplicate id across bases":                     "may not add resource with an already registered id",
		"cluster-scoped ids ignore namespaces":          "may not add resource with an already registered id",
	}
	for _, tc := range trees {
		forked, _ := builds(t, tc.files, tc.dir)
		w, ok := want[tc.name]
		if failed := strings.HasPrefix(forked, "error: "); failed != ok || ok && !strings.Contains(forked, w) {
			t.Errorf("%s: build = %.300q, want an error (%v) containing %q", tc.name, forked, ok, w)
		}
	}
}

// FuzzForkBuildsAsUpstream builds any documents under any namespace, prefix and sort order with both, and fails on
// the first difference in output or error.
func FuzzForkBuildsAsUpstream(f *testing.F) {
	f.Add(deployment, accounts, "team-a", "a-", false, "app", uint8(1))
	f.Add(accounts, accounts, "", "", true, "", uint8(0))
	f.Add(deployment, "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec: {volumeClaimTemplates: [{metadata: {name: v}}]}\n", "", "", false, "tier", uint8(6))
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: x}\n", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: y}\n", "one", "", false, "", uint8(0))
	f.Add("apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n", "apiVersion: v1\nkind: Service\nmetadata: {name: n, annotations: {config.kubernetes.io/previousNames: 'a,b'}}\n", "n", "p-", true, "", uint8(0))
	f.Fuzz(func(t *testing.T, a, b, namespace, prefix string, legacy bool, label string, labelMode uint8) {
		k := map[string]any{"resources": []string{"a.yaml", "b.yaml"}, "configMapGenerator": []any{
			map[string]any{"name": "web-config", "literals": []string{"A=1"}}}}
		if label != "" {
			// labels with each of its modes, and commonLabels (labelMode&4), which the fork configures differently
			k["labels"] = []any{map[string]any{"pairs": map[string]string{label: label}, "includeSelectors": labelMode&1 != 0,
				"includeTemplates": labelMode&2 != 0}}
			if labelMode&4 != 0 {
				k["commonLabels"] = map[string]string{"c-" + label: label}
			}
		}
		if namespace != "" {
			k["namespace"] = namespace
		}
		if prefix != "" {
			k["namePrefix"] = prefix
		}
		if legacy {
			k["sortOptions"] = map[string]string{"order": "legacy"}
		}
		kustomization, err := sigsyaml.Marshal(k)
		if err != nil {
			t.Skip()
		}
		files := map[string]string{"/app/kustomization.yaml": string(kustomization), "/app/a.yaml": a, "/app/b.yaml": b}
		forked, upstream := builds(t, files, "/app")
		if forked != upstream {
			t.Errorf("the fork builds\n%s\nupstream kustomize builds\n%s", forked, upstream)
		}
	})
}
