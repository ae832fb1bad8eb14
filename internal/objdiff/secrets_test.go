package objdiff

import (
	"strings"
	"testing"
)

func TestCompareMasksSecretValues(t *testing.T) {
	secret := ID{Kind: "Secret", Namespace: "web", Name: "db"}
	for _, tc := range []struct {
		name     string
		id       ID
		from, to string // "" for a missing side
		want     string
	}{
		{"changed, unchanged, added and removed keys", secret,
			"apiVersion: v1\ndata:\n  gone: Z29uZS1zM2NyZXQ=\n  same: c2FtZS1zM2NyZXQ=\nkind: Secret\nstringData:\n  password: old-s3cret\n",
			"apiVersion: v1\ndata:\n  new: bmV3LXMzY3JldA==\n  same: c2FtZS1zM2NyZXQ=\nkind: Secret\nstringData:\n  password: new-s3cret\n",
			"--- a/Secret/web/db\n+++ b/Secret/web/db\n@@ -1,7 +1,7 @@\n apiVersion: v1\n data:\n-  gone: '***'\n+  new: '***'\n   same: '***'\n kind: Secret\n stringData:\n-  password: '*** (before)'\n+  password: '*** (after)'\n"},
		{"added", secret, "",
			"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: new-s3cret\n  port: 5432\n",
			"--- /dev/null\n+++ b/Secret/web/db\n@@ -0,0 +1,7 @@\n+apiVersion: v1\n+kind: Secret\n+metadata:\n+  name: db\n+stringData:\n+  password: '***'\n+  port: '***'\n"},
		{"removed, with the annotation kubectl apply leaves", secret,
			"apiVersion: v1\nkind: Secret\nmetadata:\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{\"stringData\":{\"password\":\"old-s3cret\"}}'\n    team: db\nstringData:\n  password: old-s3cret\n",
			"",
			"--- a/Secret/web/db\n+++ /dev/null\n@@ -1,8 +0,0 @@\n-apiVersion: v1\n-kind: Secret\n-metadata:\n-  annotations:\n-    kubectl.kubernetes.io/last-applied-configuration: '***'\n-    team: db\n-stringData:\n-  password: '***'\n"},
		{"data that is not a mapping", secret,
			"data: old-s3cret\nkind: Secret\nstringData:\n- new-s3cret\n",
			"data: new-s3cret\nkind: Secret\nstringData:\n- new-s3cret\n",
			"--- a/Secret/web/db\n+++ b/Secret/web/db\n@@ -1,3 +1,3 @@\n-data: '*** (before)'\n+data: '*** (after)'\n kind: Secret\n stringData: '***'\n"},
		{"only the other fields changed", secret,
			"data:\n  key: czNjcmV0\nkind: Secret\nmetadata:\n  labels:\n    big: 12345678901234567890\n    v: \"1\"\n",
			"data:\n  key: czNjcmV0\nkind: Secret\nmetadata:\n  labels:\n    big: 12345678901234567890\n    v: \"2\"\n",
			"--- a/Secret/web/db\n+++ b/Secret/web/db\n@@ -4,4 +4,4 @@\n metadata:\n   labels:\n     big: 12345678901234567890\n-    v: \"1\"\n+    v: \"2\"\n"},
		{"a side that does not decode", secret,
			"kind: Secret\nstringData: {password: [old-s3cret\n",
			"kind: Secret\nstringData:\n  password: new-s3cret\n",
			"--- a/Secret/web/db\n+++ b/Secret/web/db\n@@ -1 +1 @@\n-*** (before) (the Secret does not decode, so all of it is hidden)\n+*** (after) (the Secret is hidden, as the other side does not decode)\n"},
		{"a Secret of another group is no core Secret", ID{Group: "example.com", Kind: "Secret", Name: "db"},
			"kind: Secret\nspec:\n  size: old\n",
			"kind: Secret\nspec:\n  size: new\n",
			"--- a/Secret.example.com/db\n+++ b/Secret.example.com/db\n@@ -1,3 +1,3 @@\n kind: Secret\n spec:\n-  size: old\n+  size: new\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var from, to []Object
			if tc.from != "" {
				from = []Object{{ID: tc.id, YAML: []byte(tc.from)}}
			}
			if tc.to != "" {
				to = []Object{{ID: tc.id, YAML: []byte(tc.to)}}
			}
			r, err := Compare(from, to)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Entries) != 1 {
				t.Fatalf("Compare() = %d entries, want 1", len(r.Entries))
			}
			if got := r.Entries[0].Diff; got != tc.want {
				t.Errorf("Compare().Entries[0].Diff =\n%s\nwant\n%s", got, tc.want)
			}
			if tc.id == secret && strings.Contains(r.Entries[0].Diff, "s3cret") {
				t.Errorf("a Secret value shows in the diff:\n%s", r.Entries[0].Diff)
			}
		})
	}
}

func TestCompareCountsAChangedSecretValue(t *testing.T) {
	id := ID{Kind: "Secret", Name: "db"}
	// Two values that mask alike on their own still make the object changed.
	r, err := Compare([]Object{{ID: id, YAML: []byte("kind: Secret\nstringData:\n  a: x\n")}},
		[]Object{{ID: id, YAML: []byte("kind: Secret\nstringData:\n  a: y\n")}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Count(Changed) != 1 || !strings.Contains(r.Entries[0].Diff, "+  a: '*** (after)'\n") {
		t.Errorf("Compare() = %+v, want one changed entry showing key a as changed", r.Entries)
	}
}
