package statepack

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/fluxcd/pkg/sourceignore"
	"github.com/fluxcd/pkg/sourceignore/gitignore"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/charts"
	"github.com/statepack/statepack/internal/gitmeta"
)

// ChangedTarget is a target whose inputs a change touches, and why.
type ChangedTarget struct {
	Target
	// Because names the first changed path that touches the target: the path alone when the target's render reads
	// it, else followed by why it counts in parentheses (the config, a substituteFrom file, a .sourceignore, a chart
	// directory, a target whose inputs cannot be bounded).
	Because string `json:"because"`
}

// ChangeOptions are the revision Config.ChangedTargets compares HEAD with, and what else touches every target.
type ChangeOptions struct {
	// Since is a git revision: a commit, branch, tag or HEAD~1.
	Since string
	// GlobalInputs are gitignore patterns, anchored at the top of the work tree, of files whose change touches every
	// target: what neither a tree nor the config names, such as the CI workflow that pins statepack's version.
	GlobalInputs []string
	// AllIfUnknown makes a Since that names no commit of the history — a new branch's all-zero "before", a commit a
	// forced push removed, one a shallow clone lacks — touch every target instead of failing.
	AllIfUnknown bool
}

// ChangedTargets returns the targets, of c (read by LoadConfig), whose renders a change between the git revision
// opts.Since and HEAD can touch: a change to the config file itself touches all of them; otherwise a target is
// touched when a changed path is among what its render may read (build.InputClosure, computed at HEAD without
// rendering: a superset of the files a render reads, so that no touched target is missed; a target whose
// kustomizations name configs or remote bases counts as touched by any change). A file that the target's ignore
// rules leave out (Flux's default excludes, .sourceignore files, the target's IgnorePaths, which the caller fills
// from the defaults and the command line as for a publish) touches nothing, unless the render reads it all the same
// (kustomization files, helmCharts' charts and values files, the chart lock); a .sourceignore touches the targets
// that read files below it; the target's validate.substituteFrom files touch it, and so does its sign.key file (a
// new key must sign it again); the key files of the images section's rules touch every target (they decide the
// verdict on the images any target may deploy). The targets are those of targets (a Selection of the config), in
// their order. A change to a file of opts.GlobalInputs touches every target: statepack's own version is not in git,
// so name the file that pins it there, or publish every target after upgrading it.
func (c *Config) ChangedTargets(targets []Target, opts ChangeOptions) ([]ChangedTarget, error) {
	if c.file == "" {
		return nil, invalidf("changed targets need a config read by LoadConfig: its paths are relative to its file, and a change to it touches every target")
	}
	global := make([]gitignore.Pattern, len(opts.GlobalInputs))
	for i, p := range opts.GlobalInputs {
		if err := build.CheckIgnorePattern(p); err != nil {
			return nil, invalidf("global inputs: %v", err)
		}
		global[i] = gitignore.ParsePattern(p, nil)
	}
	configPath, since := c.file, opts.Since
	info, err := gitmeta.Read(filepath.Dir(configPath), "")
	if errors.Is(err, gitmeta.ErrNotRepository) {
		return nil, invalidf("changed targets need the config in a git work tree: %v", err)
	}
	if err != nil {
		return nil, err
	}
	all := func(because string) []ChangedTarget {
		out := make([]ChangedTarget, len(targets))
		for i, t := range targets {
			out[i] = ChangedTarget{Target: t, Because: because}
		}
		return out
	}
	changed, err := gitmeta.ChangedPaths(info.TopLevel, since)
	if opts.AllIfUnknown && errors.Is(err, gitmeta.ErrUnknownRevision) {
		return all(since + " (no such commit in the history: every target)"), nil
	}
	if err != nil {
		return nil, invalidf("%w", err)
	}
	// A change to a global input touches every target, whatever else it touches: no closure is needed.
	matcher := gitignore.NewMatcher(global)
	for _, p := range changed {
		if matcher.Match(strings.Split(p, "/"), false) {
			return all(p + " (a global input)"), nil
		}
	}
	top, err := filepath.EvalSymlinks(info.TopLevel)
	if err != nil {
		top = info.TopLevel
	}
	rel := func(p string) string {
		abs, err := filepath.Abs(p)
		if err != nil {
			return filepath.ToSlash(p)
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		r, err := filepath.Rel(top, abs)
		if err != nil {
			return filepath.ToSlash(p)
		}
		return filepath.ToSlash(r)
	}
	config := rel(configPath)
	var imageKeys []string
	if c.Images != nil {
		for _, r := range c.Images.Rules {
			for _, k := range r.Keys {
				if isKeyFile(k) {
					imageKeys = append(imageKeys, rel(k))
				}
			}
		}
	}
	// Each target's closure reads its kustomizations: the targets are judged side by side, their answers kept in the
	// targets' order, and the first error by that order returned.
	found := make([]*ChangedTarget, len(targets))
	errs := make([]error, len(targets))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			found[i], errs[i] = touchedTarget(t, changed, info.TopLevel, config, imageKeys, rel)
		})
	}
	wg.Wait()
	var out []ChangedTarget
	for i, c := range found {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if c != nil {
			out = append(out, *c)
		}
	}
	return out, nil
}

// touchedTarget returns t with the first of the changed paths (slash paths relative to top) that touches it, or nil
// when none does; config is the config file's path, imageKeys the key files of the image rules (relative to top),
// and rel makes a path relative to top.
func touchedTarget(t Target, changed []string, top, config string, imageKeys []string, rel func(string) string) (*ChangedTarget, error) {
	closure, err := build.InputClosure(t.Path, top, t.IgnorePaths)
	if err != nil {
		return nil, invalidf("target %s: %w", t.Name, err)
	}
	// The Helm stage reads the lock beside the tree whatever the ignore rules say.
	lock := path.Join(rel(t.Path), charts.LockFileName)
	// Validation reads the files of postBuild variables the config names: they decide its findings.
	var variables []string
	if t.Validate != nil {
		for _, f := range t.Validate.SubstituteFrom {
			variables = append(variables, rel(f))
		}
	}
	signingKey := ""
	if t.Sign != nil && isKeyFile(t.Sign.Key) {
		signingKey = rel(t.Sign.Key)
	}
	for _, c := range changed {
		because := ""
		switch {
		case c == config:
			because = c + " (the config)"
		case slices.Contains(imageKeys, c):
			because = c + " (a key of the config's image rules)"
		case c == signingKey:
			because = c + " (the target's signing key)"
		case c == lock:
			because = c
		case slices.Contains(variables, c):
			because = c + " (a substituteFrom file of the target's validation)"
		// A chart directory of the repository may be installed by any target's HelmRelease (through the
		// GitRepository of the repository itself), which only a render would tell, and helm.Load reads it whatever
		// the ignore rules say: a change there touches every target that renders releases.
		case t.Helm != HelmOff && inChartDir(top, c):
			because = c + " (a chart directory, which a HelmRelease may install)"
		case closure.All:
			because = c + " (the target's kustomizations name configs or remote bases: any change counts)"
		case closure.Touches(c) && path.Base(c) == sourceignore.IgnoreFile:
			because = c + " (it decides which files the render leaves out)"
		case closure.Touches(c):
			because = c
		default:
			continue
		}
		return &ChangedTarget{Target: t, Because: because}, nil
	}
	return nil, nil
}

// inChartDir reports whether the slash-separated path (relative to top) lies in a Helm chart directory: it or a
// directory above it, below top, holds a Chart.yaml.
func inChartDir(top, p string) bool {
	for dir := path.Dir(p); dir != "." && dir != "/" && dir != ""; dir = path.Dir(dir) {
		if _, err := os.Stat(filepath.Join(top, filepath.FromSlash(dir), "Chart.yaml")); err == nil {
			return true
		}
	}
	return false
}
