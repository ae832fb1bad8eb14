#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a short time (FUZZTIME, default 3s each): a smoke run in `make test`,
# a longer one in `make fuzz`. Crashers land in testdata/fuzz/<Target>/ and become regression seeds: commit them.
set -euo pipefail
fuzztime=${FUZZTIME:-3s}
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target ($fuzztime)"
    if ! go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" >/tmp/fuzz-$$.log 2>&1; then
      cat /tmp/fuzz-$$.log
      status=1
    fi
  done
done
rm -f /tmp/fuzz-$$.log
exit $status
