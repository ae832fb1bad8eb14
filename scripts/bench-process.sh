#!/usr/bin/env bash
# Whole-process figures for docs/benchmarks.md: wall time and peak RSS of `statepack render` and
# `statepack publish --key` (real binary, real registry on loopback) for a generated 2,000-object tree and the
# corpus's apps/staging when present. Needs bin/statepack and docker-registry.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bin=${BIN:-bin/statepack}
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
overlay=$(go run ./internal/testtree/gentree "$work/tree" 100 20)
port=$(free_port)
start_registry "$port"
make_key
echo "| run | wall time | peak RSS |"
echo "|---|---|---|"
trees=("generated-2000=$overlay=$work/tree")
corpus=../shared/corpus
if [[ -d $corpus/flux2-kustomize-helm-example/apps/staging ]]; then
  trees+=("corpus-apps-staging=$corpus/flux2-kustomize-helm-example/apps/staging=$corpus")
  # Its HelmRepository is on the internet: the figures here are for the tree as it is (--helm off); the Helm stage
  # has its own in bench-helm.sh.
  helm_off=(--helm off)
fi
for t in "${trees[@]}"; do
  IFS== read -r name path root <<<"$t"
  extra=()
  [[ $name == corpus-* ]] && extra=("${helm_off[@]}")
  for i in 1 2 3; do
    measure "render $name (run $i)" "$bin" render "$path" --root "$root" "${extra[@]}"
  done
  for i in 1 2 3; do
    measure "publish, unsigned, $name (run $i)" "$bin" publish "$path" "127.0.0.1:$port/bench/$name-u$i:v1" --root "$root" "${extra[@]}"
  done
  for i in 1 2 3; do
    measure "publish --key $name (run $i)" env COSIGN_PASSWORD= "$bin" publish "$path" "127.0.0.1:$port/bench/$name-$i:v1" --root "$root" --key "$work/cosign.key" "${extra[@]}"
  done
done
