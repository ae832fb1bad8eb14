package build

import "github.com/statepack/statepack/internal/manifest"

// ErrInvalidInput marks every error caused by the source tree rather than by the machine: YAML that does not parse, a
// kustomization that kustomize refuses, a file that leaves the source root, a remote base without --allow-remote.
// Render and Package return it wrapped; the CLI maps it to exit code 1 (findings).
var ErrInvalidInput = manifest.ErrInvalidInput
