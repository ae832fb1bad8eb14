package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/fluxcd/pkg/sourceignore"
	"github.com/fluxcd/pkg/sourceignore/gitignore"
)

// errIgnored is the error of a file kustomize asks for that .sourceignore or --ignore-paths leaves out.
var errIgnored = errors.New("is ignored (.sourceignore or --ignore-paths), so Flux's source-controller leaves it out of the artifact: stop ignoring it, or stop referring to it")

// WithIgnorePaths ignores the files that match patterns (gitignore syntax, anchored at the rendered path), as
// `flux push artifact --ignore-paths` does: they are neither rendered nor packaged, and a kustomization that refers
// to one fails as it would in Flux. They win over .sourceignore files, which Render always honours.
func WithIgnorePaths(patterns []string) RenderOption {
	return func(o *renderOptions) error {
		for _, p := range patterns {
			if err := CheckIgnorePattern(p); err != nil {
				return err
			}
		}
		o.ignorePaths = slices.Clone(patterns)
		return nil
	}
}

// CheckIgnorePattern says what is wrong with an ignore pattern (one gitignore line, as --ignore-paths and a
// statepack.yaml's ignorePaths take them); nil when nothing is.
func CheckIgnorePattern(p string) error {
	switch {
	case strings.TrimSpace(p) == "":
		return errors.New("an ignore pattern is empty: remove it, or write a gitignore pattern such as docs/")
	case strings.ContainsAny(p, "\r\n"):
		return fmt.Errorf("the ignore pattern %q holds a line break: give each pattern as an item of its own", p)
	}
	return nil
}

// ignorer says which files Flux's source-controller leaves out of an artifact: its default excludes
// (sourceignore.NewDefaultMatcher: VCS files, images and archives, CI configs such as cloudbuild.yaml and
// .gitlab-ci.yml), the patterns of every .sourceignore file in the source root, each anchored at its directory, and
// last the --ignore-paths patterns. As source-controller does, each file is matched on its own (a negation can keep
// a file in an ignored directory). The .sourceignore files are read when a path below them is first matched.
type ignorer struct {
	root  string
	extra []gitignore.Pattern // --ignore-paths

	mu    sync.Mutex
	dirs  map[string][]gitignore.Pattern // slash path of a directory relative to root → its .sourceignore's patterns
	files []string                       // the .sourceignore files read, relative to root
}

func newIgnorer(root, path string, patterns []string) *ignorer {
	ig := &ignorer{root: root, dirs: map[string][]gitignore.Pattern{}}
	var domain []string
	if rel, err := filepath.Rel(root, path); err == nil && rel != "." {
		domain = strings.Split(filepath.ToSlash(rel), "/")
	}
	for _, p := range patterns {
		ig.extra = append(ig.extra, gitignore.ParsePattern(p, domain))
	}
	return ig
}

// ignored says whether the file or directory at real (absolute, symlinks resolved) is left out.
func (ig *ignorer) ignored(real string, isDir bool) bool {
	rel, err := filepath.Rel(ig.root, real)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return false
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	var ps []gitignore.Pattern
	for i := range parts {
		ps = append(ps, ig.patternsOf(parts[:i])...)
	}
	return sourceignore.NewDefaultMatcher(append(ps, ig.extra...), nil).Match(parts, isDir)
}

// patternsOf returns the patterns of the .sourceignore file in the directory dir (path parts relative to root).
func (ig *ignorer) patternsOf(dir []string) []gitignore.Pattern {
	key := strings.Join(dir, "/")
	ig.mu.Lock()
	defer ig.mu.Unlock()
	if ps, ok := ig.dirs[key]; ok {
		return ps
	}
	file := filepath.Join(ig.root, filepath.FromSlash(key), sourceignore.IgnoreFile)
	ps, err := sourceignore.ReadIgnoreFile(file, slices.Clone(dir))
	if err == nil {
		if _, statErr := os.Stat(file); statErr == nil {
			ig.files = append(ig.files, strings.TrimPrefix(key+"/"+sourceignore.IgnoreFile, "/"))
		}
	}
	ig.dirs[key] = ps
	return ps
}

// read lists the .sourceignore files read, for the inputs of the render.
func (ig *ignorer) read() []string {
	ig.mu.Lock()
	defer ig.mu.Unlock()
	return slices.Clone(ig.files)
}
