#!/usr/bin/env bash
# Make sure a Docker engine answers, for the container tests and compose/.
#
# * If `docker info` already answers, does nothing.
# * If the engine (dockerd) or docker-compose is missing and we are root with apt-get,
#   installs Debian's docker.io and docker-compose (v1.29) without letting the packages
#   start services during the install.
# * If no engine answers, starts dockerd in the background (log in $DOCKERD_LOG) and waits
#   until `docker info` answers, at most $DOCKERD_WAIT_S seconds.
# Idempotent. Exits non-zero with a message that says what to do when it cannot.
# The engine is only used for the local containers and networks that the tests create.
set -euo pipefail

log="${DOCKERD_LOG:-/var/log/redis-lab-dockerd.log}"
wait_s="${DOCKERD_WAIT_S:-60}"
say() { echo "ensure-docker: $*" >&2; }
die() { say "$*"; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }
have_compose() { command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1; }
is_root() { [[ "$(id -u)" == 0 ]]; }

if command -v docker >/dev/null && engine_answers && have_compose; then
  say "engine $(docker info --format '{{.ServerVersion}}' 2>/dev/null) answers; nothing to do"
  exit 0
fi

# -- install what is missing ----------------------------------------------------------------
missing=()
# docker.io brings the engine and a client; it is needed when either is missing, unless
# an engine elsewhere (DOCKER_HOST) already answers.
if ! command -v docker >/dev/null || { ! command -v dockerd >/dev/null && ! engine_answers; }; then
  missing+=(docker.io)
fi
have_compose || missing+=(docker-compose)

if ((${#missing[@]})); then
  if ! is_root || ! command -v apt-get >/dev/null; then
    die "missing: ${missing[*]}. Install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}), or run this script as root on Debian/Ubuntu."
  fi
  say "installing Debian's ${missing[*]}"
  policy=/usr/sbin/policy-rc.d
  had_policy=0
  [[ -e "$policy" ]] && had_policy=1
  if [[ $had_policy == 0 ]]; then
    printf '#!/bin/sh\n# written by redis-lab ensure-docker.sh: no service starts during install\nexit 101\n' > "$policy"
    chmod +x "$policy"
  fi
  trap '[[ $had_policy == 0 ]] && rm -f "$policy"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2 || die "apt-get update failed (see above)"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed (see above)"
  if [[ $had_policy == 0 ]]; then
    rm -f "$policy"
  fi
  trap - EXIT
fi

command -v docker >/dev/null || die "no docker client on PATH after the install"
have_compose || die "neither docker-compose nor 'docker compose' works after the install"

# -- start the engine -----------------------------------------------------------------------
if engine_answers; then
  say "engine $(docker info --format '{{.ServerVersion}}') answers"
  exit 0
fi
if [[ -n "${DOCKER_HOST:-}" && "${DOCKER_HOST}" != unix:///var/run/docker.sock ]]; then
  die "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine, or unset DOCKER_HOST"
fi
is_root || die "no Docker engine answers and starting dockerd needs root: run 'sudo $0', or start Docker (sudo systemctl start docker)"
command -v dockerd >/dev/null || die "dockerd is not installed (apt-get install docker.io)"

if pgrep -x dockerd >/dev/null; then
  say "dockerd is running (pid $(pgrep -x dockerd | head -1)) but not answering yet; waiting"
else
  mkdir -p "$(dirname "$log")"
  say "starting dockerd in the background (log: $log)"
  # setsid + nohup: the engine outlives this script and the make/CI step that ran it.
  nohup setsid dockerd >>"$log" 2>&1 </dev/null &
  # Who started it: .ci/run stops the engine it started when the run ends.
  echo $! > "${DOCKERD_PIDFILE:-/run/redis-lab-dockerd.pid}"
fi

deadline=$((SECONDS + wait_s))
until engine_answers; do
  if ! pgrep -x dockerd >/dev/null; then
    say "dockerd exited; the last lines of $log:"
    tail -n 25 "$log" >&2 || true
    die "could not start dockerd"
  fi
  if ((SECONDS >= deadline)); then
    say "the last lines of $log:"
    tail -n 25 "$log" >&2 || true
    die "dockerd did not answer 'docker info' within ${wait_s}s"
  fi
  sleep 0.5
done
say "engine $(docker info --format '{{.ServerVersion}}') answers (dockerd log: $log)"
