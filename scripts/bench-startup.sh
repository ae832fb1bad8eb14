#!/usr/bin/env bash
# Process start-up, the floor of every small tree's figures (issue 17 item 2 on the corpus's smallest trees): what a
# Go binary pays before main for the packages it links (their init functions run whether the command uses them or
# not). Builds throwaway binaries from mains in a temporary directory inside the module (internal packages are
# importable only from there; it is removed at exit), each linking a part of statepack, and times one run of each,
# the mean of 20 in a row, against `kustomize version` (v5.8.1 on PATH or in ~/go/bin):
#   statepack            bin/statepack, everything (cosign, oras, Helm, CEL validation, go-git)
#   render path          the build package: statepack's render with the kustomize fork and the Helm SDK
#   kustomize fork       the kustomize fork alone (internal/third_party/kustomize/api/krusty)
# Last, the ten packages whose init costs most in bin/statepack (GODEBUG=inittrace=1, mean of 5 runs).
set -euo pipefail
cd "$(dirname "$0")/.." # the mains live inside the module
. scripts/bench-lib.sh
bin=${BIN:-bin/statepack}
work=$(mktemp -d)
mains=$(mktemp -d -p . .bench-startup-XXXXXX)
trap 'rm -rf "$work" "$mains"' EXIT
tool() { command -v "$1" 2>/dev/null || { [[ -x $HOME/go/bin/$1 ]] && echo "$HOME/go/bin/$1"; } || true; }
kustomize=$(tool kustomize)

lean() { # lean NAME IMPORT: a binary whose main does nothing but link IMPORT
  mkdir -p "$mains/$1"
  printf 'package main\n\nimport _ "%s"\n\nfunc main() {}\n' "$2" >"$mains/$1/main.go"
  CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/$1" "./$mains/$1"
}
lean render github.com/statepack/statepack/build
lean fork github.com/statepack/statepack/internal/third_party/kustomize/api/krusty

size() { ls -l "$1" | awk '{printf "%.0f", $5 / 1048576}'; }
row() { # row LABEL BINARY ARGS...
  local label=$1 b=$2; shift 2
  read -r cpu wall < <(startup "$b" "$@")
  if [[ -n ${kcpu:-} ]]; then
    printf '| %s | %s MiB | %s s | %s s | %.2f× |\n' "$label" "$(size "$b")" "$cpu" "$wall" "$(echo "$cpu / $kcpu" | bc -l)"
  else
    printf '| %s | %s MiB | %s s | %s s | – |\n' "$label" "$(size "$b")" "$cpu" "$wall"
  fi
}

echo "| binary | size | CPU per run | wall per run | CPU vs kustomize version |"
echo "|---|---|---|---|---|"
kcpu=
if [[ -n $kustomize ]]; then
  read -r kcpu kwall < <(startup "$kustomize" version)
  printf '| kustomize version (%s) | %s MiB | %s s | %s s | 1.00× |\n' "$("$kustomize" version)" "$(size "$kustomize")" "$kcpu" "$kwall"
fi
row "statepack --version" "$bin" --version
row "render path (build: kustomize fork + Helm SDK)" "$work/render"
row "kustomize fork alone" "$work/fork"
[[ -n $kustomize ]] || echo "(kustomize not found on PATH or in ~/go/bin: go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.1)"

echo
echo "Package inits costing most in $bin (GODEBUG=inittrace=1, ms, mean of 5 runs):"
echo
for _ in 1 2 3 4 5; do GODEBUG=inittrace=1 "$bin" --version 2>&1 >/dev/null; done |
  awk '$1 == "init" {t[$2] += $5 / 5; all += $5 / 5} END {for (p in t) printf "%.1f %s\n", t[p], p; printf "%.1f (all %d packages)\n", all, length(t)}' |
  sort -rn | head -11 | awk '{ms = $1; $1 = ""; printf "- %s ms%s\n", ms, $0}'
