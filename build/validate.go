package build

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/statepack/statepack/internal/substitute"
)

// Validate runs the structural checks and then every extra validator, and returns all findings, sorted. The extra
// validators see every object whose identity is sound (apiVersion, kind, metadata, name and namespace as the
// API server reads them): a bad label, quantity, image or name format does not hide the object's schema and policy
// findings, while an object that is not one (no kind, say) is reported once, by the structural checks.
func Validate(ctx context.Context, objs []Object, extra ...Validator) Findings {
	return ValidateAllowing(ctx, objs, nil, extra...)
}

// identityRules are the structural rules whose errors leave an object without a sound identity, so that schemas
// (chosen by apiVersion and kind) and policies (which read metadata) cannot judge it meaningfully.
var identityRules = map[string]bool{
	"object/missing-apiversion": true, "object/invalid-apiversion": true, "object/missing-kind": true,
	"object/missing-metadata": true, "object/invalid-metadata": true, "object/missing-name": true,
	"object/invalid-namespace": true,
}

// ValidateAllowing is Validate for a caller that turns off some rules (--allow): an object whose only identity
// errors are of rules allowed says is still checked by the extra validators. allowed may be nil.
func ValidateAllowing(ctx context.Context, objs []Object, allowed func(rule string) bool, extra ...Validator) Findings {
	findings := Structural().Validate(ctx, objs)
	sound := make([]Object, 0, len(objs))
	for _, o := range objs {
		if !slices.ContainsFunc(objectFindings(o), func(f Finding) bool {
			return f.Severity == SeverityError && identityRules[f.Rule] && (allowed == nil || !allowed(f.Rule))
		}) {
			sound = append(sound, o)
		}
	}
	for _, v := range extra {
		findings = append(findings, v.Validate(ctx, sound)...)
	}
	findings.Sort()
	return findings
}

// Structural returns the validator that every object has apiVersion, kind and a valid metadata.name, and that no
// two objects share group, kind, namespace and name.
func Structural() Validator { return ValidatorFunc(structural) }

func structural(_ context.Context, objs []Object) Findings {
	var findings Findings
	seen := make(map[ObjectID]Object, len(objs))
	for _, o := range objs {
		findings = append(findings, objectFindings(o)...)
		if o.ID.Kind == "" || o.ID.Name == "" {
			continue
		}
		if first, dup := seen[o.ID]; dup {
			id := o.ID
			msg := fmt.Sprintf("%s is defined twice (first at %s): Kubernetes would keep only one", o.ID, first.Source)
			if o.Kustomization != first.Kustomization {
				// Reached through two kustomizations (two overlays of one base, say): name both, since the
				// resource file alone does not say which overlays collide.
				msg = fmt.Sprintf("%s is defined twice, %s and %s: Kubernetes would keep only one; give one overlay its own namespace or a name prefix, or leave the object out of one",
					o.ID, origin(first), origin(o))
			}
			findings = append(findings, Finding{Severity: SeverityError, Rule: "object/duplicate", File: o.Source.File,
				Line: o.Source.Line, Object: &id, Message: msg})
			continue
		}
		seen[o.ID] = o
	}
	return findings
}

// origin says where an object comes from, for the duplicate finding: the kustomization that built it (and the
// resource file, when known), or its file.
func origin(o Object) string {
	switch {
	case o.Kustomization == "":
		return "at " + o.Source.String()
	case o.Source.File == "":
		return "built by " + o.Kustomization
	default:
		return fmt.Sprintf("built by %s from %s", o.Kustomization, o.Source)
	}
}

// objectFindings are the structural problems of one object on its own.
func objectFindings(o Object) Findings {
	var findings Findings
	add := func(rule, field, format string, args ...any) {
		id := o.FindingID()
		findings = append(findings, Finding{Severity: SeverityError, Rule: rule, File: o.Source.File,
			Line: o.Source.Line, Object: &id, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if o.APIVersion == "" {
		add("object/missing-apiversion", "", "apiVersion is missing or not a string")
	} else if !validAPIVersion(o.APIVersion) {
		add("object/invalid-apiversion", "apiVersion", "apiVersion %q is not of the form [group/]version", o.APIVersion)
	}
	if o.ID.Kind == "" {
		add("object/missing-kind", "", "kind is missing or not a string")
	}
	meta, isMap := o.Content["metadata"].(map[string]any)
	switch {
	case o.Content["metadata"] == nil:
		add("object/missing-metadata", "", "metadata is missing: every object needs metadata.name")
		return findings
	case !isMap:
		add("object/invalid-metadata", "metadata", "metadata must be a mapping")
		return findings
	}
	if _, hasGenerateName := meta["generateName"]; o.ID.Name == "" && hasGenerateName {
		// Argo CD and Helm create hooks themselves, and generateName is how a hook gets a fresh name each run.
		if !IsHook(o) {
			add("object/generate-name", "metadata.generateName", "metadata.generateName cannot be applied declaratively: give metadata.name, or mark the object as a hook (argocd.argoproj.io/hook or helm.sh/hook), which Argo CD and Helm create themselves")
		} else if gn, _ := meta["generateName"].(string); len(nameErrors(o.ID.Kind, gn+"x")) > 0 {
			add("object/invalid-name", "metadata.generateName", "metadata.generateName %q is invalid: %s", gn, strings.Join(nameErrors(o.ID.Kind, gn+"x"), "; "))
		}
	} else if o.ID.Name == "" {
		add("object/missing-name", "metadata", "metadata.name is missing or not a string")
	} else if msgs := nameErrors(o.ID.Kind, o.ID.Name); len(msgs) > 0 {
		if p := substitute.Pending(o, o.ID.Name); len(p) > 0 {
			findings = append(findings, pending(o, "metadata.name", fmt.Sprintf("metadata.name %q", o.ID.Name), p, "its syntax"))
		} else {
			add("object/invalid-name", "metadata.name", "metadata.name %q is invalid: %s", o.ID.Name, strings.Join(msgs, "; "))
		}
	}
	findings = append(findings, metaFindings(o, meta)...)
	for _, u := range firstUses(o) {
		// A reference the kubelet cannot pull, and one that could break a report's table or a log line open.
		if img := u.Image; strings.ContainsFunc(img, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			add("object/invalid-image", u.Field, "image %q holds white space or a control character: it is not an image reference", img)
		}
	}
	if ns, ok := meta["namespace"]; ok && ns != nil {
		if s, isString := ns.(string); !isString {
			add("object/invalid-namespace", "metadata.namespace", "metadata.namespace must be a string")
		} else if msgs := validation.IsDNS1123Label(s); len(msgs) > 0 {
			if p := substitute.Pending(o, s); len(p) > 0 {
				findings = append(findings, pending(o, "metadata.namespace", fmt.Sprintf("metadata.namespace %q", s), p, "its syntax"))
			} else {
				add("object/invalid-namespace", "metadata.namespace", "metadata.namespace %q is invalid: %s", s, strings.Join(msgs, "; "))
			}
		}
	}
	return findings
}

// metaFindings are the API server's checks of labels and annotations (apimachinery's ValidateLabels and
// ValidateAnnotations: qualified-name keys, label values of at most 63 characters of [A-Za-z0-9_.-], annotations
// of at most 256 KiB in all) and of resource quantities in containers, which it applies before any schema.
// A value holding a Flux postBuild placeholder (${var}) that fails a check is a pending warning, not an error: Flux
// substitutes it after the build.
func metaFindings(o Object, meta map[string]any) Findings {
	var findings Findings
	check := func(rule, field, what, value string, msgs []string, format string, args ...any) {
		if len(msgs) == 0 {
			return
		}
		if p := substitute.Pending(o, value); len(p) > 0 {
			findings = append(findings, pending(o, field, what, p, "its syntax"))
			return
		}
		id := o.FindingID()
		findings = append(findings, Finding{Severity: SeverityError, Rule: rule, File: o.Source.File,
			Line: o.Source.Line, Object: &id, Field: field, Message: fmt.Sprintf(format, append(args, strings.Join(msgs, "; "))...)})
	}
	labels, _ := meta["labels"].(map[string]any)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		field := JoinField("metadata.labels", k)
		check("object/invalid-label", field, fmt.Sprintf("label key %q", k), k, validation.IsQualifiedName(k), "label key %q is invalid: %s", k)
		if v, ok := labels[k].(string); ok {
			check("object/invalid-label", field, fmt.Sprintf("label %s's value %q", k, v), v, validation.IsValidLabelValue(v), "label %s's value %q is invalid: %s", k, v)
		}
	}
	annotations, _ := meta["annotations"].(map[string]any)
	size := 0
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		check("object/invalid-annotation", JoinField("metadata.annotations", k), fmt.Sprintf("annotation key %q", k), k, validation.IsQualifiedName(strings.ToLower(k)), "annotation key %q is invalid: %s", k)
		v, _ := annotations[k].(string)
		size += len(k) + len(v)
	}
	if size > maxAnnotationsSize {
		check("object/invalid-annotation", "metadata.annotations", "", "", []string{fmt.Sprint(maxAnnotationsSize)}, "annotations take %d bytes, more than the API server's limit of %s", size)
	}
	for _, q := range quantities(o) {
		if !isQuantity(q.value) {
			check("object/invalid-quantity", q.field, fmt.Sprintf("%s %q", q.path, q.value), q.value, []string{"write a number with an optional suffix, such as 500m, 1.5, 128Mi or 2Gi"}, "%s %q is not a quantity: %s", q.path, q.value)
		}
	}
	return findings
}

// pending is the warning of a check that cannot hold before Flux substitutes the placeholders of a value.
func pending(o Object, field, what string, placeholders []string, check string) Finding {
	id := o.FindingID()
	return Finding{Severity: SeverityWarning, Rule: substitute.RulePending, File: o.Source.File, Line: o.Source.Line,
		Object: &id, Field: field, Message: substitute.PendingMessage(what, placeholders, check)}
}

// quantityPattern is the grammar of apimachinery's resource.ParseQuantity (k8s.io/apimachinery pkg/api/resource
// quantity.go): a signed decimal number, then a binary SI suffix, a decimal SI suffix or a decimal exponent.
// FuzzIsQuantity checks it against ParseQuantity itself, which is not linked here: it pulls in 1.3 MB.
// As that parser does, it takes an empty number as 0 ("Gi", "-", ".").
var quantityPattern = regexp.MustCompile(`^[+-]?[0-9]*(\.[0-9]*)?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE]([+-]?[0-9]+))?$`)

// isQuantity says whether s has the grammar of a resource quantity the API server accepts.
func isQuantity(s string) bool { return s != "" && quantityPattern.MatchString(s) }

// maxAnnotationsSize is apimachinery's TotalAnnotationSizeLimitB: keys and values of all annotations together.
const maxAnnotationsSize = 256 << 10

// quantity is one resource quantity: path names it in messages (a container by its name), field is its
// Finding.Field.
type quantity struct{ path, field, value string }

// quantities lists the resource quantities of an object's containers (resources.limits and requests, wherever the
// containers nest) and of PersistentVolumeClaims and ResourceQuotas, as strings.
func quantities(o Object) []quantity {
	var out []quantity
	addAll := func(path, field string, m map[string]any) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			switch v := m[k].(type) {
			case string:
				out = append(out, quantity{path + "." + k, JoinField(field, k), v})
			case int64, float64:
			default:
				out = append(out, quantity{path + "." + k, JoinField(field, k), fmt.Sprint(v)})
			}
		}
	}
	eachContainer(o, func(list, field string, c map[string]any) {
		res, _ := c["resources"].(map[string]any)
		name, _ := c["name"].(string)
		for _, kind := range []string{"limits", "requests"} {
			m, _ := res[kind].(map[string]any)
			addAll(fmt.Sprintf("%s[%s].resources.%s", list, name, kind), field+".resources."+kind, m)
		}
	})
	spec, _ := o.Content["spec"].(map[string]any)
	switch {
	case o.ID.Group == "" && o.ID.Kind == "PersistentVolumeClaim":
		res, _ := spec["resources"].(map[string]any)
		for _, kind := range []string{"limits", "requests"} {
			m, _ := res[kind].(map[string]any)
			addAll("spec.resources."+kind, "spec.resources."+kind, m)
		}
	case o.ID.Group == "" && o.ID.Kind == "ResourceQuota":
		m, _ := spec["hard"].(map[string]any)
		addAll("spec.hard", "spec.hard", m)
	}
	return out
}

// IsHook says whether an object is an Argo CD or Helm hook: created by the agent at a point of a sync, not applied
// as desired state, so it may be named by metadata.generateName.
func IsHook(o Object) bool {
	meta, _ := o.Content["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	_, argo := ann["argocd.argoproj.io/hook"]
	_, helm := ann["helm.sh/hook"]
	return argo || helm
}

func validAPIVersion(v string) bool {
	parts := strings.Split(v, "/")
	switch len(parts) {
	case 1:
		return len(validation.IsDNS1035Label(parts[0])) == 0
	case 2:
		return len(validation.IsDNS1123Subdomain(parts[0])) == 0 && len(validation.IsDNS1035Label(parts[1])) == 0
	}
	return false
}

// dns1123LabelKinds are the built-in kinds whose names the API server checks as DNS-1123 labels; most other kinds
// take DNS-1123 subdomains. RBAC kinds accept any path segment.
var dns1123LabelKinds = map[string]bool{"Namespace": true}

// pathSegmentKinds accept any name that is a valid path segment (RBAC allows "system:…").
var pathSegmentKinds = map[string]bool{"Role": true, "ClusterRole": true, "RoleBinding": true,
	"ClusterRoleBinding": true}

// nameErrors applies the name rule Kubernetes uses for the kind. Custom resources are checked as DNS-1123
// subdomains, which is what the API server does for CRDs.
func nameErrors(kind, name string) []string {
	switch {
	case kind == "Service": // a Service name becomes a DNS label that must start with a letter
		return validation.IsDNS1035Label(name)
	case dns1123LabelKinds[kind]:
		return validation.IsDNS1123Label(name)
	case pathSegmentKinds[kind]:
		if name == "." || name == ".." {
			return []string{"may not be '.' or '..'"}
		}
		if strings.ContainsAny(name, "/%") {
			return []string{"may not contain '/' or '%'"}
		}
		return nil
	default:
		return validation.IsDNS1123Subdomain(name)
	}
}
