#!/usr/bin/env bash
# Build (or find cached) the images for the container tests and compose/, and print them.
# 1. Redis: the official redis:<installed version> when it is local or a registry answers;
#    otherwise redis-lab/redis:<version> built from the installed binaries with `docker import`
#    (cached by a hash of its contents; see labkit/realredis/images.py).
# 2. Python (our components): redis-lab/python:<project version>-<hash>, also tagged
#    redis-lab/python:<project version> and redis-lab/python:dev, built with `docker import`
#    from the venv's interpreter, its dependencies and the project's packages (cached by
#    content; see labkit/realredis/pyimage.py).
# Needs a Docker engine (scripts/ensure-docker.sh) and the project's venv (make's .venv, or
# PYTHON=...). Options: --no-pull (skip the official Redis image), --force (rebuild the local
# images), --redis-only (skip the Python image).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
if [[ ! -x "$python" ]] && ! command -v "$python" >/dev/null; then
  echo "build-images: $python not found; run 'make' first (it creates .venv), or set PYTHON" >&2
  exit 1
fi
exec "$python" -m labkit.realredis.images "$@"
