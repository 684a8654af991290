#!/usr/bin/env bash
# Make sure a Docker engine answers. If none does, install Debian's docker.io
# (when dockerd is missing) and start dockerd detached from our output, so
# whoever reads this script's output (CI, make) is not held open by it.
# Prints the PID of a dockerd it started to $DOCKERD_PIDFILE, so the caller
# that started it can stop it again.
set -euo pipefail

PIDFILE=${DOCKERD_PIDFILE:-/tmp/sklearn-byoc-dockerd.pid}
# The Debian client runs BuildKit builds without a buildx plugin; prefer it.
DOCKER=${DOCKER:-$( [ -x /usr/bin/docker ] && echo /usr/bin/docker || command -v docker || echo docker )}

engine_answers() { "$DOCKER" info >/dev/null 2>&1; }

if engine_answers; then
  echo "docker engine: already running"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "error: no Docker engine answers and dockerd is not installed; install Docker (https://docs.docker.com/engine/install/) and start it" >&2
    exit 1
  fi
  echo "docker engine: installing docker.io from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
  DOCKER=/usr/bin/docker
fi

if [ "$(id -u)" != 0 ]; then
  echo "error: no Docker engine answers and starting dockerd needs root; start Docker and retry" >&2
  exit 1
fi

echo "docker engine: starting dockerd (log: /tmp/dockerd.log)"
setsid dockerd >/tmp/dockerd.log 2>&1 </dev/null &
echo $! >"$PIDFILE"
for _ in $(seq 1 60); do
  if engine_answers; then
    echo "docker engine: ready (pid $(cat "$PIDFILE"))"
    exit 0
  fi
  sleep 1
done
echo "error: dockerd did not answer within 60 s; see /tmp/dockerd.log" >&2
tail -20 /tmp/dockerd.log >&2 || true
exit 1
