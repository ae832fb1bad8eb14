// Package testtree writes generated source trees for benchmarks and tests: a kustomize overlay over many app bases,
// each app a few ordinary Kubernetes objects, so that renders do the work real fleets do (bases, patches, labels,
// generators). It is for tests and benchmarks only.
package testtree

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Kustomize writes a tree of apps under dir/apps/app-NNN, each with objectsPerApp objects (at least 4: a
// Deployment, a Service, a ConfigMap from a generator, and ServiceAccounts for the rest), and an overlay at
// dir/overlay that takes all apps, sets a namespace and labels, and patches every Deployment. It returns the
// overlay's path; rendering it yields apps*objectsPerApp objects plus one Namespace.
func Kustomize(dir string, apps, objectsPerApp int) (string, error) {
	if objectsPerApp < 4 {
		return "", fmt.Errorf("objectsPerApp must be at least 4, got %d", objectsPerApp)
	}
	var resources []string
	for a := 0; a < apps; a++ {
		name := fmt.Sprintf("app-%03d", a)
		base := filepath.Join(dir, "apps", name)
		files := map[string]string{
			"kustomization.yaml": fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
  - accounts.yaml
configMapGenerator:
  - name: %[1]s-config
    literals:
      - APP=%[1]s
      - LOG_LEVEL=info
labels:
  - pairs:
      app.kubernetes.io/name: %[1]s
    includeSelectors: true
`, name),
			"deployment.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: %[1]s
          image: registry.example.com/%[1]s:1.%[2]d.0
          ports:
            - containerPort: 8080
          envFrom:
            - configMapRef:
                name: %[1]s-config
          resources:
            requests: {cpu: 50m, memory: 64Mi}
            limits: {memory: 128Mi}
`, name, a),
			"service.yaml": fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  ports:
    - port: 80
      targetPort: 8080
`, name),
		}
		var accounts strings.Builder
		for i := 0; i < objectsPerApp-3; i++ {
			fmt.Fprintf(&accounts, "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: %s-sa-%03d\n  annotations:\n    example.com/purpose: \"worker %d of %s\"\n", name, i, i, name)
		}
		files["accounts.yaml"] = accounts.String()
		if err := writeFiles(base, files); err != nil {
			return "", err
		}
		resources = append(resources, "  - ../apps/"+name)
	}
	overlay := filepath.Join(dir, "overlay")
	err := writeFiles(overlay, map[string]string{
		"kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: fleet
resources:
  - namespace.yaml
` + strings.Join(resources, "\n") + `
labels:
  - pairs:
      example.com/environment: production
patches:
  - target:
      kind: Deployment
    patch: |
      - op: replace
        path: /spec/replicas
        value: 3
`,
		"namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: fleet\n",
	})
	return overlay, err
}

func writeFiles(dir string, files map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// BenchTrees are the trees of docs/benchmarks.md, by name: the tree directory and its source root. A generated
// 2,000-object tree under dir, and the shared corpus's staging apps when corpusRoot holds them.
func BenchTrees(dir, corpusRoot string) (map[string][2]string, error) {
	trees := map[string][2]string{}
	overlay, err := Kustomize(dir, 100, 20)
	if err != nil {
		return nil, err
	}
	trees["generated-2000"] = [2]string{overlay, dir}
	staging := filepath.Join(corpusRoot, "flux2-kustomize-helm-example", "apps", "staging")
	if st, err := os.Stat(staging); err == nil && st.IsDir() {
		trees["corpus-apps-staging"] = [2]string{staging, corpusRoot}
	}
	return trees, nil
}

// AddFinding gives a tree that Kustomize wrote one schema error: the first app's Service gets a misspelt field
// (protocl) in apps/app-000/service.yaml, so that validating it has a finding to place.
func AddFinding(dir string) error {
	return writeFiles(filepath.Join(dir, "apps", "app-000"), map[string]string{"service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: app-000
spec:
  ports:
    - port: 80
      protocl: TCP
      targetPort: 8080
`})
}

// IssueApps are the app counts (20 objects each) of the generated trees issue 17 measures placing findings on:
// 1,000 objects, and 5,000 when large is set (one render of those takes minutes; benchmarks ask with BENCH_5000=1).
func IssueApps(large bool) []int {
	if large {
		return []int{50, 250}
	}
	return []int{50}
}
