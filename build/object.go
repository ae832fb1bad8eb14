package build

import "github.com/statepack/statepack/internal/manifest"

// The vocabulary build shares with the validators and the diff engine lives in internal/manifest, below them all;
// these are its names as build's users know them.
type (
	// Object is one rendered Kubernetes object.
	Object = manifest.Object
	// Source is a position in the source tree: File slash-separated and relative to the source root, Line 1-based
	// and 0 when unknown.
	Source = manifest.Source
	// ObjectID is what Kubernetes uses to tell objects apart: group, kind, namespace and name.
	ObjectID = manifest.ObjectID
	// Severity orders findings: errors stop a publish, warnings are reported.
	Severity = manifest.Severity
	// Finding is one problem found in the source tree.
	Finding = manifest.Finding
	// Findings is a list of findings.
	Findings = manifest.Findings
	// FindingsError is returned when a step found errors in the input; it wraps ErrInvalidInput.
	FindingsError = manifest.FindingsError
	// Validator checks rendered objects. Structural checks are built in; schema and policy validators plug in here.
	Validator = manifest.Validator
	// ValidatorFunc adapts a function to Validator.
	ValidatorFunc = manifest.ValidatorFunc
)

// The severities of a finding.
const (
	SeverityWarning = manifest.SeverityWarning
	SeverityError   = manifest.SeverityError
)

// newObject fills the identity fields of an object from its decoded content (manifest.NewObject).
func newObject(content map[string]any, yamlBytes []byte, src Source) Object {
	return manifest.NewObject(content, yamlBytes, src)
}

// JoinField is the path of key within the field at path, as Finding.Field writes it (manifest.JoinField).
func JoinField(path, key string) string { return manifest.JoinField(path, key) }
