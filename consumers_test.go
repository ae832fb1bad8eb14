package statepack

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/internal/testsigstore"
	"github.com/statepack/statepack/publish"
	"github.com/statepack/statepack/sign"
)

// memRegistry starts go-containerregistry's in-memory registry, with or without the OCI 1.1 referrers API, and
// returns the name of a repository in it.
func memRegistry(t testing.TB, referrersAPI bool) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(referrersAPI), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://") + "/statepack/consumers"
}

// TestConsumers publishes real artifacts — signed in the legacy format, as a sigstore bundle, in both, by the
// trusted key with another key's bundle beside, unsigned, and with Flux's layer type — to a registry with the
// referrers API, one without it, Debian's docker-registry 2.8 and an OCI layout, and checks every consumer's verdict
// with the trusted key.
//
// Kyverno's SigstoreBundle verifier refuses everything here, as it takes no public key; what it would find differs
// by registry: go-containerregistry's registry reports a referrer's config media type as its artifact type through
// the referrers API, so Kyverno finds no bundle there, while the referrers tag oras-go writes, and a layout's index,
// carry the bundle's artifact type.
func TestConsumers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key, pub := keyPair(t)
	otherKey, _ := keyPair(t)
	v, err := NewVerifier(ctx, Policy{Keys: []string{pub}})
	if err != nil {
		t.Fatal(err)
	}
	type signing struct {
		key    string
		format sign.Format
	}
	const (
		A = Accepted
		R = Refused
		U = AcceptedUnverified
	)
	cases := []struct {
		name     string
		signings []signing
		layer    string
		// want lists the verdicts in the order of the consumers: Flux ≥ 2.8, Flux < 2.8, cosign v2, cosign v3,
		// Kyverno Cosign, Kyverno SigstoreBundle, policy-controller, Argo CD.
		want []Verdict
		// reasons are parts of the reasons that must appear, by consumer.
		reasons map[Consumer]string
		bundles bool // whether a bundle refers to the artifact, for what Kyverno finds
	}{
		{
			name: "legacy", signings: []signing{{key, sign.FormatLegacy}},
			want:    []Verdict{A, A, A, A, A, R, A, U},
			reasons: map[Consumer]string{ConsumerFlux: "no sigstore bundle refers to it, so it reads the .sig, which verifies (key " + pub + ")"},
		},
		{
			name: "bundle", signings: []signing{{key, sign.FormatBundle}}, bundles: true,
			want: []Verdict{A, R, A, A, R, R, R, U},
			reasons: map[Consumer]string{
				ConsumerFlux:       "it reads the sigstore bundles, and one verifies",
				ConsumerFluxLegacy: "no .sig tag: it reads cosign's legacy signatures only, and the artifact has only 1 sigstore bundle",
				ConsumerCosignV2:   "--trusted-root",
			},
		},
		{
			name: "both", signings: []signing{{key, sign.FormatBoth}}, bundles: true,
			want:    []Verdict{A, A, A, A, A, R, A, U},
			reasons: map[Consumer]string{ConsumerKyvernoCosign: "the .sig verifies (key " + pub + "); it does not read the 1 sigstore bundle"},
		},
		{
			name: "mixed", signings: []signing{{key, sign.FormatLegacy}, {otherKey, sign.FormatBundle}}, bundles: true,
			want: []Verdict{R, A, R, R, A, R, A, U},
			reasons: map[Consumer]string{
				ConsumerFlux:     "1 sigstore bundle refers to it and none verifies with the keys or identities given; with bundles present it does not read the .sig, which does verify",
				ConsumerCosignV3: "with bundles present it does not read the .sig",
			},
		},
		{
			name: "unsigned",
			want: []Verdict{R, R, R, R, R, R, R, U},
			reasons: map[Consumer]string{
				ConsumerFlux:          "unsigned: no sigstore bundle refers to it and it has no .sig tag",
				ConsumerFluxLegacy:    "unsigned: it has no .sig tag",
				ConsumerKyvernoBundle: "no sigstore bundle refers to it",
			},
		},
		{
			name: "flux layer", signings: []signing{{key, sign.FormatLegacy}}, layer: build.FluxLayerMediaType,
			want:    []Verdict{A, A, A, A, A, R, A, R},
			reasons: map[Consumer]string{ConsumerArgoCD: "its layer type " + build.FluxLayerMediaType + " is not in the repo server's default allow-list"},
		},
	}
	targets := []struct {
		name, repo string
		listing    publish.ReferrerListing
		// finds is what Kyverno's SigstoreBundle verifier says when a bundle refers to the artifact.
		finds string
	}{
		{"referrers API", memRegistry(t, true), publish.ReferrersAPI, `it finds no bundle: the referrers API lists the referrers with artifact type "application/vnd.oci.empty.v1+json"`},
		{"no referrers API", memRegistry(t, false), publish.ReferrersTag, "it finds 1 bundle through the referrers tag"},
		// Debian's docker-registry 2.8 has no referrers API either; Kyverno follows the referrers tag there too, and
		// the one oras-go writes lists the bundle with its artifact type.
		{"docker-registry", testregistry.Start(t).Host + "/statepack/consumers", publish.ReferrersTag, "it finds 1 bundle through the referrers tag"},
		{"OCI layout", "oci:" + filepath.Join(t.TempDir(), "layout"), publish.LayoutIndex, "it finds 1 bundle through the layout index"},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				tag := strings.ReplaceAll(tc.name, " ", "-")
				ref := mustRef(t, tg.repo+":"+tag)
				publishWith := func(keyFile string, format sign.Format) {
					t.Helper()
					o := PublishOptions{SignatureFormat: format, Package: PackageOptions{LayerMediaType: tc.layer, Annotations: map[string]string{"case": tc.name}}}
					if keyFile != "" {
						signer, err := sign.LoadSigner(ctx, keyFile, nil)
						if err != nil {
							t.Fatal(err)
						}
						o.Signer = signer
					}
					if _, err := Publish(ctx, demoTree, ref, o); err != nil {
						t.Fatal(err)
					}
				}
				if len(tc.signings) == 0 {
					publishWith("", "")
				}
				for _, s := range tc.signings {
					publishWith(s.key, s.format)
				}
				rep, err := Consumers(ctx, ref, v, ReadOptions{})
				if err != nil {
					t.Fatalf("Consumers(%s) = %v", tc.name, err)
				}
				if rep.Referrers != tg.listing {
					t.Errorf("Consumers(%s).Referrers = %q, want %q", tc.name, rep.Referrers, tg.listing)
				}
				if len(rep.Consumers) != len(tc.want) {
					t.Fatalf("Consumers(%s) gave %d verdicts, want %d", tc.name, len(rep.Consumers), len(tc.want))
				}
				for i, cv := range rep.Consumers {
					if cv.Verdict != tc.want[i] {
						t.Errorf("Consumers(%s): %s = %s (%s), want %s", tc.name, cv.Consumer, cv.Verdict, cv.Reason, tc.want[i])
					}
					if cv.Reason == "" || cv.Source == "" || cv.Name == "" {
						t.Errorf("Consumers(%s): %s has no reason, name or source: %+v", tc.name, cv.Consumer, cv)
					}
					if want, ok := tc.reasons[cv.Consumer]; ok && !strings.Contains(cv.Reason+" | "+cv.Requires, want) {
						t.Errorf("Consumers(%s): %s says %q (requires %q), want %q", tc.name, cv.Consumer, cv.Reason, cv.Requires, want)
					}
				}
				kb, _ := rep.Verdict(ConsumerKyvernoBundle)
				if !strings.HasPrefix(kb.Reason, "it verifies bundles against Sigstore's trusted root alone and takes no public key") ||
					tc.bundles && !strings.Contains(kb.Reason, tg.finds) {
					t.Errorf("Consumers(%s): Kyverno SigstoreBundle says %q, want the key refused and %q", tc.name, kb.Reason, tg.finds)
				}
			}
		})
	}
}

// TestConsumersKeyless signs keyless in both formats, against Fulcio's own code in-process with the log off, and
// checks the verdicts that differ from a key's: Kyverno's SigstoreBundle verifier takes the keyless bundle where it
// finds it (through the referrers tag oras-go writes, not through go-containerregistry's referrers API, which lists
// the config's media type), and policy-controller, whose keyless authorities require the log entry, refuses.
func TestConsumersKeyless(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ss := testsigstore.Start(t)
	wf := testsigstore.GitHubWorkflow{Repository: "acme/fleet", Path: ".github/workflows/publish.yaml", Ref: "refs/heads/main"}
	signer, err := sign.LoadKeylessSigner(ctx, ss.GitHubToken(t, wf), sign.WithFulcioURL(ss.FulcioURL), sign.WithFulcioRoots(ss.RootPEM()),
		sign.WithInsecureSkipSCT(true), sign.WithTlogUpload(false))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(ctx, Policy{Identity: wf.Identity(), Issuer: ss.GitHubIssuer, TrustedRoot: ss.TrustedRootJSON(t), IgnoreTlog: true, IgnoreSCT: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, repo string
		kyverno    Verdict
		reason     string
	}{
		{"referrers API", memRegistry(t, true), Refused, "it finds no bundle: the referrers API lists the referrers with artifact type"},
		{"no referrers API", memRegistry(t, false), Accepted, "it finds 1 bundle through the referrers tag, and one verifies (identity " + wf.Identity() + ")"},
	} {
		ref := mustRef(t, tc.repo+":main")
		if _, err := Publish(ctx, demoTree, ref, PublishOptions{Signer: signer, SignatureFormat: sign.FormatBoth}); err != nil {
			t.Fatal(err)
		}
		rep, err := Consumers(ctx, ref, v, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for c, want := range map[Consumer]Verdict{ConsumerFlux: Accepted, ConsumerFluxLegacy: Accepted, ConsumerKyvernoBundle: tc.kyverno, ConsumerPolicyController: Refused} {
			if got, _ := rep.Verdict(c); got.Verdict != want {
				t.Errorf("%s: Consumers(): %s = %s (%s), want %s", tc.name, c, got.Verdict, got.Reason, want)
			}
		}
		if kb, _ := rep.Verdict(ConsumerKyvernoBundle); !strings.Contains(kb.Reason, tc.reason) {
			t.Errorf("%s: Kyverno SigstoreBundle says %q, want %q", tc.name, kb.Reason, tc.reason)
		}
		if pc, _ := rep.Verdict(ConsumerPolicyController); !strings.Contains(pc.Reason, "the .sig verifies only with the transparency log ignored, and it requires the log entry") {
			t.Errorf("%s: policy-controller says %q, want the log entry required", tc.name, pc.Reason)
		}
	}
}
