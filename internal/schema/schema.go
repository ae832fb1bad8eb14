// Package schema checks rendered Kubernetes objects against schemas, offline: built-in kinds against the
// Kubernetes OpenAPI schema of a selectable release (embedded, extracted from k8s.io/kubernetes by ./gen), custom
// resources against the openAPIV3Schema of their CustomResourceDefinition, found in the rendered set itself, in
// directories given with CRDDirs, or built in: the CRDs of Flux, Argo CD, Gateway API and cert-manager at the
// releases Ecosystems names (embedded, extracted from the projects' modules by ./gen; a CRD in the set or a CRD
// directory replaces the built-in one of the same group and kind). It reports unknown fields, wrong types, missing required fields, apiVersions that
// the chosen release (or the CRD) does not serve, and, as a warning, built-in apiVersions that the release still serves
// but has deprecated (with the apiVersion that replaces them, from the APILifecycle* data of k8s.io/api).
//
// For CRD schemas it also applies the value validations the API server applies: pattern, format (the formats the
// apiextensions-apiserver checks, k8s-short-name and k8s-long-name from 1.34), minimum, maximum (and their exclusive
// forms), multipleOf, minLength, maxLength, minItems, maxItems, minProperties, maxProperties, oneOf, anyOf, allOf and
// not (as value validations, with the shape taken from the surrounding schema, as structural schemas require),
// x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields, x-kubernetes-embedded-resource, and duplicates in
// lists of x-kubernetes-list-type set or map. A null value counts as unset, as the API server prunes nulls of
// non-nullable fields. Built-in kinds are validated by hand-written Go in the API server, which their published
// schema does not carry; of that, only the size of int32 and int64 fields is checked here.
//
// CEL rules (x-kubernetes-validations) of CRD schemas are compiled once per CRD and evaluated with cel-go, within the
// API server's cost limits (one rule: 1,000,000; all rules of one object: 10,000,000). A rule that does not compile is
// a finding on the CRD, since the API server would refuse it; a rule that evaluates to false is an error on the object
// naming the field (fieldPath when given) and the rule's message (messageExpression when it evaluates). The
// environment is cel-go's standard library with the extensions Kubernetes 1.34 enables (strings v2, sets, lists v3,
// two-variable comprehensions, optional types); self is dynamically typed. Not checked, on purpose:
//   - transition rules (those that read oldSelf): offline there is no old object;
//   - rules calling the Kubernetes CEL library (quantity, url, ip, cidr, format, semver, isSorted, find, …):
//     k8s.io/apiserver/pkg/cel/library pulls in k8s.io/api, feature gates and Prometheus, which grew the binary by
//     43% (+18.4 MB) against 16% (+6.8 MB) for cel-go alone; such rules are skipped;
//   - the estimated-cost check the API server runs when it accepts a CRD, which needs typed (maxLength-bounded)
//     declarations that a dynamic self does not give; an argument mismatch it would catch at that time shows up at
//     evaluation here ("no such overload") and is not reported, since it says nothing certain about the object.
//
// The published schemas of built-in kinds carry no x-kubernetes-validations for the embedded releases (1.32–1.34).
//
// It is not an admission simulator: defaulting, admission webhooks and policies, and the API server's hand-written
// validation of built-in kinds (name rules aside, which package build checks) are out of its reach.
package schema

//go:generate go run ./gen -out data

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/statepack/statepack/internal/manifest"
)

// DefaultKubernetesVersion is the release whose schema is used when KubernetesVersion is not given: the newest
// embedded stable minor.
const DefaultKubernetesVersion = "1.34"

// Rules reported by the validator.
const (
	RuleUnknownField       = "schema/unknown-field"
	RuleType               = "schema/type"
	RuleRequired           = "schema/required"
	RuleEnum               = "schema/enum"
	RuleUnservedAPIVersion = "schema/unserved-apiversion"
	RuleNoSchema           = "schema/no-schema"
	RuleCRD                = "schema/crd"
	RulePattern            = "schema/pattern"
	RuleFormat             = "schema/format"
	RuleRange              = "schema/range"
	RuleLength             = "schema/length"
	RuleItems              = "schema/items"
	RuleProperties         = "schema/properties"
	RuleComposition        = "schema/composition"
	RuleCEL                = "schema/cel"
	RuleDeprecated         = "schema/deprecated-apiversion"
)

// Rules lists the rules the validator reports.
func Rules() []string {
	return []string{RuleUnknownField, RuleType, RuleRequired, RuleEnum, RuleUnservedAPIVersion, RuleNoSchema, RuleCRD,
		RulePattern, RuleFormat, RuleRange, RuleLength, RuleItems, RuleProperties, RuleComposition, RuleCEL, RuleDeprecated}
}

// Option configures NewValidator. The zero set of options works: Kubernetes DefaultKubernetesVersion, CRDs from the
// rendered set only, kinds without a schema reported as warnings.
type Option func(*options) error

type options struct {
	version     string
	crdDirs     []string
	readDir     DirReader
	strict      bool
	noEcosystem bool
}

// DirReader reads the objects of a directory of manifests (plain YAML/JSON read recursively, or a kustomization), as
// the render reads a tree: the caller's, since this package does not render. Findings are the directory's problems,
// with files relative to it.
type DirReader func(ctx context.Context, dir string) ([]manifest.Object, manifest.Findings, error)

// KubernetesVersion selects the Kubernetes release whose schema built-in kinds are checked against, as "1.33",
// "v1.33" or "1.33.4" (the patch is ignored). It refuses releases that are not embedded; Versions lists those.
func KubernetesVersion(v string) Option {
	return func(o *options) error {
		minor, ok := minorOf(v)
		if !ok || !slices.Contains(Versions(), minor) {
			return fmt.Errorf("kubernetes version %q is not available: choose one of %s", v,
				strings.Join(Versions(), ", "))
		}
		o.version = minor
		return nil
	}
}

// CRDDirs adds directories of CustomResourceDefinition manifests (plain YAML/JSON, read recursively, or a
// kustomization) whose schemas apply to custom resources, each read with read. A CRD in a later directory replaces
// one of the same group and kind in an earlier one; CRDs in the rendered set take precedence over all of them.
func CRDDirs(dirs []string, read DirReader) Option {
	return func(o *options) error {
		for _, d := range dirs {
			if d == "" {
				return fmt.Errorf("CRD directory is empty: give a directory path")
			}
		}
		if len(dirs) > 0 && read == nil {
			return fmt.Errorf("CRD directories need a reader")
		}
		o.crdDirs = append(o.crdDirs, dirs...)
		o.readDir = read
		return nil
	}
}

// BuiltinCRDs turns the built-in CRDs of Ecosystems on (the default) or off. When on, a custom resource whose CRD
// is neither in the rendered set nor in a CRD directory is checked against the built-in CRD of its group and kind;
// an apiVersion that CRD does not serve is a warning (the cluster may run another release of the project), not
// an error.
func BuiltinCRDs(on bool) Option {
	return func(o *options) error {
		o.noEcosystem = !on
		return nil
	}
}

// builtinNote names the built-in CRD sets in a no-schema finding, so that a user looking for Flux's does not
// wonder.
func builtinNote(off bool) string {
	if off {
		return ""
	}
	var names []string
	for _, e := range Ecosystems() {
		names = append(names, e.Name)
	}
	return " (built in: the CRDs of " + strings.Join(names, ", ") + ")"
}

// Strict makes a kind with no schema available an error instead of a warning.
func Strict(on bool) Option {
	return func(o *options) error {
		o.strict = on
		return nil
	}
}

// NewValidator returns a validator for build.Validate (a manifest.Validator). Schemas are loaded on first use, once per process.
func NewValidator(opts ...Option) (manifest.Validator, error) {
	o := options{version: DefaultKubernetesVersion}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &validator{opts: o}, nil
}

type validator struct {
	opts options

	dirOnce     sync.Once
	dirCRDs     crdIndex
	dirFindings manifest.Findings
}

var _ manifest.Validator = (*validator)(nil)

// Validate checks every object against its schema. Findings carry the object's source position.
func (v *validator) Validate(ctx context.Context, objs []manifest.Object) manifest.Findings {
	cat, err := loadCatalog(v.opts.version)
	if err != nil { // only a broken build of statepack gets here: the data is embedded
		return manifest.Findings{{Severity: manifest.SeverityError, Rule: RuleNoSchema, Message: err.Error()}}
	}
	v.dirOnce.Do(func() { v.dirCRDs, v.dirFindings = loadCRDDirs(ctx, v.opts.crdDirs, v.opts.readDir, cat) })
	findings := slices.Clone(v.dirFindings)

	crds := crdIndex{}
	for k, c := range v.dirCRDs {
		crds[k] = c
	}
	for _, o := range objs {
		if o.ID.Kind == "CustomResourceDefinition" && o.ID.Group == "apiextensions.k8s.io" {
			c, fs := crdFromObject(o, cat)
			findings = append(findings, fs...)
			if c != nil {
				crds[c.group+"/"+c.kind] = c
			}
		}
	}
	for _, o := range objs {
		if ctx.Err() != nil {
			break
		}
		findings = append(findings, v.validateObject(ctx, o, cat, crds)...)
	}
	findings.Sort()
	return findings
}

func (v *validator) validateObject(ctx context.Context, o manifest.Object, cat *catalog, crds crdIndex) manifest.Findings {
	if o.APIVersion == "" || o.ID.Kind == "" || o.Content == nil {
		return nil // the structural validator reports these
	}
	group, version := splitAPIVersion(o.APIVersion)
	w := &walker{ctx: ctx, obj: o, celBudget: runtimeCostBudget}
	if root := cat.byGVK[gvk{group, version, o.ID.Kind}]; root != nil {
		w.what = o.ID.Kind + " " + o.APIVersion
		w.deprecation(cat, gvk{group, version, o.ID.Kind}, o.APIVersion)
		w.value("", o.Content, root, 0)
		return w.findings
	}
	c, from := crds[group+"/"+o.ID.Kind], ""
	var set Ecosystem
	if c == nil && !v.opts.noEcosystem {
		if c, set = builtinCRD(cat, group+"/"+o.ID.Kind); c != nil {
			from = ", built in from " + set.String()
		}
	}
	if c != nil {
		root, served := c.versions[version]
		if !served && from != "" {
			// The cluster may run another release of the project, which serves it: say so, do not refuse.
			w.at = "apiVersion"
			w.add(manifest.SeverityWarning, RuleUnservedAPIVersion, "apiVersion %s is not served by CustomResourceDefinition %s of %s: "+
				"use %s, or, if the cluster runs a %s release that serves it, give its CRDs with --crd-dir so the object is checked",
				o.APIVersion, c.name, set, orList(c.servedAPIVersions()), set.Name)
			return w.findings
		}
		if !served {
			w.at = "apiVersion"
			w.add(manifest.SeverityError, RuleUnservedAPIVersion, "apiVersion %s is not served by CustomResourceDefinition %s: use %s",
				o.APIVersion, c.name, orList(c.servedAPIVersions()))
			return w.findings
		}
		w.what = o.ID.Kind + " " + o.APIVersion + " (CustomResourceDefinition " + c.name + from + ")"
		if msg, ok := c.deprecated[version]; ok {
			w.at = "apiVersion"
			w.add(manifest.SeverityWarning, RuleDeprecated, "%s (CustomResourceDefinition %s%s marks %s deprecated): move to %s",
				msg, c.name, from, o.APIVersion, orList(slices.DeleteFunc(c.servedAPIVersions(), func(av string) bool {
					_, dep := c.deprecated[strings.TrimPrefix(av, c.group+"/")]
					return dep
				})))
		}
		content, _ := withDefaults(o.Content, root)
		w.value("", content, root, 0)
		return w.findings
	}
	if msg, ok := cat.unserved(group, version, o.ID.Kind); ok {
		w.at = "apiVersion"
		w.add(manifest.SeverityError, RuleUnservedAPIVersion, "%s", msg)
		return w.findings
	}
	sev := manifest.SeverityWarning
	if v.opts.strict {
		sev = manifest.SeverityError
	}
	w.add(sev, RuleNoSchema, "no schema for %s %s: add its CustomResourceDefinition to the tree or to a CRD directory (--crd-dir) so it can be checked%s",
		o.ID.Kind, o.APIVersion, builtinNote(v.opts.noEcosystem))
	return w.findings
}

func splitAPIVersion(apiVersion string) (group, version string) {
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		return apiVersion[:i], apiVersion[i+1:]
	}
	return "", apiVersion
}

// minorOf turns "v1.33.4", "1.33" into "1.33".
func minorOf(v string) (string, bool) {
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return "", false
	}
	return parts[0] + "." + parts[1], true
}

func orList(items []string) string {
	switch len(items) {
	case 0:
		return "a served version (the CRD serves none)"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
