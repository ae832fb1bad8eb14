package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statepack/statepack/internal/testregistry"
)

// repositories lists what the registry holds at all.
func repositories(t *testing.T, host string) []string {
	t.Helper()
	resp, err := http.Get("http://" + host + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Repositories []string }
	if err := jsonDecode(resp.Body, &body); err != nil {
		t.Fatal(err)
	}
	return body.Repositories
}

func TestBadInputPushesNothing(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	key, _ := keyPair(t, "pw")
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "broken.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n   oops: here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"syntax error", map[string]string{"COSIGN_PASSWORD": "pw"}, []string{"publish", bad, reg.Host + "/bad:v1", "--key", key},
			1, "broken.yaml:5: error: mapping values are not allowed in this context [yaml/syntax]"},
		{"empty tree", nil, []string{"publish", empty, reg.Host + "/bad:v1"}, 1, "rendered no objects"},
		{"wrong key password", map[string]string{"COSIGN_PASSWORD": "not it"}, []string{"publish", demoTree, reg.Host + "/bad:v1", "--key", key},
			2, "COSIGN_PASSWORD"},
		{"missing key file", nil, []string{"publish", demoTree, reg.Host + "/bad:v1", "--key", filepath.Join(empty, "nope.key")}, 2, "nope.key"},
		{"reference with a digest", nil, []string{"publish", demoTree, reg.Host + "/bad@sha256:" + strings.Repeat("a", 64)}, 2, "must not carry a digest"},
		{"bad tag", nil, []string{"publish", demoTree, reg.Host + "/bad:v1", "--tag", "not a tag"}, 2, `--tag "not a tag" is not a valid tag`},
		{"bad reference", nil, []string{"publish", demoTree, "Not/A Ref"}, 2, "invalid reference"},
		{"username without password", nil, []string{"publish", demoTree, reg.Host + "/bad:v1", "--username", "u"}, 2, "--password-stdin"},
		{"bad annotation", nil, []string{"publish", demoTree, reg.Host + "/bad:v1", "--annotation", "novalue"}, 2, "not KEY=VALUE"},
		{"bad layer type", nil, []string{"publish", demoTree, reg.Host + "/bad:v1", "--layer-media-type", "application/x-tar"}, 2, "not supported"},
		{"created not in UTC", nil, []string{"publish", demoTree, reg.Host + "/bad:v1", "--annotation", "org.opencontainers.image.created=2024-05-01T12:00:00+02:00"}, 2, "in UTC"},
		{"path outside the root", nil, []string{"publish", demoTree, reg.Host + "/bad:v1", "--root", empty}, 2, "outside the source root"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.env, "", tc.args...)
			if r.code != tc.wantCode || !strings.Contains(r.stderr, tc.wantErr) {
				t.Fatalf("%s\nwant exit %d and stderr containing %q", r, tc.wantCode, tc.wantErr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing on failure", r.stdout)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("stderr carries a stack trace:\n%s", r.stderr)
			}
			if repos := repositories(t, reg.Host); len(repos) > 0 {
				t.Fatalf("the registry holds %v after a failed publish, want nothing", repos)
			}
		})
	}
}

func TestVerifyFailures(t *testing.T) {
	t.Parallel()
	reg := testregistry.Start(t)
	key, pub := keyPair(t, "")
	_, otherPub := keyPair(t, "")
	ref := reg.Host + "/team/app"
	mustRun(t, 0, nil, "publish", demoTree, ref+":v1", "--key", key)

	// An unsigned artifact, and a tag moved onto it.
	mustRun(t, 0, nil, "publish", "../../testdata/plain", ref+":unsigned")
	mustRun(t, 0, nil, "publish", "../../testdata/plain", ref+":v1-moved")
	mustRun(t, 0, nil, "publish", demoTree, ref+":v1-moved", "--key", key)
	mustRun(t, 0, nil, "publish", "../../testdata/plain", ref+":v1-moved") // the tag moves onto unsigned content

	tests := []struct {
		name    string
		ref     string
		key     string
		want    string
		code    int
		wantOut string
	}{
		{"wrong key", ref + ":v1", otherPub, "none verifies", 1, ""},
		{"unsigned", ref + ":unsigned", pub, "no signature", 1, ""},
		{"tag moved onto unsigned content", ref + ":v1-moved", pub, "if the tag was moved", 1, ""},
		{"missing tag", ref + ":nope", pub, "nope", 3, ""},
		{"no key", ref + ":v1", "", "verify needs --key", 2, ""},
		{"bad key file", ref + ":v1", filepath.Join(t.TempDir(), "missing.pub"), "missing.pub", 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"verify", tc.ref}
			if tc.key != "" {
				args = append(args, "--key", tc.key)
			}
			r := run(t, nil, "", args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("%s\nwant exit %d and stderr containing %q", r, tc.code, tc.want)
			}
		})
	}
	t.Run("pull refuses unverified content", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		r := run(t, nil, "", "pull", ref+":unsigned", "-o", out, "--key", pub)
		if r.code != 1 || !strings.Contains(r.stderr, "nothing was extracted") {
			t.Fatalf("%s\nwant exit 1, nothing extracted", r)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("pull created %s although verification failed", out)
		}
	})
}

func TestRegistryAuth(t *testing.T) {
	t.Parallel()
	plant("hunter2-password")
	reg := testregistry.Start(t, testregistry.WithBasicAuth("alice", "hunter2-password"))
	ref := reg.Host + "/private/app:v1"

	r := run(t, nil, "", "publish", demoTree, ref)
	if r.code != 3 || !strings.Contains(r.stderr, "docker login") {
		t.Fatalf("anonymous publish: %s\nwant exit 3 with a login hint", r)
	}

	r = run(t, nil, "hunter2-password\n", "publish", demoTree, ref, "--username", "alice", "--password-stdin")
	if r.code != 0 {
		t.Fatalf("publish with --password-stdin: %s", r)
	}
	if strings.Contains(r.stdout+r.stderr, "hunter2") {
		t.Errorf("the password appears in the output:\n%s", r)
	}

	// Credentials as `docker login` leaves them in config.json.
	cfg := t.TempDir()
	auth := "YWxpY2U6aHVudGVyMi1wYXNzd29yZA==" // alice:hunter2-password
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"auths":{"`+reg.Host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, map[string]string{"DOCKER_CONFIG": cfg}, "", "pull", ref, "-o", filepath.Join(t.TempDir(), "out"))
	if r.code != 0 {
		t.Fatalf("pull with DOCKER_CONFIG: %s", r)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"publish"}, "publish takes [PATH] REF"},
		{[]string{"render", "a", "b"}, "at most one PATH"},
		{[]string{"render", "--no-such-flag"}, "unknown flag"},
		{[]string{"render", "does/not/exist"}, "does/not/exist"},
		{[]string{"build", demoTree}, "build needs -o FILE"},
		{[]string{"pull", "oci:/tmp/x:v1"}, "pull needs -o DIR"},
		{[]string{"validate", demoTree, "-o", "yaml"}, "--output must be text or json"},
		{[]string{"verify", "localhost:5000/a", "--key", "k.pub"}, "names no tag or digest"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := run(t, nil, "", tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("%s\nwant exit 2 and stderr containing %q", r, tc.want)
			}
		})
	}
}

func TestLayoutFailuresLeaveNothingBehind(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, pub := keyPair(t, "")
	missing := filepath.Join(dir, "typo", "layout")
	for _, args := range [][]string{
		{"verify", "oci:" + missing + ":v1", "--key", pub},
		{"pull", "oci:" + missing + ":v1", "-o", filepath.Join(dir, "out")},
	} {
		r := run(t, nil, "", args...)
		if r.code != 3 || !strings.Contains(r.stderr, "oci-layout") {
			t.Errorf("%v: %s\nwant exit 3 naming the missing layout", args, r)
		}
		if _, err := os.Stat(filepath.Join(dir, "typo")); !os.IsNotExist(err) {
			t.Fatalf("%v created %s", args, missing)
		}
	}
	layout := filepath.Join(dir, "layout")
	r := run(t, nil, "", "publish", demoTree, "oci:"+layout, "--tag", "a/b")
	if r.code != 2 || !strings.Contains(r.stderr, `--tag "a/b" is not a valid tag`) {
		t.Errorf("%s\nwant exit 2 for the bad tag", r)
	}
	if _, err := os.Stat(layout); !os.IsNotExist(err) {
		t.Errorf("a refused publish created the layout %s", layout)
	}
}
