package objdiff

import (
	"slices"
	"testing"
)

func TestDiffCompare(t *testing.T) {
	web := ID{Group: "apps", Kind: "Deployment", Namespace: "demo", Name: "web"}
	svc := ID{Kind: "Service", Namespace: "demo", Name: "web"}
	ns := ID{Kind: "Namespace", Name: "demo"}
	cm := ID{Kind: "ConfigMap", Namespace: "demo", Name: "settings"}
	from := []Object{
		{ID: web, YAML: []byte("kind: Deployment\nspec:\n  replicas: 2\n")},
		{ID: svc, YAML: []byte("kind: Service\n")},
		{ID: ns, YAML: []byte("kind: Namespace\n")},
	}
	to := []Object{
		{ID: cm, YAML: []byte("kind: ConfigMap\n")},
		{ID: ns, YAML: []byte("kind: Namespace\n")},
		{ID: web, YAML: []byte("kind: Deployment\nspec:\n  replicas: 3\n")},
	}
	r, err := Compare(from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Status: Added, ID: cm, Diff: "--- /dev/null\n+++ b/ConfigMap/demo/settings\n@@ -0,0 +1 @@\n+kind: ConfigMap\n"},
		{Status: Changed, ID: web, Diff: "--- a/Deployment.apps/demo/web\n+++ b/Deployment.apps/demo/web\n@@ -1,3 +1,3 @@\n kind: Deployment\n spec:\n-  replicas: 2\n+  replicas: 3\n"},
		{Status: Removed, ID: svc, Diff: "--- a/Service/demo/web\n+++ /dev/null\n@@ -1 +0,0 @@\n-kind: Service\n"},
	}
	if !slices.Equal(r.Entries, want) {
		t.Errorf("Compare().Entries =\n%+v\nwant\n%+v", r.Entries, want)
	}
	if r.Unchanged != 1 || r.From != 3 || r.To != 3 || r.Equal() {
		t.Errorf("Compare() = unchanged %d, from %d, to %d, equal %v; want 1, 3, 3, false", r.Unchanged, r.From, r.To, r.Equal())
	}
	if r.Count(Added) != 1 || r.Count(Removed) != 1 || r.Count(Changed) != 1 {
		t.Errorf("Count() = %d added, %d removed, %d changed; want 1 each", r.Count(Added), r.Count(Removed), r.Count(Changed))
	}

	reversed := slices.Clone(from)
	slices.Reverse(reversed)
	same, err := Compare(from, reversed)
	if err != nil || !same.Equal() || same.Unchanged != 3 {
		t.Errorf("Compare(x, reversed x) = %+v, %v; want equal with 3 unchanged", same, err)
	}
}

func TestDiffCompareDuplicates(t *testing.T) {
	id := ID{Kind: "ConfigMap", Name: "twice"}
	from := []Object{{ID: id, YAML: []byte("a: 1\n")}, {ID: id, YAML: []byte("a: 2\n")}}
	to := []Object{{ID: id, YAML: []byte("a: 1\n")}}
	r, err := Compare(from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Entries) != 1 || r.Entries[0].Status != Removed || r.Entries[0].Name() != "ConfigMap/twice#2" {
		t.Errorf("Compare() = %+v, want the second occurrence removed", r.Entries)
	}
}

func TestDiffCompareOptions(t *testing.T) {
	if _, err := Compare(nil, nil, WithContext(-1)); err == nil {
		t.Error("Compare(WithContext(-1)) succeeded, want an error")
	}
	r, err := Compare([]Object{{ID: ID{Kind: "A", Name: "a"}, YAML: []byte("1\n2\n3\n")}},
		[]Object{{ID: ID{Kind: "A", Name: "a"}, YAML: []byte("1\nX\n3\n")}}, WithContext(0))
	if err != nil {
		t.Fatal(err)
	}
	if want := "--- a/A/a\n+++ b/A/a\n@@ -2 +2 @@\n-2\n+X\n"; r.Entries[0].Diff != want {
		t.Errorf("diff with no context = %q, want %q", r.Entries[0].Diff, want)
	}
}
