package sign

import (
	"errors"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// ErrPublicTrustedRoot is what reaching for public Sigstore's trusted root gives in this package's tests: they run
// offline, so a test that forgets to give its own trust material fails with this error instead of waiting on TUF.
var ErrPublicTrustedRoot = errors.New("test: public Sigstore's trusted root is out of reach offline")

func init() {
	publicTrustedRoot = func() (root.TrustedMaterial, error) { return nil, ErrPublicTrustedRoot }
}
