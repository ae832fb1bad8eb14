#!/usr/bin/env bash
# Issue 17 item 3: a whole publish (render + validate + package + push + sign, and statepack's attestations) against
# the chain it replaces — `kustomize build` + `oras push` + `cosign sign --key` — on the same tree, the same loopback
# docker-registry, the same key, run round after round. The peers run only when kustomize (v5.8.1), oras (v1.3.6)
# and cosign (v2.6.5) are on PATH or in ~/go/bin (go install …); the script says so otherwise. The flux CLI is not
# installable here, so `oras push` stands for `flux push artifact`. BASE_BIN=path/to/another/statepack adds its
# `publish --key` to every round, to compare two builds in the same run. Needs bin/statepack, docker-registry, python3.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bin=${BIN:-bin/statepack}
base=${BASE_BIN:-}
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

# The chain, each step timed on its own (wall seconds into $work/steps): the phases statepack's are set against.
cat >"$work/chain.sh" <<SH
set -euo pipefail
cd "$work"
step() { /usr/bin/time -f "%e" -a -o steps "\$@"; }
: >steps
step "$kustomize" build --load-restrictor LoadRestrictionsNone "$overlay" >all.yaml
step "$oras" push --plain-http "$reg/bench/peer-\$1:v1" all.yaml:application/yaml --format go-template='{{.digest}}' >digest
step "$cosign" sign --key cosign.key --tlog-upload=false --allow-http-registry --allow-insecure-registry -y "$reg/bench/peer-\$1@\$(cat digest)" >/dev/null 2>&1
SH

# phases: the wall time of each phase of the last statepack publish, from its debug log (-v), as a Markdown row.
phases() {
  awk -v l="$1" '
    /msg="loaded the signing key"/ { k = "key" } /msg="loaded the validators"/ { k = "validators" }
    /msg=rendered / { k = "render" } /msg=validated / { k = "validate" } /msg=packaged / { k = "package" }
    /msg=pushed / { k = "push" } /msg=signed / { k = "sign" } /msg="checked what Flux reads/ { k = "check" }
    /msg=tagged / { k = "tag" }
    k != "" && match($0, /duration=[0-9.]+(ms|s|µs)/) {
      d = substr($0, RSTART + 9, RLENGTH - 9); v = d + 0
      if (d ~ /ms$/) v /= 1000; else if (d ~ /µs$/) v /= 1e6
      t[k] = v; k = ""
    }
    END { printf "| %s | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", l, t["key"], t["validators"],
      t["render"], t["validate"], t["package"], t["push"], t["sign"], t["check"], t["tag"] }' "$work/err"
}

echo "| run ($((apps * 20)) objects) | wall | CPU | peak RSS |"
echo "|---|---|---|---|"
: >"$work/phases" && : >"$work/chain-steps"
for i in $(seq 1 "$runs"); do
  timed "statepack publish --key (signed + SLSA provenance + inventory attested), round $i" \
    "$bin" publish "$overlay" "$reg/bench/sp-$i:v1" --root "$work/tree" --key "$work/cosign.key" --helm off -v
  phases "round $i" >>"$work/phases"
  if [[ -n $base ]]; then
    timed "$base publish --key, round $i" "$base" publish "$overlay" "$reg/bench/sb-$i:v1" --root "$work/tree" --key "$work/cosign.key" --helm off
  fi
  timed "statepack publish --key --attest=false (signed only, as the peer chain), round $i" \
    "$bin" publish "$overlay" "$reg/bench/sq-$i:v1" --root "$work/tree" --key "$work/cosign.key" --helm off --attest=false
  if [[ -n $kustomize && -n $oras && -n $cosign ]]; then
    timed "peer: kustomize build + oras push + cosign sign --key, round $i" bash "$work/chain.sh" "$i"
    echo "| round $i | $(paste -sd'|' "$work/steps" | sed 's/|/ | /g') |" >>"$work/chain-steps"
  fi
done
[[ -n $kustomize && -n $oras && -n $cosign ]] || echo "| peer chain not measured: kustomize, oras or cosign missing | | | |"
echo
echo "Phases of \`statepack publish --key\` (wall seconds, from its -v log; the key is loaded while the tree renders):"
echo
echo "| round | key | validators | render | validate | package | push | sign + attest | bundle check | tag |"
echo "|---|---|---|---|---|---|---|---|---|---|"
cat "$work/phases"
if [[ -s $work/chain-steps ]]; then
  echo
  echo "Steps of the peer chain (wall seconds, each a process):"
  echo
  echo "| round | kustomize build | oras push | cosign sign --key |"
  echo "|---|---|---|---|"
  cat "$work/chain-steps"
fi
