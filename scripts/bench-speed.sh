#!/usr/bin/env bash
# Issue 17's figures for docs/benchmarks.md: `statepack render` and `statepack validate` against `kustomize build`
# on the same trees, in the same run, interleaved round by round so that the machine's load hits them alike.
# Prints a Markdown table of medians: wall time, CPU time (user + system: steadier than wall time on a shared
# machine) and peak RSS, with ratios to kustomize build, and whether render's output is byte-identical to it.
#
# Trees: generated 1,000 and 2,000 objects (internal/testtree), the 1,000 with one finding, and the corpus's
# kustomize trees when ../shared/corpus holds them; BENCH_5000=1 adds 5,000 objects (minutes per run). RUNS rounds
# (default 3). OLD_BIN=path adds a "before" column: another statepack binary's validate, run the same way. ONLY=regex
# keeps the trees whose name matches; TOOLS (default "kustomize render validate") picks what is timed.
# kustomize v5.8.1 is needed on PATH or in ~/go/bin (go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.1); without
# it the script says so and times statepack alone. Last, each tool's process start-up: `kustomize version` and
# `statepack --version` run 20 times in a loop (one run is below /usr/bin/time's 10 ms resolution), the floor of every small tree's figures.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bin=${BIN:-bin/statepack}
runs=${RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kustomize=$(command -v kustomize || true)
[[ -z $kustomize && -x $HOME/go/bin/kustomize ]] && kustomize=$HOME/go/bin/kustomize
if [[ -n $kustomize ]]; then
  echo "kustomize: $("$kustomize" version)"
else
  echo "kustomize is not installed: statepack alone is timed (go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.1)"
fi

trees=()
gen() { # gen NAME APPS [finding]
  local dir=$work/$1 overlay
  overlay=$(go run ./internal/testtree/gentree "$dir" "$2" 20 ${3:+-finding})
  trees+=("$1=$overlay=$dir")
}
only=${ONLY:-.}
tools=" ${TOOLS:-kustomize render validate} "
want() { [[ $1 =~ $only ]]; }
want generated-1000 && gen generated-1000 50
want generated-1000-one-finding && gen generated-1000-one-finding 50 finding
want generated-2000 && gen generated-2000 100
if [[ ${BENCH_5000:-} == 1 ]]; then
  want generated-5000 && gen generated-5000 250
  want generated-5000-one-finding && gen generated-5000-one-finding 250 finding
fi
corpus=../shared/corpus
for p in flux2-kustomize-helm-example/apps/production flux2-kustomize-helm-example/infrastructure/controllers \
  microservices-demo-kustomize microservices-demo-kustomize/tests/service-mesh-istio-with-all-components; do
  [[ -d $corpus/$p ]] && want "corpus:$p" && trees+=("corpus:$p=$corpus/$p=$corpus")
done
[[ $tools == *" kustomize "* ]] || kustomize=

# timed NAME TOOL COMMAND...: appends "wall cpu rss_kib" to $work/NAME.TOOL; the exit code does not matter (validate
# exits 1 with findings), but a crash does.
timed() {
  local name=$1 tool=$2; shift 2
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/out.$tool" 2>"$work/err" || true
  if grep -qi -e panic -e "command terminated" "$work/err" "$work/time"; then cat "$work/err" "$work/time" >&2; exit 1; fi
  # The last line: /usr/bin/time writes "Command exited with non-zero status N" above its figures.
  tail -n 1 "$work/time" | awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' >>"$work/$name.$tool"
}

for t in "${trees[@]}"; do
  IFS== read -r name path root <<<"$t"
  key=${name//[:\/]/_}
  for _ in $(seq "$runs"); do
    [[ -n $kustomize ]] && timed "$key" kustomize "$kustomize" build "$path" --load-restrictor LoadRestrictionsNone
    # --helm off: what kustomize build does (the releases as written; the corpus's chart repositories are on the
    # internet). The Helm stage has its own figures in bench-helm.sh.
    [[ $tools == *" render "* ]] && timed "$key" render "$bin" render "$path" --root "$root" --helm off
    [[ $tools == *" validate "* ]] && timed "$key" validate "$bin" validate "$path" --root "$root" --helm off
    [[ -n ${OLD_BIN:-} ]] && timed "$key" before "$OLD_BIN" validate "$path" --root "$root"
  done
  same=n/a
  if [[ -n $kustomize && $tools == *" render "* ]]; then
    if cmp -s "$work/out.kustomize" "$work/out.render"; then same=yes; else same=NO; fi
  fi
  echo "$name $same" >>"$work/trees"
done

python3 - "$work" "$runs" <<'PY'
import statistics, sys, os
work, runs = sys.argv[1], sys.argv[2]
def med(name, tool):
    p = os.path.join(work, f"{name}.{tool}")
    if not os.path.exists(p):
        return None
    rows = [list(map(float, l.split())) for l in open(p)]
    return [statistics.median(c) for c in zip(*rows)]
tools = ["kustomize", "render", "validate", "before"]
print(f"\nMedians of {runs} interleaved rounds; wall s / CPU s (user+sys) / peak RSS MiB; ratios are CPU time against kustomize build.\n")
print("| tree | kustomize build | statepack render | statepack validate | before: validate | render output = kustomize's |")
print("|---|---|---|---|---|---|")
for line in (open(os.path.join(work, "trees")) if os.path.exists(os.path.join(work, "trees")) else []):
    name, same = line.split()
    key = name.replace(":", "_").replace("/", "_")
    k = med(key, "kustomize")
    cells = []
    for tool in tools:
        m = med(key, tool)
        if m is None:
            cells.append("–")
            continue
        cell = f"{m[0]:.2f} / {m[1]:.2f} / {m[2]/1024:.0f}"
        if k and tool != "kustomize" and k[1] > 0:
            cell += f" ({m[1]/k[1]:.2f}×)"
        cells.append(cell)
    print(f"| {name} | " + " | ".join(cells) + f" | {same} |")
PY

echo
read -r scpu swall < <(startup "$bin" --version)
if [[ -n $kustomize ]]; then
  read -r kcpu kwall < <(startup "$kustomize" version)
  echo "Process start-up (\`kustomize version\`, \`statepack --version\`; mean of 20 runs): kustomize $kcpu s CPU, $kwall s wall; statepack $scpu s CPU, $swall s wall."
else
  echo "Process start-up (\`statepack --version\`, mean of 20 runs): $scpu s CPU, $swall s wall."
fi
