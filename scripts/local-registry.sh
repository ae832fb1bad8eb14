#!/usr/bin/env bash
# Makes sure a registry answers on localhost:5000 for `make publish`: uses one that already answers, else starts
# Debian's docker-registry with its storage under dist/registry, in the background (stop it with
# `kill $(cat dist/registry/pid)`).
set -euo pipefail
addr=${REGISTRY_ADDR:-localhost:5000}
if curl -fsS -o /dev/null "http://$addr/v2/" 2>/dev/null; then
  echo "registry answers on $addr" >&2
  exit 0
fi
bin=$(command -v docker-registry || command -v registry || true)
if [[ -z $bin ]]; then
  echo "no registry answers on $addr and none is installed: apt-get install docker-registry (or run one there)" >&2
  exit 1
fi
mkdir -p dist/registry
cat >dist/registry/config.yml <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $PWD/dist/registry/storage}
  delete: {enabled: true}
http: {addr: "$addr"}
YAML
nohup "$bin" serve dist/registry/config.yml >dist/registry/log 2>&1 &
echo $! >dist/registry/pid
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "http://$addr/v2/" 2>/dev/null; then
    echo "started $bin on $addr (pid $(cat dist/registry/pid), log dist/registry/log)" >&2
    exit 0
  fi
  sleep 0.1
done
echo "the registry did not start: see dist/registry/log" >&2
exit 1
