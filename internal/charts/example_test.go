package charts_test

import (
	"fmt"

	"github.com/statepack/statepack/internal/charts"
)

// A lock is what `statepack lock` writes beside the tree: one entry per request, sorted, whatever the order the
// requests were resolved in.
func ExampleNewLock() {
	const d1 = "sha256:64a06c191c06aab256b1cce720ec885884d99d9b77f3eabedee62208b70a92aa"
	const d2 = "sha256:7255c56a72941d715634286ff13d7d4d2f4fbe416ae7361a898230ddc51954cb"
	lock := charts.NewLock(map[charts.Request]charts.Pin{
		{Repository: "oci://ghcr.io/stefanprodan/charts", Name: "podinfo", Version: "6.x", Declared: "apps/a.yaml"}: {
			Repository: "oci://ghcr.io/stefanprodan/charts", Name: "podinfo", Version: "6.14.1", Digest: d2,
			URL: "oci://ghcr.io/stefanprodan/charts/podinfo@" + d2,
		},
		{Repository: "https://stefanprodan.github.io/podinfo/", Name: "podinfo", Version: ">=1.0.0-alpha"}: {
			Repository: "https://stefanprodan.github.io/podinfo", Name: "podinfo", Version: "6.14.1", Digest: d1,
			URL: "https://stefanprodan.github.io/podinfo/podinfo-6.14.1.tgz",
		},
	})
	fmt.Print(string(lock.Marshal()))
	// Output:
	// # Chart pins for this tree, written by `statepack lock`: commit this file.
	// apiVersion: statepack.dev/v1
	// kind: Lock
	// charts:
	//   - repository: https://stefanprodan.github.io/podinfo
	//     name: podinfo
	//     constraint: '>=1.0.0-alpha'
	//     version: 6.14.1
	//     digest: sha256:64a06c191c06aab256b1cce720ec885884d99d9b77f3eabedee62208b70a92aa
	//     url: https://stefanprodan.github.io/podinfo/podinfo-6.14.1.tgz
	//   - repository: oci://ghcr.io/stefanprodan/charts
	//     name: podinfo
	//     constraint: 6.x
	//     version: 6.14.1
	//     digest: sha256:7255c56a72941d715634286ff13d7d4d2f4fbe416ae7361a898230ddc51954cb
	//     url: oci://ghcr.io/stefanprodan/charts/podinfo@sha256:7255c56a72941d715634286ff13d7d4d2f4fbe416ae7361a898230ddc51954cb
}
