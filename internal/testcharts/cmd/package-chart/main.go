// Command package-chart packages a chart directory as `helm package` does into DIR and writes DIR/index.yaml for
// the repository URL, as `helm repo index` does: the chart repository of scripts/bench-helm.sh, without a helm
// binary. For benchmarks only.
package main

import (
	"fmt"
	"os"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	repo "helm.sh/helm/v4/pkg/repo/v1"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: package-chart CHART-DIR REPO-DIR URL")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "package-chart:", err)
		os.Exit(1)
	}
}

func run(chartDir, repoDir, url string) error {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return err
	}
	if _, err := chartutil.Save(ch, repoDir); err != nil {
		return err
	}
	idx, err := repo.IndexDirectory(repoDir, url)
	if err != nil {
		return err
	}
	return idx.WriteFile(repoDir+"/index.yaml", 0o644)
}
