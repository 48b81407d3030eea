#!/usr/bin/env bash
# The kernel-level fault backend (labkit.faults.netns) needs root, ip/tc (iproute2) and
# iptables. As root with apt-get, install what is missing; otherwise say what to install.
set -euo pipefail
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v tc >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "ensure-netns-tools: installing ${pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${pkgs[@]}" >&2
else
  echo "ensure-netns-tools: the netns fault backend needs ${pkgs[*]} (apt-get install ${pkgs[*]}), and root" >&2
  exit 1
fi
