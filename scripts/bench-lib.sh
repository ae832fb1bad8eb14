# Shared by the bench-*.sh scripts (sourced, not run): a throwaway docker-registry on a free loopback port, a
# throwaway cosign key, timers. Expects $work (a temporary directory) and $bin (the statepack binary).

# free_port prints a free loopback TCP port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_registry PORT runs docker-registry with storage under $work until the script exits.
start_registry() {
  cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/storage}}
http: {addr: "127.0.0.1:$1"}
YAML
  docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  echo $! >"$work/pid"
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$1/v2/" 2>/dev/null && return 0; sleep 0.1; done
  echo "docker-registry did not start: see $work/registry.log" >&2
  return 1
}

# make_key writes $work/cosign.key and $work/cosign.pub with an empty password.
make_key() {
  (cd "$work" && COSIGN_PASSWORD= "$OLDPWD/$bin" generate-key-pair >/dev/null)
}

# measure LABEL COMMAND... prints a Markdown row with wall time and peak RSS; the command's stdout goes to $work/out.
measure() {
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || { cat "$work/err"; exit 1; }
  read -r secs kib <"$work/time"
  printf '| %s | %s s | %s MiB |\n' "$label" "$secs" "$((kib / 1024))"
}

# startup COMMAND... prints "CPU wall": seconds per run of COMMAND, the mean of 20 runs in a row (one run is below
# /usr/bin/time's 10 ms resolution). Process start-up is the floor of every small tree's figures.
startup() {
  /usr/bin/time -f "%e %U %S" -o "$work/time" sh -c 'for i in $(seq 20); do "$@" >/dev/null; done' sh "$@"
  tail -n 1 "$work/time" | awk '{printf "%.3f %.3f\n", ($2 + $3) / 20, $1 / 20}'
}
