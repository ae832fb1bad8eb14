// Package kustomize holds statepack's fork of part of sigs.k8s.io/kustomize/api (in api/), made by gen from the
// version go.mod requires: the same code with the edits gen/edits.go lists, which take kustomize's quadratic
// lookups of resource ids out of a build without changing a byte of its output. See README.md.
package kustomize

//go:generate go run ./gen -o api
