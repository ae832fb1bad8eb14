package build

// RenderRules are the rules of findings that mean the tree cannot be rendered, or may not be by a rule of the house:
// YAML or JSON that does not parse, a document that is not an object, a file that cannot be read or lies outside the
// source root, a kustomization kustomize refuses or that reaches the network without --allow-remote, a Helm release
// that cannot be pinned or rendered. No --allow turns them off: there would be nothing sound to package. Nor does it
// turn off an image that fails to resolve or the trust policy (image/…): the policy's rules say which images are
// skipped, with a reason.
var RenderRules = []string{"yaml/syntax", "json/syntax", "object/not-a-mapping", "object/not-an-object", "source/helm-chart", "source/outside-root",
	"source/not-regular", "source/unreadable", "source/too-large", "kustomize/build", "kustomize/remote-base",
	"kustomize/unchecked-configs", "kustomize/helm-chart", "helm/release", "image/unresolved", "image/unverified"}

// StructuralRules are the rules of the structural checks (Structural): each can be turned off with --allow.
var StructuralRules = []string{"object/missing-apiversion", "object/invalid-apiversion", "object/missing-kind",
	"object/missing-metadata", "object/invalid-metadata", "object/generate-name", "object/missing-name",
	"object/invalid-name", "object/invalid-namespace", "object/invalid-label", "object/invalid-annotation",
	"object/invalid-quantity", "object/invalid-image", "object/duplicate"}
