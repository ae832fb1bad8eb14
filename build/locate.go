package build

import (
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
)

// How objects from kustomize find their source without a second build.
//
// kustomize says where an object came from only when asked (origin annotations, WithSourcePositions), and asking
// costs: it then records every transformer on every object, which makes a build about twice as slow. A render
// therefore builds without them and remembers which objects each build made (kustomizeBuild). When findings need
// placing, LocateSources walks the same kustomizations kustomize walked — resources, bases and components — and
// predicts for every document of every resource file, and every generator, the identity kustomize gives it: group,
// kind, and the name after each level's namePrefix and nameSuffix (and a generator's hash). The file of an object
// is then the file of the one instance with its identity, and its line is found in that file as the origin
// annotation's file would give it (lineOf): the same answer, for a fraction of a build.
//
// The prediction is trusted only when it provably matches: every object of the build is claimed by instances of
// its identity as many as there are objects with it, all from one file, and nothing that can rename an object or
// make one the walk does not see is in play (transformer and generator configs, replacements, vars, Helm charts,
// custom transformer configurations, patches allowed to change names or kinds, JSON patches of a name or kind,
// remote or absolute entries, symlinks on the way). Otherwise LocateSources changes nothing and reports false; the
// caller builds again with origin annotations, as before.

// kustomizeBuild is one kustomize build of a render: the kustomization's directory (real path) and the objects it
// made, Rendering.Objects[first:first+n].
type kustomizeBuild struct {
	dir      string
	first, n int
}

// LocateSources gives the objects kustomize built (which have no source unless the render had
// WithSourcePositions) the file and line that WithSourcePositions would have given them, from the kustomizations
// and the files they name, without building again. It reports false, and changes nothing, when it cannot prove
// that its answer is kustomize's (see above); render again WithSourcePositions then. Objects that already have a
// source keep it.
func (r *Rendering) LocateSources() bool {
	located := map[int]Source{}
	for _, b := range r.builds {
		objs := r.Objects[b.first : b.first+b.n]
		if len(objs) > 0 && objs[0].Source.File != "" {
			continue // the kustomization asked for origin annotations itself: placed by them already
		}
		srcs, ok := r.locateBuild(b.dir, objs)
		if !ok {
			return false
		}
		for i, s := range srcs {
			located[b.first+i] = s
		}
	}
	for i, s := range located {
		r.Objects[i].Source = s
	}
	return true
}

// nameLevel is what one kustomization does to the names of everything it accumulates.
type nameLevel struct{ prefix, suffix string }

// sourceInstance is one way an object enters a build: a document of a resource file reached through a chain of
// kustomizations, or a generator of a kustomization.
type sourceInstance struct {
	file      string // absolute, lexical as kustomize's origin paths are: the resource file, or the kustomization
	generated bool
}

type identity struct{ group, kind, name string }

// sourceWalk walks the kustomizations of one build, as kustomize accumulates them.
type sourceWalk struct {
	r         *Rendering
	docs      map[string][]Object // decoded resource files, by absolute path
	instances map[identity][]sourceInstance
	hashed    map[identity]bool // identities of generators, whose objects may carry a hash suffix
	deletes   []identity        // what strategic merge patches with "$patch: delete" remove, as they name it
}

func (r *Rendering) locateBuild(dir string, objs []Object) ([]Source, bool) {
	w := &sourceWalk{r: r, docs: map[string][]Object{}, instances: map[identity][]sourceInstance{}, hashed: map[identity]bool{}}
	if !w.kustomization(dir, nil, 0) {
		return nil, false
	}
	// Every object must be claimed, identity by identity, by as many instances as there are objects with it, all
	// from one file.
	ids := make([]identity, len(objs))
	counts := map[identity]int{}
	for i, o := range objs {
		id := identity{o.ID.Group, o.ID.Kind, o.ID.Name}
		if _, ok := w.instances[id]; !ok {
			if base, ok := withoutHash(id.name); ok && w.hashed[identity{id.group, id.kind, base}] {
				id.name = base
			}
		}
		ids[i] = id
		counts[id]++
	}
	claimed := 0
	for id, insts := range w.instances {
		n := min(counts[id], len(insts))
		claimed += n
		if n < len(insts) && !w.deleted(id) {
			return nil, false
		}
		for _, in := range insts[1:] {
			if in != insts[0] {
				return nil, false
			}
		}
	}
	if claimed != len(objs) {
		return nil, false
	}
	srcs := make([]Source, len(objs))
	for i, o := range objs {
		in := w.instances[ids[i]][0]
		srcs[i] = Source{File: relTo(r.Root, in.file)}
		if !in.generated {
			srcs[i].Line = lineOf(w.sourceDocs(in.file, srcs[i].File), o.ID)
		}
	}
	return srcs, true
}

// deleted reports whether a delete patch of the walk may have removed an instance of id: one of its kind, naming
// a part of its name (a patch names an object as it is at the patch's level, before outer prefixes and suffixes).
func (w *sourceWalk) deleted(id identity) bool {
	for _, d := range w.deletes {
		if d.group == id.group && d.kind == id.kind && d.name != "" && strings.Contains(id.name, d.name) {
			return true
		}
	}
	return false
}

// withoutHash strips the suffix kustomize's hash adds to a generated name ("-" and ten characters).
func withoutHash(name string) (string, bool) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 || len(name)-i-1 != 10 {
		return "", false
	}
	return name[:i], true
}

// relTo is path relative to root, slash-separated, as renderer.rel gives it.
func relTo(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil {
		return filepath.ToSlash(rel)
	}
	return filepath.ToSlash(path)
}

// sourceDocs decodes a resource file once, as the origin locator reads it: within the root and the size limit.
func (w *sourceWalk) sourceDocs(abs, rel string) []Object {
	objs, ok := w.docs[abs]
	if !ok {
		if data, err := readLimited(abs, w.r.maxFileSize); err == nil && within(w.r.Root, abs) {
			objs, _ = decodeIdentities(rel, data)
		}
		w.docs[abs] = objs
	}
	return objs
}

// unaliased reports whether path names itself: no symlink on the way, where kustomize's origin path (lexical) and
// the file it read (real) could differ.
func unaliased(path string) bool {
	real, err := filepath.EvalSymlinks(path)
	return err == nil && real == path
}

// maxLocateDepth bounds the chain of kustomizations the walk follows; kustomize refuses cycles itself.
const maxLocateDepth = 64

// kustomization walks the kustomization in dir (an absolute lexical path) under the name levels of the
// kustomizations that include it, outermost first. It reports false when the build is beyond the prediction.
func (w *sourceWalk) kustomization(dir string, chain []nameLevel, depth int) bool {
	kfs := kustomizationsIn(dir)
	if len(kfs) != 1 || depth > maxLocateDepth || !unaliased(dir) || !unaliased(kfs[0]) || !within(w.r.Root, dir) {
		return false
	}
	data, err := readLimited(kfs[0], w.r.maxFileSize)
	if err != nil {
		return false
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return false
	}
	k.FixKustomization()
	if !predictable(&k) {
		return false
	}
	chain = append(chain[:len(chain):len(chain)], nameLevel{k.NamePrefix, k.NameSuffix})
	if !w.deletePatches(dir, &k) {
		return false
	}
	for _, entry := range k.Resources {
		if !w.entry(dir, entry, chain, depth, false) {
			return false
		}
	}
	for _, entry := range k.Components {
		if !w.entry(dir, entry, chain, depth, true) {
			return false
		}
	}
	for _, g := range k.ConfigMapGenerator {
		if !w.generator(kfs[0], "ConfigMap", g.GeneratorArgs, chain) {
			return false
		}
	}
	for _, g := range k.SecretGenerator {
		if !w.generator(kfs[0], "Secret", g.GeneratorArgs, chain) {
			return false
		}
	}
	return true
}

// predictable reports whether a kustomization does only what the walk predicts: no transformer or generator
// configs, replacements, vars, Helm charts or custom transformer configurations; no patch allowed to change a name
// or a kind, and no JSON patch that names one; a component that changes no name or namespace.
func predictable(k *types.Kustomization) bool {
	//lint:ignore SA1019 deprecated, but kustomize still reads them
	if len(k.Generators)+len(k.Transformers)+len(k.Validators)+len(k.Replacements)+len(k.Vars)+len(k.HelmCharts)+
		len(k.Configurations)+len(k.OpenAPI) > 0 || k.HelmGlobals != nil {
		return false
	}
	if k.Kind == types.ComponentKind && (k.NamePrefix != "" || k.NameSuffix != "" || k.Namespace != "") {
		return false
	}
	//lint:ignore SA1019 deprecated, but kustomize still reads it
	for _, p := range append(append([]types.Patch(nil), k.Patches...), k.PatchesJson6902...) {
		if p.Options != nil && (p.Options.AllowNameChange || p.Options.AllowKindChange) {
			return false
		}
		if strings.Contains(p.Patch, "/metadata/name") || strings.Contains(p.Patch, "/kind") {
			return false
		}
	}
	for _, e := range append(append([]string(nil), k.Resources...), k.Components...) {
		if filepath.IsAbs(e) || isRemoteBase(e) {
			return false
		}
	}
	return true
}

// entry walks one entry of resources or components: a file of resources, or a directory with a kustomization.
func (w *sourceWalk) entry(dir, entry string, chain []nameLevel, depth int, component bool) bool {
	p := filepath.Join(dir, entry)
	if !unaliased(p) || !within(w.r.Root, p) {
		return false
	}
	st, err := os.Stat(p)
	switch {
	case err != nil:
		return false
	case st.IsDir():
		return w.kustomization(p, chain, depth+1)
	case component:
		return false
	}
	docs := w.sourceDocs(p, relTo(w.r.Root, p))
	if len(docs) == 0 {
		return false
	}
	for _, d := range docs {
		id := identity{d.ID.Group, d.ID.Kind, predictName(d.ID.Group, d.ID.Kind, d.ID.Name, chain)}
		w.instances[id] = append(w.instances[id], sourceInstance{file: p})
	}
	return true
}

// generator records the object a ConfigMap or Secret generator of the kustomization kfile makes; one that merges
// into or replaces another object is beyond the prediction.
func (w *sourceWalk) generator(kfile, kind string, g types.GeneratorArgs, chain []nameLevel) bool {
	if g.Behavior != "" && g.Behavior != "create" {
		return false
	}
	id := identity{"", kind, predictName("", kind, g.Name, chain)}
	w.instances[id] = append(w.instances[id], sourceInstance{file: kfile, generated: true})
	w.hashed[id] = true
	return true
}

// predictName applies the name levels, innermost first, as kustomize's prefix and suffix transformers do: to every
// kind but CustomResourceDefinition, Namespace and apiregistration.k8s.io APIService.
func predictName(group, kind, name string, chain []nameLevel) string {
	if kind == "CustomResourceDefinition" || kind == "Namespace" || (kind == "APIService" && group == "apiregistration.k8s.io") {
		return name
	}
	for i := len(chain) - 1; i >= 0; i-- {
		name = chain[i].prefix + name + chain[i].suffix
	}
	return name
}

// deletePatches records the objects the strategic merge patches of a kustomization delete ("$patch: delete" at the
// top of a patch), inline or in files.
func (w *sourceWalk) deletePatches(dir string, k *types.Kustomization) bool {
	var texts []string
	//lint:ignore SA1019 deprecated, but kustomize still reads it
	for _, p := range k.PatchesStrategicMerge {
		texts = append(texts, string(p))
	}
	for _, p := range k.Patches {
		texts = append(texts, p.Patch)
		if p.Path != "" {
			path := filepath.Join(dir, p.Path)
			if !unaliased(path) || !within(w.r.Root, path) {
				return false
			}
			data, err := readLimited(path, w.r.maxFileSize)
			if err != nil {
				return false
			}
			texts = append(texts, string(data))
		}
	}
	for _, text := range texts {
		if !strings.Contains(text, "$patch") {
			continue
		}
		docs, _ := decodeIdentities("patch", []byte(text))
		for _, d := range docs {
			if d.Content["$patch"] == "delete" {
				w.deletes = append(w.deletes, identity{d.ID.Group, d.ID.Kind, d.ID.Name})
			}
		}
	}
	return true
}
