package manifest

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
)

// Severity orders findings: errors stop a publish, warnings are reported.
type Severity int

const (
	SeverityWarning Severity = iota
	SeverityError
)

func (s Severity) String() string {
	if s == SeverityError {
		return "error"
	}
	return "warning"
}

// MarshalText makes a severity read as "error" or "warning" in JSON output.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "error" or "warning", so that JSON reports round-trip.
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = SeverityError
	case "warning":
		*s = SeverityWarning
	default:
		return fmt.Errorf("severity %q is neither error nor warning", b)
	}
	return nil
}

// Finding is one problem found in the source tree. Rule is a stable identifier ("yaml/syntax",
// "object/missing-kind", …) that users can search for and turn off with --allow (but for the rules of a tree that
// cannot be rendered, build.RenderRules).
//
// Field is the path of the object's field the finding is about, where one is: keys joined by dots, [N] for a list
// item, ["key"] for a key that is not an identifier (a label's, say), as in spec.template.spec.containers[0].image
// or metadata.labels["app.kubernetes.io/name"]. A finding with a field is placed on the field's line when the
// source document writes that field (build.Rendering.PlaceFields), else it keeps the object's line.
//
// Column is the 1-based column on Line where the field's key (or list item) starts, when the finding was placed on
// its field's line; 0 when it is not known. The text form (String) does not print it.
type Finding struct {
	Severity Severity  `json:"severity"`
	Rule     string    `json:"rule"`
	File     string    `json:"file,omitempty"`
	Line     int       `json:"line,omitempty"`
	Column   int       `json:"column,omitempty"`
	Object   *ObjectID `json:"object,omitempty"`
	Field    string    `json:"field,omitempty"`
	Message  string    `json:"message"`
}

func (f Finding) String() string {
	pos := f.File
	if pos == "" {
		pos = "(generated)"
	}
	if f.Line > 0 {
		pos = fmt.Sprintf("%s:%d", pos, f.Line)
	}
	obj := ""
	if f.Object != nil {
		obj = " " + f.Object.String() + ":"
	}
	return fmt.Sprintf("%s: %s:%s %s [%s]", pos, f.Severity, obj, f.Message, f.Rule)
}

// Findings is a list of findings with helpers for reporting.
type Findings []Finding

// HasErrors reports whether any finding is an error.
func (fs Findings) HasErrors() bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.Severity == SeverityError })
}

// Count returns the number of errors and warnings.
func (fs Findings) Count() (errs, warnings int) {
	for _, f := range fs {
		if f.Severity == SeverityError {
			errs++
		} else {
			warnings++
		}
	}
	return errs, warnings
}

// Sort orders findings by file, line, rule and message, so reports are stable.
func (fs Findings) Sort() {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Message, b.Message))
	})
}

// ErrInvalidInput marks every error caused by the source tree rather than by the machine (build.ErrInvalidInput
// is this error): YAML that does not parse, a kustomization that kustomize refuses, a file that leaves the source
// root, a remote base without --allow-remote.
var ErrInvalidInput = errors.New("invalid input")

// FindingsError is returned when a step found errors in the input; it wraps ErrInvalidInput.
type FindingsError struct{ Findings Findings }

func (e *FindingsError) Error() string {
	errs, warns := e.Findings.Count()
	return fmt.Sprintf("%d error(s), %d warning(s) in the source tree", errs, warns)
}

func (e *FindingsError) Unwrap() error { return ErrInvalidInput }

// identifier is a key a field path writes bare; any other key is quoted in brackets.
var identifier = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$-]*$`)

// JoinField is the path of key within the field at path, as Finding.Field writes it: path.key, or path["key"] for
// a key that is not an identifier.
func JoinField(path, key string) string {
	if !identifier.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}
