//go:build !kms

package sign_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/statepack/statepack/sign"
)

// TestKMSWithoutProviders checks what a KMS reference gives in the default build, which links no cloud KMS
// provider: an error wrapping ErrUnsupported that names the kms build tag, never a credential from the reference.
func TestKMSWithoutProviders(t *testing.T) {
	const hint = "this statepack was built without the kms build tag; " +
		"build it with `go build -tags kms ./cmd/statepack` to use awskms://, gcpkms://, azurekms:// and hashivault:// keys"
	for _, tc := range []struct {
		ref, shown string
	}{
		{"awskms:///alias/statepack", "awskms:///alias/statepack"},
		{"awskms://localhost:4566/alias/statepack", "awskms://localhost:4566/alias/statepack"},
		{"gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k"},
		{"azurekms://statepack.vault.azure.net/signing", "azurekms://statepack.vault.azure.net/signing"},
		{"hashivault://statepack", "hashivault://statepack"},
		{"awskms://AKIAEXAMPLE:s3cr3t-access-key@localhost:4566/alias/statepack", "awskms://AKIAEXAMPLE:xxxxx@localhost:4566/alias/statepack"},
		{"hashivault://hvs.t0ken-in-the-uri@statepack", "hashivault://xxxxx@statepack"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			ctx := context.Background()
			_, err := sign.LoadSigner(ctx, tc.ref, []byte("pw"))
			if want := "loading private key " + tc.shown + ": KMS keys are not supported: " + hint; err == nil || err.Error() != want {
				t.Errorf("LoadSigner(%q) =\n%v\nwant\n%s", tc.ref, err, want)
			}
			if !errors.Is(err, sign.ErrUnsupported) {
				t.Errorf("LoadSigner(%q) = %v, want errors.Is ErrUnsupported", tc.ref, err)
			}
			_, verr := sign.LoadVerifiers(ctx, tc.ref)
			if want := "loading public key " + tc.shown + ": KMS keys are not supported: " + hint; verr == nil || verr.Error() != want {
				t.Errorf("LoadVerifiers(%q) =\n%v\nwant\n%s", tc.ref, verr, want)
			}
			if !errors.Is(verr, sign.ErrUnsupported) {
				t.Errorf("LoadVerifiers(%q) = %v, want errors.Is ErrUnsupported", tc.ref, verr)
			}
			for _, secret := range []string{"s3cr3t-access-key", "t0ken-in-the-uri"} {
				for _, e := range []error{err, verr} {
					if e != nil && strings.Contains(e.Error(), secret) {
						t.Errorf("error %q contains a credential", e)
					}
				}
			}
		})
	}
}
