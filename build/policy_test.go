package build

import (
	"context"
	"strings"
	"testing"
)

func TestPolicies(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		opts     PolicyOptions
		wantRule string // "" for no finding
		wantMsg  string
		severity Severity
	}{
		{name: "clear-text secret", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\ndata: {password: aHVudGVyMg==}\n",
			wantRule: "policy/secret-not-encrypted", wantMsg: "data in clear text", severity: SeverityError},
		{name: "clear-text stringData", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\nstringData: {password: hunter2}\n",
			wantRule: "policy/secret-not-encrypted", wantMsg: "stringData in clear text", severity: SeverityError},
		{name: "SOPS-encrypted secret", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\ndata: {password: \"ENC[AES256_GCM,data:abc]\"}\nsops:\n  version: 3.9.0\n  mac: ENC[x]\n"},
		{name: "secret without data", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\ntype: kubernetes.io/service-account-token\n"},
		{name: "secret allowed", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: default}\ndata: {a: Yg==}\n",
			opts: PolicyOptions{Allow: []string{"secret-not-encrypted"}}},
		{name: "image without tag", in: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: default}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: nginx}]\n",
			wantRule: "policy/image-unpinned", wantMsg: `"nginx" has no tag`, severity: SeverityWarning},
		{name: "latest in a CronJob init container", in: "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c, namespace: default}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers: [{name: i, image: \"registry:5000/tools:latest\"}]\n          containers: [{name: a, image: \"registry:5000/app:1.0\"}]\n",
			wantRule: "policy/image-unpinned", wantMsg: `"registry:5000/tools:latest" is tagged latest`, severity: SeverityWarning},
		{name: "registry port is not a tag", in: "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers: [{name: a, image: \"registry:5000/app\"}]\n",
			wantRule: "policy/image-unpinned", wantMsg: "has no tag"},
		{name: "pinned by digest", in: "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}\nspec:\n  containers: [{name: a, image: \"nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000\"}]\n"},
		{name: "unknown namespace", in: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: team-a}\n",
			wantRule: "policy/namespace-unknown", wantMsg: `namespace "team-a"`, severity: SeverityWarning},
		{name: "namespace in the set", in: "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: team-a}\n"},
		{name: "external namespace", in: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: monitoring}\n",
			opts: PolicyOptions{ExternalNamespaces: []string{"monitoring"}}},
		{name: "TLS Secret with empty values", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: tls, namespace: default}\ntype: kubernetes.io/tls\ndata: {tls.crt: \"\", tls.key: \"\"}\n"},
		{name: "Secret generated from a SOPS-encrypted env file", in: "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: default}\nstringData: {PASSWORD: \"ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]\", sops_version: \"3.8.1\"}\n",
			wantRule: "policy/secret-not-encrypted", wantMsg: "generated from SOPS-encrypted inputs", severity: SeverityError},
		{name: "flux-system is known without a flag", in: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: flux-system}\n"},
		{name: "cluster-scoped kind with a namespace", in: "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r, namespace: team-a}\n",
			wantRule: "policy/namespace-unknown", wantMsg: `ClusterRole is cluster-scoped: the API server ignores its metadata.namespace "team-a"`, severity: SeverityWarning},
		{name: "cluster-scoped custom resource with a namespace", in: "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, scope: Cluster, names: {kind: Widget}}\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: default}\n",
			wantRule: "policy/namespace-unknown", wantMsg: "Widget is cluster-scoped", severity: SeverityWarning},
		{name: "a kind known to be cluster-scoped without its CRD", in: "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: le, namespace: default}\n",
			opts:     PolicyOptions{ClusterScopedKinds: []string{"cert-manager.io/ClusterIssuer"}},
			wantRule: "policy/namespace-unknown", wantMsg: "ClusterIssuer is cluster-scoped", severity: SeverityWarning},
		{name: "a CRD of the set overrides what is known of its kind", in: "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: clusterissuers.cert-manager.io}\nspec: {group: cert-manager.io, scope: Namespaced, names: {kind: ClusterIssuer}}\n---\napiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: le, namespace: default}\n",
			opts: PolicyOptions{ClusterScopedKinds: []string{"cert-manager.io/ClusterIssuer"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs, fs := decodeStream("f.yaml", []byte(tc.in))
			if len(fs) > 0 {
				t.Fatal(fs)
			}
			v, err := PolicyValidator(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := v.Validate(context.Background(), objs)
			if tc.wantRule == "" {
				if len(got) > 0 {
					t.Fatalf("policies = %v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].Rule != tc.wantRule || !strings.Contains(got[0].Message, tc.wantMsg) ||
				!strings.Contains(got[0].Message, "--allow "+strings.TrimPrefix(tc.wantRule, "policy/")) || got[0].File != "f.yaml" || got[0].Line == 0 {
				t.Fatalf("policies = %v, want one %s containing %q with how to turn it off", got, tc.wantRule, tc.wantMsg)
			}
			if tc.severity != SeverityWarning && got[0].Severity != tc.severity {
				t.Errorf("severity = %v, want %v", got[0].Severity, tc.severity)
			}
		})
	}
}

func TestPolicyValidatorRefusesUnknownIDs(t *testing.T) {
	if _, err := PolicyValidator(PolicyOptions{Allow: []string{"secret-not-encryptd"}}); err == nil || !strings.Contains(err.Error(), "secret-not-encrypted") {
		t.Errorf("PolicyValidator(typo) = %v, want an error listing the policies", err)
	}
}
