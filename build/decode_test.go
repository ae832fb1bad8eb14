package build

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestDecodeStream(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantIDs   []string
		wantLines []int
		wantRule  string // rule of the first finding, "" for none
		wantLine  int
		wantMsg   string
	}{
		{name: "single", in: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
			wantIDs: []string{"ConfigMap/a"}, wantLines: []int{1}},
		{name: "documents, empty ones and comments", in: "---\n# only a comment\n---\n\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n  namespace: ns\n",
			wantIDs: []string{"ConfigMap/a", "Secret/ns/b"}, wantLines: []int{6, 11}},
		{name: "BOM and CRLF", in: "\xef\xbb\xbfapiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n",
			wantIDs: []string{"ConfigMap/a"}, wantLines: []int{1}},
		{name: "List unwrapped", in: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: d, namespace: n}\n",
			wantIDs: []string{"ConfigMap/a", "Deployment.apps/n/d"}, wantLines: []int{4, 7}},
		{name: "a List item that is no object", in: "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- {apia: {kind: Secret}}\n",
			wantIDs: []string{"ConfigMap/a"}, wantLines: []int{4},
			wantRule: "object/not-an-object", wantLine: 7, wantMsg: "item 1 of the List: document is a mapping without apiVersion and kind (keys: apia)"},
		{name: "JSON", in: `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}`,
			wantIDs: []string{"ConfigMap/j"}, wantLines: []int{1}},
		{name: "syntax error names the line", in: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n   bad: indent\n",
			wantRule: "yaml/syntax", wantLine: 5, wantMsg: "mapping values are not allowed"},
		{name: "JSON syntax error", in: "{\"apiVersion\": \"v1\",\n \"kind\": \"ConfigMap\"\n \"metadata\": {}}\n",
			wantRule: "yaml/syntax", wantLine: 2, wantMsg: "did not find expected ','"},
		{name: "duplicate key", in: "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata:\n  name: a\n",
			wantRule: "yaml/syntax", wantLine: 3, wantMsg: `key "kind" is defined twice`},
		{name: "scalar document", in: "just a string\n", wantRule: "object/not-a-mapping", wantLine: 1},
		{name: "sequence document", in: "- a\n- b\n", wantRule: "object/not-a-mapping", wantLine: 1},
		{name: "binary", in: "apiVersion: v1\x00\x01\x02", wantRule: "yaml/syntax", wantMsg: "not a text file"},
		{name: "NaN refused", in: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nvalue: .nan\n",
			wantRule: "yaml/syntax", wantLine: 4, wantMsg: "not a number JSON can carry"},
		{name: "alias bomb", in: aliasBomb(), wantRule: "yaml/syntax"},
		{name: "alias bomb of bytes", in: aliasBytesBomb(64<<10, 4), wantRule: "yaml/syntax", wantLine: 8,
			wantMsg: "alias *a2 (anchor at line 7) makes the file expand to more than"},
		{name: "alias bomb of bytes through keys", in: keyBytesBomb(), wantRule: "yaml/syntax", wantLine: 6,
			wantMsg: "alias *l3 (anchor at line 5) makes the file expand to more than"},
		{name: "aliases within the byte limit", in: aliasBytesBomb(1<<10, 2), wantIDs: []string{"ConfigMap/bomb"}, wantLines: []int{1}},
		{name: "deep nesting", in: "a: " + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + "\n", wantRule: "yaml/syntax"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs, findings := decodeStream("f.yaml", []byte(tc.in))
			if tc.wantRule != "" {
				if len(findings) == 0 {
					t.Fatalf("decodeStream() findings = none, want %s", tc.wantRule)
				}
				f := findings[0]
				if f.Rule != tc.wantRule || (tc.wantLine != 0 && f.Line != tc.wantLine) || !strings.Contains(f.Message, tc.wantMsg) || f.File != "f.yaml" {
					t.Fatalf("decodeStream() finding = %+v, want rule %s line %d containing %q", f, tc.wantRule, tc.wantLine, tc.wantMsg)
				}
				return
			}
			if len(findings) > 0 {
				t.Fatalf("decodeStream() findings = %v, want none", findings)
			}
			var ids []string
			var lines []int
			for _, o := range objs {
				ids = append(ids, o.ID.String())
				lines = append(lines, o.Source.Line)
			}
			if strings.Join(ids, ",") != strings.Join(tc.wantIDs, ",") {
				t.Errorf("decodeStream() ids = %v, want %v", ids, tc.wantIDs)
			}
			if len(lines) != len(tc.wantLines) {
				t.Fatalf("decodeStream() lines = %v, want %v", lines, tc.wantLines)
			}
			for i := range lines {
				if lines[i] != tc.wantLines[i] {
					t.Errorf("decodeStream() lines = %v, want %v", lines, tc.wantLines)
				}
			}
		})
	}
}

func aliasBomb() string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\n")
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 12; i++ {
		b.WriteString("a" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + strconv.Itoa(i-1))
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// aliasBytesBomb is an alias bomb that stays under maxNodes but not under the byte limit: one anchored string of
// size bytes, a list of ten aliases to it, and levels more lists that each repeat the one before ten times. It
// expands to size × 10^(levels+1) bytes through about 1.1 × 10^(levels+1) values.
func aliasBytesBomb(size, levels int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\n")
	b.WriteString("s: &s " + strings.Repeat("x", size) + "\n")
	prev := "s"
	for i := 0; i <= levels; i++ {
		name := "a" + strconv.Itoa(i)
		b.WriteString(name + ": &" + name + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = name
	}
	return b.String()
}

// keyBytesBomb is aliasBytesBomb with the long string used as a mapping key.
func keyBytesBomb() string {
	return "k: &k " + strings.Repeat("y", 64<<10) + "\nm: &m {*k : 1}\nl1: &l1 [*m, *m, *m, *m, *m, *m, *m, *m, *m, *m]\n" +
		"l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\nl3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]\n" +
		"l4: [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]\n"
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeRefusesAliasBytesBomb feeds the decoder a bomb of about 11,000 values that expands to 6.4 GB: it must
// be refused with a finding at the alias that goes over the limit, without allocating the expansion.
func TestDecodeRefusesAliasBytesBomb(t *testing.T) {
	in := aliasBytesBomb(64<<10, 4) // 64 KiB × 10^5
	var findings Findings
	var objs []Object
	if n := allocated(func() { objs, findings = decodeStream("bomb.yaml", []byte(in)) }); n > 64<<20 {
		t.Errorf("decodeStream(bomb) allocated %d bytes, want it refused before the expansion is built", n)
	}
	// The lines before line 8 expand to about 70 MiB; a3's first alias to a2 (64 MiB) goes over 128 MiB.
	want := Finding{Severity: SeverityError, Rule: "yaml/syntax", File: "bomb.yaml", Line: 8,
		Message: "alias *a2 (anchor at line 7) makes the file expand to more than 134217728 bytes (alias bomb?): write out the values it stands for, or remove it"}
	if len(objs) != 0 || len(findings) != 1 || findings[0] != want {
		t.Fatalf("decodeStream(bomb) = %d objects, findings %v; want %v", len(objs), findings, want)
	}
}

// TestCheckExpansionCountsBytes checks the pre-scan that guards kustomize against the same bomb, and that it
// stays linear: it must not allocate the expansion either.
func TestCheckExpansionCountsBytes(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "bytes bomb", in: aliasBytesBomb(64<<10, 4),
			wantErr: "line 8: alias *a2 (anchor at line 7) makes the file expand to more than 134217728 bytes (alias bomb?): write out the values it stands for, or remove it"},
		{name: "bomb in a later document", in: "a: b\n---\n" + aliasBytesBomb(64<<10, 4),
			wantErr: "line 10: alias *a2 (anchor at line 9)"},
		{name: "bomb of a key", in: keyBytesBomb(), wantErr: "line 6: alias *l3 (anchor at line 5)"},
		{name: "node bomb still refused", in: aliasBomb(), wantErr: "expands to more than 1048576 values"},
		{name: "aliases within the limit", in: aliasBytesBomb(1<<10, 2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if n := allocated(func() { err = checkExpansion([]byte(tc.in)) }); n > 64<<20 {
				t.Errorf("checkExpansion() allocated %d bytes", n)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("checkExpansion() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("checkExpansion() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestRenderRefusesAliasBytesBomb checks both ways a bytes bomb reaches kustomize: as a resource (read through the
// root file system) and as a kustomization (read by the pre-scan).
func TestRenderRefusesAliasBytesBomb(t *testing.T) {
	bomb := aliasBytesBomb(64<<10, 4)
	tests := []struct {
		name     string
		files    map[string]string
		wantFile string
		wantLine int
	}{
		{name: "resource", files: map[string]string{"kustomization.yaml": "resources:\n- bomb.yaml\n", "bomb.yaml": bomb},
			wantFile: "kustomization.yaml"},
		{name: "kustomization", files: map[string]string{"kustomization.yaml": "resources: []\n" + bomb},
			wantFile: "kustomization.yaml", wantLine: 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			r, err := Render(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Findings) != 1 || r.Findings[0].File != tc.wantFile || r.Findings[0].Line != tc.wantLine ||
				!strings.Contains(r.Findings[0].Message, "makes the file expand to more than 134217728 bytes (alias bomb?)") {
				t.Fatalf("Render() findings = %v, want the bomb refused in %s at line %d", r.Findings, tc.wantFile, tc.wantLine)
			}
		})
	}
}

func TestDecodeKeepsScalarsAsKubernetesReadsThem(t *testing.T) {
	in := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  date: 2024-01-01\n  quoted: \"007\"\n  big: 12345678901234\n  yes: yes\n  1: one\n"
	objs, findings := decodeStream("f.yaml", []byte(in))
	if len(findings) > 0 || len(objs) != 1 {
		t.Fatalf("decodeStream() = %d objects, findings %v", len(objs), findings)
	}
	want := "apiVersion: v1\ndata:\n  \"1\": one\n  big: 12345678901234\n  date: \"2024-01-01\"\n  quoted: \"007\"\n  \"yes\": \"yes\"\nkind: ConfigMap\nmetadata:\n  name: a\n"
	if got := string(objs[0].YAML); got != want {
		t.Errorf("canonical YAML =\n%s\nwant\n%s", got, want)
	}
}

// FuzzDecodeStream checks that no input makes the decoder panic or hang, and that every object it returns
// serialises to YAML that decodes to the same identity.
func FuzzDecodeStream(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
		"---\n---\napiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Secret, metadata: {name: s}}]\n",
		"\xef\xbb\xbfa: b\r\n",
		`{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}`,
		"a: &x [1, 2]\nb: *x\nc: {<<: {d: 1}}\n",
		"a: !!binary aGVsbG8=\nb: 2001-12-14t21:59:43.10-05:00\nc: 0x1F\nd: 1e400\n",
		aliasBomb(),
		aliasBytesBomb(64<<10, 4),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, _ := decodeStream("fuzz.yaml", data)
		for _, o := range objs {
			again, findings := decodeStream("again.yaml", o.YAML)
			if len(findings) > 0 || len(again) != 1 || again[0].ID != o.ID {
				t.Fatalf("re-decoding %q: %d objects, findings %v; want the same identity %v", o.YAML, len(again), findings, o.ID)
			}
		}
	})
}

func TestDecodeJSONStream(t *testing.T) {
	in := "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"a\"}}\n\n{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Secret\",\n  \"metadata\": {\"name\": \"b\"}\n}\n"
	objs, findings := decodeStream("two.json", []byte(in))
	if len(findings) > 0 || len(objs) != 2 {
		t.Fatalf("decodeStream(two JSON values) = %d objects, %v", len(objs), findings)
	}
	if objs[0].Source.Line != 1 || objs[1].Source.Line != 3 || objs[1].ID.Kind != "Secret" {
		t.Errorf("sources = %v, %v; want lines 1 and 3", objs[0].Source, objs[1].Source)
	}
}
