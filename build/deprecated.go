package build

import (
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/types"
)

// deprecations are kustomize's warnings for the deprecated fields of a kustomization (commonLabels, bases,
// patchesStrategicMerge, …), as findings on the kustomization's file at the field's line. kustomize prints them to
// the process's stderr on every build; statepack reports them once, as findings, and keeps kustomize quiet
// (quietStderr).
func deprecations(rel string, data []byte, k *types.Kustomization) Findings {
	warnings := k.CheckDeprecatedFields()
	if warnings == nil {
		return nil
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	var out Findings
	for _, w := range *warnings {
		msg := strings.TrimPrefix(w, "# Warning: ")
		line := 0
		if field, _, ok := strings.Cut(strings.TrimPrefix(msg, "'"), "'"); ok && len(doc.Content) > 0 {
			if n := mappingKey(doc.Content[0], field); n != nil {
				line = n.Line
			}
		}
		out = append(out, Finding{Severity: SeverityWarning, Rule: "kustomize/deprecated", File: rel, Line: line,
			Message: "kustomize: " + msg})
	}
	return out
}

// mappingKey is the key node of key in the mapping n, or nil.
func mappingKey(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

// quietStderr points os.Stderr at the null device until the returned function restores it, for a kustomize build
// of a kustomization with deprecated fields: kustomize writes its warnings straight to os.Stderr, and a library
// must stay quiet (they are findings instead). The caller holds kustomizeMu exclusively, so no other build runs.
func quietStderr() func() {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return func() {}
	}
	saved := os.Stderr
	os.Stderr = null
	return func() {
		os.Stderr = saved
		null.Close()
	}
}
