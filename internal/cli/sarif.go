package cli

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/statepack/statepack/build"
)

// SARIF 2.1.0 (OASIS), the subset GitHub code scanning reads: one run, the tool's rules, and one result per finding
// with its file (relative to the repository root) and line.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	ShortDescription sarifMessage `json:"shortDescription"`
	Help             sarifMessage `json:"help"`
	DefaultConfig    sarifConfig  `json:"defaultConfiguration"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical  `json:"physicalLocation"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

// sarifLogical names the field of the object a finding is about (kind "property", as SARIF names a member of a
// structured document): the region's line is where that field is written.
type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

// sarifRegion is where a finding is: its line and, when placed on its field's line, the field's column.
type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// ruleDescriptions say in one line what a finding's rule checks; policies describe themselves (build.Policies).
var ruleDescriptions = map[string]string{
	"yaml/syntax":                  "A source file is not valid YAML or JSON.",
	"json/syntax":                  "A .json source file is not a valid stream of JSON values.",
	"source/outside-root":          "A file or symlink leads outside the source root.",
	"source/too-large":             "A source file is larger than --max-file-size.",
	"source/unreadable":            "A source file cannot be read or is not UTF-8 text.",
	"source/no-objects":            "The tree renders no object: an empty artifact would delete everything an agent applied before.",
	"source/not-regular":           "A file the render reads is a named pipe, a socket or a device, not a regular file.",
	"kustomize/unchecked-configs":  "A kustomization lists a directory of generator or transformer configs that was not checked for remote content.",
	"kustomize/build":              "kustomize cannot build the kustomization.",
	"kustomize/remote-base":        "A kustomization fetches a remote base without --allow-remote.",
	"kustomize/helm-chart":         "An entry of a kustomization's helmCharts cannot be rendered: no chart in the tree and none pulled from its repo (--helm off, unreachable, not locked offline, other bytes than locked), a bad values file, or a template that fails.",
	"kustomize/deprecated":         "A kustomization uses a field kustomize deprecates (commonLabels, bases, patchesStrategicMerge, …): kustomize edit fix rewrites it.",
	"object/not-a-mapping":         "A YAML document is not a Kubernetes object (a mapping).",
	"object/not-an-object":         "A YAML document is a mapping without apiVersion and kind (a values file, a tool's config), not a Kubernetes object.",
	"source/helm-chart":            "A directory of the tree is a Helm chart (Chart.yaml beside templates/), whose templates are not manifests.",
	"object/missing-apiversion":    "An object has no apiVersion.",
	"object/invalid-apiversion":    "An object's apiVersion is not of the form [group/]version.",
	"object/missing-kind":          "An object has no kind.",
	"object/missing-metadata":      "An object has no metadata.",
	"object/invalid-metadata":      "An object's metadata is not a mapping.",
	"object/missing-name":          "An object has no metadata.name.",
	"object/generate-name":         "An object uses metadata.generateName, which cannot be applied declaratively.",
	"object/invalid-name":          "An object's name breaks the naming rule of its kind.",
	"object/invalid-label":         "A label key or value breaks the API server's rules (qualified name; value of at most 63 characters).",
	"object/invalid-annotation":    "An annotation key breaks the API server's rules, or the annotations exceed 256 KiB.",
	"object/invalid-quantity":      "A resource quantity (limits, requests, storage, quota) is not one the API server parses.",
	"object/invalid-image":         "A container image reference holds white space or a control character.",
	"object/invalid-namespace":     "An object's namespace is not a valid namespace name.",
	"object/duplicate":             "Two objects share group, kind, namespace and name.",
	"schema/unknown-field":         "A field is not in the schema of the object's kind.",
	"schema/type":                  "A value has the wrong type for its field.",
	"schema/required":              "A required field is missing.",
	"schema/enum":                  "A value is not one the schema allows.",
	"schema/unserved-apiversion":   "The chosen Kubernetes release (or the CRD) does not serve the apiVersion.",
	"schema/deprecated-apiversion": "The apiVersion is deprecated and will be removed: move to its replacement.",
	"schema/no-schema":             "No schema is available for the kind (no CRD found).",
	"schema/crd":                   "A CustomResourceDefinition cannot be used to check its resources, or the API server would refuse it.",
	"schema/pattern":               "A string does not match the pattern its schema requires.",
	"schema/format":                "A string is not in the format its schema requires.",
	"schema/range":                 "A number is outside the range its schema allows.",
	"schema/length":                "A string is shorter or longer than its schema allows.",
	"schema/items":                 "A list has too few or too many items, or repeats an entry of a set or map.",
	"schema/properties":            "A mapping has too few or too many fields.",
	"schema/composition":           "A value does not match the oneOf, anyOf, allOf or not of its schema.",
	"schema/cel":                   "A CEL validation rule (x-kubernetes-validations) of the CRD fails for the object.",
	"flux/substitution-pending":    "A value holds a Flux postBuild placeholder, so a check can only be made once Flux substitutes it (give values with --substitute).",
	"flux/substitution":            "Flux's postBuild substitution fails on the object (an unterminated ${, a value that breaks its YAML, or with --substitute-strict a variable with neither a value nor a default).",
	"chart-unpinned":               "A Helm release names its chart by a range or a tag (or its source is outside the tree): the signed artifact is a pointer to whatever the repository serves.",
	"helm/values-unknown":          "A Helm release takes values from a ConfigMap or Secret only the cluster holds: its chart is pinned, but what it renders is not validated.",
	"helm/release":                 "A Helm release cannot be pinned or rendered as its consumer would: its chart does not resolve or render, or its values cannot be read.",
	"image/unresolved":             "An image the manifests deploy does not resolve to a digest in its registry.",
	"image/unverified":             "An image the manifests deploy fails the trust policy (unsigned, signed by another key or identity, or missing a required attestation).",
}

// writeSARIF writes findings as a SARIF log. File paths in findings are relative to the source root; base turns
// them into paths relative to the repository root, which is where code scanning places them. A finding without a
// file (an object kustomize generated) is placed on fallback, the tree's kustomization, when there is one.
func writeSARIF(w io.Writer, version string, findings build.Findings, base func(file string) string, fallback string) error {
	var rules []sarifRule
	index := map[string]int{}
	for _, f := range findings {
		if _, ok := index[f.Rule]; !ok {
			index[f.Rule] = -1
		}
	}
	ids := make([]string, 0, len(index))
	for id := range index {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, id := range ids {
		index[id] = i
		rules = append(rules, describeRule(id))
	}
	results := make([]sarifResult, 0, len(findings))
	for _, f := range findings {
		msg := f.Message
		if f.Object != nil {
			msg = f.Object.String() + ": " + msg
		}
		r := sarifResult{RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel(f.Severity), Message: sarifMessage{msg}}
		switch {
		case f.File != "":
			loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: base(f.File)}}}
			if f.Line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line, StartColumn: f.Column}
			}
			if f.Field != "" {
				l := sarifLogical{Name: f.Field, Kind: "property"}
				if f.Object != nil {
					l.FullyQualifiedName = f.Object.String() + "." + f.Field
				}
				loc.LogicalLocations = []sarifLogical{l}
			}
			r.Locations = []sarifLocation{loc}
		case fallback != "":
			r.Locations = []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: fallback}}}}
		}
		results = append(results, r)
	}
	if rules == nil {
		rules = []sarifRule{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // rules quote CEL expressions: keep "<=" readable
	return enc.Encode(sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool: sarifTool{Driver: sarifDriver{Name: "statepack", Version: version,
				InformationURI: "https://github.com/statepack/statepack", Rules: rules}},
			Results: results,
		}},
	})
}

func describeRule(id string) sarifRule {
	r := sarifRule{ID: id, ShortDescription: sarifMessage{ruleDescriptions[id]}, DefaultConfig: sarifConfig{"error"}}
	if p, ok := strings.CutPrefix(id, "policy/"); ok {
		for _, pol := range build.Policies {
			if pol.ID == p {
				r.ShortDescription.Text = strings.ToUpper(pol.Why[:1]) + pol.Why[1:] + "."
				r.DefaultConfig.Level = sarifLevel(pol.Severity)
				r.Help.Text = "Turn this policy off with --allow " + p + "."
			}
		}
	}
	if id == "schema/no-schema" || id == "schema/deprecated-apiversion" {
		r.DefaultConfig.Level = "warning"
	}
	if r.ShortDescription.Text == "" {
		r.ShortDescription.Text = "statepack finding " + id + "."
	}
	if r.Help.Text == "" {
		r.Help.Text = "See the finding's message for what is wrong and what to do; rule " + id + "."
	}
	return r
}

func sarifLevel(s build.Severity) string {
	if s == build.SeverityError {
		return "error"
	}
	return "warning"
}

// repoRelative returns a function that turns a finding's file (slash-separated, relative to the source root) into a
// path relative to the repository root (the git work tree), or to the source root outside a work tree.
func repoRelative(s *source) func(string) string {
	top := s.Root
	if s.Git != nil && s.Git.TopLevel != "" {
		top = s.Git.TopLevel
	}
	return func(file string) string {
		if filepath.IsAbs(filepath.FromSlash(file)) {
			return "file://" + file
		}
		abs, err := filepath.Abs(filepath.Join(s.Root, filepath.FromSlash(file)))
		if err != nil {
			return file
		}
		topAbs, err := filepath.Abs(top)
		if err != nil {
			return file
		}
		if real, err := filepath.EvalSymlinks(topAbs); err == nil {
			topAbs = real
		}
		if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
			abs = filepath.Join(dir, filepath.Base(abs))
		}
		rel, err := filepath.Rel(topAbs, abs)
		if err != nil || strings.HasPrefix(rel, "..") {
			return file
		}
		return filepath.ToSlash(rel)
	}
}

// kustomizationFile returns the tree's kustomization file relative to the repository root, or "" for a tree of plain
// manifests.
func kustomizationFile(s *source) string {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		p := filepath.Join(s.Path, name)
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return ""
		}
		root, err := filepath.Abs(s.Root)
		if err != nil {
			return ""
		}
		if real, err := filepath.EvalSymlinks(root); err == nil {
			root = real
		}
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			abs = real
		}
		rel, err := filepath.Rel(root, abs)
		if err != nil || strings.HasPrefix(rel, "..") {
			return ""
		}
		return repoRelative(s)(filepath.ToSlash(rel))
	}
	return ""
}
