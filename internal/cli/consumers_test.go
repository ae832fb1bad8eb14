package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack"
)

// TestVerifyConsumers: verify --consumers prints, under its own verdict, a matrix of every consumer's verdict with
// the reason and what it assumes; for a .sig by the trusted key beside another key's bundle (the mixed case) Flux
// ≥ 2.8 and cosign refuse while Flux < 2.8, Kyverno and policy-controller accept, and the exit code stays Flux ≥
// 2.8's. -o json carries the same report under "consumers".
func TestVerifyConsumers(t *testing.T) {
	t.Parallel()
	key, pub := keyPair(t, "")
	otherKey, _ := keyPair(t, "")
	ref := "oci:" + filepath.Join(t.TempDir(), "layout") + ":main"
	mustRun(t, 0, nil, "publish", demoTree, ref, "--key", key)

	r := mustRun(t, 0, nil, "verify", ref, "--key", pub, "--consumers")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !strings.HasSuffix(lines[0], ": signature verified") || !strings.HasPrefix(lines[1], "Consumers of ") ||
		!strings.Contains(lines[1], "(no sigstore bundle, a .sig; referrers listed through the layout index)") {
		t.Fatalf("verify --consumers printed:\n%s", r.stdout)
	}
	header := strings.Fields(lines[2])
	if strings.Join(header, " ") != "CONSUMER VERDICT WHY" {
		t.Errorf("matrix header = %q", lines[2])
	}
	for _, want := range []string{
		"Flux ≥ 2.8 (source-controller v1.8+)",
		"Flux < 2.8 (source-controller ≤ v1.7)",
		"cosign v2 CLI (v2.6.5)",
		"cosign v3 CLI",
		"Kyverno verifyImages type Cosign",
		"Kyverno verifyImages type SigstoreBundle",
		"sigstore policy-controller (admits Pods, not artifacts)",
		"Argo CD (3.1+, OCI source)",
	} {
		if !strings.Contains(r.stdout, "  "+want+"  ") {
			t.Errorf("the matrix has no row for %s:\n%s", want, r.stdout)
		}
	}
	// The columns line up: every row's verdict starts where the header's VERDICT does, and what a verdict assumes
	// starts under WHY.
	verdictCol, whyCol := runeIndex(lines[2], "VERDICT"), runeIndex(lines[2], "WHY")
	for _, l := range lines[3:] {
		rest := string([]rune(l)[verdictCol:])
		if strings.TrimSpace(string([]rune(l)[:whyCol])) == "" {
			if !strings.HasPrefix(string([]rune(l)[whyCol:]), "assumes ") {
				t.Errorf("line %q is neither a row nor what a row assumes, under WHY (column %d)", l, whyCol)
			}
			continue
		}
		if !strings.HasPrefix(rest, "ACCEPTED") && !strings.HasPrefix(rest, "REFUSED") {
			t.Errorf("row %q does not have its verdict under VERDICT (column %d)", l, verdictCol)
		}
	}
	if !strings.Contains(r.stdout, "ACCEPTED, NOT VERIFIED  one layer of type application/vnd.oci.image.layer.v1.tar+gzip") ||
		!strings.Contains(r.stdout, "assumes cosign verify --key … --insecure-ignore-tlog") {
		t.Errorf("the matrix lacks Argo CD's verdict or cosign's assumption:\n%s", r.stdout)
	}

	// Another key's bundle: Flux ≥ 2.8 refuses (exit 1), and the matrix says who still accepts.
	mustRun(t, 0, nil, "publish", demoTree, ref, "--key", otherKey, "--signature-format", "bundle")
	r = mustRun(t, 1, nil, "verify", ref, "--key", pub, "--consumers")
	for _, row := range []struct{ name, verdict string }{
		{"Flux ≥ 2.8 (source-controller v1.8+)", "REFUSED"},
		{"Flux < 2.8 (source-controller ≤ v1.7)", "ACCEPTED"},
		{"cosign v3 CLI", "REFUSED"},
		{"Kyverno verifyImages type Cosign", "ACCEPTED"},
	} {
		if !matrixRow(r.stdout, row.name, row.verdict) {
			t.Errorf("the matrix does not say %s for %s:\n%s", row.verdict, row.name, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "mixed: a .sig by a trusted key") {
		t.Errorf("verify --consumers lost verify's explanation:\n%s", r)
	}

	r = mustRun(t, 1, nil, "verify", ref, "--key", pub, "--consumers", "-o", "json")
	var res struct {
		Verified  bool                      `json:"verified"`
		Consumers *statepack.ConsumerReport `json:"consumers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("verify --consumers -o json printed %q: %v", r.stdout, err)
	}
	// The other key's publish attested too: its signature bundle and two attestation bundles count, as cosign counts.
	if res.Verified || res.Consumers == nil || len(res.Consumers.Consumers) != 8 || res.Consumers.Bundles != 3 || !res.Consumers.LegacySignature {
		t.Fatalf("verify --consumers -o json = %+v (report %+v), want 8 verdicts over 3 bundles and a .sig", res, res.Consumers)
	}
	flux, _ := res.Consumers.Verdict(statepack.ConsumerFlux)
	legacy, _ := res.Consumers.Verdict(statepack.ConsumerFluxLegacy)
	if flux.Verdict != statepack.Refused || legacy.Verdict != statepack.Accepted || flux.Source == "" {
		t.Errorf("JSON verdicts: flux %+v, flux before 2.8 %+v", flux, legacy)
	}
}

// runeIndex is strings.Index counted in runes, as columns are.
func runeIndex(s, sub string) int {
	i := strings.Index(s, sub)
	if i < 0 {
		return -1
	}
	return len([]rune(s[:i]))
}

// matrixRow says whether the matrix in out has a row for consumer with that verdict.
func matrixRow(out, consumer, verdict string) bool {
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "  "+consumer); ok && strings.HasPrefix(strings.TrimLeft(rest, " "), verdict+" ") {
			return true
		}
	}
	return false
}
