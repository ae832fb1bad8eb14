//go:build kms

package sign_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature/kms"

	"github.com/statepack/statepack/sign"
)

// TestKMSProvidersRegistered checks that a build with the kms tag takes the four cloud schemes.
func TestKMSProvidersRegistered(t *testing.T) {
	got := kms.SupportedProviders()
	for _, scheme := range []string{"awskms://", "gcpkms://", "azurekms://", "hashivault://"} {
		if !slices.Contains(got, scheme) {
			t.Errorf("kms.SupportedProviders() = %q, want it to hold %s", got, scheme)
		}
	}
}

// TestKMSVaultUnreachable loads a Vault key through the real hashivault provider from a Vault that is not there: the
// error names the key, and neither the token nor the password in VAULT_ADDR.
func TestKMSVaultUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more: connecting is refused at once
	const token, password = "hvs.statepackTestToken0123456789", "vault-basic-auth-pw"
	t.Setenv("VAULT_ADDR", "http://statepack:"+password+"@"+addr)
	t.Setenv("VAULT_TOKEN", token)

	_, errSign := sign.LoadSigner(context.Background(), "hashivault://statepack", nil)
	_, errVerify := sign.LoadVerifiers(context.Background(), "hashivault://statepack")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errSign, "loading private key hashivault://statepack: getting its public key from the KMS: "},
		{errVerify, "loading public key hashivault://statepack: getting its public key from the KMS: "},
	} {
		if tc.err == nil || !strings.HasPrefix(tc.err.Error(), tc.want) {
			t.Errorf("loading hashivault://statepack with no Vault = %v, want an error starting %q", tc.err, tc.want)
			continue
		}
		for _, secret := range []string{token, password} {
			if strings.Contains(tc.err.Error(), secret) {
				t.Errorf("error %q contains a credential", tc.err)
			}
		}
	}
}

// TestKMSVaultNotConfigured checks the hashivault provider's own message for a missing VAULT_ADDR reaches the user.
func TestKMSVaultNotConfigured(t *testing.T) {
	t.Setenv("VAULT_ADDR", "")
	_, err := sign.LoadSigner(context.Background(), "hashivault://statepack", nil)
	if want := "loading private key hashivault://statepack: VAULT_ADDR is not set"; err == nil || err.Error() != want {
		t.Errorf("LoadSigner(hashivault://statepack) = %v, want %q", err, want)
	}
}
