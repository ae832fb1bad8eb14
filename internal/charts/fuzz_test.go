package charts

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

const seedLock = `# a lock
apiVersion: statepack.dev/v1
kind: Lock
charts:
  - repository: https://charts.example.com/stable
    name: demo
    constraint: 1.x
    version: 1.1.0
    digest: sha256:64a06c191c06aab256b1cce720ec885884d99d9b77f3eabedee62208b70a92aa
    url: https://charts.example.com/stable/demo-1.1.0.tgz
  - repository: oci://ghcr.io/acme/charts
    name: podinfo
    version: 6.14.1
    digest: sha256:7255c56a72941d715634286ff13d7d4d2f4fbe416ae7361a898230ddc51954cb
    url: oci://ghcr.io/acme/charts/podinfo@sha256:7255c56a72941d715634286ff13d7d4d2f4fbe416ae7361a898230ddc51954cb
`

// FuzzParseLock: a lock file is outside input (edited by hand, merged by git). Whatever it holds, parsing never
// panics, and a lock that parses marshals to bytes that parse to the same lock.
func FuzzParseLock(f *testing.F) {
	f.Add([]byte(seedLock))
	f.Add([]byte("apiVersion: statepack.dev/v1\nkind: Lock\ncharts: []\n"))
	f.Add([]byte("charts: [\n"))
	f.Add([]byte("apiVersion: statepack.dev/v1\nkind: Lock\ncharts:\n  - repository: https://x\n    name: a\n    digest: sha256:../../x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLock(LockFileName, data)
		if err != nil {
			return
		}
		out := l.Marshal()
		again, err := ParseLock(LockFileName, out)
		if err != nil {
			t.Fatalf("a parsed lock marshals to a file that does not parse: %v\n%s", err, out)
		}
		if !bytes.Equal(again.Marshal(), out) {
			t.Fatalf("marshalling is not stable:\n%s\nvs\n%s", again.Marshal(), out)
		}
		for _, e := range l.Entries() {
			if !digestPattern.MatchString(e.Digest) {
				t.Fatalf("an entry with digest %q was accepted", e.Digest)
			}
		}
	})
}

const seedIndex = `apiVersion: v1
entries:
  demo:
    - apiVersion: v2
      name: demo
      version: 1.1.0
      digest: 64a06c191c06aab256b1cce720ec885884d99d9b77f3eabedee62208b70a92aa
      urls: [demo-1.1.0.tgz]
    - apiVersion: v2
      name: demo
      version: 2.0.0-alpha.1
      urls: [https://elsewhere.example.com/demo-2.0.0-alpha.1.tgz]
generated: "2026-01-01T00:00:00Z"
`

// FuzzIndex: an index.yaml is outside input. Parsing it and choosing a version never panics, and a chosen
// version is one of the chart's entries with a URL.
func FuzzIndex(f *testing.F) {
	f.Add([]byte(seedIndex), "")
	f.Add([]byte(seedIndex), ">=1.0.0-alpha")
	f.Add([]byte(`{"apiVersion":"v1","entries":{"demo":[{"name":"demo","version":"1.0.0","urls":["x"]}]}}`), "1.x")
	f.Add([]byte("apiVersion: v1\nentries:\n  demo:\n    - null\n"), "*")
	f.Fuzz(func(t *testing.T, data []byte, constraint string) {
		idx, err := ParseIndex("index.yaml", data)
		if err != nil {
			return
		}
		cv, err := pickVersion(idx, "demo", constraint)
		if err != nil {
			return
		}
		if len(cv.URLs) == 0 || !slices.Contains(idx.Entries["demo"], cv) {
			t.Fatalf("pickVersion chose %+v, which is not an entry of demo with a URL", cv)
		}
	})
}

// FuzzPickTag: an OCI repository's tags are outside input. Choosing among them never panics, and the choice is one
// of them.
func FuzzPickTag(f *testing.F) {
	f.Add("1.0.0\n1.1.1_build.5\n2.0.0-rc.1\nv3.0.0\nlatest", "", true)
	f.Add("v6.14.1\nlatest", "6.x", false)
	f.Add("1.0.0", "latest", false)
	f.Fuzz(func(t *testing.T, list, constraint string, helmRules bool) {
		tags := strings.Split(list, "\n")
		tag, version, err := pickTag(tags, constraint, helmRules, nil)
		if err != nil {
			return
		}
		if !slices.Contains(tags, tag) || version == "" {
			t.Fatalf("pickTag(%q, %q) = %q, %q: not one of the tags", tags, constraint, tag, version)
		}
	})
}
