package cli

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// ciWiring says, for every flag of `statepack publish`, what carries it in the GitHub Action and in the Tekton
// Task: "input NAME" (an input of action.yml), "param NAME" or "workspace NAME" (of tekton/statepack.yaml, whose
// script then passes --FLAG), or "n/a: WHY" when it does not apply there or another input carries it. A publish
// flag missing here fails TestCIWiring: a new flag gets wired, or a stated reason.
var ciWiring = map[string]struct{ action, tekton string }{
	"allow":                                {"input allow", "param ALLOW"},
	"allow-remote":                         {"n/a: a CI publish does not fetch remote bases; run `statepack publish --allow-remote` in a run step", "n/a: as the Action"},
	"annotation":                           {"input annotation", "param ANNOTATIONS"},
	"attest":                               {"input attest", "param ATTEST"},
	"chart-auth":                           {"input chart-auth", "param CHART_AUTH"},
	"chart-cache":                          {"input chart-cache", "workspace chart-cache"},
	"config":                               {"input config", "param CONFIG"},
	"crd-dir":                              {"input crd-dir", "param CRD_DIRS"},
	"digest-file":                          {"n/a: the digest output", "param IMAGE_DIGEST (a result: --digest-file)"},
	"docker-config":                        {"n/a: registry-username and registry-password, else the Docker config in HOME", "n/a: the dockerconfig workspace, exported as DOCKER_CONFIG"},
	"external-namespace":                   {"input external-namespace", "param EXTERNAL_NAMESPACES"},
	"fulcio-root":                          {"n/a: keyless signing in Actions uses public Sigstore", "n/a: a private Fulcio's CA is not wired yet (SIGSTORE_ROOT_FILE in the image works)"},
	"fulcio-url":                           {"n/a: public Sigstore", "param FULCIO_URL"},
	"helm":                                 {"input helm", "param HELM"},
	"identity-token":                       {"n/a: GitHub's own OIDC token (sign: keyless)", "n/a: the identity-token workspace, as --identity-token-file"},
	"identity-token-file":                  {"n/a: GitHub's own OIDC token (sign: keyless)", "workspace identity-token"},
	"ignore-paths":                         {"input ignore-paths", "param IGNORE_PATHS"},
	"image-certificate-identity":           {"input image-certificate-identity", "n/a: IMAGE_CERTIFICATE_IDENTITY_REGEXP with ^…$ says the same"},
	"image-certificate-identity-regexp":    {"input image-certificate-identity-regexp", "param IMAGE_CERTIFICATE_IDENTITY_REGEXP"},
	"image-certificate-oidc-issuer":        {"input image-certificate-oidc-issuer", "param IMAGE_CERTIFICATE_OIDC_ISSUER"},
	"image-certificate-oidc-issuer-regexp": {"input image-certificate-oidc-issuer-regexp", "n/a: IMAGE_CERTIFICATE_OIDC_ISSUER names the one issuer"},
	"image-fulcio-root":                    {"n/a: image signatures from public Sigstore", "n/a: as the Action"},
	"image-insecure-ignore-sct":            {"n/a: weakens verification; the CLI only", "n/a: as the Action"},
	"image-insecure-ignore-tlog":           {"n/a: weakens verification; the CLI only", "n/a: as the Action"},
	"image-jobs":                           {"n/a: tuning; the default", "n/a: as the Action"},
	"image-key":                            {"input image-key", "param IMAGE_KEYS"},
	"image-trusted-root":                   {"n/a: image signatures from public Sigstore", "n/a: as the Action"},
	"immutable-tags":                       {"input immutable-tags", "param IMMUTABLE_TAGS"},
	"incremental":                          {"n/a: the Action renders and validates first, for its annotations; unchanged content is reported as such", "param INCREMENTAL"},
	"insecure-skip-sct":                    {"n/a: keyless signing in Actions uses public Sigstore, which has CT", "n/a: a private Fulcio without CT log is not wired yet"},
	"insecure-registry":                    {"n/a: plain-http, or a registry with a trusted certificate", "n/a: PLAIN_HTTP, or a registry with a trusted certificate"},
	"jobs":                                 {"n/a: the runner's CPUs", "n/a: no config"},
	"key":                                  {"input key", "workspace signing-key"},
	"keyless":                              {"n/a: sign: keyless", "n/a: SIGN=keyless, as --identity-token-file"},
	"kubernetes-version":                   {"input kubernetes-version", "param KUBERNETES_VERSION"},
	"layer-media-type":                     {"input layer-media-type", "param LAYER_MEDIA_TYPE"},
	"load-restrictor":                      {"input load-restrictor", "param LOAD_RESTRICTOR"},
	"max-file-size":                        {"n/a: the default (32 MiB); the CLI raises it", "n/a: as the Action"},
	"offline":                              {"input offline", "param OFFLINE"},
	"password-stdin":                       {"n/a: registry-password, handed over as a value", "n/a: the dockerconfig workspace"},
	"pin-images":                           {"input pin-images", "param PIN_IMAGES"},
	"plain-http":                           {"input plain-http", "param PLAIN_HTTP"},
	"ref-file":                             {"n/a: the ref output", "param IMAGE_URL (a result: --ref-file)"},
	"rekor-url":                            {"n/a: public Sigstore", "param REKOR_URL"},
	"request-timeout":                      {"n/a: the default", "n/a: the default"},
	"root":                                 {"n/a: the checkout (the git work tree holding path)", "n/a: the source workspace"},
	"schema-cache":                         {"n/a: crd-dir", "n/a: CRD_DIRS"},
	"shard":                                {"input shard", "n/a: no config"},
	"signature-format":                     {"input signature-format", "param SIGNATURE_FORMAT"},
	"strict":                               {"input strict", "param STRICT"},
	"builtin-crds":                         {"input builtin-crds", "param BUILTIN_CRDS"},
	"substitute":                           {"input substitute", "param SUBSTITUTE"},
	"substitute-from":                      {"input substitute-from", "param SUBSTITUTE_FROM"},
	"substitute-strict":                    {"input substitute-strict", "param SUBSTITUTE_STRICT"},
	"tag":                                  {"input tags", "param TAGS"},
	"target":                               {"input targets", "param TARGET (one a TaskRun: a Pipeline's matrix over statepack-targets' TARGETS)"},
	"timeout":                              {"n/a: the action's own bound (10m), and the job's timeout-minutes", "n/a: the TaskRun's timeout"},
	"tlog-upload":                          {"n/a: on for keyless, off for keys, as Flux verifies", "n/a: as the Action"},
	"trusted-root":                         {"n/a: public Sigstore", "n/a: a private Sigstore is not wired yet"},
	"username":                             {"input registry-username", "n/a: the dockerconfig workspace"},
	"verify-images":                        {"input verify-images", "n/a: IMAGE_KEYS or the IMAGE_CERTIFICATE_* params imply it"},
}

// TestCIWiring: every flag of `statepack publish` is reachable from the Action (an input of action.yml) and from
// the Tekton Task (a param or workspace whose script passes the flag), or says why not; an entry for a flag publish
// no longer has is stale.
func TestCIWiring(t *testing.T) {
	t.Parallel()
	var task struct {
		Spec struct {
			Params     []struct{ Name string }
			Workspaces []struct{ Name string }
			Results    []struct{ Name string }
			Steps      []struct{ Script string }
		}
	}
	readYAML(t, "../../tekton/statepack.yaml", &task)
	if len(task.Spec.Steps) != 1 {
		t.Fatalf("the Task has %d steps, want 1", len(task.Spec.Steps))
	}
	script := task.Spec.Steps[0].Script
	names := func(list []struct{ Name string }) []string {
		var out []string
		for _, e := range list {
			out = append(out, e.Name)
		}
		return out
	}
	params, workspaces, results := names(task.Spec.Params), names(task.Spec.Workspaces), names(task.Spec.Results)

	var flags []string
	newPublishCmd(&Env{}, &globalOptions{}).Flags().VisitAll(func(f *pflag.Flag) { flags = append(flags, f.Name) })
	for _, flag := range flags {
		w, ok := ciWiring[flag]
		if !ok {
			t.Errorf("publish --%s is in neither the Action nor the Tekton Task: add an input and a param (or say why not) in ciWiring", flag)
			continue
		}
		if kind, name, _ := strings.Cut(w.action, " "); kind == "input" && !slices.Contains(actionInputs, name) {
			t.Errorf("publish --%s: the Action has no input %s", flag, name)
		} else if kind != "input" && !strings.HasPrefix(w.action, "n/a: ") {
			t.Errorf("publish --%s: Action wiring %q is neither \"input NAME\" nor \"n/a: WHY\"", flag, w.action)
		}
		kind, name, _ := strings.Cut(w.tekton, " ")
		name, _, _ = strings.Cut(name, " ")
		var known []string
		switch kind {
		case "param":
			known = append(params, results...)
		case "workspace":
			known = workspaces
		default:
			if !strings.HasPrefix(w.tekton, "n/a: ") {
				t.Errorf("publish --%s: Tekton wiring %q is neither \"param NAME\", \"workspace NAME\" nor \"n/a: WHY\"", flag, w.tekton)
			}
			continue
		}
		if !slices.Contains(known, name) {
			t.Errorf("publish --%s: the Task has no %s %s", flag, kind, name)
		}
		if !regexp.MustCompile(`--` + regexp.QuoteMeta(flag) + `[ =;"\n]`).MatchString(script) {
			t.Errorf("publish --%s: the Task's script never passes it (wired to %s %s)", flag, kind, name)
		}
	}
	for flag := range ciWiring {
		if !slices.Contains(flags, flag) {
			t.Errorf("ciWiring lists --%s, which publish does not have: remove it", flag)
		}
	}
}
