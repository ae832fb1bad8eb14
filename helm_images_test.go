package statepack

import (
	"context"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testimages"
)

// TestImagesInCharts: the images a chart deploys go through the image stage like the tree's own — hydrated into the
// artifact, or rendered beside a release that stays (--helm=pin), where the artifact cannot be rewritten but the
// verdict still holds: an unsigned image in the chart fails the policy, named with the chart's object.
func TestImagesInCharts(t *testing.T) {
	t.Parallel()
	f := testimages.Start(t)
	policy := &ImagePolicy{Rules: []ImageRule{{Image: "*", Keys: []string{f.Pub}}}}
	for _, mode := range []string{HelmPin, HelmHydrate} {
		for _, tc := range []struct {
			image string
			fails bool
		}{{f.Ref(testimages.KeyLegacy), false}, {f.Ref(testimages.Unsigned), true}} {
			root := localChartTree(t, map[string]string{"charts/web/values.yaml": "replicas: 1\nimage: \"" + tc.image + "\"\nport: 8080\ncolour: blue\n"})
			s, err := Load(context.Background(), root+"/apps/web", LoadOptions{Root: root, Helm: HelmOptions{Mode: mode}})
			if err != nil || s.Findings.HasErrors() {
				t.Fatalf("%s: %v %v", mode, err, s.Findings)
			}
			report, err := CheckImages(context.Background(), s, ImageOptions{Policy: policy})
			if err != nil {
				t.Fatal(err)
			}
			if len(report.Images) != 1 || report.Images[0].Reference != tc.image {
				t.Fatalf("%s: images checked %+v, want the chart's %s", mode, report.Images, tc.image)
			}
			failed := len(report.Findings) > 0
			if failed != tc.fails {
				t.Errorf("%s, %s: findings %v, want failure %v", mode, tc.image, report.Findings, tc.fails)
			}
			if failed && !strings.Contains(report.Findings[0].Object.String(), "Deployment.apps/web/web") &&
				!strings.Contains(report.Findings[0].Object.String(), "Job.batch/web/web-migrate") {
				t.Errorf("%s: the finding names %v, not the chart's objects", mode, report.Findings[0].Object)
			}
		}
	}
}
