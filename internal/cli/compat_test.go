package cli

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/sign"
)

// TestCosignInterop checks statepack's artifacts and signatures against cosign's own library, both ways, through
// the CLI: what statepack signs verifies with cosign.VerifyImageSignatures (what Flux, Kyverno and policy-controller
// build on), and what cosign signs on a statepack artifact verifies with `statepack verify`.
func TestCosignInterop(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	ctx := context.Background()
	key, pub := keyPair(t, "pw")
	env := map[string]string{"COSIGN_PASSWORD": "pw"}
	ropts := []ociremote.Option{ociremote.WithRemoteOptions(ggcrremote.WithTransport(http.DefaultTransport), ggcrremote.WithContext(ctx))}
	pubKey, err := sign.LoadVerifiers(ctx, pub)
	if err != nil {
		t.Fatal(err)
	}
	checkOpts := &cosign.CheckOpts{SigVerifier: pubKey[0], IgnoreTlog: true, ClaimVerifier: cosign.SimpleClaimVerifier, RegistryClientOpts: ropts}

	t.Run("cosign verifies what statepack signed", func(t *testing.T) {
		r := mustRun(t, 0, env, "publish", demoTree, reg.Host+"/interop/statepack:v1", "--key", key)
		d, err := name.NewDigest(strings.TrimSpace(r.stdout), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		sigs, _, err := cosign.VerifyImageSignatures(ctx, d, checkOpts)
		if err != nil || len(sigs) != 1 {
			t.Fatalf("cosign.VerifyImageSignatures = %d, %v; want 1 signature", len(sigs), err)
		}
	})

	t.Run("statepack verifies what cosign signed", func(t *testing.T) {
		r := mustRun(t, 0, nil, "publish", demoTree, reg.Host+"/interop/cosign:v1")
		d, err := name.NewDigest(strings.TrimSpace(r.stdout), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		mustRun(t, 1, nil, "verify", reg.Host+"/interop/cosign:v1", "--key", pub) // not signed yet

		priv, err := os.ReadFile(key)
		if err != nil {
			t.Fatal(err)
		}
		sv, err := cosign.LoadPrivateKey(priv, []byte("pw"), nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := payload.Cosign{Image: d}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := sv.SignMessage(strings.NewReader(string(p)))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := static.NewSignature(p, base64.StdEncoding.EncodeToString(raw))
		if err != nil {
			t.Fatal(err)
		}
		se, err := mutate.AttachSignatureToEntity(ociremote.SignedUnknown(d, ropts...), sig)
		if err != nil {
			t.Fatal(err)
		}
		if err := ociremote.WriteSignatures(d.Repository, se, ropts...); err != nil {
			t.Fatal(err)
		}
		v := mustRun(t, 0, nil, "verify", reg.Host+"/interop/cosign:v1", "--key", pub)
		if !strings.Contains(v.stdout, d.DigestStr()) {
			t.Errorf("verify stdout = %q", v.stdout)
		}
		mustRun(t, 0, nil, "pull", reg.Host+"/interop/cosign:v1", "--key", pub, "-o", filepath.Join(t.TempDir(), "out"))
	})
}

// TestCorpusPublishes publishes every corpus tree to the registry and checks a Flux-style pull yields exactly the
// rendered objects.
func TestCorpusPublishes(t *testing.T) {
	t.Parallel()
	root := corpus(t, ".")
	reg := testregistry.Start(t)
	for i, p := range []string{
		"flux2-kustomize-helm-example/apps/staging",
		"flux2-kustomize-helm-example/infrastructure/controllers",
		"flux2-kustomize-helm-example/clusters/production",
		"microservices-demo-kustomize",
		"microservices-demo-kustomize/tests/service-mesh-istio-with-all-components",
	} {
		t.Run(p, func(t *testing.T) {
			repo := "corpus/tree" + string(rune('a'+i))
			path := filepath.Join(root, p)
			// The Flux example's chart repositories are on the internet: its releases are published as written.
			mustRun(t, 0, nil, "publish", path, reg.Host+"/"+repo+":v1", "--root", root, "--helm", "off")
			m, files := fluxPull(t, reg.Host, repo, "v1")
			if problems := argoCDAccepts(m); len(problems) > 0 {
				t.Errorf("Argo CD would refuse: %v", problems)
			}
			r := mustRun(t, 0, nil, "render", path, "--root", root, "--helm", "off")
			want := strings.Split(r.stdout, "---\n")
			slices.Sort(want)
			if got := sortedValues(files); !slices.Equal(got, want) {
				t.Errorf("pulled %d files, rendered %d objects; the contents differ", len(got), len(want))
			}
		})
	}
}
