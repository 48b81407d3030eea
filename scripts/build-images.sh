#!/usr/bin/env bash
# Build (or find cached) the Redis image for the container tests and compose/, and print it.
# Uses the official redis:<installed version> when it is local or a registry answers;
# otherwise builds redis-lab/redis:<version> from the installed binaries with `docker import`
# (cached by a hash of its contents; see labkit/realredis/images.py). Needs a Docker engine
# (scripts/ensure-docker.sh) and the project's venv (make's .venv, or PYTHON=...).
# Options: --no-pull (skip the official image), --force (rebuild the local image).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
if [[ ! -x "$python" ]] && ! command -v "$python" >/dev/null; then
  echo "build-images: $python not found; run 'make' first (it creates .venv), or set PYTHON" >&2
  exit 1
fi
exec "$python" -m labkit.realredis.images "$@"
