package build

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Policy is a check that is on by default and can be turned off by its ID.
type Policy struct {
	// ID is what users name to turn the policy off (--allow ID).
	ID string
	// Why is the one-line reason the policy exists.
	Why string
	// Severity of its findings.
	Severity Severity
	check    func(objs []Object, o PolicyOptions) Findings
}

// PolicyOptions carries what policies need to know beyond the objects.
type PolicyOptions struct {
	// Allow lists policy IDs to skip.
	Allow []string
	// ExternalNamespaces are namespaces that exist outside the rendered set (created by another tree or by hand).
	ExternalNamespaces []string
	// ClusterScopedKinds are custom kinds ("group/kind") known to be cluster-scoped without their CRD in the set:
	// those of the built-in CRDs (cert-manager's ClusterIssuer, Gateway API's GatewayClass).
	ClusterScopedKinds []string
}

// Policies is every built-in policy, in the order they run.
var Policies = []Policy{
	{ID: "secret-not-encrypted", Severity: SeverityError,
		Why:   "a Secret in Git and in the artifact must be SOPS-encrypted, or anyone who can pull the artifact reads it",
		check: secretNotEncrypted},
	{ID: "image-unpinned", Severity: SeverityWarning,
		Why:   "an image without a tag or digest, or tagged latest, changes under the same desired state",
		check: imageUnpinned},
	{ID: "namespace-unknown", Severity: SeverityWarning,
		Why:   "an object in a namespace that neither the set creates nor is declared external fails to apply on a fresh cluster",
		check: namespaceUnknown},
}

// PolicyIDs lists the IDs of the built-in policies.
func PolicyIDs() []string {
	ids := make([]string, len(Policies))
	for i, p := range Policies {
		ids[i] = p.ID
	}
	return ids
}

// PolicyValidator runs the built-in policies except those o.Allow names. It refuses unknown IDs, so that a typo
// does not silently leave a policy on.
func PolicyValidator(o PolicyOptions) (Validator, error) {
	for _, id := range o.Allow {
		if !slices.Contains(PolicyIDs(), id) {
			return nil, fmt.Errorf("unknown policy %q: the policies are %s", id, strings.Join(PolicyIDs(), ", "))
		}
	}
	return ValidatorFunc(func(_ context.Context, objs []Object) Findings {
		var out Findings
		for _, p := range Policies {
			if slices.Contains(o.Allow, p.ID) {
				continue
			}
			for _, f := range p.check(objs, o) {
				f.Rule = "policy/" + p.ID
				f.Severity = p.Severity
				f.Message += " (turn off with --allow " + p.ID + ")"
				out = append(out, f)
			}
		}
		return out
	}), nil
}

func finding(o Object, field, format string, args ...any) Finding {
	id := o.FindingID()
	return Finding{File: o.Source.File, Line: o.Source.Line, Object: &id, Field: field, Message: fmt.Sprintf(format, args...)}
}

func secretNotEncrypted(objs []Object, _ PolicyOptions) Findings {
	var out Findings
	for _, o := range objs {
		if o.ID.Group != "" || o.ID.Kind != "Secret" {
			continue
		}
		if _, sops := o.Content["sops"]; sops {
			continue
		}
		if sopsGenerated(o) {
			out = append(out, finding(o, "", "Secret is generated from SOPS-encrypted inputs (a secretGenerator's files or envs): Flux's kustomize-controller decrypts generator inputs while it builds, so the Secret cannot be rendered ahead into an artifact (its values would stay ENC[…]); "+
				"publish it as a whole Secret manifest encrypted with SOPS (sops --encrypt --encrypted-regex '^(data|stringData)$'), which Flux decrypts after pulling, or keep it in a Git source Flux builds itself"))
			continue
		}
		for _, field := range []string{"data", "stringData"} {
			if m, ok := o.Content[field].(map[string]any); ok && len(m) > 0 && !allEmpty(m) {
				out = append(out, finding(o, field, "Secret carries %s in clear text: encrypt it with SOPS (sops --encrypt --encrypted-regex '^(data|stringData)$')", field))
				break
			}
		}
	}
	return out
}

// allEmpty says whether every value of a Secret's data is empty: a placeholder (a TLS Secret that cert-manager
// fills, say) carries no secret.
func allEmpty(m map[string]any) bool {
	for _, v := range m {
		if s, ok := v.(string); !ok || s != "" {
			return false
		}
	}
	return true
}

// sopsGenerated says whether a Secret was generated from SOPS-encrypted files: its values (decoded) hold SOPS's
// ENC[…] envelopes, or its keys SOPS's own sops_* metadata, as a dotenv or INI file encrypted by SOPS does.
func sopsGenerated(o Object) bool {
	for _, field := range []string{"data", "stringData"} {
		m, _ := o.Content[field].(map[string]any)
		for k, v := range m {
			val, _ := v.(string)
			if field == "data" {
				if b, err := base64.StdEncoding.DecodeString(val); err == nil {
					val = string(b)
				}
			}
			if strings.HasPrefix(k, "sops_") || strings.Contains(val, "ENC[AES256_GCM,") || strings.Contains(val, "\"sops\":") || strings.Contains(val, "\nsops:") {
				return true
			}
		}
	}
	return false
}

func imageUnpinned(objs []Object, _ PolicyOptions) Findings {
	var out Findings
	for _, o := range objs {
		for _, u := range firstUses(o) {
			if reason := unpinned(u.Image); reason != "" {
				out = append(out, finding(o, u.Field, "image %q %s: pin a version tag or a digest", u.Image, reason))
			}
		}
	}
	return out
}

// unpinned says why an image reference is not pinned, or "" when it is.
func unpinned(ref string) string {
	if strings.Contains(ref, "@") {
		return ""
	}
	name := ref
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		name = ref[i+1:]
	}
	tag := ""
	if i := strings.LastIndex(name, ":"); i >= 0 {
		tag = name[i+1:]
	}
	switch {
	case tag == "":
		return "has no tag"
	case tag == "latest":
		return "is tagged latest"
	}
	return ""
}

// Images lists the container images an object deploys, as referenced: every "image" of every entry under
// "containers", "initContainers" and "ephemeralContainers", wherever they nest (pod templates, CronJobs, and
// custom resources that embed pod specs).
func Images(o Object) []string {
	var out []string
	for _, u := range ImageUses(o) {
		out = append(out, u.Image)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// firstUses is ImageUses with each image once, at the first field that holds it (in field path order): one finding
// per image, as Images lists them, placed where the image is first written.
func firstUses(o Object) []ImageUse {
	seen := map[string]bool{}
	var out []ImageUse
	for _, u := range ImageUses(o) {
		if !seen[u.Image] {
			seen[u.Image] = true
			out = append(out, u)
		}
	}
	return out
}

// ImageUse is one container's image in an object: the reference as written and the field that holds it, as a
// path such as spec.jobTemplate.spec.template.spec.containers[0].image.
type ImageUse struct {
	Image string
	Field string
}

// ImageUses lists every container image field of an object (see Images), in the order of their field paths, with
// map keys visited sorted so that the order is the same on every run.
func ImageUses(o Object) []ImageUse {
	var out []ImageUse
	eachContainer(o, func(_, path string, c map[string]any) {
		if img, ok := c["image"].(string); ok && img != "" {
			out = append(out, ImageUse{Image: img, Field: path + ".image"})
		}
	})
	return out
}

// ReplaceImages returns o with every container image that replace maps to a different reference rewritten, its
// YAML serialised again as the render serialises objects (so that a package of it is as reproducible as any), and
// whether anything changed. o itself is left as it was: the content is copied before it is changed.
func ReplaceImages(o Object, replace func(image string) string) (Object, bool, error) {
	changed := false
	for _, u := range ImageUses(o) {
		if replace(u.Image) != u.Image {
			changed = true
			break
		}
	}
	if !changed {
		return o, false, nil
	}
	content, _ := deepCopy(o.Content, 0).(map[string]any)
	out := o
	out.Content = content
	eachContainer(out, func(_, _ string, c map[string]any) {
		if img, ok := c["image"].(string); ok && img != "" {
			c["image"] = replace(img)
		}
	})
	y, err := canonicalYAML(out.Content)
	if err != nil {
		return o, false, fmt.Errorf("serialising %s with pinned images: %w", o.ID, err)
	}
	out.YAML = y
	return out, true, nil
}

// deepCopy copies the maps and slices of decoded content; scalars are shared (they are immutable).
func deepCopy(v any, depth int) any {
	if depth > maxDepth {
		return v
	}
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, child := range v {
			m[k] = deepCopy(child, depth+1)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, child := range v {
			s[i] = deepCopy(child, depth+1)
		}
		return s
	}
	return v
}

// eachContainer calls fn for every entry under "containers", "initContainers" and "ephemeralContainers" anywhere in
// the object (pod templates, CronJobs, custom resources that embed pod specs), with the list's key and the entry's
// field path, keys visited in sorted order.
func eachContainer(o Object, fn func(list, path string, c map[string]any)) {
	var walk func(v any, path string, depth int)
	walk = func(v any, path string, depth int) {
		if depth > maxDepth {
			return
		}
		switch v := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				child := v[k]
				p := k
				if path != "" {
					p = path + "." + k
				}
				if k == "containers" || k == "initContainers" || k == "ephemeralContainers" {
					if list, ok := child.([]any); ok {
						for i, c := range list {
							if cm, ok := c.(map[string]any); ok {
								fn(k, fmt.Sprintf("%s[%d]", p, i), cm)
							}
						}
					}
				}
				walk(child, p, depth+1)
			}
		case []any:
			for i, child := range v {
				walk(child, fmt.Sprintf("%s[%d]", path, i), depth+1)
			}
		}
	}
	walk(o.Content, "", 0)
}

// builtinNamespaces exist on every cluster.
var builtinNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease",
	"flux-system", // created by `flux bootstrap`; almost every Flux tree refers to it
}

// clusterScoped are the built-in kinds without a namespace, by "group/kind": the API server ignores a
// metadata.namespace on them.
var clusterScoped = map[string]bool{
	"/Namespace": true, "/Node": true, "/PersistentVolume": true, "/ComponentStatus": true,
	"rbac.authorization.k8s.io/ClusterRole": true, "rbac.authorization.k8s.io/ClusterRoleBinding": true,
	"apiextensions.k8s.io/CustomResourceDefinition": true, "apiregistration.k8s.io/APIService": true,
	"storage.k8s.io/StorageClass": true, "storage.k8s.io/CSIDriver": true, "storage.k8s.io/CSINode": true,
	"storage.k8s.io/VolumeAttachment": true, "scheduling.k8s.io/PriorityClass": true,
	"admissionregistration.k8s.io/ValidatingWebhookConfiguration":   true,
	"admissionregistration.k8s.io/MutatingWebhookConfiguration":     true,
	"admissionregistration.k8s.io/ValidatingAdmissionPolicy":        true,
	"admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding": true,
	"networking.k8s.io/IngressClass":                                true, "node.k8s.io/RuntimeClass": true,
	"certificates.k8s.io/CertificateSigningRequest": true, "flowcontrol.apiserver.k8s.io/FlowSchema": true,
	"flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration": true,
}

// Namespaced reports whether objects of a group and kind live in a namespace: every kind but the built-in
// cluster-scoped ones, those given as "group/kind" in known, and those a CustomResourceDefinition among objs
// declares with scope Cluster (a CRD of the set saying Namespaced overrides known).
func Namespaced(objs []Object, known ...string) func(group, kind string) bool {
	cluster := maps.Clone(clusterScoped)
	for _, k := range known {
		cluster[k] = true
	}
	for _, obj := range objs {
		if obj.ID.Kind == "CustomResourceDefinition" && obj.ID.Group == "apiextensions.k8s.io" {
			spec, _ := obj.Content["spec"].(map[string]any)
			names, _ := spec["names"].(map[string]any)
			group, _ := spec["group"].(string)
			kind, _ := names["kind"].(string)
			if scope, _ := spec["scope"].(string); kind != "" {
				cluster[group+"/"+kind] = scope == "Cluster"
			}
		}
	}
	return func(group, kind string) bool { return !cluster[group+"/"+kind] }
}

// NeedsWholeSet reports whether a finding judges an object by what the rest of the rendered set holds — a namespace
// that no object of the set creates — and so may be false when part of the tree failed to render.
func NeedsWholeSet(f Finding) bool {
	return f.Rule == "policy/namespace-unknown" && strings.HasPrefix(f.Message, unknownNamespacePrefix)
}

// unknownNamespacePrefix begins the namespace-unknown finding of a namespace the set does not create.
const unknownNamespacePrefix = "namespace "

func namespaceUnknown(objs []Object, o PolicyOptions) Findings {
	known := map[string]bool{}
	for _, ns := range append(slices.Clone(builtinNamespaces), o.ExternalNamespaces...) {
		known[ns] = true
	}
	for _, obj := range objs {
		if obj.ID.Group == "" && obj.ID.Kind == "Namespace" {
			known[obj.ID.Name] = true
		}
	}
	namespaced := Namespaced(objs, o.ClusterScopedKinds...)
	var out Findings
	for _, obj := range objs {
		if ns := obj.ID.Namespace; ns != "" && !namespaced(obj.ID.Group, obj.ID.Kind) {
			out = append(out, finding(obj, "metadata.namespace", "%s is cluster-scoped: the API server ignores its metadata.namespace %q; remove it", obj.ID.Kind, ns))
		} else if ns != "" && !known[ns] {
			out = append(out, finding(obj, "metadata.namespace", unknownNamespacePrefix+"%q is neither in the set nor declared external (--external-namespace %s)", ns, ns))
		}
	}
	return out
}
