package cli

import (
	"strings"

	"github.com/statepack/statepack"
	"github.com/statepack/statepack/build"
)

// The inputs that are flags of `statepack publish` about the tree and the artifact (substitute, ignore-paths,
// chart-auth, allow, annotation, …): each has the flag's name and meaning, and with config is a default for every
// target that does not set its own, as the flags beside --config are.

// readSourceInputs reads the source and package inputs into the flags they stand for, and masks the chart
// credentials that chart-auth names in the environment before anything is printed.
func (a *actionRun) readSourceInputs() error {
	gh, c := a.gh, &a.cfg
	s := &c.src
	s.substitute = splitLines(gh.Input("substitute"))
	s.substituteFrom = splitList(gh.Input("substitute-from"))
	s.ignorePaths = splitList(gh.Input("ignore-paths"))
	s.loadRestrictor = orDefault(gh.Input("load-restrictor"), build.LoadRestrictionsNone)
	s.allow = splitLines(gh.Input("allow"))
	s.externalNamespaces = splitList(gh.Input("external-namespace"))
	s.crdDirs = splitList(gh.Input("crd-dir"))
	s.chartCache = gh.Input("chart-cache")
	s.chartAuth = splitList(gh.Input("chart-auth"))
	for _, ca := range s.chartAuth {
		if _, prefix, ok := strings.Cut(ca, "="); ok && prefix != "" {
			gh.Mask(a.env.getenv(prefix + "_PASSWORD"))
		}
	}
	for _, b := range []struct {
		input string
		v     *bool
	}{{"substitute-strict", &s.substituteStrict}, {"strict", &s.strict}, {"offline", &s.offline}} {
		var err error
		if *b.v, err = gh.BoolInput(b.input, false); err != nil {
			return &usageError{err}
		}
	}
	c.pkg = packageOptions{layerMediaType: orDefault(gh.Input("layer-media-type"), build.LayerMediaType), annotations: splitLines(gh.Input("annotation"))}
	if _, err := c.pkg.values(); err != nil {
		return err
	}
	var err error
	if s.builtinCRDs, err = gh.BoolInput("builtin-crds", true); err != nil {
		return &usageError{err}
	}
	if v := gh.Input("immutable-tags"); v != "" {
		immutable, err := gh.BoolInput("immutable-tags", false)
		if err != nil {
			return &usageError{err}
		}
		c.immutableTags = &immutable
	}
	return nil
}

// targetDefaults are the package inputs as the defaults of a config's targets: only those given, so that a config's
// own settings stay.
func (a *actionRun) targetDefaults() statepack.Target {
	c := a.cfg
	d := statepack.Target{ImmutableTags: c.immutableTags}
	if a.gh.Input("layer-media-type") != "" {
		d.LayerMediaType = c.pkg.layerMediaType
	}
	if po, err := c.pkg.values(); err == nil { // checked by readSourceInputs
		d.Annotations = po.Annotations
	}
	if c.sign == signKeyless {
		d.Sign = &statepack.SignConfig{} // the targets that name no key sign keyless (Signers.Unnamed)
	}
	return d
}

// splitLines splits an input into its non-empty lines, trimmed: for values that may hold commas and spaces
// (KEY=VALUE, RULE=REASON).
func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
