package schema

import "testing"

// BenchmarkReadCatalog measures the one-time cost of loading an embedded Kubernetes schema.
func BenchmarkReadCatalog(b *testing.B) {
	for b.Loop() {
		if _, err := readCatalog(DefaultKubernetesVersion); err != nil {
			b.Fatal(err)
		}
	}
}
