#!/usr/bin/env bash
# Make sure real Redis binaries (redis-server >= 7.0 with sentinel mode, redis-cli) exist.
# Uses REDIS_SERVER / REDIS_CLI if set, else PATH. When they are missing and we are root
# with apt-get, installs Debian's packages without letting them start services on
# 6379/26379. Otherwise stops with a message that says exactly what to install.
set -euo pipefail

need="redis-server >= 7.0 (with sentinel mode) and redis-cli"
hint="Install them (Debian/Ubuntu: sudo apt-get install redis-server redis-sentinel redis-tools), or set REDIS_SERVER and REDIS_CLI to their paths."

server="${REDIS_SERVER:-$(command -v redis-server || true)}"
cli="${REDIS_CLI:-$(command -v redis-cli || true)}"

if [[ -z "$server" || -z "$cli" ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "ensure-redis: installing Debian's redis-server, redis-sentinel and redis-tools" >&2
    policy=/usr/sbin/policy-rc.d
    had_policy=0
    [[ -e "$policy" ]] && had_policy=1
    if [[ $had_policy == 0 ]]; then
      printf '#!/bin/sh\n# written by redis-lab ensure-redis.sh: no service starts during install\nexit 101\n' > "$policy"
      chmod +x "$policy"
    fi
    trap '[[ $had_policy == 0 ]] && rm -f "$policy"' EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends redis-server redis-sentinel redis-tools >&2
    # If a service manager started them anyway, stop them: the lab picks its own ports.
    for svc in redis-server redis-sentinel; do
      if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
        systemctl disable "$svc" >/dev/null 2>&1 || true
      fi
    done
    pkill -x -f '/usr/bin/redis-server 127.0.0.1:6379' 2>/dev/null || true
    pkill -x -f '/usr/bin/redis-sentinel \*:26379' 2>/dev/null || true
    server="$(command -v redis-server || true)"
    cli="$(command -v redis-cli || true)"
  fi
fi

if [[ -z "$server" || ! -x "$server" ]]; then
  echo "ensure-redis: redis-server not found. The lab needs $need. $hint" >&2
  exit 1
fi
if [[ -z "$cli" || ! -x "$cli" ]]; then
  echo "ensure-redis: redis-cli not found. The lab needs $need. $hint" >&2
  exit 1
fi
version="$("$server" --version | sed -n 's/.* v=\([0-9][0-9]*\)\.\([0-9][0-9]*\)\..*/\1/p')"
if [[ -z "$version" || "$version" -lt 7 ]]; then
  echo "ensure-redis: $server is not Redis >= 7.0 ($("$server" --version)). $hint" >&2
  exit 1
fi
echo "ensure-redis: using $server ($("$server" --version | awk '{print $3}')) and $cli" >&2
