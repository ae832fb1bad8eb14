package build

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fluxcd/pkg/sourceignore"
)

// Closure bounds, without rendering, what a render of a directory may read, for deciding cheaply whether a change
// can touch the render (Touches). It is meant to be a superset of Rendering.Inputs:
//   - the rendered directory itself, whole: statepack looks at all of it (the plain walk, the Helm stage's lock
//     file, the names a tree that renders nothing reports);
//   - of every kustomization reached through resources and components, its kustomization file (each name kustomize
//     looks for, present or not) and the files it names (patches, generator sources, replacements, CRDs,
//     configurations, an OpenAPI schema, helmCharts' chart directories and values files), but not the other files
//     of its directory, which kustomize never reads;
//   - the targets of symlinks on the way.
//
// A file that the ignore rules the render applies leave out (Flux's default excludes, .sourceignore files,
// WithIgnorePaths' patterns) is no input, unless the render reads it whatever they say: kustomization files (read
// to find helmCharts), helmCharts' chart directories and values files. All is set when nothing bounds the inputs:
// generator, transformer or validator configs (which may name further files), remote bases, a path that leaves the
// root; then any change counts.
type Closure struct {
	// All is set when the inputs cannot be bounded without rendering.
	All bool

	root   string
	ignore *ignorer
	// inputs are slash paths relative to root, directories with a trailing "/" (anything below them), each true
	// when the render reads it whatever the ignore rules say.
	inputs map[string]bool
	seen   map[string]bool
	// realPaths remembers the real paths of directories: kustomizations name many files in each.
	realPaths realPaths
}

// InputClosure bounds what a render of path under root may read (see Closure), with the ignore patterns the render
// takes (WithIgnorePaths; nil for none).
func InputClosure(path, root string, ignorePaths []string) (*Closure, error) {
	for _, p := range ignorePaths {
		if err := CheckIgnorePattern(p); err != nil {
			return nil, err
		}
	}
	realRootDir, err := realRoot(root)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	c := &Closure{root: realRootDir, ignore: newIgnorer(realRootDir, dir, ignorePaths), seen: map[string]bool{}, inputs: map[string]bool{}}
	if !within(c.root, dir) {
		return &Closure{All: true}, nil
	}
	c.add(dir, true, false)
	if c.findKustomization(dir) != "" {
		c.kustomization(dir)
	} else {
		c.plain(dir)
	}
	if c.All {
		return &Closure{All: true}, nil
	}
	return c, nil
}

// Inputs lists the inputs, sorted: files, and directories with a trailing "/" (anything below them).
func (c *Closure) Inputs() []string {
	out := make([]string, 0, len(c.inputs))
	for p := range c.inputs {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Touches reports whether a change of the file at changed (slash-separated, relative to the root) can touch the
// render: it is one of the inputs or below one of their directories, and not left out by the ignore rules unless
// the render reads it all the same. A .sourceignore file touches the render when an input lies in or below its
// directory, or in a directory of the inputs above it: it decides what is left out there.
func (c *Closure) Touches(changed string) bool {
	if c.All {
		return true
	}
	if path.Base(changed) == sourceignore.IgnoreFile {
		dir := strings.TrimSuffix(changed, sourceignore.IgnoreFile) // "" for the root's, else "dir/"
		for in := range c.inputs {
			if strings.HasPrefix(in, dir) || holds(in, dir) {
				return true
			}
		}
		return false
	}
	through := false
	for in, raw := range c.inputs {
		if changed == in || holds(in, changed) {
			if raw {
				return true
			}
			through = true
		}
	}
	return through && !c.ignore.ignored(filepath.Join(c.root, filepath.FromSlash(changed)), false)
}

// holds reports whether the input in is a directory (the root's is "./") that holds the path p.
func holds(in, p string) bool {
	return in == "./" || strings.HasSuffix(in, "/") && strings.HasPrefix(p, in)
}

// add records a path read (a directory when dir; raw when the render reads it whatever the ignore rules say), and
// the real path it resolves to when a symlink is on the way.
func (c *Closure) add(p string, dir, raw bool) {
	c.record(p, dir, raw)
	c.record(c.realOr(p), dir, raw)
}

// record records a path read as it is.
func (c *Closure) record(p string, dir, raw bool) {
	rel, err := filepath.Rel(c.root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		c.All = true // outside the root: nothing bounds it
		return
	}
	rel = filepath.ToSlash(rel)
	if dir {
		rel = strings.TrimSuffix(rel, "/") + "/"
	}
	c.inputs[rel] = c.inputs[rel] || raw
}

// findKustomization is the kustomization file of dir, unless the ignore rules leave it out: the render then reads
// the directory as plain manifests.
func (c *Closure) findKustomization(dir string) string {
	if kf := findKustomization(dir); kf != "" && !c.ignore.ignored(kf, false) {
		return kf
	}
	return ""
}

// join resolves an entry of the kustomization in dir as kustomize does: relative to dir, unless absolute.
func join(dir, entry string) string {
	if filepath.IsAbs(entry) {
		return filepath.Clean(entry)
	}
	return filepath.Join(dir, entry)
}

// realOr is p with its symlinks resolved, or p when that fails.
func (c *Closure) realOr(p string) string {
	if real, err := c.realPaths.resolve(p); err == nil {
		return real
	}
	return p
}

// plain walks a plain tree (its directory is an input already) for the kustomizations inside it, whose
// references may leave it.
func (c *Closure) plain(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case p != dir && strings.HasPrefix(d.Name(), "."):
			if d.IsDir() {
				return filepath.SkipDir
			}
		case d.Type()&fs.ModeSymlink != 0:
			c.add(p, false, false)
		case d.IsDir() && p != dir && c.findKustomization(p) != "":
			c.kustomization(p)
			return filepath.SkipDir
		}
		return nil
	})
}

// kustomization adds a kustomization's files, what it names, and the kustomizations it enters.
func (c *Closure) kustomization(dir string) {
	if c.seen[dir] || c.All {
		return
	}
	c.seen[dir] = true
	if !within(c.root, dir) {
		c.All = true // nothing outside the root is read, and nothing bounds it
		return
	}
	c.kustomizationFiles(dir)
	for _, kf := range kustomizationsIn(dir) {
		if real, err := filepath.EvalSymlinks(kf); err != nil || !within(c.root, real) {
			c.All = true
			return
		}
		data, err := readLimited(kf, DefaultMaxFileSize)
		if err != nil {
			continue // the render fails on it: nothing more is read
		}
		loads, ok := readKustomization(data)
		if !ok {
			continue
		}
		if len(loads.remote) > 0 || len(loads.configs) > 0 {
			c.All = true
			return
		}
		for _, f := range loads.files {
			if !strings.ContainsAny(f, "\n") {
				c.add(join(dir, f), false, false)
			}
		}
		for _, h := range loads.helm.charts {
			_, chart := chartPaths(dir, loads.helm.globals, h)
			c.add(chart, true, true) // helm.Load reads the chart directory, and loadFile its values files, as they are
			for _, v := range append([]string{h.ValuesFile}, h.AdditionalValuesFiles...) {
				if v != "" && !isRemoteFile(v) {
					c.add(join(dir, v), false, true)
				}
			}
		}
		for _, b := range loads.bases {
			p := join(dir, b)
			st, err := os.Stat(p)
			switch {
			case err != nil:
				// Missing: kustomize fails on it now, and a file or a directory put there later is read.
				c.add(p, false, true)
				c.add(p, true, true)
			case st.IsDir():
				c.kustomization(c.realOr(p))
				c.kustomizationFiles(p) // the path as written, when a symlink is on the way
				if lst, err := os.Lstat(p); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
					c.add(p, false, true) // the link itself: pointing it elsewhere changes what is read
				}
			default:
				c.add(p, false, false)
			}
		}
	}
}

// kustomizationFiles adds each name kustomize looks for in dir, present or not (a second one makes it fail), as read
// whatever the ignore rules say: the render's scan for helmCharts reads them.
func (c *Closure) kustomizationFiles(dir string) {
	for _, name := range kustomizationFiles {
		// The callers add dir both as written and as it resolves: only a link of the file itself needs resolving
		// (most names are absent, and resolving each would cost a stat per path element).
		p := filepath.Join(dir, name)
		if st, err := os.Lstat(p); err == nil && st.Mode()&fs.ModeSymlink != 0 {
			c.add(p, false, true)
		} else {
			c.record(p, false, true)
		}
	}
}
