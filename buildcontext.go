package statepack

import "time"

// BuildContext is what a run knows of its surroundings, as values: the library reads no environment variable and
// no clock. The CLI fills it from the environment (GitHub Actions' and Tekton's variables, SOURCE_DATE_EPOCH); a
// Go program fills what it knows. The zero value is a local run of an unknown version.
type BuildContext struct {
	// Version is statepack's version: it is part of the inputs digest (a new version publishes anew) and of the
	// provenance. "" means "dev".
	Version string
	// SourceDateEpoch, when set, is the artifact's creation time (org.opencontainers.image.created), as
	// SOURCE_DATE_EPOCH sets it; else the commit time is.
	SourceDateEpoch *time.Time
	// RefName is the branch or tag a CI checkout is on when HEAD is detached (GITHUB_REF_NAME and friends); it
	// names the branch in the revision annotation. Ignored when HEAD is on a branch.
	RefName string
	// GitHub describes the GitHub Actions run, when statepack runs in one.
	GitHub *GitHubContext
	// Tekton describes the TaskRun, when statepack runs in one (and GitHub is nil).
	Tekton *TektonContext
}

// GitHubContext is what the provenance records of a GitHub Actions run: the values of the GITHUB_* variables named
// beside each field. None of them is a secret.
type GitHubContext struct {
	ServerURL         string // GITHUB_SERVER_URL; "" means https://github.com
	Repository        string // GITHUB_REPOSITORY: owner/name
	RepositoryID      string // GITHUB_REPOSITORY_ID
	RepositoryOwnerID string // GITHUB_REPOSITORY_OWNER_ID
	RunnerEnvironment string // RUNNER_ENVIRONMENT: github-hosted or self-hosted
	WorkflowRef       string // GITHUB_WORKFLOW_REF: owner/name/.github/workflows/file.yml@refs/heads/main
	WorkflowSHA       string // GITHUB_WORKFLOW_SHA
	RunID             string // GITHUB_RUN_ID
	RunAttempt        string // GITHUB_RUN_ATTEMPT; "" means 1
	EventName         string // GITHUB_EVENT_NAME
	SHA               string // GITHUB_SHA
	Ref               string // GITHUB_REF: refs/heads/main
}

// TektonContext names the TaskRun (and PipelineRun) that ran statepack, as the Task passes them from
// $(context.taskRun.*) and the pod's tekton.dev/pipelineRun label.
type TektonContext struct {
	Namespace   string
	TaskRun     string
	TaskRunUID  string
	PipelineRun string
}

func (c BuildContext) version() string {
	if c.Version == "" {
		return "dev"
	}
	return c.Version
}

// userAgent is what statepack says it is to registries.
func (c BuildContext) userAgent() string { return "statepack/" + c.version() }
