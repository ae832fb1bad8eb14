package schema_test

import (
	"context"
	"testing"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/schema"
)

// FuzzValidate feeds the validator what a tree gives it, CRDs included: objects and CustomResourceDefinitions
// with any schema (patterns, CEL rules, defaults, nested composition). It must neither panic nor run away, and
// every finding must name its rule.
func FuzzValidate(f *testing.F) {
	for _, seed := range []string{
		deployment,
		widgetCRD + "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n",
		checkedCRD + "---\n" + goodGizmo,
		fluxSet, argoSet, gatewaySet, certManagerSet,
		"apiVersion: helm.toolkit.fluxcd.io/v2beta1\nkind: HelmRelease\nmetadata: {name: a}\nspec: {interval: ${i}}\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {rules: [{backendRefs: [null, {name: x}]}]}\n",
	} {
		f.Add([]byte(seed))
	}
	v, err := schema.NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, _ := build.DecodeManifests("f.yaml", data)
		for _, finding := range v.Validate(context.Background(), objs) {
			if finding.Rule == "" || finding.Message == "" {
				t.Errorf("finding without rule or message: %+v", finding)
			}
		}
	})
}
