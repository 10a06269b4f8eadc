# The two commands: `make run` (set up everything, start the assistant) and `make test` (set up, run every test).
# Environments live in ~/.cache/shopassist (SHOPASSIST_CACHE), keyed by a hash of requirements/*.txt.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CORE := .venv-core/bin
APP := .venv-app/bin
export PYTHONPATH := $(CURDIR)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RASA_TELEMETRY_ENABLED := false
# torch's busy-waiting OpenMP threads collapse throughput 3-7x when the 2 cores are shared (index build, tests)
export OMP_WAIT_POLICY ?= PASSIVE
HOME ?= $(shell getent passwd $$(id -u) | cut -d: -f6)
export SHOPASSIST_CACHE ?= $(HOME)/.cache/shopassist
export RASA_CACHE_DIRECTORY ?= $(SHOPASSIST_CACHE)/rasa-cache
PYTEST_ARGS ?=

.PHONY: help env env-core env-app build train run test test-stories lint validate train-nlu shell-nlu test-nlu bench bench-latency bench-recsys \
        bench-forecast bench-nlu bench-search-quality bench-search-speed bench-vision bench-console build-grocery clean \
        lock-app lock-core system-deps staff-user

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

env: env-core env-app  ## create both runtimes if missing (core: Python 3.10 + Rasa; app: Python 3.11)
env-core:
	@scripts/ensure_env.sh core
env-app:
	@scripts/ensure_env.sh app

build: env-app  ## build catalog DB, simulated stock, forecasts, product index, recommender (each skipped when unchanged)
	@$(APP)/python -m catalog build
	@$(APP)/python -m catalog stock simulate
	@$(APP)/python -m catalog forecast
	@$(APP)/python -m retrieval build
	@$(APP)/python -m recsys build
	@$(APP)/python -m retrieval.vision build

train: env-core  ## train the Rasa model (skipped when config, domain and data are unchanged)
	@$(CORE)/python -m assistant.rasa_model train

run: build train  ## set up what is missing, start the assistant and print the chat URL (Ctrl-C stops it)
	@$(APP)/python -m assistant.run

test: build train lint validate test-stories system-deps  ## set up what is missing and run every test (slow: e2e, browser and Rasa test stories)
	@$(CORE)/python -m pytest tests/assistant/nlu tests/assistant/channels -p no:cacheprovider -W ignore::pytest.PytestConfigWarning
	@$(APP)/python -m pytest $(PYTEST_ARGS)

test-stories: train  ## Rasa end-to-end test stories (tests/stories/): NLU + dialogue predictions must all be right
	@mkdir -p results && model=$$($(CORE)/python -m assistant.rasa_model path) \
	  && $(CORE)/rasa test core --model "$$model" --stories tests/stories \
	  --fail-on-prediction-errors --out results/stories >results/stories.log 2>&1 \
	  || { grep -vE "Warning|warn\(" results/stories.log | tail -40; cat results/stories/failed_test_stories.yml 2>/dev/null; exit 1; }
	@echo "test stories: all predictions right ($$(grep -c '^  - story:' tests/stories/*.yml) stories)"

system-deps:  ## Debian packages the tests use: chromium (browser tests), dataset-fashion-mnist (apt when missing)
	@scripts/ensure_system_packages.sh

lint: env-app  ## ruff and mypy
	@$(APP)/ruff check .
	@$(APP)/ruff format --check .
	@$(APP)/mypy assistant catalog retrieval recsys actions bench

validate: env-core  ## rasa data validate: domain, NLU data, stories and rules agree
	@$(CORE)/rasa data validate --config config.yml --domain domain.yml --data data 2>&1 \
	  | grep -E "ERROR|error|UserWarning|No story structure conflicts" || true
	@$(CORE)/rasa data validate --config config.yml --domain domain.yml --data data >/dev/null 2>&1

train-nlu: env-core  ## train an NLU-only model (rasa train nlu) into models/nlu-*.tar.gz, e.g. after adding corrections
	@$(CORE)/rasa train nlu --config config.yml --nlu data/nlu --out models --fixed-model-name nlu-$$(date +%Y%m%d-%H%M%S)

shell-nlu: train  ## talk to the NLU model in the terminal (intents, entities, confidences)
	@$(CORE)/rasa shell nlu --model "$$($(CORE)/python -m assistant.rasa_model path)"

test-nlu: train  ## cross-validate NLU on data/nlu (rasa test nlu), reports in results/
	@$(CORE)/rasa test nlu --nlu data/nlu --config config.yml --cross-validation --folds 3 --out results

bench: bench-latency bench-recsys bench-forecast bench-nlu bench-search-quality bench-search-speed bench-vision bench-console  ## every benchmark below
bench-latency: build train  ## product-search turn vs greeting turn through the real stack (p50/p95, cold start)
	@$(APP)/python bench/turn_latency.py
bench-recsys: build  ## recommenders on a temporal split, two protocols (NDCG@10, recall, MAP, coverage, latency)
	@$(APP)/python bench/recsys_quality.py
bench-forecast: build  ## rolling-origin backtest of the demand forecasters (RMSSE, MASE, coverage, pinball)
	@$(APP)/python bench/forecast_quality.py
bench-nlu: env-core env-app  ## NLU on real utterances: Bitext intents, CLINC150 out-of-scope, sentiment vs VADER, parse latency; two pipelines
	@$(APP)/python bench/nlu_quality.py
bench-search-quality: build  ## judged shopper queries: NDCG@10, Recall@20, MRR, zero results for BM25, dense, hybrid
	@$(APP)/python bench/search_quality.py $(SEARCH_QUALITY_ARGS)
bench-search-speed: build  ## search p50/p95 on one thread (real catalogue, 1M synthetic IVF with recall), build speed
	@$(APP)/python bench/search_speed.py $(SEARCH_SPEED_ARGS)
bench-console: env-app  ## staff console at 1k vs 100k conversations: list, search, filters, transcript, sync, insight (CONSOLE_BENCH_ARGS="--backends sqlite,postgresql")
	@$(APP)/python bench/console_queries.py $(CONSOLE_BENCH_ARGS)
bench-vision: env-app  ## photo → product on the grocery store's val photos (zero-shot, iconic, head, combined), latency
	@$(APP)/python bench/vision_quality.py $(VISION_BENCH_ARGS)
build-grocery: env-app  ## the second store (SHOP_STORE=grocery_store): its catalogue, photo matcher and text index
	@SHOP_STORE=grocery_store $(APP)/python -m retrieval.vision build
	@SHOP_STORE=grocery_store $(APP)/python -m retrieval build

staff-user: build  ## create a staff account for the console at /staff/ (asks for the password): make staff-user NAME=alex ROLE=admin
	@$(APP)/python -m assistant.console create-user "$${NAME:?give NAME=username}" --role "$${ROLE:-agent}"

clean:  ## remove build artifacts and the runtime links (the cached environments stay)
	rm -rf .state models results .venv-core .venv-app

lock-app:  ## re-resolve requirements/app.in into requirements/app.txt
	rm -rf /tmp/lock-app && python3.11 -m venv /tmp/lock-app && /tmp/lock-app/bin/pip install -q -r requirements/app.in
	/tmp/lock-app/bin/pip freeze | sed 's/^torch==\(.*\)+cpu$$/torch==\1/' > requirements/app.txt
lock-core:  ## re-resolve requirements/core.in into requirements/core.txt
	rm -rf /tmp/lock-core && "$${PYTHON310:-$$(ls -d $$HOME/.pyenv/versions/3.10.*/bin/python | sort -V | tail -1)}" -m venv /tmp/lock-core
	/tmp/lock-core/bin/pip install -q -r requirements/core.in && /tmp/lock-core/bin/pip freeze > requirements/core.txt
