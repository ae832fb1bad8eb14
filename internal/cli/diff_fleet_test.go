package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/objdiff"
	"github.com/statepack/statepack/internal/testregistry"
)

// diffFleet writes a config of three targets, each a copy of diffTree, under one directory, and publishes "same"
// and "changed" with publish --config; "fresh" is never published. It returns the config file and the directory.
func diffFleet(t *testing.T, host string, extra string) (cfg, dir string) {
	t.Helper()
	dir = t.TempDir()
	for _, name := range []string{"same", "changed", "fresh"} {
		copyDir(t, writeTree(t, diffTree), filepath.Join(dir, name))
	}
	cfg = filepath.Join(dir, "statepack.yaml")
	config := "apiVersion: statepack.dev/v1alpha1\nkind: Config\ndefaults: {tags: [main]}\ntargets:\n" +
		"- {name: same, path: same, ref: " + host + "/fleet/same}\n" +
		"- {name: changed, path: changed, ref: " + host + "/fleet/changed:v1}\n" +
		"- {name: fresh, path: fresh, ref: " + host + "/fleet/fresh}\n" + extra
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, fixedEpoch, "publish", "--config", cfg, "--root", dir, "--target", "same", "--target", "changed")
	return cfg, dir
}

func TestDiffConfig(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	cfg, dir := diffFleet(t, reg.Host, "")
	app := filepath.Join(dir, "changed", "app.yaml")
	data, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(app, []byte(strings.Replace(string(data), "replicas: 2", "replicas: 3", 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("json", func(t *testing.T) {
		r := mustRun(t, 1, nil, "diff", "--config", cfg, "--root", dir, "-o", "json")
		var res fleetDiffResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("diff --config -o json printed %q: %v", r.stdout, err)
		}
		want := fleetDiffCounts{Targets: 3, Equal: 1, Different: 1, Unpublished: 1}
		if res.Equal || res.Summary != want {
			t.Errorf("equal = %t, summary = %+v; want false, %+v", res.Equal, res.Summary, want)
		}
		byName := map[string]fleetDiffTarget{}
		var order []string
		for _, tr := range res.Targets {
			byName[tr.Name] = tr
			order = append(order, tr.Name)
		}
		if strings.Join(order, ",") != "changed,fresh,same" {
			t.Errorf("targets in order %v, want changed, fresh, same (by name)", order)
		}
		changed := byName["changed"]
		if changed.Status != diffDifferent || changed.Ref != reg.Host+"/fleet/changed:v1" || len(changed.Changed) != 1 ||
			changed.Changed[0].Object != "Deployment.apps/shop/web" || !strings.Contains(changed.Changed[0].Diff, "-  replicas: 2\n+  replicas: 3\n") ||
			len(changed.Added)+len(changed.Removed) != 0 || changed.Unchanged != 3 || !strings.HasPrefix(changed.From.Digest, "sha256:") {
			t.Errorf("target changed = %+v, want the replicas of Deployment web changed against :v1", changed)
		}
		fresh := byName["fresh"]
		if fresh.Status != diffUnpublished || fresh.Ref != reg.Host+"/fleet/fresh:main" || len(fresh.Added) != 4 || fresh.From.Objects != 0 || fresh.From.Digest != "" {
			t.Errorf("target fresh = %+v, want every one of its 4 objects added, compared with :main (its first tag)", fresh)
		}
		same := byName["same"]
		if same.Status != diffEqual || !same.diffResult.Equal || same.Unchanged != 4 || same.Error != "" {
			t.Errorf("target same = %+v, want equal", same)
		}
	})

	t.Run("text", func(t *testing.T) {
		r := mustRun(t, 1, nil, "diff", "--config", cfg, "--root", dir)
		for _, want := range []string{
			"# changed: from " + reg.Host + "/fleet/changed@sha256:",
			"--- a/Deployment.apps/shop/web\n+++ b/Deployment.apps/shop/web\n",
			"# fresh: from " + reg.Host + "/fleet/fresh:main (not published yet) (0 objects) to ",
			"+++ b/Namespace/shop\n",
			"changed\tdifferent\t1 changed, 3 unchanged\n",
			"fresh\tnot published yet\t4 added\n",
			"same\tequal\tno differences\n",
			"3 target(s): 1 different, 1 not published yet, 1 equal\n",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "# same:") {
			t.Errorf("stdout shows a section for the equal target:\n%s", r.stdout)
		}
	})

	t.Run("markdown", func(t *testing.T) {
		r := mustRun(t, 1, nil, "diff", "--config", cfg, "--root", dir, "-o", "markdown")
		md := r.stdout
		table := "| target | ref | status | changes |\n| --- | --- | --- | --- |\n" +
			"| <code>changed</code> | <code>" + reg.Host + "/fleet/changed:v1</code> | different | 1 changed, 3 unchanged |\n" +
			"| <code>fresh</code> | <code>" + reg.Host + "/fleet/fresh:main</code> | not published yet | 4 added |\n" +
			"| <code>same</code> | <code>" + reg.Host + "/fleet/same:main</code> | equal | no differences |\n"
		if !strings.HasPrefix(md, "### statepack diff: 3 target(s): 1 different, 1 not published yet, 1 equal\n\n"+table) {
			t.Errorf("markdown does not start with the headline and the summary table:\n%s", md)
		}
		for _, want := range []string{"#### <code>changed</code>: different\n", "#### <code>fresh</code>: not published yet\n",
			"<details><summary>changed <code>Deployment.apps/shop/web</code></summary>", "<details><summary>added <code>Namespace/shop</code></summary>"} {
			if !strings.Contains(md, want) {
				t.Errorf("markdown lacks %q:\n%s", want, md)
			}
		}
		if strings.Contains(md, "#### <code>same</code>") {
			t.Errorf("markdown has a section for the equal target:\n%s", md)
		}
	})

	t.Run("selected targets equal", func(t *testing.T) {
		r := mustRun(t, 0, nil, "diff", "--config", cfg, "--root", dir, "--target", "same")
		if r.stdout != "same\tequal\tno differences\n1 target(s): 1 equal\n" {
			t.Errorf("stdout = %q", r.stdout)
		}
	})

	t.Run("shards", func(t *testing.T) {
		seen := map[string]int{}
		for _, shard := range []string{"1/2", "2/2"} {
			r := run(t, nil, "", "diff", "--config", cfg, "--root", dir, "--shard", shard, "-o", "json")
			var res fleetDiffResult
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			for _, tr := range res.Targets {
				seen[tr.Name]++
			}
		}
		if len(seen) != 3 || seen["same"] != 1 || seen["changed"] != 1 || seen["fresh"] != 1 {
			t.Errorf("shards 1/2 and 2/2 compared %v, want each target once", seen)
		}
	})
}

func TestDiffConfigFailures(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	cfg, dir := diffFleet(t, reg.Host, "- {name: broken, path: broken, ref: "+reg.Host+"/fleet/broken:main}\n"+
		"- {name: untagged, path: same, ref: "+reg.Host+"/fleet/untagged, tags: []}\n")
	copyDir(t, "../../testdata/bad/yaml-syntax", filepath.Join(dir, "broken"))

	// Two targets fail, one differs, two are fine: exit 3 for the worst failure, and every target reported.
	r := mustRun(t, 3, nil, "diff", "--config", cfg, "--root", dir, "-o", "json")
	var res fleetDiffResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%s: %v", r, err)
	}
	want := fleetDiffCounts{Targets: 5, Equal: 2, Unpublished: 1, Failed: 2}
	if res.Summary != want {
		t.Errorf("summary = %+v, want %+v", res.Summary, want)
	}
	for _, tr := range res.Targets {
		switch tr.Name {
		case "broken":
			if tr.Status != diffFailed || !strings.Contains(tr.Error, "does not render (1 error(s), listed above): nothing was compared") ||
				tr.Added == nil || tr.From != nil {
				t.Errorf("target broken = %+v, want failed for its syntax error, with empty lists", tr)
			}
		case "untagged":
			if tr.Status != diffFailed || !strings.Contains(tr.Error, "target untagged: its ref "+reg.Host+"/fleet/untagged names no tag and it has no tags") {
				t.Errorf("target untagged = %+v, want failed: nothing to compare with", tr)
			}
		}
	}
	for _, want := range []string{"broken: broken/deployment.yaml:7: error: mapping values are not allowed in this context", "broken: failed: " + filepath.Join(dir, "broken") + " does not render"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q (findings and failures are named by target):\n%s", want, r.stderr)
		}
	}

	// Markdown shows the failure in the target's section.
	r = mustRun(t, 3, nil, "diff", "--config", cfg, "--root", dir, "-o", "markdown")
	if !regexp.MustCompile(`(?s)#### <code>broken</code>: failed\n\n> .*does not render`).MatchString(r.stdout) {
		t.Errorf("markdown lacks the section of the failed target:\n%s", r.stdout)
	}

	// A registry that is down is a failure (exit 3), not "not published yet".
	down := filepath.Join(t.TempDir(), "statepack.yaml")
	if err := os.WriteFile(down, []byte("apiVersion: statepack.dev/v1alpha1\nkind: Config\ntargets:\n- {name: a, path: "+filepath.Join(dir, "same")+", ref: 127.0.0.1:1/fleet/a:main}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, 3, nil, "diff", "--config", down, "--root", dir, "--timeout", "20s")
	if !strings.Contains(r.stdout, "a\tfailed\t") {
		t.Errorf("stdout = %q, want target a failed", r.stdout)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"arguments with --config", []string{"diff", "--config", cfg, dir, reg.Host + "/fleet/same:main"}, "with --config, each target's PATH and REF come from the config file"},
		{"no arguments", []string{"diff"}, "diff takes [PATH] REF or REF1 REF2, or --config FILE"},
		{"--target without --config", []string{"diff", dir, reg.Host + "/fleet/same:main", "--target", "same"}, "--target needs --config"},
		{"unknown target", []string{"diff", "--config", cfg, "--target", "nope"}, `--target "nope" is not in`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, 2, nil, tc.args...)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, r)
			}
		})
	}
}

func TestFleetDiffMarkdownLimit(t *testing.T) {
	t.Parallel()
	// Many targets, each with a large difference: the report stays under the limit and every section is there.
	big := strings.Repeat("x", 3000)
	var targets []fleetDiffTarget
	for i := 0; i < 30; i++ {
		from := &diffSide{Label: "a", Objects: 0}
		to := &diffSide{Label: "b", Objects: 40}
		var objs []objdiff.Object
		for j := 0; j < 40; j++ {
			objs = append(objs, objdiff.Object{ID: objdiff.ID{Kind: "ConfigMap", Namespace: "n", Name: fmt.Sprint("cm-", j)}, YAML: []byte("data: " + big + "\n")})
		}
		rep, err := objdiff.Compare(nil, objs)
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, fleetDiffTarget{Name: "t" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Status: diffDifferent, from: from, to: to, rep: rep})
	}
	md := fleetDiffMarkdown(fleetDiffResult{Summary: fleetDiffCounts{Targets: 30, Different: 30}, Targets: targets}, markdownLimit)
	if len(md) > markdownLimit {
		t.Errorf("markdown is %d bytes, more than the limit %d", len(md), markdownLimit)
	}
	if n := strings.Count(md, "\n#### <code>"); n != 30 {
		t.Errorf("markdown has %d target sections, want 30 (each gets a share of the room)", n)
	}
}
