package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/statepack/statepack"
)

// buildContext reads what the environment says about this run — the CI platform (GitHub Actions, Tekton), the
// branch of a detached checkout, SOURCE_DATE_EPOCH — into the value the library takes. It reads only an allow-list
// of variables, none of which holds a secret.
func buildContext(env *Env) (statepack.BuildContext, error) {
	bc := statepack.BuildContext{Version: env.Version, RefName: ciRefName(env)}
	if sde := env.getenv("SOURCE_DATE_EPOCH"); sde != "" {
		secs, err := strconv.ParseInt(sde, 10, 64)
		if err != nil || secs < 0 {
			return bc, usagef("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", sde)
		}
		t := time.Unix(secs, 0).UTC()
		bc.SourceDateEpoch = &t
	}
	switch {
	case env.getenv("GITHUB_ACTIONS") == "true":
		bc.GitHub = &statepack.GitHubContext{
			ServerURL:         env.getenv("GITHUB_SERVER_URL"),
			Repository:        env.getenv("GITHUB_REPOSITORY"),
			RepositoryID:      env.getenv("GITHUB_REPOSITORY_ID"),
			RepositoryOwnerID: env.getenv("GITHUB_REPOSITORY_OWNER_ID"),
			RunnerEnvironment: env.getenv("RUNNER_ENVIRONMENT"),
			WorkflowRef:       env.getenv("GITHUB_WORKFLOW_REF"),
			WorkflowSHA:       env.getenv("GITHUB_WORKFLOW_SHA"),
			RunID:             env.getenv("GITHUB_RUN_ID"),
			RunAttempt:        env.getenv("GITHUB_RUN_ATTEMPT"),
			EventName:         env.getenv("GITHUB_EVENT_NAME"),
			SHA:               env.getenv("GITHUB_SHA"),
			Ref:               env.getenv("GITHUB_REF"),
		}
	case env.getenv("TEKTON_TASKRUN_NAME") != "":
		// The Task passes these from $(context.taskRun.*) and the pod's tekton.dev/pipelineRun label.
		bc.Tekton = &statepack.TektonContext{
			Namespace:   env.getenv("TEKTON_TASKRUN_NAMESPACE"),
			TaskRun:     env.getenv("TEKTON_TASKRUN_NAME"),
			TaskRunUID:  env.getenv("TEKTON_TASKRUN_UID"),
			PipelineRun: env.getenv("TEKTON_PIPELINERUN_NAME"),
		}
	}
	return bc, nil
}

// ciRefName returns the branch or tag name CI systems give for a detached checkout.
func ciRefName(env *Env) string {
	if ref := env.getenv("GITHUB_REF"); strings.HasPrefix(ref, "refs/heads/") || strings.HasPrefix(ref, "refs/tags/") {
		if name := env.getenv("GITHUB_REF_NAME"); name != "" {
			return name
		}
		_, name, _ := strings.Cut(strings.TrimPrefix(ref, "refs/"), "/")
		return name
	}
	if name := env.getenv("GITHUB_HEAD_REF"); name != "" {
		return name // pull requests: the source branch
	}
	for _, k := range []string{"CI_COMMIT_REF_NAME", "BUILDKITE_BRANCH", "GIT_BRANCH", "BRANCH_NAME"} {
		if v := env.getenv(k); v != "" {
			return v
		}
	}
	return ""
}
