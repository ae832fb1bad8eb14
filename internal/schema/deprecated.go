package schema

import (
	"fmt"

	"github.com/statepack/statepack/internal/manifest"
)

// lifecycle is when Kubernetes deprecates and stops serving a prerelease apiVersion of a kind, and what replaces it.
// ./gen reads it from the APILifecycle* methods that k8s.io/api generates for every alpha and beta type.
type lifecycle struct {
	Deprecated  string `json:"deprecated,omitempty"`  // minor version, "1.29"
	Removed     string `json:"removed,omitempty"`     // minor version
	Replacement string `json:"replacement,omitempty"` // apiVersion to use instead
}

// lifecycleEntry is the form lifecycles take in the embedded data.
type lifecycleEntry struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
	lifecycle
}

// deprecation warns about a built-in apiVersion that the chosen release still serves but has deprecated, as the
// API server does when it serves one (and as pluto reports).
func (w *walker) deprecation(cat *catalog, k gvk, apiVersion string) {
	l, ok := cat.lifecycle[k]
	if !ok || l.Deprecated == "" || compareMinor(cat.version, l.Deprecated) < 0 {
		return
	}
	removal := ""
	if l.Removed != "" {
		removal = fmt.Sprintf(" and removed in %s", l.Removed)
	}
	advice := "move to a stable apiVersion before it is removed"
	if l.Replacement != "" && l.Replacement != apiVersion {
		advice = "use apiVersion: " + l.Replacement
	}
	defer w.atField("apiVersion")()
	w.add(manifest.SeverityWarning, RuleDeprecated, "%s %s is deprecated since Kubernetes %s%s: %s", k.kind, apiVersion,
		l.Deprecated, removal, advice)
}
