// Package tektontest validates statepack's Tekton Task and example PipelineRun with tektoncd/pipeline's own Go types.
// It is a separate, test-only module so that the main module does not depend on tektoncd/pipeline.
package tektontest
