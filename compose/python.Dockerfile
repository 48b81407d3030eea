# The Python image where a registry is reachable: our components (sentinel_lab, redis_raft, ...)
# on the official Python image, with Debian's Redis 7.0.15 (redis_raft's nodes start their own
# backing redis-server, so it must be inside). Build it from the repository's root:
#
#   docker build -f compose/python.Dockerfile -t redis-lab/python:dev .
#
# The compose files use redis-lab/python:dev (or REDIS_LAB_PYTHON_IMAGE). Without a registry,
# scripts/build-images.sh builds the same image with `docker import` from this machine's
# interpreter and venv instead (labkit/realredis/pyimage.py); that is what CI runs.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY labkit ./labkit
COPY sentinel_lab ./sentinel_lab
COPY redis_raft ./redis_raft
COPY gossip_cluster ./gossip_cluster
COPY commit_lab ./commit_lab
# Only what runs inside a container: redis[hiredis] (testcontainers is for the host side).
RUN pip install --no-cache-dir --no-deps . \
    && pip install --no-cache-dir 'redis[hiredis]>=5.0,<9' \
    && rm -rf /src

ENV PYTHONUNBUFFERED=1 LANG=C.UTF-8
WORKDIR /data
EXPOSE 6379 26379
ENTRYPOINT ["python3"]
