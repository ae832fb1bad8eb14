package cli

import (
	"net/url"
	"strings"

	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"

	"github.com/statepack/statepack/build"
	"github.com/statepack/statepack/internal/gitmeta"
	"github.com/statepack/statepack/sign"
)

// Provenance vocabulary. The build type says how to read externalParameters; builder ids name the platform that
// ran statepack, the way SLSA's GitHub Actions build type names GitHub's runners.
const (
	provenanceBuildType = "https://statepack.dev/buildtypes/publish/v1"
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

// provenance returns the SLSA v1 provenance predicate of one publish. It reads only an allow-list of CI variables
// (never a token, password or anything a secret could hide in) and URLs without credentials.
func provenance(env *Env, job publishJob, s *source, b *build.Bundle) slsa1.ProvenancePredicate {
	params := provenanceParams{
		Path:           s.relPath(),
		Repository:     job.ref.Name(),
		Tags:           nonNil(job.tags),
		LayerMediaType: b.LayerDescriptor.MediaType,
	}
	if job.src != nil {
		params.KubernetesVersion, params.AllowRemote = job.src.kubernetesVersion, job.src.allowRemote
	}
	internal := provenanceInternal{InputsDigest: b.Annotations[build.AnnotationInputs]}
	var deps []slsa1.ResourceDescriptor
	if s.git != nil && s.git.Commit != "" {
		uri := gitmeta.StripCredentials(s.git.Source)
		params.Source = &provenanceSource{URI: uri, Revision: s.git.Revision}
		if uri != "" {
			dep := "git+" + uri
			if ref, _, ok := strings.Cut(s.git.Revision, "@sha1:"); ok && ref != "" {
				// SLSA names git refs in full (refs/heads/main); CI says which kind of ref the name is.
				if full := env.getenv("GITHUB_REF"); strings.HasSuffix(full, "/"+ref) && strings.HasPrefix(full, "refs/") {
					ref = full
				}
				dep += "@" + ref
			}
			deps = append(deps, slsa1.ResourceDescriptor{URI: dep, Digest: map[string]string{"gitCommit": s.git.Commit}})
		}
	}
	run := slsa1.ProvenanceRunDetails{Builder: slsa1.Builder{ID: builderLocal, Version: map[string]string{"statepack": env.Version}}}
	switch {
	case env.getenv("GITHUB_ACTIONS") == "true":
		server := safeURL(orDefault(env.getenv("GITHUB_SERVER_URL"), "https://github.com"))
		repo := env.getenv("GITHUB_REPOSITORY")
		runner := env.getenv("RUNNER_ENVIRONMENT")
		if runner != "self-hosted" {
			runner = "github-hosted"
		}
		run.Builder.ID = builderGitHub + runner
		if wf := env.getenv("GITHUB_WORKFLOW_REF"); wf != "" {
			// owner/repo/.github/workflows/file.yml@refs/heads/main
			path, ref, _ := strings.Cut(strings.TrimPrefix(wf, repo+"/"), "@")
			params.Workflow = &provenanceWorkflow{Ref: ref, Repository: server + "/" + repo, Path: path}
		}
		if id := env.getenv("GITHUB_RUN_ID"); id != "" && repo != "" {
			run.BuildMetadata.InvocationID = server + "/" + repo + "/actions/runs/" + id + "/attempts/" + orDefault(env.getenv("GITHUB_RUN_ATTEMPT"), "1")
		}
		internal.GitHub = pickEnv(env, map[string]string{
			"event_name":          "GITHUB_EVENT_NAME",
			"repository_id":       "GITHUB_REPOSITORY_ID",
			"repository_owner_id": "GITHUB_REPOSITORY_OWNER_ID",
			"runner_environment":  "RUNNER_ENVIRONMENT",
			"sha":                 "GITHUB_SHA",
			"ref":                 "GITHUB_REF",
			"workflow_sha":        "GITHUB_WORKFLOW_SHA",
		})
	case env.getenv("TEKTON_TASKRUN_NAME") != "":
		// The Task passes these from $(context.taskRun.*) and the pod's tekton.dev/pipelineRun label.
		run.Builder.ID = builderTekton
		ns, name := env.getenv("TEKTON_TASKRUN_NAMESPACE"), env.getenv("TEKTON_TASKRUN_NAME")
		run.BuildMetadata.InvocationID = "tekton://" + ns + "/taskruns/" + name
		internal.Tekton = pickEnv(env, map[string]string{
			"namespace":   "TEKTON_TASKRUN_NAMESPACE",
			"taskRun":     "TEKTON_TASKRUN_NAME",
			"taskRunUID":  "TEKTON_TASKRUN_UID",
			"pipelineRun": "TEKTON_PIPELINERUN_NAME",
		})
	}
	return slsa1.ProvenancePredicate{
		BuildDefinition: slsa1.ProvenanceBuildDefinition{
			BuildType:            provenanceBuildType,
			ExternalParameters:   params,
			InternalParameters:   internal,
			ResolvedDependencies: deps,
		},
		RunDetails: run,
	}
}

// predicates returns the attestations a signed publish makes: SLSA provenance and statepack's inventory.
func predicates(env *Env, job publishJob, s *source, b *build.Bundle) []sign.Predicate {
	return []sign.Predicate{
		{Type: sign.PredicateSLSAProvenanceV1, Value: provenance(env, job, s, b)},
		{Type: sign.PredicateInventoryV1, Value: build.NewInventory(b, s.rendering.Objects)},
	}
}

// pickEnv reads the named variables; empty ones are left out.
func pickEnv(env *Env, names map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range names {
		if val := env.getenv(v); val != "" {
			out[k] = val
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// safeURL drops credentials, query and fragment from a URL taken from the environment.
func safeURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "https://github.com"
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/")
}
