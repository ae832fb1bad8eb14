#!/usr/bin/env bash
# Runs every Go fuzz target in the module (or in the packages given as arguments) for a short time (FUZZTIME,
# default 3s each): a smoke run in `make test`, a longer one in `make fuzz`. Crashers land in
# <package>/testdata/fuzz/<Target>/ and become regression seeds: commit them.
#
# Targets are found by their declaration, `func FuzzXxx(` at the start of a line in a package's _test.go files, so a
# new target is picked up without being listed anywhere. The run fails when a package does not list or its fuzz test
# binary does not build (either would otherwise hide its targets), when a target fails, or when no target is found.
#
# Each package's fuzz-instrumented test binary is built once (`go test -c -fuzz=.`) and its targets run from it,
# in the package's directory and with the go command's fuzz cache (-test.fuzzcachedir), as `go test -fuzz` would run
# them: `go test -fuzz` per target relinks the binary every time (~35 s for build/ or the root package). FUZZJOBS
# targets (default 1) run at once, each with FUZZPARALLEL workers (default: GOMAXPROCS); the binary of the next
# package builds while the targets of the previous one run. A target that fails only because Go 1.26's fuzz
# coordinator missed its own -fuzztime deadline (no input failed, none written: go.dev/issue/75804) runs again, up
# to five times in all.
set -euo pipefail
fuzztime=${FUZZTIME:-3s}
jobs=${FUZZJOBS:-1}
parallel=()
if [ -n "${FUZZPARALLEL:-}" ]; then
  parallel=(-test.parallel "$FUZZPARALLEL")
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cache=$(go env GOCACHE)/fuzz
status=0
found=0
n=0

# finish reports the targets whose runs have ended (their .rc exists), in the order they were started.
reported=0
finish() {
  local i
  for ((i = reported; i < n; i++)); do
    [ -f "$work/$i.rc" ] || break
    cat "$work/$i.head"
    if [ "$(cat "$work/$i.rc")" != 0 ]; then
      cat "$work/$i.log"
      status=1
    fi
    reported=$((i + 1))
  done
}

# slot waits until fewer than FUZZJOBS targets run.
slot() {
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    wait -n || true
    finish
  done
}

pkgs=$(go list "${@:-./...}")
for pkg in $pkgs; do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*(' "$dir"/*_test.go 2>/dev/null | sed 's/^func //; s/($//' | sort -u || true)
  [ -n "$targets" ] || continue
  bin="$work/$(echo "$pkg" | tr / _).test"
  if ! go test -c -fuzz=. -o "$bin" "$pkg" >"$work/build.log" 2>&1; then
    echo "fuzz $pkg: building the fuzz test binary failed"
    cat "$work/build.log"
    status=1
    continue
  fi
  for target in $targets; do
    found=$((found + 1))
    slot
    i=$n
    n=$((n + 1))
    echo "fuzz $pkg $target ($fuzztime)" >"$work/$i.head"
    (
      cd "$dir"
      for try in 1 2 3 4 5; do
        rc=0
        "$bin" -test.run '^$' -test.fuzz "^${target}\$" -test.fuzztime "$fuzztime" -test.fuzzcachedir "$cache/$pkg" \
          "${parallel[@]}" >"$work/$i.log" 2>&1 || rc=$?
        # Go 1.26's fuzz coordinator can fail a target with a bare "context deadline exceeded" at the end of
        # -fuzztime when its workers are starved of CPU (go.dev/issue/75804, fixed in Go 1.27): no input failed and
        # none is written. Only that failure is tried again; a crasher or any other failure counts at once.
        if [ "$rc" = 0 ] || ! grep -q '^    context deadline exceeded$' "$work/$i.log" || grep -q 'Failing input written' "$work/$i.log"; then
          break
        fi
        echo "fuzz $pkg $target: Go's fuzz coordinator missed its own deadline (go.dev/issue/75804), no input failed: run $try of 5" >>"$work/$i.head"
      done
      echo "$rc" >"$work/$i.rc"
    ) &
  done
done
wait
finish
if [ "$found" -eq 0 ]; then
  echo "fuzz-smoke: no fuzz target found" >&2
  exit 1
fi
echo "fuzz-smoke: $found target(s), FUZZTIME=$fuzztime each, FUZZJOBS=$jobs at once"
exit $status
