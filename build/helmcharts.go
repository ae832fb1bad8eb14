package build

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/kustomize/kyaml/yaml/merge2"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/statepack/statepack/internal/helm"
)

// A kustomization's helmCharts are rendered in-process, with the Helm SDK (internal/helm), where `kustomize build
// --enable-helm` runs `helm template` through its HelmChartInflationGenerator: no --enable-helm, no helm binary.
//
// How the output gets into kustomize's build. kustomize configures its builtin generators from a factory table in
// an internal package (api/internal/plugins/builtinhelpers) that a caller cannot replace, and its only hook for
// Helm, PluginConfig.HelmConfig.Command, runs a program: statepack spawns no process. So the charts are rendered
// before kustomize runs, while the kustomizations are scanned (kustomizationScan.inflate), and rootFS hands
// kustomize a kustomization without its helm fields that lists, last among its resources, a file that does not
// exist on disk (helmChartsFile) holding what the charts rendered. Each object in it carries the annotation
// kustomize's generator sets (config.kubernetes.io/helm-generated), so kustomize treats it as its own generator's
// output: the namespace transformer leaves it alone (Helm set the namespace), every other transformer of the
// kustomization and of those above it applies (prefixes, labels, patches, images), and the annotation is removed
// from the output as kustomize removes it. The objects are the same; their place in the build differs only in
// where a generator's output would stand: kustomize appends it after the kustomization's configMapGenerator and
// secretGenerator objects, the rendered file puts it before them. kustomize's default order (legacy, by kind and
// name) does not see the difference; under `sortOptions: fifo` the objects are marked while the build runs and
// moved after the generated ones once it is done (fifoHelmOrder).
//
// Rejected: registering our own generator under kustomize's name by go:linkname into the internal factory table
// (process-wide, unsafe across kustomize upgrades), and a synthetic component holding the rendered file (components
// run after the kustomization's `generators:` too, and need a directory that does not exist on disk).
//
// What the generator does, step by step (kustomize api v0.21.2, HelmChartInflationGenerator.go), is mirrored by
// inflateChart: the chart directory, the values file and inline values with their merge mode, the namespace
// inherited from the kustomization or the ones above it, and the arguments of `helm template`.

// helmChartsFile is the name of the file, beside a kustomization with helmCharts, that rootFS serves to kustomize
// with what its charts rendered. It exists only in the build: a file of that name on disk is shadowed.
const helmChartsFile = "statepack-helm-charts.yaml"

// Rule of a kustomization's helmCharts entry that cannot be rendered.
const ruleHelmChart = "kustomize/helm-chart"

// helmChartsOf says what a kustomization's helm fields ask for, as kustomize reads them (FixKustomization has
// moved the deprecated helmChartInflationGenerator into helmCharts).
type helmChartsOf struct {
	globals   types.HelmGlobals
	charts    []types.HelmChart
	namespace string // the kustomization's namespace, which its charts and those of the kustomizations below take
	// generated is how many objects the kustomization's configMapGenerator and secretGenerator add (behavior
	// create): kustomize places its charts' objects after them (see fifoHelmOrder).
	generated int
	// fifo is set when the kustomization sets sortOptions.order fifo (what counts is the one kustomize builds).
	fifo bool
}

// helmChartsMark marks, during a build whose order is fifo, the objects rendered from the helmCharts of a
// kustomization that also generates ConfigMaps or Secrets, with the kustomization's directory: fifoHelmOrder moves
// them to where kustomize's generator puts them, and the build removes the mark.
const helmChartsMark = "internal.statepack.dev/helm-charts-of"

// inflate renders the helmCharts of the kustomization kf in dir (a real path), each into the objects `helm
// template` prints, and keeps them for rootFS. inherited is the namespace of the nearest kustomization above that
// sets one, as kustomize hands it down (helmRootNamespace). A chart that cannot be rendered is a finding naming the
// kustomization and the entry.
func (s *kustomizationScan) inflate(dir, kf string, h helmChartsOf, inherited string) {
	rel := s.r.rel(kf)
	var out bytes.Buffer
	failed := false
	lines := make([]int, len(h.charts))
	if data, err := readLimited(kf, s.r.opts.maxFileSize); err == nil {
		lines = helmChartLines(data, len(h.charts))
	}
	for i, c := range h.charts {
		if c.Namespace == "" {
			c.Namespace = h.namespace
		}
		if c.Namespace == "" {
			c.Namespace = inherited
		}
		mark := ""
		if s.fifo && h.generated > 0 {
			mark = dir
		}
		docs, err := s.inflateChart(dir, entryAt{kf: kf, index: i, line: lines[i]}, h.globals, c, mark)
		if err != nil {
			s.fail(ruleHelmChart, rel, lines[i], fmt.Sprintf("helmCharts[%d] (%s): %v", i, c.Name, s.r.relMessage(err.Error())))
			failed = true
			continue
		}
		out.Write(docs)
	}
	if failed {
		return
	}
	if s.helm == nil {
		s.helm = map[string][]byte{}
		s.generated = map[string]int{}
	}
	s.helm[dir] = out.Bytes()
	s.generated[dir] = h.generated
}

// inflateChart renders one helmCharts entry as kustomize's generator has `helm template` render it, and returns
// the objects as kustomize reads helm's output, each marked as helm-generated, as a YAML stream.
func (s *kustomizationScan) inflateChart(dir string, at entryAt, g types.HelmGlobals, c types.HelmChart, mark string) ([]byte, error) {
	switch {
	case c.Name == "":
		return nil, errors.New("chart name cannot be empty: give the directory name of the chart under chartHome")
	case strings.HasPrefix(c.Name, "-") || strings.HasPrefix(c.ReleaseName, "-"):
		return nil, errors.New("the chart name and releaseName must not start with '-'")
	case c.NameTemplate != "":
		return nil, errors.New("nameTemplate names the release with a template, which may read the clock or random numbers: give a fixed releaseName instead")
	case c.ReleaseName == "":
		return nil, errors.New("releaseName is empty: kustomize would have helm generate a name from the clock, so the output would change with every build; give the release a name")
	}
	merge := c.ValuesMerge
	if merge == "" {
		merge = "override"
	}
	if !slices.Contains([]string{"merge", "override", "replace"}, merge) {
		return nil, fmt.Errorf("valuesMerge must be one of [merge override replace], not %q", merge)
	}
	chartHome, chartDir := chartPaths(dir, g, c)
	real, err := filepath.EvalSymlinks(chartDir)
	if err == nil && !within(s.r.root, real) {
		return nil, fmt.Errorf("the chart directory %s is outside the source root: statepack reads nothing outside it; set --root to a directory that holds both", chartDir)
	}
	var ch *helm.Chart
	var remote RemoteChart // the chart pulled from the entry's repository, when it is not vendored
	pulled := false
	if st, serr := os.Stat(real); err != nil || serr != nil || !st.IsDir() {
		if c.Repo == "" {
			return nil, fmt.Errorf("no chart directory %s (chartHome %q, default %q beside the kustomization, then the chart name): put the chart there, or correct name or helmGlobals.chartHome", chartDir, g.ChartHome, types.HelmDefaultHome)
		}
		if ch, remote, err = s.pull(at, c, chartHome); err != nil {
			return nil, err
		}
		pulled = true
	} else {
		if ch, err = helm.Load(real, helm.Limits{}); err != nil {
			return nil, err
		}
		s.recordChart(real)
	}

	// The user values, as the generator writes them into the file it passes to `helm template -f`.
	valuesFile := c.ValuesFile
	if valuesFile == "" {
		valuesFile = filepath.Join(chartDir, "values.yaml")
	}
	readValues := func() ([]byte, error) { return s.loadFile(dir, valuesFile) }
	if name, ok := inPulledChart(dir, chartDir, valuesFile); pulled && ok {
		valuesFile = fmt.Sprintf("%s of the chart %s@%s", name, c.Name, ch.Version())
		readValues = func() ([]byte, error) { return chartValues(ch, name) }
	}
	var values []byte
	what := "the values file " + valuesFile
	if len(c.ValuesInline) > 0 {
		what = "valuesInline"
		if merge != "replace" {
			what = fmt.Sprintf("valuesInline merged (%s) with %s", merge, valuesFile)
		}
		vals := c.ValuesInline
		if merge != "replace" {
			data, err := readValues()
			if err != nil {
				return nil, err
			}
			if vals, err = mergeInline(data, valuesFile, vals, merge); err != nil {
				return nil, err
			}
		}
		if values, err = sigsyaml.Marshal(vals); err != nil {
			return nil, fmt.Errorf("valuesInline: %w", err)
		}
	} else if values, err = readValues(); err != nil {
		return nil, err
	}
	user, err := helm.ReadValues(values)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	layers := []map[string]any{user}
	for _, f := range c.AdditionalValuesFiles {
		data, err := s.loadFile(dir, f)
		if err != nil {
			return nil, fmt.Errorf("additionalValuesFiles: %w", err)
		}
		more, err := helm.ReadValues(data)
		if err != nil {
			return nil, fmt.Errorf("additionalValuesFiles: %s: %w", f, err)
		}
		layers = append(layers, more)
	}
	rel, err := helm.Render(s.ctx, ch, helm.MergeValues(layers...), helm.ReleaseOptions{
		Name: c.ReleaseName, Namespace: c.Namespace, KubernetesVersion: c.KubeVersion, APIVersions: c.ApiVersions})
	if err != nil {
		return nil, err
	}
	docs, err := helmGenerated(templateOutput(rel, c), mark)
	if err == nil && pulled {
		s.r.remoteCharts = append(s.r.remoteCharts, remote)
	}
	return docs, err
}

// chartPaths returns where kustomize's generator looks for the chart of an entry of the kustomization in dir: the
// chart home (helmGlobals.chartHome, default "charts", relative to dir; then NAME-VERSION when the entry has a repo
// and a version, where its `helm pull --untardir` puts the chart), and the chart directory in it.
func chartPaths(dir string, g types.HelmGlobals, c types.HelmChart) (chartHome, chartDir string) {
	chartHome = g.ChartHome
	if chartHome == "" {
		chartHome = types.HelmDefaultHome
	}
	if !filepath.IsAbs(chartHome) {
		chartHome = filepath.Join(dir, chartHome)
	}
	if c.Version != "" && c.Repo != "" {
		chartHome = filepath.Join(chartHome, c.Name+"-"+c.Version)
	}
	return chartHome, filepath.Join(chartHome, c.Name)
}

// mergeInline merges valuesInline with the values file's data as the generator does, with kyaml's merge2:
// "override" lets the inline values win, "merge" the file's.
func mergeInline(data []byte, valuesFile string, inline map[string]any, merge string) (map[string]any, error) {
	file, err := kyaml.Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("values file %s: %w", valuesFile, err)
	}
	in, err := kyaml.FromMap(inline)
	if err != nil {
		return nil, fmt.Errorf("valuesInline: %w", err)
	}
	var out *kyaml.RNode
	if merge == "override" {
		out, err = merge2.Merge(in, file.Copy(), kyaml.MergeOptions{})
	} else {
		out, err = merge2.Merge(file, in.Copy(), kyaml.MergeOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("merging valuesInline with %s: %w", valuesFile, err)
	}
	return out.Map()
}

// loadFile reads a values file as kustomize's loader does for the generator: relative to the kustomization's
// directory, and with LoadRestrictionsRootOnly only below it; never outside the source root, never from the network.
func (s *kustomizationScan) loadFile(dir, p string) ([]byte, error) {
	if isRemoteFile(p) {
		return nil, fmt.Errorf("%q is a URL: statepack reads values files from the tree only; vendor it", p)
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, fmt.Errorf("reading the values file %s: %w", p, err)
	}
	if !within(s.r.root, real) {
		return nil, fmt.Errorf("the values file %s is outside the source root: statepack reads nothing outside it", p)
	}
	if s.r.opts.rootOnly && !within(dir, real) {
		return nil, fmt.Errorf("the values file %s is not in or below %s, which the load restrictor LoadRestrictionsRootOnly requires (Flux builds with LoadRestrictionsNone, statepack's default: drop --load-restrictor)", p, dir)
	}
	data, err := readLimited(real, s.r.opts.maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("reading the values file %s: %w", p, err)
	}
	if err := checkExpansion(data); err != nil {
		return nil, fmt.Errorf("the values file %s: %w", p, err)
	}
	s.r.inputs[s.r.rel(p)] = true
	s.r.inputs[s.r.rel(real)] = true
	return data, nil
}

// recordChart records every file and directory of a chart as an input of the render: a template added to it
// changes the render.
func (s *kustomizationScan) recordChart(dir string) {
	for _, in := range ChartInputs(s.r.root, dir) {
		s.r.inputs[in] = true
	}
}

// ChartInputs lists the files and directories of the chart directory dir as inputs of a render (see
// Rendering.Inputs): slash-separated and relative to root, a directory with a trailing "/" (a file added there
// changes the chart), a symbolic link with a trailing "@"; sorted.
func ChartInputs(root, dir string) []string {
	var inputs []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			rel += "/"
		case d.Type()&os.ModeSymlink != 0:
			rel += "@"
		case !d.Type().IsRegular():
			return nil
		}
		inputs = append(inputs, rel)
		return nil
	})
	return inputs
}

// templateOutput is what `helm template` prints for the entry (helm v4 pkg/cmd/template.go and
// action.renderResources): the CRDs with --include-crds, the manifests in install order, then the hooks unless
// --no-hooks, the test hooks left out with --skip-tests.
func templateOutput(rel *helm.Release, c types.HelmChart) []byte {
	var b bytes.Buffer
	if c.IncludeCRDs {
		for _, crd := range rel.CRDs {
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", crd.Source, crd.Content)
		}
	}
	for _, m := range rel.Manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Source, m.Content)
	}
	out := bytes.NewBuffer(append(bytes.TrimSpace(b.Bytes()), '\n'))
	if !c.SkipHooks {
		for _, h := range rel.Hooks {
			if c.SkipTests && slices.Contains(h.Events, "test") {
				continue
			}
			fmt.Fprintf(out, "---\n# Source: %s\n%s\n", h.Source, h.Content)
		}
	}
	return out.Bytes()
}

// helmGenerated reads helm's output as the generator does (kustomize's resource factory, else kyaml's reader for
// output with text before the first document) and marks each object as kustomize's generator marks it.
func helmGenerated(out []byte, mark string) ([]byte, error) {
	rm, err := kustomizeResources().NewResMapFromBytes(out)
	if err != nil {
		nodes, rerr := (&kio.ByteReader{Reader: bytes.NewReader(out), OmitReaderAnnotations: true}).Read()
		if rerr != nil {
			return nil, fmt.Errorf("reading what the chart rendered: %w", rerr)
		}
		if len(nodes) == 0 {
			return nil, fmt.Errorf("reading what the chart rendered: %w", err)
		}
		if rm, err = kustomizeResources().NewResMapFromRNodeSlice(nodes); err != nil {
			return nil, fmt.Errorf("reading what the chart rendered: %w", err)
		}
	}
	var b bytes.Buffer
	for _, res := range rm.Resources() {
		if err := res.PipeE(kyaml.SetAnnotation(konfig.HelmGeneratedAnnotation, "true")); err != nil {
			return nil, err
		}
		if mark != "" {
			if err := res.PipeE(kyaml.SetAnnotation(helmChartsMark, mark)); err != nil {
				return nil, err
			}
		}
		y, err := res.RNode.String()
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.WriteString(y)
	}
	return b.Bytes(), nil
}

// withHelmCharts rewrites a kustomization whose charts were rendered: its helm fields removed, and the file of
// what they rendered listed last among its resources (after its deprecated bases, which kustomize appends to
// resources). It decodes and encodes with kustomize's own type, as kustomize reads it (keys match in any case, so
// a map would miss "HelmCharts"). A kustomization that does not decode is returned as it is, for kustomize to report.
func withHelmCharts(data []byte) []byte {
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return data
	}
	k.HelmCharts, k.HelmGlobals, k.HelmChartInflationGenerator = nil, nil, nil
	//lint:ignore SA1019 deprecated, but kustomize still reads it, after resources
	if len(k.Bases) > 0 {
		k.Bases = append(k.Bases, helmChartsFile) //lint:ignore SA1019 as above
	} else {
		k.Resources = append(k.Resources, helmChartsFile)
	}
	out, err := sigsyaml.Marshal(&k)
	if err != nil {
		return data
	}
	return out
}

// fifoHelmOrder puts the objects rendered from a kustomization's helmCharts where kustomize's generator puts them
// in a fifo build: after the objects its configMapGenerator and secretGenerator add (generated, by the marked
// directory), which follow them in statepack's build, as the rendered file is the last of its resources. A
// kustomization's objects stay together through the builds above it (transformers keep the order), so the marked
// run is followed by those objects. The mark is removed.
func fifoHelmOrder(m []*resource.Resource, generated map[string]int) ([]*resource.Resource, error) {
	markOf := func(r *resource.Resource) string {
		return r.GetAnnotations(helmChartsMark)[helmChartsMark]
	}
	out := make([]*resource.Resource, 0, len(m))
	for i := 0; i < len(m); {
		key := markOf(m[i])
		if key == "" {
			out = append(out, m[i])
			i++
			continue
		}
		j := i
		for j < len(m) && markOf(m[j]) == key {
			j++
		}
		k := min(j+generated[key], len(m))
		out = append(append(out, m[j:k]...), m[i:j]...)
		i = k
	}
	for _, r := range out {
		if a := r.GetAnnotations(helmChartsMark); len(a) > 0 {
			ann := r.GetAnnotations()
			delete(ann, helmChartsMark)
			if err := r.SetAnnotations(ann); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// helmOrigin gives an object rendered from helmCharts the origin annotation kustomize's generator gives it
// (configuredIn the kustomization, configuredBy the builtin HelmChartInflationGenerator) in place of the one its
// resource file gave it: what a kustomization that asks for origin annotations prints, and what points a finding
// at the kustomization. kdir is the directory of the kustomization built, which the origin's path is relative to.
func helmOrigin(res *resource.Resource, kdir string) error {
	o, err := res.GetOrigin()
	if err != nil || o == nil || path.Base(o.Path) != helmChartsFile {
		return err
	}
	dir := path.Dir(o.Path)
	name := konfig.DefaultKustomizationFileName()
	if kf := findKustomization(filepath.Join(kdir, filepath.FromSlash(dir))); kf != "" {
		name = filepath.Base(kf)
	}
	return res.SetOrigin(&resource.Origin{Repo: o.Repo, Ref: o.Ref, ConfiguredIn: path.Join(dir, name),
		ConfiguredBy: kyaml.ResourceIdentifier{TypeMeta: kyaml.TypeMeta{APIVersion: konfig.BuiltinPluginApiVersion, Kind: "HelmChartInflationGenerator"}}})
}

// helmFile returns what the charts of a kustomization rendered when path names its helmChartsFile.
func (f *rootFS) helmFile(path string) ([]byte, string, bool) {
	if f.helm == nil || filepath.Base(path) != helmChartsFile {
		return nil, "", false
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", false
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return nil, "", false
	}
	data, ok := f.helm[dir]
	return data, dir, ok
}

// inflatedKustomization reports whether the kustomization at kpath (by its name) had its charts rendered.
func (f *rootFS) inflatedKustomization(kpath string) bool {
	if f.helm == nil {
		return false
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(kpath))
	if err != nil {
		return false
	}
	_, ok := f.helm[dir]
	return ok
}
