//go:build kms

package sign

// The cloud KMS providers register their URI schemes (awskms://, gcpkms://, azurekms://, hashivault://) with
// sigstore's kms package when they are linked. They bring the AWS, Google Cloud, Azure and Vault SDKs with them,
// which nearly doubles the binary, so only a build with the kms tag links them: `go build -tags kms`.
import (
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
)
