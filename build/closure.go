package build

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// InputClosure lists, without rendering, what a render of path under root may read: directories, with a trailing
// "/" (anything below them), and files, slash-separated and relative to root, sorted. It is meant to be a superset
// of Rendering.Inputs, for deciding cheaply whether a change can touch a render: the directories of every
// kustomization reached through resources and components (the whole directory, not only the files named), the
// files kustomizations name elsewhere (patches, generator sources, replacements, CRDs, configurations, helmCharts'
// chart directories and values files), a plain
// tree's whole directory, and the targets of symlinks on the way. all is true when it cannot bound the inputs —
// generator, transformer or validator configs (which may name further files), remote bases, a path that leaves
// root —: then any change counts.
func InputClosure(path, root string) (inputs []string, all bool, err error) {
	realRootDir, err := realRoot(root)
	if err != nil {
		return nil, false, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, false, err
	}
	dir, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", path, err)
	}
	c := &closure{root: realRootDir, seen: map[string]bool{}, inputs: map[string]bool{}}
	if !within(c.root, dir) {
		return nil, true, nil
	}
	if findKustomization(dir) != "" {
		c.kustomization(dir)
	} else {
		c.plain(dir)
	}
	if c.all {
		return nil, true, nil
	}
	for p := range c.inputs {
		inputs = append(inputs, p)
	}
	slices.Sort(inputs)
	return inputs, false, nil
}

// Touches reports whether a changed path (slash-separated, relative to the same root) is one of inputs, or below
// one of its directories.
func Touches(inputs []string, changed string) bool {
	for _, in := range inputs {
		if changed == in || strings.HasSuffix(in, "/") && (in == "./" || strings.HasPrefix(changed, in)) {
			return true
		}
	}
	return false
}

type closure struct {
	root   string
	seen   map[string]bool
	inputs map[string]bool
	all    bool
}

// add records a path read (a directory when dir), and the real path it resolves to when a symlink is on the way.
func (c *closure) add(p string, dir bool) {
	for _, q := range []string{p, realOr(p)} {
		rel, err := filepath.Rel(c.root, q)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			c.all = true // outside the root: nothing bounds it
			return
		}
		rel = filepath.ToSlash(rel)
		if dir {
			rel = strings.TrimSuffix(rel, "/") + "/"
		}
		c.inputs[rel] = true
	}
}

// join resolves an entry of the kustomization in dir as kustomize does: relative to dir, unless absolute.
func join(dir, entry string) string {
	if filepath.IsAbs(entry) {
		return filepath.Clean(entry)
	}
	return filepath.Join(dir, entry)
}

func realOr(p string) string {
	if real, err := filepath.EvalSymlinks(p); err == nil {
		return real
	}
	return p
}

// plain adds a plain tree's directory and walks the kustomizations inside it, whose references may leave it.
func (c *closure) plain(dir string) {
	c.add(dir, true)
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case p != dir && strings.HasPrefix(d.Name(), "."):
			if d.IsDir() {
				return filepath.SkipDir
			}
		case d.Type()&fs.ModeSymlink != 0:
			c.add(p, false)
		case d.IsDir() && p != dir && findKustomization(p) != "":
			c.kustomization(p)
			return filepath.SkipDir
		}
		return nil
	})
}

// kustomization adds a kustomization's directory, what it names, and the kustomizations it enters.
func (c *closure) kustomization(dir string) {
	if c.seen[dir] || c.all {
		return
	}
	c.seen[dir] = true
	if !within(c.root, dir) {
		c.all = true // nothing outside the root is read, and nothing bounds it
		return
	}
	c.add(dir, true)
	for _, kf := range kustomizationsIn(dir) {
		if real, err := filepath.EvalSymlinks(kf); err != nil || !within(c.root, real) {
			c.all = true
			return
		}
		data, err := readLimited(kf, DefaultMaxFileSize)
		if err != nil {
			continue // the render fails on it: nothing more is read
		}
		c.add(kf, false)
		loads, ok := readKustomization(data)
		if !ok {
			continue
		}
		if len(loads.remote) > 0 || len(loads.configs) > 0 {
			c.all = true
			return
		}
		for _, f := range loads.files {
			if !strings.ContainsAny(f, "\n") {
				c.add(join(dir, f), false)
			}
		}
		for _, h := range loads.helm.charts {
			_, chart := chartPaths(dir, loads.helm.globals, h)
			c.add(chart, true)
		}
		for _, b := range loads.bases {
			p := join(dir, b)
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				c.kustomization(realOr(p))
				c.add(p, true)
			} else {
				c.add(p, false)
			}
		}
	}
}
