package sign

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestKMSRedactError checks what is left of a KMS provider's error once credentials are cut out of it.
func TestKMSRedactError(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "hvs.CAESIJ-vault-token")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_SESSION_TOKEN", "")      // unset values cut nothing
	t.Setenv("AZURE_CLIENT_SECRET", "abc") // too short to be a credential: would cut letters out of words
	for _, tc := range []struct {
		name, ref, msg, want string
	}{
		{
			name: "nothing to redact",
			ref:  "awskms:///alias/statepack",
			msg:  `invalid awskms format "awskms:///alias/statepack"`,
			want: `invalid awskms format "awskms:///alias/statepack"`,
		},
		{
			name: "the reference repeated with a password",
			ref:  "awskms://AKIA:secretkey@localhost:4566/alias/x",
			msg:  `invalid awskms format "awskms://AKIA:secretkey@localhost:4566/alias/x"`,
			want: `invalid awskms format "awskms://AKIA:xxxxx@localhost:4566/alias/x"`,
		},
		{
			name: "a URL with a password",
			msg:  `Get "http://statepack:pw123@127.0.0.1:8200/v1/transit/keys/k": connection refused`,
			want: `Get "http://statepack:xxxxx@127.0.0.1:8200/v1/transit/keys/k": connection refused`,
		},
		{
			name: "a URL with a token as user name",
			msg:  "fetching https://ghp_token0123@vault.example/v1/x failed",
			want: "fetching https://xxxxx@vault.example/v1/x failed",
		},
		{
			name: "a signed URL",
			msg:  "GET https://kms.example/key?X-Amz-Signature=abcdef&X-Amz-Credential=AKIA%2F: 403",
			want: "GET https://kms.example/key?X-Amz-Credential=xxxxx&X-Amz-Signature=xxxxx: 403",
		},
		{
			name: "credential variables",
			msg:  "token hvs.CAESIJ-vault-token denied; secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY invalid; abc stays",
			want: "token [REDACTED] denied; secret [REDACTED] invalid; abc stays",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := redactError(errors.New(tc.msg), tc.ref)
			if err.Error() != tc.want {
				t.Errorf("redactError(%q) =\n%s\nwant\n%s", tc.msg, err, tc.want)
			}
		})
	}
}

// TestKMSRedactErrorKeepsSentinels checks that a redacted error still says that its context ended, and never
// unwraps to the original, whose message holds the credential.
func TestKMSRedactErrorKeepsSentinels(t *testing.T) {
	orig := fmt.Errorf("Post %q: %w", "https://u:pw@kms.example/", context.DeadlineExceeded)
	err := redactError(orig, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("redactError(%v) = %v, want errors.Is context.DeadlineExceeded", orig, err)
	}
	if errors.Unwrap(err) == orig {
		t.Errorf("redactError(%v) unwraps to the original error", orig)
	}
}
