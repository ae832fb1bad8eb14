package build

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/statepack/statepack/internal/substitute"
)

// Substitute returns the objects as Flux's kustomize-controller applies them after its postBuild substitution with
// vars (fluxcd/pkg/kustomize SubstituteVariables): each object's YAML with ${var},
// ${var:=default} and the other envsubst forms replaced, then parsed again, so that replicas: ${replicas} becomes an
// integer. An object labelled or annotated kustomize.toolkit.fluxcd.io/substitute: disabled is left alone, as Flux
// leaves it. Every returned object is marked Substituted; an object Flux would refuse to substitute is left out and
// reported as a substitute.RuleFailed error. vars must hold names substitute.CheckNames accepts.
//
// Strict is kustomize-controller's StrictPostBuildSubstitutions feature gate: an object that refers to a variable
// with neither a value nor a default is such an error, on the line of the first field that refers to it, instead of
// substituting the empty string.
func Substitute(objs []Object, vars map[string]string, strict bool) ([]Object, Findings) {
	out := make([]Object, 0, len(objs))
	var findings Findings
	for _, o := range objs {
		if substitute.OptedOut(o.Content) || !bytes.ContainsRune(o.YAML, '$') {
			o.Substituted = true
			out = append(out, o)
			continue
		}
		field := ""
		fail := func(format string, args ...any) {
			id := o.FindingID()
			findings = append(findings, Finding{Severity: SeverityError, Rule: substitute.RuleFailed, File: o.Source.File,
				Line: o.Source.Line, Object: &id, Field: field, Message: fmt.Sprintf(format, args...)})
		}
		data, err := substitute.YAML(o.YAML, vars, strict)
		if unset := (*substitute.UnsetError)(nil); errors.As(err, &unset) {
			name := unset.Names[0]
			field, _ = fieldReferring(o.Content, "", name)
			fail("Flux's postBuild substitution in strict mode (kustomize-controller's StrictPostBuildSubstitutions) fails on this object: %v: give it a value with --substitute %s=VALUE (or --substitute-from FILE), or a default with ${%s:=VALUE}",
				err, name, name)
			continue
		}
		if err != nil {
			fail("Flux's postBuild substitution fails on this object (%v): close every ${ with }, or write $${ for a literal ${", err)
			continue
		}
		objs, fs := decodeYAMLDocuments(o.Source.File, data, &byteBudget{limit: expansionLimit(len(data))})
		if len(fs) > 0 || len(objs) != 1 {
			msg := "it is not one object"
			if len(fs) > 0 {
				msg = fs[0].Message
			}
			fail("after Flux's postBuild substitution the object is no longer valid YAML (%s): quote the placeholder, or check the values given", msg)
			continue
		}
		s := objs[0]
		s.Source, s.Substituted = o.Source, true
		out = append(out, s)
	}
	return out, findings
}

// fieldReferring is the path of the first field below v (map keys sorted) whose value refers to the variable name.
func fieldReferring(v any, path, name string) (string, bool) {
	switch v := v.(type) {
	case string:
		return path, slices.ContainsFunc(substitute.Placeholders(v), func(p string) bool { return substitute.Refers(p, name) })
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if f, ok := fieldReferring(v[k], JoinField(path, k), name); ok {
				return f, true
			}
		}
	case []any:
		for i, e := range v {
			if f, ok := fieldReferring(e, fmt.Sprintf("%s[%d]", path, i), name); ok {
				return f, true
			}
		}
	}
	return "", false
}
