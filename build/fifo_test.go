//go:build unix

package build

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRenderRefusesNamedPipes puts a FIFO where a render reads a file: kustomize's resources, generator files,
// generator configs, patches and kustomization files, and a plain tree. Opening a FIFO for reading blocks until
// something writes to it; the render must refuse it with a finding instead, and the test fails rather than hangs
// if it does not.
func TestRenderRefusesNamedPipes(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		fifo  string // slash path of the FIFO, relative to the root
		path  string // what to render
	}{
		{name: "kustomize resource", files: map[string]string{"app/kustomization.yaml": "resources:\n- pipe.yaml\n"},
			fifo: "app/pipe.yaml", path: "app"},
		{name: "generator file", files: map[string]string{"app/kustomization.yaml": "configMapGenerator:\n- name: g\n  files:\n  - key=pipe.txt\n"},
			fifo: "app/pipe.txt", path: "app"},
		{name: "generator env file", files: map[string]string{"app/kustomization.yaml": "secretGenerator:\n- name: g\n  envs:\n  - pipe.env\n"},
			fifo: "app/pipe.env", path: "app"},
		{name: "generator config", files: map[string]string{"app/kustomization.yaml": "generators:\n- pipe.yaml\n"},
			fifo: "app/pipe.yaml", path: "app"},
		{name: "patch", files: map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\npatches:\n- path: pipe.yaml\n", "app/cm.yaml": cm},
			fifo: "app/pipe.yaml", path: "app"},
		{name: "kustomization of a base", files: map[string]string{"app/kustomization.yaml": "resources:\n- ../base\n", "base/.keep": ""},
			fifo: "base/kustomization.yaml", path: "app"},
		{name: "plain tree", files: map[string]string{"app/ok.yaml": cm},
			fifo: "app/pipe.yaml", path: "app"},
		{name: "plain tree, through a symlink", files: map[string]string{"app/ok.yaml": cm},
			fifo: "elsewhere/pipe", path: "app"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			fifo := filepath.Join(dir, filepath.FromSlash(tc.fifo))
			if err := os.MkdirAll(filepath.Dir(fifo), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			named := tc.fifo
			if tc.name == "plain tree, through a symlink" {
				symlink(t, fifo, filepath.Join(dir, "app", "link.yaml"))
				named = "app/link.yaml"
			}
			type outcome struct {
				r   *Rendering
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				r, err := Render(context.Background(), filepath.Join(dir, tc.path), WithRoot(dir))
				done <- outcome{r, err}
			}()
			var o outcome
			select {
			case o = <-done:
			case <-time.After(20 * time.Second):
				// Unblock the reader, so that the test binary can go on to report the failure.
				if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
				t.Fatalf("Render() still blocked on the named pipe %s after 20 s", tc.fifo)
			}
			if o.err != nil {
				t.Fatalf("Render() error = %v, want a finding", o.err)
			}
			want := Finding{Severity: SeverityError, Rule: "source/not-regular", File: named,
				Message: named + " is a named pipe, not a regular file: statepack reads only regular files; replace it with a file"}
			for _, f := range o.r.Findings {
				if f == want {
					return
				}
			}
			t.Errorf("Render() findings = %v\nwant %v", o.r.Findings, want)
		})
	}
}

// TestHashInputsRefusesNamedPipes: an input that became a FIFO since the render must not hang the digest.
func TestHashInputsRefusesNamedPipes(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "a.yaml"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := HashInputs(dir, []string{"a.yaml"})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "a.yaml: is a named pipe, not a regular file") {
			t.Errorf("HashInputs() error = %v, want the named pipe refused", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("HashInputs() still blocked on a named pipe after 20 s")
	}
}
