package sign_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrremote "github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/internal/testsigstore"
	"github.com/statepack/statepack/sign"
)

var (
	slsaPredicate = sign.Predicate{Type: sign.PredicateSLSAProvenanceV1, Value: map[string]any{
		"buildDefinition": map[string]any{"buildType": "https://statepack.dev/publish/v1", "externalParameters": map[string]any{}},
		"runDetails":      map[string]any{"builder": map[string]any{"id": "https://statepack.dev/builders/local@v1"}},
	}}
	inventoryPredicate = sign.Predicate{Type: sign.PredicateInventoryV1, Value: map[string]any{
		"objects": []any{map[string]any{"kind": "ConfigMap", "name": "a"}},
	}}
)

// attManifest reads the manifest under subject's .att tag.
func attManifest(t *testing.T, tg oras.ReadOnlyTarget, subject ocispec.Descriptor) (ocispec.Descriptor, ocispec.Manifest) {
	t.Helper()
	desc, raw, err := oras.FetchBytes(context.Background(), tg, sign.AttestationTag(subject.Digest), oras.DefaultFetchBytesOptions)
	if err != nil {
		t.Fatalf("fetching tag %s: %v", sign.AttestationTag(subject.Digest), err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return desc, m
}

func TestAttestVerify(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	ctx := context.Background()
	both := []string{sign.PredicateSLSAProvenanceV1, sign.PredicateInventoryV1}
	eachTarget(t, func(t *testing.T, tg target) {
		subject := pushArtifact(t, tg, t.Name())
		if _, err := loadSigner(t, a).Attest(ctx, tg, subject, tg.ref, []sign.Predicate{slsaPredicate, inventoryPredicate}); err != nil {
			t.Fatalf("Attest: %v", err)
		}
		desc, m := attManifest(t, tg, subject)
		if len(m.Layers) != 2 {
			t.Fatalf("attestation manifest has %d layers, want 2", len(m.Layers))
		}
		for i, l := range m.Layers {
			if l.MediaType != "application/vnd.dsse.envelope.v1+json" {
				t.Errorf("layer %d media type %q, want the DSSE envelope type", i, l.MediaType)
			}
			if got, want := l.Annotations["predicateType"], both[i]; got != want {
				t.Errorf("layer %d predicateType annotation %q, want %q", i, got, want)
			}
		}

		res, err := sign.VerifyAttestations(ctx, tg, subject, loadVerifiers(t, b, a), both)
		if err != nil {
			t.Fatalf("VerifyAttestations: %v", err)
		}
		if len(res.Verified) != 2 || res.Checked != 2 || res.Manifest.Digest != desc.Digest {
			t.Fatalf("VerifyAttestations = %+v, want 2 of 2 verified from %s", res, desc.Digest)
		}
		for i, v := range res.Verified {
			st := v.Statement
			if v.KeyIndex != 1 || st.PredicateType != both[i] || st.Type != "https://in-toto.io/Statement/v1" ||
				len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] != subject.Digest.Encoded() {
				t.Errorf("verified attestation %d = key %d, %+v; want key 1, a v1 statement of %s about %s", i, v.KeyIndex, st, both[i], subject.Digest)
			}
		}
		var inv struct {
			Objects []struct{ Kind, Name string }
		}
		if err := json.Unmarshal(res.Verified[1].Statement.Predicate, &inv); err != nil || len(inv.Objects) != 1 || inv.Objects[0].Name != "a" {
			t.Errorf("inventory predicate read back = %+v, %v", inv, err)
		}

		// Attesting the same statements again writes nothing; a new statement is appended, the old ones kept.
		if again, err := loadSigner(t, a).Attest(ctx, tg, subject, tg.ref, []sign.Predicate{slsaPredicate}); err != nil || again.Digest != desc.Digest {
			t.Errorf("Attest again = %s, %v; want the existing manifest %s", again.Digest, err, desc.Digest)
		}
		other := sign.Predicate{Type: sign.PredicateInventoryV1, Value: map[string]any{"objects": []any{}}}
		if _, err := loadSigner(t, b).Attest(ctx, tg, subject, tg.ref, []sign.Predicate{other}); err != nil {
			t.Fatal(err)
		}
		if _, m := attManifest(t, tg, subject); len(m.Layers) != 3 {
			t.Errorf("after a new statement the manifest has %d layers, want 3", len(m.Layers))
		}
		if _, err := sign.VerifyAttestations(ctx, tg, subject, loadVerifiers(t, a), both); err != nil {
			t.Errorf("VerifyAttestations with key A after key B appended: %v", err)
		}
	})
}

func TestVerifyAttestationsFailures(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	ctx := context.Background()
	tg := layoutTarget(t)
	subject := pushArtifact(t, tg, "subject")
	bare := pushArtifact(t, tg, "bare")
	moved := pushArtifact(t, tg, "moved")
	if _, err := loadSigner(t, a).Attest(ctx, tg, subject, tg.ref, []sign.Predicate{slsaPredicate}); err != nil {
		t.Fatal(err)
	}
	// moved's attestation tag names subject's attestations: a statement about other content.
	_, m := attManifest(t, tg, subject)
	raw, _ := json.Marshal(m)
	if _, err := oras.TagBytes(ctx, tg, m.MediaType, raw, sign.AttestationTag(moved.Digest)); err != nil {
		t.Fatal(err)
	}
	// tampered's attestation layer is subject's envelope with another statement in it, under its signature.
	tampered := pushArtifact(t, tg, "tampered")
	env, err := content.FetchAll(ctx, tg, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]any
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	stmt, err := sign.NewStatement(tg.ref, tampered.Digest, slsaPredicate)
	if err != nil {
		t.Fatal(err)
	}
	e["payload"] = stmt // marshals as base64, as the envelope wants
	forged, _ := json.Marshal(e)
	fd := content.NewDescriptorFromBytes(m.Layers[0].MediaType, forged)
	fd.Annotations = m.Layers[0].Annotations
	if err := tg.Push(ctx, fd, strings.NewReader(string(forged))); err != nil {
		t.Fatal(err)
	}
	fm := m
	fm.Layers = []ocispec.Descriptor{fd}
	raw, _ = json.Marshal(fm)
	if _, err := oras.TagBytes(ctx, tg, fm.MediaType, raw, sign.AttestationTag(tampered.Digest)); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		subject ocispec.Descriptor
		keys    []keyPair
		types   []string
		want    error
		msg     string
	}{
		{"no attestations", bare, []keyPair{a}, []string{sign.PredicateSLSAProvenanceV1}, sign.ErrNoAttestation, "has no tag sha256-"},
		{"type missing", subject, []keyPair{a}, []string{sign.PredicateInventoryV1}, sign.ErrNoAttestation, "holds none of that type"},
		{"wrong key", subject, []keyPair{b}, []string{sign.PredicateSLSAProvenanceV1}, sign.ErrVerification, "none verifies with the given key(s)"},
		{"statement about other content", moved, []keyPair{a}, []string{sign.PredicateSLSAProvenanceV1}, sign.ErrVerification, "its statement is about " + subject.Digest.String()},
		{"tampered statement", tampered, []keyPair{a}, []string{sign.PredicateSLSAProvenanceV1}, sign.ErrVerification, "statement was altered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sign.VerifyAttestations(ctx, tg, tc.subject, loadVerifiers(t, tc.keys...), tc.types)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("VerifyAttestations = %v; want %v saying %q", err, tc.want, tc.msg)
			}
		})
	}
	if !errors.Is(sign.ErrNoAttestation, sign.ErrNoSignature) {
		t.Error("ErrNoAttestation does not wrap ErrNoSignature: the CLI would not treat it as a verification failure")
	}
}

func TestKeylessAttest(t *testing.T) {
	t.Parallel()
	ss := testsigstore.Start(t)
	ctx := context.Background()
	tg := layoutTarget(t)
	subject := pushArtifact(t, tg, t.Name())
	if _, err := loadKeyless(t, ss, ss.GitHubToken(t, wfX)).Attest(ctx, tg, subject, tg.ref, []sign.Predicate{slsaPredicate}); err != nil {
		t.Fatalf("Attest: %v", err)
	}
	good := sign.Identity{Subject: wfX.Identity(), Issuer: ss.GitHubIssuer}
	res, err := sign.VerifyAttestations(ctx, tg, subject, nil, []string{sign.PredicateSLSAProvenanceV1}, offlineVerify(ss, good)...)
	if err != nil {
		t.Fatalf("VerifyAttestations keyless: %v", err)
	}
	if v := res.Verified[0]; v.KeyIndex != -1 || v.Identity != good || v.Certificate == nil {
		t.Errorf("verified keyless attestation = key %d, %+v; want key -1, %+v", v.KeyIndex, v.Identity, good)
	}
	bad := sign.Identity{Subject: wfY.Identity(), Issuer: ss.GitHubIssuer}
	_, err = sign.VerifyAttestations(ctx, tg, subject, nil, []string{sign.PredicateSLSAProvenanceV1}, offlineVerify(ss, bad)...)
	if !errors.Is(err, sign.ErrVerification) || !strings.Contains(err.Error(), wfX.Identity()) {
		t.Errorf("VerifyAttestations expecting another identity = %v; want ErrVerification naming the identity found", err)
	}
}

// TestCosignVerifiesAttestations checks statepack's attestations with cosign's own VerifyImageAttestations, called
// as `cosign verify-attestation` calls it, against the real registry: key and keyless.
func TestCosignVerifiesAttestations(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t)
	ss := testsigstore.Start(t)
	r := testregistry.Start(t)
	ctx := context.Background()
	ropts := []ociremote.Option{ociremote.WithRemoteOptions(ggcrremote.WithTransport(http.DefaultTransport), ggcrremote.WithContext(ctx))}
	tg := registryTarget(t, r, "compat/attested")
	subject := pushArtifact(t, tg, t.Name())
	if _, err := loadSigner(t, a).Attest(ctx, tg, subject, tg.ref, []sign.Predicate{slsaPredicate, inventoryPredicate}); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKeyless(t, ss, ss.GitHubToken(t, wfX)).Attest(ctx, tg, subject, tg.ref, []sign.Predicate{slsaPredicate}); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(tg.ref+"@"+subject.Digest.String(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	key := func(kp keyPair) *cosign.CheckOpts {
		return &cosign.CheckOpts{SigVerifier: loadVerifiers(t, kp)[0], IgnoreTlog: true,
			ClaimVerifier: cosign.IntotoSubjectClaimVerifier, RegistryClientOpts: ropts}
	}
	atts, _, err := cosign.VerifyImageAttestations(ctx, ref, key(a))
	if err != nil || len(atts) != 2 {
		t.Fatalf("cosign VerifyImageAttestations with key A = %d, %v; want 2", len(atts), err)
	}
	if _, _, err := cosign.VerifyImageAttestations(ctx, ref, key(b)); err == nil {
		t.Error("cosign VerifyImageAttestations with the wrong key = nil error")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ss.Root)
	keyless := &cosign.CheckOpts{
		Identities:    []cosign.Identity{{Subject: wfX.Identity(), Issuer: ss.GitHubIssuer}},
		RootCerts:     roots,
		IgnoreTlog:    true,
		IgnoreSCT:     true,
		ClaimVerifier: cosign.IntotoSubjectClaimVerifier, RegistryClientOpts: ropts,
	}
	if atts, _, err := cosign.VerifyImageAttestations(ctx, ref, keyless); err != nil || len(atts) != 1 {
		t.Errorf("cosign VerifyImageAttestations keyless = %d, %v; want 1", len(atts), err)
	}
}
