#!/usr/bin/env bash
# Fleet figures for docs/benchmarks.md (issue 6): a generated monorepo of 24 clusters x 40 apps (161 objects per
# cluster), published with `statepack publish --config` (signed, into a real registry on loopback), then again with
# --incremental after one cluster changed. Needs bin/statepack and docker-registry. Peer tools (kustomize, flux,
# cosign) are timed in the same loop when they are on PATH; otherwise statepack is reported alone.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bin=${BIN:-bin/statepack}
clusters=${CLUSTERS:-24}
apps=${APPS:-40}
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
{
  echo "apiVersion: statepack.dev/v1alpha1"
  echo "kind: Config"
  echo "defaults: {sign: {key: cosign.key}}"
  echo "targets:"
} >"$work/statepack.yaml"
port=$(free_port)
for c in $(seq -w 1 "$clusters"); do
  go run ./internal/testtree/gentree "$work/cluster-$c" "$apps" 4 >/dev/null
  echo "- {name: cluster-$c, path: cluster-$c/overlay, ref: 127.0.0.1:$port/fleet/cluster-$c:main}" >>"$work/statepack.yaml"
done
start_registry "$port"
make_key
echo "| run ($clusters clusters x $apps apps) | wall time | peak RSS |"
echo "|---|---|---|"
measure "publish --config, full, signed" env COSIGN_PASSWORD= "$bin" publish --config "$work/statepack.yaml" --root "$work"
measure "publish --config --incremental, nothing changed" env COSIGN_PASSWORD= "$bin" publish --config "$work/statepack.yaml" --root "$work" --incremental
sed -i 's/value: 3/value: 4/' "$work/cluster-$(seq -w 1 "$clusters" | head -1)/overlay/kustomization.yaml"
measure "publish --config --incremental, one cluster changed" env COSIGN_PASSWORD= "$bin" publish --config "$work/statepack.yaml" --root "$work" --incremental
grep -c unchanged "$work/out" | xargs -I{} echo "(targets reported unchanged in the last run: {})"
if command -v kustomize >/dev/null && command -v flux >/dev/null && command -v cosign >/dev/null; then
  start=$(date +%s.%N)
  for c in $(seq -w 1 "$clusters"); do
    kustomize build "$work/cluster-$c/overlay" >"$work/out-$c.yaml"
    flux push artifact "oci://127.0.0.1:$port/peer/cluster-$c:main" --path "$work/out-$c.yaml" --source x --revision y >/dev/null
    COSIGN_PASSWORD= cosign sign --yes --key "$work/cosign.key" --tlog-upload=false "127.0.0.1:$port/peer/cluster-$c:main" >/dev/null
  done
  echo "| peer loop (kustomize build, flux push artifact, cosign sign) | $(echo "$(date +%s.%N) - $start" | bc) s | |"
else
  echo "(kustomize, flux or cosign not installed: peer loop not timed)"
fi
