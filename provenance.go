package statepack

import (
	"net/url"
	"slices"
	"strings"

	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/gitmeta"
	"github.com/statepack/statepack/sign"
)

// Provenance vocabulary. The build type says how to read externalParameters; builder ids name the platform that
// ran statepack, the way SLSA's GitHub Actions build type names GitHub's runners.
const (
	ProvenanceBuildType = "https://statepack.dev/buildtypes/publish/v1"
	builderGitHub       = "https://github.com/actions/runner/" // + github-hosted or self-hosted
	builderTekton       = "https://statepack.dev/builders/tekton/v1"
	builderLocal        = "https://statepack.dev/builders/local/v1"
)

// provenanceParams are the externalParameters of statepack's provenance: what the caller chose, so that a verifier
// can check the artifact was built from the expected path for the expected destination.
type provenanceParams struct {
	Source            *provenanceSource   `json:"source,omitempty"`
	Path              string              `json:"path"`
	Repository        string              `json:"repository"`
	Tags              []string            `json:"tags"`
	KubernetesVersion string              `json:"kubernetesVersion,omitempty"`
	LayerMediaType    string              `json:"layerMediaType"`
	AllowRemote       bool                `json:"allowRemote,omitempty"`
	Workflow          *provenanceWorkflow `json:"workflow,omitempty"`
}

type provenanceSource struct {
	URI      string `json:"uri"`
	Revision string `json:"revision,omitempty"`
}

// provenanceWorkflow follows SLSA's GitHub Actions build type (externalParameters.workflow).
type provenanceWorkflow struct {
	Ref        string `json:"ref"`
	Repository string `json:"repository"`
	Path       string `json:"path"`
}

// provenanceInternal are the internalParameters: what the platform decided, for an auditor.
type provenanceInternal struct {
	InputsDigest string            `json:"inputsDigest,omitempty"`
	GitHub       map[string]string `json:"github,omitempty"`
	Tekton       map[string]string `json:"tekton,omitempty"`
}

// provenance is the SLSA v1 provenance predicate of one publish. The build context holds only an allow-list of CI
// values (never a token, password or anything a secret could hide in), and URLs lose their credentials.
func provenance(bc BuildContext, repository string, tags []string, s *Source, b *build.Bundle) slsa1.ProvenancePredicate {
	params := provenanceParams{
		Path:              s.RelPath(),
		Repository:        repository,
		Tags:              nonNil(tags),
		LayerMediaType:    b.LayerDescriptor.MediaType,
		KubernetesVersion: s.opts.kubernetesVersion(),
		AllowRemote:       s.opts.AllowRemote,
	}
	internal := provenanceInternal{InputsDigest: b.Annotations[build.AnnotationInputs]}
	var deps []slsa1.ResourceDescriptor
	gh := bc.GitHub
	if s.Git != nil && s.Git.Commit != "" {
		uri := gitmeta.StripCredentials(s.Git.Source)
		params.Source = &provenanceSource{URI: uri, Revision: s.Git.Revision}
		if uri != "" {
			dep := "git+" + uri
			if ref, _, ok := strings.Cut(s.Git.Revision, "@sha1:"); ok && ref != "" {
				// SLSA names git refs in full (refs/heads/main); CI says which kind of ref the name is.
				if gh != nil && strings.HasSuffix(gh.Ref, "/"+ref) && strings.HasPrefix(gh.Ref, "refs/") {
					ref = gh.Ref
				}
				dep += "@" + ref
			}
			deps = append(deps, slsa1.ResourceDescriptor{URI: dep, Digest: map[string]string{"gitCommit": s.Git.Commit}})
		}
	}
	deps = append(deps, chartDependencies(s)...)
	run := slsa1.ProvenanceRunDetails{Builder: slsa1.Builder{ID: builderLocal, Version: map[string]string{"statepack": bc.version()}}}
	switch {
	case gh != nil:
		server := safeURL(orDefault(gh.ServerURL, "https://github.com"))
		runner := gh.RunnerEnvironment
		if runner != "self-hosted" {
			runner = "github-hosted"
		}
		run.Builder.ID = builderGitHub + runner
		if gh.WorkflowRef != "" {
			// owner/repo/.github/workflows/file.yml@refs/heads/main
			path, ref, _ := strings.Cut(strings.TrimPrefix(gh.WorkflowRef, gh.Repository+"/"), "@")
			params.Workflow = &provenanceWorkflow{Ref: ref, Repository: server + "/" + gh.Repository, Path: path}
		}
		if gh.RunID != "" && gh.Repository != "" {
			run.BuildMetadata.InvocationID = server + "/" + gh.Repository + "/actions/runs/" + gh.RunID + "/attempts/" + orDefault(gh.RunAttempt, "1")
		}
		internal.GitHub = nonEmpty(map[string]string{
			"event_name":          gh.EventName,
			"repository_id":       gh.RepositoryID,
			"repository_owner_id": gh.RepositoryOwnerID,
			"runner_environment":  gh.RunnerEnvironment,
			"sha":                 gh.SHA,
			"ref":                 gh.Ref,
			"workflow_sha":        gh.WorkflowSHA,
		})
	case bc.Tekton != nil && bc.Tekton.TaskRun != "":
		tk := bc.Tekton
		run.Builder.ID = builderTekton
		run.BuildMetadata.InvocationID = "tekton://" + tk.Namespace + "/taskruns/" + tk.TaskRun
		internal.Tekton = nonEmpty(map[string]string{
			"namespace":   tk.Namespace,
			"taskRun":     tk.TaskRun,
			"taskRunUID":  tk.TaskRunUID,
			"pipelineRun": tk.PipelineRun,
		})
	}
	return slsa1.ProvenancePredicate{
		BuildDefinition: slsa1.ProvenanceBuildDefinition{
			BuildType:            ProvenanceBuildType,
			ExternalParameters:   params,
			InternalParameters:   internal,
			ResolvedDependencies: deps,
		},
		RunDetails: run,
	}
}

// chartDependencies are the charts the tree's releases and its kustomizations' helmCharts resolved to, each once:
// its URL (an HTTP archive, or an OCI repository by digest) and its sha256, whether it was pinned in the artifact or
// hydrated into it.
func chartDependencies(s *Source) []slsa1.ResourceDescriptor {
	var out []slsa1.ResourceDescriptor
	seen := map[string]bool{}
	add := func(chart, digest, url string) {
		if url == "" || seen[url] {
			return
		}
		seen[url] = true
		name, _, _ := strings.Cut(chart, "@")
		out = append(out, slsa1.ResourceDescriptor{URI: url, Name: name,
			Digest: map[string]string{"sha256": strings.TrimPrefix(digest, "sha256:")}})
	}
	for _, c := range s.Charts {
		add(c.Chart, c.Digest, c.URL)
	}
	if s.Rendering != nil {
		for _, c := range s.Rendering.RemoteCharts {
			add(c.Chart, c.Digest, c.URL)
		}
	}
	slices.SortFunc(out, func(a, b slsa1.ResourceDescriptor) int { return strings.Compare(a.URI, b.URI) })
	return out
}

// AttestationTypes are the predicate types a signed publish attests, in the order it writes them.
var AttestationTypes = []string{sign.PredicateSLSAProvenanceV1, sign.PredicateInventoryV1}

// predicates are the attestations a signed publish makes: SLSA provenance and statepack's inventory (with each
// image's resolved digest when images were resolved), and, when images were verified, the verification summary.
func predicates(bc BuildContext, repository string, tags []string, s *Source, b *build.Bundle, images *ImageReport, pinned bool) []sign.Predicate {
	inv := build.NewInventory(b, s.Rendering.Objects)
	for _, c := range s.Charts {
		inv.Charts = append(inv.Charts, build.InventoryChart{Release: c.Release.ID.String(), Chart: c.Chart, Digest: c.Digest, URL: c.URL, Hydrated: c.Hydrated})
		if !c.Hydrated {
			for _, o := range c.Objects {
				inv.AddImages(build.Images(o)...)
			}
		}
	}
	for _, c := range s.Rendering.RemoteCharts {
		inv.Charts = append(inv.Charts, build.InventoryChart{Release: c.ReleaseName, Kustomization: c.Kustomization,
			Chart: c.Chart, Digest: c.Digest, URL: c.URL, Hydrated: true})
	}
	if images != nil {
		digests := images.digests()
		for i := range inv.Images {
			if inv.Images[i].Digest == "" {
				inv.Images[i].Digest = digests[inv.Images[i].Reference]
			}
		}
	}
	preds := []sign.Predicate{
		{Type: sign.PredicateSLSAProvenanceV1, Value: provenance(bc, repository, tags, s, b)},
		{Type: sign.PredicateInventoryV1, Value: inv},
	}
	if vsa, ok := newVSA(bc, repository, b, images, pinned); ok {
		preds = append(preds, sign.Predicate{Type: PredicateVSA, Value: vsa})
	}
	return preds
}

// nonEmpty drops the empty values; nil when none is left.
func nonEmpty(m map[string]string) map[string]string {
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// safeURL drops credentials, query and fragment from a URL taken from the environment.
func safeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "https://github.com"
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/")
}

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
