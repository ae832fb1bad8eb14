package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/internal/objdiff"
	"github.com/statepack/statepack/internal/testregistry"
	"github.com/statepack/statepack/publish"
)

// actionFleet is a git repository with two targets in a statepack.yaml, signed with a key the config names:
// production (the kustomize demo) and shop (diffTree, plain YAML), both tagged main.
func actionFleet(t *testing.T, host, keyPassword, extra string) (repo, cfg, pub string) {
	t.Helper()
	staging := filepath.Join(t.TempDir(), "staging")
	copyDir(t, "../../testdata/demo", filepath.Join(staging, "demo"))
	copyDir(t, writeTree(t, diffTree), filepath.Join(staging, "shop"))
	copyDir(t, "../../testdata/bad/yaml-syntax", filepath.Join(staging, "broken"))
	key, pub := keyPair(t, keyPassword)
	data, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staging, "cosign.key"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	config := "apiVersion: statepack.dev/v1alpha1\nkind: Config\ndefaults: {tags: [main], sign: {key: cosign.key}}\ntargets:\n" +
		"- {name: production, path: demo/production, ref: " + host + "/acme/production}\n" +
		"- {name: shop, path: shop, ref: " + host + "/acme/shop}\n" + extra
	if err := os.WriteFile(filepath.Join(staging, "statepack.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, _ = gitRepo(t, staging, "https://github.com/acme/fleet.git")
	return repo, filepath.Join(repo, "statepack.yaml"), pub
}

func targetsByName(t *testing.T, r actionResult) (actionSummary, map[string]actionSummary) {
	t.Helper()
	var s actionSummary
	if err := json.Unmarshal([]byte(r.outputs["summary-json"]), &s); err != nil {
		t.Fatalf("output summary-json = %q: %v", r.outputs["summary-json"], err)
	}
	byName := map[string]actionSummary{}
	for _, tr := range s.Targets {
		byName[tr.Name] = tr
	}
	return s, byName
}

func TestActionConfigPublishesEveryTarget(t *testing.T) {
	t.Parallel()
	const user, password, keyPassword = "ci-bot", "fleet-registry-Pw-6a5b", "fleet-key-Pw-4c3d"
	reg := testregistry.Start(t, testregistry.WithBasicAuth(user, password))
	repo, cfg, pub := actionFleet(t, reg.Host, keyPassword, "")
	rn := newRunner(t, repo)
	inputs := map[string]string{"config": cfg, "path": ".", "key-password": keyPassword,
		"registry-username": user, "registry-password": password}

	// First publish of both targets.
	r := rn.run(t, inputs)
	if r.code != 0 {
		t.Fatalf("statepack action: %s", r)
	}
	for _, name := range []string{"digest", "ref", "tags"} {
		if _, ok := r.outputs[name]; ok {
			t.Errorf("output %s = %q, want it unset: two targets were published", name, r.outputs[name])
		}
	}
	if r.outputs["objects"] != "8" {
		t.Errorf("output objects = %q, want 8 (4 per target)", r.outputs["objects"])
	}
	s, byName := targetsByName(t, r)
	if s.Mode != modePublish || s.Config != cfg || s.Status != statusPublished || len(s.Targets) != 2 || s.Kinds["Deployment"] != 2 {
		t.Errorf("summary-json = %+v, want a publish of 2 targets from %s", s, cfg)
	}
	first := map[string]string{}
	paths := map[string]string{"production": "demo/production", "shop": "shop"}
	for _, name := range []string{"production", "shop"} {
		tr := byName[name]
		first[name] = tr.Digest
		if tr.Path != paths[name] {
			t.Errorf("target %s path = %q, want %q: relative to the workspace", name, tr.Path, paths[name])
		}
		if tr.Status != statusPublished || !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(tr.Digest) ||
			tr.Ref != reg.Host+"/acme/"+name+"@"+tr.Digest || !slices.Equal(tr.Tags, []string{"main"}) || tr.Objects != 4 ||
			tr.Signing != signKey || tr.Changes == nil || !tr.Changes.FirstPublish || tr.Changes.Since != "main" {
			t.Errorf("target %s in summary-json = %+v, want published, signed, tagged main, first publish", name, tr)
		}
	}
	for _, want := range []string{
		"### ✅ statepack published 2 target(s) of <code>" + cfg + "</code>\n\n| Target | Status | Ref | Objects | Findings | Changes |\n",
		"| <code>shop</code> | published | <code>" + byName["shop"].Ref + "</code> | 4 | 0 error(s), 0 warning(s) | first publish |\n",
		"#### Target <code>production</code>: published\n",
		"#### Target <code>shop</code>: published\n",
		"##### Changes since <code>main</code>\n\nFirst publish: the tag <code>main</code> did not exist yet, so every object is new.\n",
		"| Signing | key: ",
		"##### Objects by kind\n",
	} {
		if !strings.Contains(r.summary, want) {
			t.Errorf("job summary lacks %q:\n%s", want, r.summary)
		}
	}
	for _, want := range []string{"::group::Target production: published\n", "::group::Target shop: published\n", "selected: 2 target(s): production, shop\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	assertMasksFirst(t, r, password, keyPassword)
	assertNoSecret(t, r, password, keyPassword)
	v := run(t, nil, password+"\n", "verify", byName["shop"].Ref, "--key", pub, "--username", user, "--password-stdin")
	if v.code != 0 {
		t.Errorf("verify %s: %s", byName["shop"].Ref, v)
	}

	// Shop changes; production does not. Both are named in the targets input.
	app := filepath.Join(repo, "shop", "app.yaml")
	data, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(app, []byte(strings.Replace(string(data), "replicas: 2", "replicas: 3", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	inputs["targets"] = "shop\nproduction"
	r = rn.run(t, inputs)
	if r.code != 0 {
		t.Fatalf("statepack action: %s", r)
	}
	_, byName = targetsByName(t, r)
	shop, production := byName["shop"], byName["production"]
	if shop.Status != statusPublished || shop.Digest == first["shop"] || shop.Changes == nil ||
		*shop.Changes != (actionChanges{Since: "main", Previous: first["shop"], Changed: 1, Unchanged: 3}) {
		t.Errorf("target shop = %+v, changes %+v; want published with one object changed since %s", shop, shop.Changes, first["shop"])
	}
	if production.Status != statusUnchanged || production.Digest != first["production"] || production.Changes == nil ||
		production.Changes.Unchanged != 4 || production.Changes.Changed+production.Changes.Added+production.Changes.Removed != 0 {
		t.Errorf("target production = %+v, changes %+v; want unchanged", production, production.Changes)
	}
	for _, want := range []string{
		"| <code>shop</code> | published | <code>" + shop.Ref + "</code> | 4 | 0 error(s), 0 warning(s) | 1 changed, 3 unchanged |\n",
		"| <code>production</code> | unchanged | <code>" + production.Ref + "</code> | 4 | 0 error(s), 0 warning(s) | none |\n",
		"##### Changes since <code>main</code>\n\nFrom <code>" + first["shop"] + "</code>: **1 changed, 3 unchanged**.\n\n" +
			"<details><summary>changed <code>Deployment.apps/shop/web</code></summary>\n\n```diff\n--- a/Deployment.apps/shop/web\n+++ b/Deployment.apps/shop/web\n",
		"-  replicas: 2\n+  replicas: 3\n",
		"No changes: the objects are those of <code>main</code> (<code>" + first["production"] + "</code>), 4 in all.\n",
	} {
		if !strings.Contains(r.summary, want) {
			t.Errorf("job summary lacks %q:\n%s", want, r.summary)
		}
	}
	assertNoSecret(t, r, password, keyPassword)

	// One shard holding only shop: the outputs name its artifact.
	inputs["targets"] = ""
	inputs["shard"] = fmt.Sprintf("%d/2", statepack.ShardOf("shop", 2))
	if statepack.ShardOf("production", 2) == statepack.ShardOf("shop", 2) {
		t.Fatal("production and shop fall in the same of 2 shards: rename a target so the test covers a shard of one")
	}
	r = rn.run(t, inputs)
	if r.code != 0 {
		t.Fatalf("statepack action: %s", r)
	}
	if s, _ := targetsByName(t, r); len(s.Targets) != 1 || s.Targets[0].Name != "shop" || r.outputs["digest"] != s.Targets[0].Digest ||
		r.outputs["ref"] != reg.Host+"/acme/shop@"+s.Targets[0].Digest || r.outputs["tags"] != "main" || r.outputs["objects"] != "4" {
		t.Errorf("outputs = %v, summary-json targets = %+v; want shop's digest, ref and tags", r.outputs, s.Targets)
	}
}

func TestActionConfigReportsFailingTargets(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	repo, cfg, _ := actionFleet(t, reg.Host, "", "- {name: broken, path: broken, ref: "+reg.Host+"/acme/broken}\n")
	rn := newRunner(t, repo)

	// Validate mode pushes nothing, and reports the broken target with an annotation on its file.
	r := rn.run(t, map[string]string{"config": cfg, "mode": "validate"})
	if r.code != ExitFindings {
		t.Fatalf("statepack action: %s\nwant exit %d", r, ExitFindings)
	}
	if repos := repositories(t, reg.Host); len(repos) != 0 {
		t.Errorf("validate mode pushed %v", repos)
	}
	s, byName := targetsByName(t, r)
	if s.Mode != modeValidate || s.Status != statusFailed || byName["production"].Status != statusValidated || byName["shop"].Status != statusValidated ||
		byName["broken"].Status != statusFailed || byName["broken"].Errors != 1 || byName["shop"].Changes != nil {
		t.Errorf("summary-json = %+v, want production and shop validated, broken failed", s)
	}
	if !strings.Contains(r.stdout, "::error file=broken/deployment.yaml,line=7,title=statepack%3A yaml/syntax::mapping values are not allowed in this context\n") {
		t.Errorf("stdout lacks the annotation on broken/deployment.yaml:\n%s", r.stdout)
	}
	for _, want := range []string{"### ❌ statepack: 1 of 3 target(s) of <code>" + cfg + "</code> failed",
		"| <code>broken</code> | failed | <code>" + reg.Host + "/acme/broken</code> | 0 | 1 error(s), 0 warning(s) |  |",
		"#### Target <code>broken</code>: failed\n\n> invalid input: validation found 1 error(s), 0 warning(s)"} {
		if !strings.Contains(r.summary, want) {
			t.Errorf("job summary lacks %q:\n%s", want, r.summary)
		}
	}
	if strings.Contains(r.summary, "Changes since") {
		t.Errorf("a validation shows changes:\n%s", r.summary)
	}

	// Publish mode: the two good targets are published, nothing of the broken one is pushed.
	r = rn.run(t, map[string]string{"config": cfg})
	if r.code != ExitFindings {
		t.Fatalf("statepack action: %s\nwant exit %d", r, ExitFindings)
	}
	_, byName = targetsByName(t, r)
	if byName["production"].Status != statusPublished || byName["shop"].Status != statusPublished || byName["broken"].Status != statusFailed {
		t.Errorf("targets = %+v", byName)
	}
	if repos := repositories(t, reg.Host); slices.Contains(repos, "acme/broken") || !slices.Contains(repos, "acme/shop") {
		t.Errorf("repositories = %v, want shop and production, not broken", repos)
	}
	if _, ok := r.outputs["digest"]; ok {
		t.Errorf("output digest set with three targets: %v", r.outputs)
	}

	// A wrong key password fails before anything is published.
	repo2, cfg2, _ := actionFleet(t, reg.Host+"/second", "right-pw-1e2f", "")
	r = newRunner(t, repo2).run(t, map[string]string{"config": cfg2, "key-password": "wrong-pw-3a4b"})
	if r.code != ExitUsage || !strings.Contains(r.stdout, "::error title=statepack::target production: ") ||
		!strings.Contains(r.summary, "### ❌ statepack failed") {
		t.Errorf("statepack action with a wrong key password: %s\nwant exit 2 naming the target", r)
	}
	if repos := repositories(t, reg.Host); slices.Contains(repos, "second/acme/shop") {
		t.Errorf("a target was pushed although its key did not load: %v", repos)
	}
	assertNoSecret(t, r, "right-pw-1e2f", "wrong-pw-3a4b")

	// A name the config does not have.
	r = rn.run(t, map[string]string{"config": cfg, "targets": "shop, nope"})
	if r.code != ExitUsage || !strings.Contains(r.stdout, `input targets: "nope" is not a target of `+cfg+` (its targets: broken, production, shop)`) {
		t.Errorf("statepack action with an unknown target: %s\nwant exit 2 listing the targets", r)
	}
}

func TestActionShowsChangesSinceThePreviousTag(t *testing.T) {
	t.Parallel()
	const user, password = "ci-bot", "hunter2-registry-Pw-8e9f"
	reg := testregistry.Start(t, testregistry.WithBasicAuth(user, password))
	tree := writeTree(t, diffTree)
	rn := newRunner(t, filepath.Dir(tree))
	rn.env["SOURCE_DATE_EPOCH"] = fixedEpoch["SOURCE_DATE_EPOCH"]
	target := reg.Host + "/shop/app"
	inputs := map[string]string{"path": tree, "ref": target + ":main", "registry-username": user, "registry-password": password}
	publishOnce := func(t *testing.T) (actionResult, actionSummary) {
		t.Helper()
		r := rn.run(t, inputs)
		if r.code != 0 {
			t.Fatalf("statepack action: %s", r)
		}
		var s actionSummary
		if err := json.Unmarshal([]byte(r.outputs["summary-json"]), &s); err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, r, password)
		return r, s
	}

	r, s := publishOnce(t)
	if s.Status != statusPublished || s.Changes == nil || *s.Changes != (actionChanges{Since: "main", FirstPublish: true}) {
		t.Errorf("first publish: status %q, changes %+v; want published, first publish", s.Status, s.Changes)
	}
	if !strings.Contains(r.summary, "| Objects | 4 |\n\n#### Changes since <code>main</code>\n\nFirst publish: the tag <code>main</code> did not exist yet") {
		t.Errorf("job summary lacks the first-publish note after the table:\n%s", r.summary)
	}
	firstDigest := s.Digest

	r, s = publishOnce(t)
	if s.Status != statusUnchanged || s.Digest != firstDigest || !strings.Contains(r.summary, "No changes: the objects are those of <code>main</code> (<code>"+firstDigest+"</code>), 4 in all.") {
		t.Errorf("second publish of the same tree: status %q, digest %s; want unchanged %s\n%s", s.Status, s.Digest, firstDigest, r.summary)
	}

	// One object changed (holding a secret, which the summary masks), one removed, one added.
	changed := with(diffTree, map[string]string{
		"app.yaml":    strings.Replace(diffTree["app.yaml"], "replicas: 2", "replicas: 3", 1),
		"config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  LOG_LEVEL: info\n  TOKEN: " + password + "\n",
		"extra.yaml":  "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n  namespace: shop\n",
	})
	changed = with(changed, map[string]string{"namespace.yaml": ""})
	changed["shop-namespace.json"] = `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}`
	if err := os.RemoveAll(tree); err != nil {
		t.Fatal(err)
	}
	copyDir(t, writeTree(t, changed), tree)
	r, s = publishOnce(t)
	want := actionChanges{Since: "main", Previous: firstDigest, Added: 1, Changed: 2, Unchanged: 2}
	if s.Status != statusPublished || s.Changes == nil || *s.Changes != want {
		t.Errorf("publish after a change: status %q, changes %+v; want published, %+v", s.Status, s.Changes, want)
	}
	for _, want := range []string{
		"#### Changes since <code>main</code>\n\nFrom <code>" + firstDigest + "</code>: **2 changed, 1 added, 2 unchanged**.\n\n",
		"<details><summary>changed <code>ConfigMap/shop/settings</code></summary>",
		"+  TOKEN: ***\n",
		"<details><summary>changed <code>Deployment.apps/shop/web</code></summary>",
		"<details><summary>added <code>ServiceAccount/shop/web</code></summary>",
	} {
		if !strings.Contains(r.summary, want) {
			t.Errorf("job summary lacks %q:\n%s", want, r.summary)
		}
	}

	// Validation only: no comparison, even with a ref.
	inputs["mode"] = "validate"
	r, s = publishOnce(t)
	if s.Status != statusValidated || s.Changes != nil || strings.Contains(r.summary, "Changes since") || r.outputs["digest"] != "" {
		t.Errorf("mode validate: status %q, changes %+v, outputs %v; want validated without changes\n%s", s.Status, s.Changes, r.outputs, r.summary)
	}
}

func TestActionChangesSectionIsCapped(t *testing.T) {
	t.Parallel()
	var objs []objdiff.Object
	for i := 0; i < 200; i++ {
		objs = append(objs, objdiff.Object{ID: objdiff.ID{Kind: "ConfigMap", Namespace: "n", Name: fmt.Sprint("cm-", i)},
			YAML: []byte("data:\n  x: " + strings.Repeat("y", 1000) + "\n")})
	}
	rep, err := objdiff.Compare(nil, objs)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	writeChanges(&b, &actionChanges{Since: "main", Previous: "sha256:abc", Added: 200, Report: rep}, "####", summaryChangesLimit)
	if b.Len() > summaryChangesLimit+200 {
		t.Errorf("changes section is %d bytes, want at most about %d", b.Len(), summaryChangesLimit)
	}
	if !regexp.MustCompile(`_\d+ of 200 diffs shown: the rest would not fit in the summary`).MatchString(b.String()) {
		t.Errorf("changes section does not say how many diffs it left out:\n%s", b.String()[b.Len()-500:])
	}
}

func TestActionPlainHTTPInputReachesTheRegistry(t *testing.T) {
	t.Parallel()
	// The plain-http input speaks HTTP to a registry that is not on loopback, as --plain-http does; without it, HTTPS.
	for _, tc := range []struct {
		input string
		want  string
	}{{"true", "http"}, {"false", "https"}, {"", "https"}} {
		a, _ := testActionRun(map[string]string{"INPUT_PLAIN-HTTP": tc.input, "INPUT_REF": "registry.internal:5000/fleet:main"})
		if err := a.readInputs(); err != nil {
			t.Fatal(err)
		}
		base, err := a.publishBase(nil)
		if err != nil {
			t.Fatal(err)
		}
		rec := &schemeRecorder{}
		target, err := publish.Open(context.Background(), publish.Ref{Registry: "registry.internal:5000", Repository: "fleet"},
			append(base.Registry, publish.WithTransport(rec), publish.WithMaxRetries(0))...)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = target.Resolve(context.Background(), "main")
		if rec.scheme != tc.want {
			t.Errorf("plain-http: %q speaks %q to the registry, want %q", tc.input, rec.scheme, tc.want)
		}
	}
}

// schemeRecorder is a transport that records the scheme of the first request and sends nothing.
type schemeRecorder struct{ scheme string }

func (r *schemeRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.scheme == "" {
		r.scheme = req.URL.Scheme
	}
	return nil, errors.New("recorded, not sent")
}
