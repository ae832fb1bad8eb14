#!/usr/bin/env bash
# Issue 17 item 3: a whole publish (render + validate + package + push + sign, and statepack's attestations) against
# the chain it replaces — `kustomize build` + `oras push` + `cosign sign --key` — on the same tree, the same loopback
# docker-registry, the same key, run round after round. The peers run only when kustomize (v5.8.1), oras (v1.3.6)
# and cosign (v2.6.5) are on PATH or in ~/go/bin (go install …); the script says so otherwise. The flux CLI is not
# installable here, so `oras push` stands for `flux push artifact`. Needs bin/statepack, docker-registry, python3.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bin=${BIN:-bin/statepack}
runs=${RUNS:-3}
apps=${APPS:-100} # 100 apps × 20 objects: the generated 2,000-object tree
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
tool() { command -v "$1" 2>/dev/null || { [[ -x $HOME/go/bin/$1 ]] && echo "$HOME/go/bin/$1"; } || true; }
kustomize=$(tool kustomize) oras=$(tool oras) cosign=$(tool cosign)
overlay=$(go run ./internal/testtree/gentree "$work/tree" "$apps" 20)
port=$(free_port)
start_registry "$port"
make_key
reg=127.0.0.1:$port
export COSIGN_PASSWORD=

# timed LABEL COMMAND...: one row, wall and CPU (user + system) seconds and peak RSS.
timed() {
  local label=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  tail -n 1 "$work/time" | awk -v l="$label" '{printf "| %s | %s s | %.2f s | %d MiB |\n", l, $1, $2 + $3, $4 / 1024}'
}

cat >"$work/chain.sh" <<SH
set -euo pipefail
cd "$work"
"$kustomize" build --load-restrictor LoadRestrictionsNone "$overlay" >all.yaml
digest=\$("$oras" push --plain-http "$reg/bench/peer-\$1:v1" all.yaml:application/yaml --format go-template='{{.digest}}')
"$cosign" sign --key cosign.key --tlog-upload=false --allow-http-registry --allow-insecure-registry -y "$reg/bench/peer-\$1@\$digest" >/dev/null 2>&1
SH

echo "| run ($((apps * 20)) objects) | wall | CPU | peak RSS |"
echo "|---|---|---|---|"
for i in $(seq 1 "$runs"); do
  timed "statepack publish --key (signed + SLSA provenance + inventory attested), round $i" \
    "$bin" publish "$overlay" "$reg/bench/sp-$i:v1" --root "$work/tree" --key "$work/cosign.key" --helm off
  timed "statepack publish --key --attest=false (signed only, as the peer chain), round $i" \
    "$bin" publish "$overlay" "$reg/bench/sq-$i:v1" --root "$work/tree" --key "$work/cosign.key" --helm off --attest=false
  if [[ -n $kustomize && -n $oras && -n $cosign ]]; then
    timed "peer: kustomize build + oras push + cosign sign --key, round $i" bash "$work/chain.sh" "$i"
  fi
done
[[ -n $kustomize && -n $oras && -n $cosign ]] || echo "| peer chain not measured: kustomize, oras or cosign missing | | | |"
