package build

import (
	"regexp"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

// FuzzIsQuantity checks isQuantity against the API server's own parser: every quantity the API server accepts is
// accepted here (a valid tree is never refused). The parser also refuses a few forms the grammar lets through
// (an empty number before Pi or Ei, say), which then reach the API server unflagged; TestIsQuantity lists the
// mistakes people make, and those are all caught.
func FuzzIsQuantity(f *testing.F) {
	for _, s := range []string{"1", "1.5", "1.5.0", "500m", "128Mi", "2Gi", "1e3", "1E-3", "+1", "-1", ".5", "5.", "", "1 Gi", "Gi", "1Ki5", "0x10", "1e", "1.5e3Mi", "n", "Ei"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if hugeExponent.MatchString(s) {
			t.Skip("the API server's parser takes minutes over an exponent of many digits")
		}
		if _, err := resource.ParseQuantity(s); err == nil && !isQuantity(s) {
			t.Fatalf("isQuantity(%q) = false, but the API server's parser accepts it", s)
		}
	})
}

var hugeExponent = regexp.MustCompile(`[eE][+-]?[0-9]{5,}`)

func TestIsQuantity(t *testing.T) {
	for _, s := range []string{"1.5.0", "1 Gi", "1GB", "2gi", "100 m", "0x10", "1e", "1Ki5", "", "one", "1,5", "10%"} {
		if _, err := resource.ParseQuantity(s); err == nil {
			t.Errorf("the API server's parser accepts %q: it does not belong in this list", s)
		}
		if isQuantity(s) {
			t.Errorf("isQuantity(%q) = true, want false", s)
		}
	}
	for _, s := range []string{"1", "1.5", "500m", "128Mi", "2Gi", "1e3", "1E-3", "+1", ".5", "5.", "100n", "3u", "1.5k"} {
		if !isQuantity(s) {
			t.Errorf("isQuantity(%q) = false, want true", s)
		}
	}
}
