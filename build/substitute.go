package build

import (
	"bytes"
	"fmt"

	"github.com/statepack/statepack/internal/substitute"
)

// Substitute returns the objects as Flux's kustomize-controller applies them after its postBuild substitution with
// vars (fluxcd/pkg/kustomize SubstituteVariables, strict mode off): each object's YAML with ${var},
// ${var:=default} and the other envsubst forms replaced, then parsed again, so that replicas: ${replicas} becomes an
// integer. An object labelled or annotated kustomize.toolkit.fluxcd.io/substitute: disabled is left alone, as Flux
// leaves it. Every returned object is marked Substituted; an object Flux would refuse to substitute is left out and
// reported as a substitute.RuleFailed error. vars must hold names substitute.CheckNames accepts.
func Substitute(objs []Object, vars map[string]string) ([]Object, Findings) {
	out := make([]Object, 0, len(objs))
	var findings Findings
	for _, o := range objs {
		if substitute.OptedOut(o.Content) || !bytes.ContainsRune(o.YAML, '$') {
			o.Substituted = true
			out = append(out, o)
			continue
		}
		fail := func(format string, args ...any) {
			id := o.FindingID()
			findings = append(findings, Finding{Severity: SeverityError, Rule: substitute.RuleFailed, File: o.Source.File,
				Line: o.Source.Line, Object: &id, Message: fmt.Sprintf(format, args...)})
		}
		data, err := substitute.YAML(o.YAML, vars)
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
