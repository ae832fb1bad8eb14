package releases

import (
	"fmt"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/statepack/statepack/internal/third_party/kustomize/api/krusty"
)

// postRender applies a HelmRelease's spec.postRenderers to the release's manifests, as helm-controller's kustomize
// post-renderer does: the manifests as the one resource of an in-memory kustomization with the renderer's patches
// (patches, and the deprecated patchesStrategicMerge and patchesJson6902) and images, built with plugins off and
// files confined to that kustomization, one post-renderer after another. Helm hands a post-renderer the release's
// manifests only: hooks and crds/ files are not post-rendered.
func postRender(manifests string, renderers []any) (string, error) {
	for i, raw := range renderers {
		pr, _ := raw.(map[string]any)
		k, _ := pr["kustomize"].(map[string]any)
		if k == nil {
			return "", fmt.Errorf("spec.postRenderers[%d] has no kustomize: helm-controller runs only kustomize post-renderers", i)
		}
		kust := map[string]any{"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": []any{"resources.yaml"}}
		for _, field := range []string{"patches", "patchesStrategicMerge", "patchesJson6902", "images"} {
			if v, ok := k[field]; ok {
				kust[field] = v
			}
		}
		for field := range k {
			switch field {
			case "patches", "patchesStrategicMerge", "patchesJson6902", "images":
			default:
				return "", fmt.Errorf("spec.postRenderers[%d].kustomize.%s is not a field helm-controller reads (patches, images)", i, field)
			}
		}
		ky, err := yaml.Marshal(kust)
		if err != nil {
			return "", err
		}
		fs := filesys.MakeFsInMemory()
		if err := fs.WriteFile("/release/kustomization.yaml", ky); err != nil {
			return "", err
		}
		if err := fs.WriteFile("/release/resources.yaml", []byte(manifests)); err != nil {
			return "", err
		}
		opts := krusty.MakeDefaultOptions()
		opts.LoadRestrictions = types.LoadRestrictionsRootOnly
		opts.PluginConfig = types.DisabledPluginConfig()
		m, err := krusty.MakeKustomizer(opts).Run(fs, "/release")
		if err != nil {
			return "", fmt.Errorf("spec.postRenderers[%d]: %s", i, strings.ReplaceAll(err.Error(), "/release/", ""))
		}
		out, err := m.AsYaml()
		if err != nil {
			return "", fmt.Errorf("spec.postRenderers[%d]: %v", i, err)
		}
		manifests = string(out)
	}
	return manifests, nil
}
