#!/usr/bin/env bash
# Helm figures for docs/benchmarks.md: the Flux example's apps/staging hydrated by statepack (podinfo's chart from a
# loopback HTTP repository, locked, warm chart cache) against the chain a user runs today to see the same objects:
# `kustomize build` for the tree and `helm template` for the chart with the release's values. The peers run only
# when kustomize and helm are on PATH (go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.1 and
# helm.sh/helm/v4/cmd/helm@v4.3.2); the script says so otherwise. Needs bin/statepack, python3 and the corpus.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bin=${BIN:-bin/statepack}
corpus=../shared/corpus
if [[ ! -d $corpus/flux2-kustomize-helm-example/apps/staging || ! -d $corpus/charts/podinfo ]]; then
  echo "bench-helm: the shared corpus is not at $corpus: skipped" >&2
  exit 0
fi
work=$(mktemp -d)
trap 'kill $(cat "$work/http.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(free_port)
url="http://127.0.0.1:$port"
# The chart repository: podinfo packaged and indexed by statepack's own test helper would do; helm is not needed
# for it, so the statepack figure stands without the peers.
mkdir -p "$work/repo"
go run ./internal/testcharts/cmd/package-chart "$corpus/charts/podinfo" "$work/repo" "$url"
(cd "$work/repo" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
echo $! >"$work/http.pid"
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$url/index.yaml" 2>/dev/null && break; sleep 0.1; done
cp -r "$corpus/flux2-kustomize-helm-example/apps" "$work/apps"
sed -i "s#https://stefanprodan.github.io/podinfo#$url#" "$work/apps/base/podinfo/repository.yaml"
staging=$work/apps/staging
"$bin" lock "$staging" --root "$work" --chart-cache "$work/cache" >/dev/null

echo "| run | wall time | peak RSS |"
echo "|---|---|---|"
for i in 1 2 3; do
  measure "statepack render --helm hydrate apps/staging, locked, warm cache (run $i)" \
    "$bin" render "$staging" --root "$work" --helm hydrate --chart-cache "$work/cache"
done
n=$(grep -c '^kind:' "$work/out" || true)
echo "| (statepack printed $n objects) | | |"
if command -v kustomize >/dev/null && command -v helm >/dev/null; then
  # The release's values as helm-controller merges them for staging (base values, then the staging patch).
  cat >"$work/values.yaml" <<'YAML'
redis: {enabled: true, repository: public.ecr.aws/docker/library/redis, tag: 8.6.2}
httpRoute:
  enabled: true
  parentRefs: [{name: envoy, namespace: envoy-gateway-system, sectionName: http}]
  hostnames: [podinfo.staging]
  rules: [{matches: [{path: {type: PathPrefix, value: /}}]}]
YAML
  cat >"$work/chain.sh" <<SH
set -e
kustomize build "$staging" >/dev/null
helm template podinfo podinfo --repo "$url" --version 6.14.1 --namespace podinfo -f "$work/values.yaml" --skip-tests
SH
  helm template podinfo podinfo --repo "$url" --version 6.14.1 -f "$work/values.yaml" >/dev/null # warm helm's cache
  for i in 1 2 3; do
    measure "peer: kustomize build + helm template (run $i)" bash "$work/chain.sh"
  done
  n=$(grep -c '^kind:' "$work/out" || true)
  echo "| (helm template printed $n objects) | | |"
else
  echo "| peer chain: kustomize or helm not on PATH, not measured | | |"
fi
