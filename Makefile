# Redis Consensus Lab. `make demo` and `make test` each set up everything on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: all demo test lint bench soak redis docker netns-tools cleanup clean help study-sentinel study-raft study-gossip study-partition study-commit

help:
	@echo "make demo    kill a master under 3 real Sentinels, then under 3 sentinel_lab; print both side by side"
	@echo "make test    the CI suite (real Redis processes, simulator seeds, fuzzing)"
	@echo "make lint    ruff and mypy --strict"
	@echo "make docker  (root) install/start a Docker engine, build the Redis and Python images (tests/containers, compose/)"
	@echo "make study-sentinel  real Sentinel and sentinel_lab side by side, N= runs, with the early switch"
	@echo "make study-raft  the same clients and partition against real Redis + Sentinel and redis_raft"
	@echo "make study-gossip  a real Redis Cluster and gossip_cluster side by side, one master killed (N= runs)"
	@echo "make study-partition  lost acknowledged writes of real Redis + Sentinel under a partition (N=runs)"
	@echo "make bench   benchmarks (bench/results/*.json); PORCUPINE=DIR adds the Porcupine comparison"
	@echo "make study-commit  2PC, 3PC and the consensus-kept decision on real Redis shards"
	@echo "make soak    thousands of simulation seeds (SEEDS=5000)"
	@echo "make cleanup end processes an interrupted run left behind"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed; set PYTHON=python3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	@touch $(STAMP)

redis:
	@scripts/ensure-redis.sh

demo: $(STAMP) redis
	$(BIN)/redis-lab demo

docker: $(STAMP) redis
	@scripts/ensure-docker.sh
	@PYTHON=$(BIN)/python scripts/build-images.sh

netns-tools:
	@scripts/ensure-netns-tools.sh

# In CI (CI=true) the container and namespace tests must run, so their tools come first.
test: $(STAMP) redis $(if $(filter true,$(CI)),docker netns-tools)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# PORCUPINE=DIR (a checkout of github.com/anishathalye/porcupine) adds the comparison on its
# 102 Jepsen etcd logs, with Porcupine timed in the same run when Go is installed.
bench: $(STAMP)
	$(BIN)/python bench/bench_checker.py --out bench/results/checker.json $(if $(PORCUPINE),--porcupine $(PORCUPINE))
	$(BIN)/python bench/bench_sentinel.py --runs 5 --out bench/results/sentinel.json --md bench/results/sentinel.md
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/bench_raft.py --out bench/results/raft.json
	$(BIN)/python bench/bench_gossip.py --runs 5 --out bench/results/gossip.json --md bench/results/gossip.md
	$(BIN)/python bench/bench_gossip_scale.py --out bench/results/gossip_scale.json --md bench/results/gossip_scale.md $(if $(NODES),--nodes 100 --nodes 300 --nodes $(NODES))

N ?= 1
study-sentinel: $(STAMP) redis
	$(BIN)/redis-lab study sentinel --runs $(N) --early-switch --html runs/sentinel/report.html

study-raft: $(STAMP) redis
	@for w in register counter set; do $(BIN)/redis-lab study raft-vs-sentinel --workload $$w --html runs/raft-vs-sentinel/$$w.html || exit 1; done

study-gossip: $(STAMP) redis
	$(BIN)/redis-lab study gossip --runs $(N) --html runs/gossip/report.html

study-partition: $(STAMP) redis
	$(BIN)/redis-lab study partition --runs $(N) --html runs/partition/report.html

study-commit: $(STAMP) redis
	$(BIN)/redis-lab commit compare
	@for p in 2pc 3pc 2pc-consensus; do for f in coordinator-crash partition; do \
	  $(BIN)/redis-lab commit demo $$p $$f --html runs/commit/$$p-$$f.html | tail -2 || exit 1; done; done

SEEDS ?= 5000
soak: $(STAMP)
	$(BIN)/redis-lab soak --seeds $(SEEDS)

cleanup: $(STAMP)
	$(BIN)/redis-lab cleanup

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
