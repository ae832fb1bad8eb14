package cli

import (
	"context"

	"github.com/statepack/statepack/sign"
)

// Keyless signing in the action: GitHub's OIDC token for the audience "sigstore", then a certificate from public
// Sigstore's Fulcio, the signature recorded in Rekor, as `cosign sign` does in a workflow. This file is what wires it:
// without it, sign: keyless says it is not available in this build.
func init() {
	loadKeylessSigner = actionKeylessSigner
}

// actionKeylessOptions point keyless signing at another Sigstore than the public one: tests set them.
var actionKeylessOptions []sign.KeylessOption

func actionKeylessSigner(ctx context.Context, a *actionRun) (*sign.Signer, error) {
	token, err := sign.GitHubActionsToken(ctx, a.env.getenv("ACTIONS_ID_TOKEN_REQUEST_URL"),
		a.env.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"), sign.DefaultAudience)
	if err != nil {
		return nil, err
	}
	a.gh.Mask(token)
	return sign.LoadKeylessSigner(ctx, token, actionKeylessOptions...)
}
