#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a short time (FUZZTIME, default 3s each): a smoke run in `make test`,
# a longer one in `make fuzz`. Crashers land in <package>/testdata/fuzz/<Target>/ and become regression seeds:
# commit them.
#
# Targets are found by their declaration, `func FuzzXxx(` at the start of a line in a package's _test.go files, so a
# new target is picked up without being listed anywhere. The run fails when a package does not list (a build error
# would otherwise hide its targets) or when no target is found at all.
set -euo pipefail
fuzztime=${FUZZTIME:-3s}
status=0
found=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
pkgs=$(go list ./...)
for pkg in $pkgs; do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*(' "$dir"/*_test.go 2>/dev/null | sed 's/^func //; s/($//' | sort -u); do
    found=$((found + 1))
    echo "fuzz $pkg $target ($fuzztime)"
    if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" >"$log" 2>&1; then
      cat "$log"
      status=1
    fi
  done
done
if [ "$found" -eq 0 ]; then
  echo "fuzz-smoke: no fuzz target found" >&2
  exit 1
fi
echo "fuzz-smoke: $found target(s), FUZZTIME=$fuzztime each"
exit $status
