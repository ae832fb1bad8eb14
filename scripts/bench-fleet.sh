#!/usr/bin/env bash
# Fleet figures for docs/benchmarks.md (issues 6 and 17): a generated monorepo of 24 clusters x 40 apps (161 objects
# per cluster) in a git repository, published with `statepack publish --config` (signed with a key, into a real
# docker-registry on loopback), then again with --incremental; then one cluster changed and committed, end to end:
# `statepack targets --changed-since HEAD~1` and a publish of the targets it names. The peer loop — per cluster
# `kustomize build` + `oras push` + `cosign sign --key` (kustomize v5.8.1, oras v1.3.6 standing for `flux push
# artifact`, whose CLI is not installable here, cosign v2.6.5) — is timed in the same run when the three are on PATH
# or in ~/go/bin; a peer loop has no way to tell what changed, so it runs over every cluster both times.
# Needs bin/statepack, docker-registry, git and python3.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bin=${BIN:-bin/statepack}
clusters=${CLUSTERS:-24}
apps=${APPS:-40}
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
tool() { command -v "$1" 2>/dev/null || { [[ -x $HOME/go/bin/$1 ]] && echo "$HOME/go/bin/$1"; } || true; }
kustomize=$(tool kustomize) oras=$(tool oras) cosign=$(tool cosign)
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
export COSIGN_PASSWORD=
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin") # the runs below work in $work
printf 'storage/\nregistry.*\npid\nout*\nerr\ntime\n*.yaml.out\n' >"$work/.gitignore"
git -C "$work" init -q && git -C "$work" add -A && git -C "$work" -c user.name=bench -c user.email=bench@example.com commit -qm fleet

# The peer loop over every cluster: $1 names the round (a repository per round, so every blob is pushed).
cat >"$work/peer.sh" <<SH
set -euo pipefail
cd "$work"
for c in \$(seq -w 1 $clusters); do
  "$kustomize" build --load-restrictor LoadRestrictionsNone "cluster-\$c/overlay" >"cluster-\$c.yaml.out"
  digest=\$("$oras" push --plain-http "127.0.0.1:$port/peer-\$1/cluster-\$c:main" "cluster-\$c.yaml.out:application/yaml" --format go-template='{{.digest}}')
  "$cosign" sign --key cosign.key --tlog-upload=false --allow-http-registry --allow-insecure-registry -y "127.0.0.1:$port/peer-\$1/cluster-\$c@\$digest" >/dev/null 2>&1
done
SH
# One cluster changed, end to end: which targets the commit touches, then a publish of those only.
cat >"$work/changed.sh" <<SH
set -euo pipefail
cd "$work"
args=()
for t in \$("$bin" targets --config statepack.yaml --changed-since HEAD~1); do args+=(--target "\$t"); done
echo "\${args[@]}" >changed-targets
[[ \${#args[@]} -eq 0 ]] || "$bin" publish --config statepack.yaml --root . "\${args[@]}"
SH
peers() { [[ -n $kustomize && -n $oras && -n $cosign ]]; }

cd "$work"
echo "| run ($clusters clusters x $apps apps) | wall | CPU | peak RSS |"
echo "|---|---|---|---|"
timed() {
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  awk -v l="$label" '{printf "| %s | %s s | %.2f s | %d MiB |\n", l, $1, $2 + $3, $4 / 1024}' "$work/time"
}
timed "statepack publish --config, full, signed" "$bin" publish --config statepack.yaml --root .
peers && timed "peer loop over $clusters clusters (kustomize build + oras push + cosign sign --key), full" bash peer.sh full
timed "statepack publish --config --incremental, nothing changed" "$bin" publish --config statepack.yaml --root . --incremental
first=cluster-$(seq -w 1 "$clusters" | head -1)
sed -i 's/value: 3/value: 4/' "$first/overlay/kustomization.yaml"
git -c user.name=bench -c user.email=bench@example.com commit -qam "$first changed"
timed "one cluster changed: statepack targets --changed-since HEAD~1 + publish of what it names" bash changed.sh
echo "(targets named: $(cat changed-targets))"
peers && timed "one cluster changed: peer loop over all $clusters clusters" bash peer.sh changed
timed "one cluster changed: statepack publish --config --incremental (every target checked)" "$bin" publish --config statepack.yaml --root . --incremental
peers || echo "(kustomize, oras or cosign not found on PATH or in ~/go/bin: peer loop not timed)"
