# The README's commands. Each target is a thin call into scripts that say
# what they do; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PYTHON      := $(VENV)/bin/python
IMAGE_REPO  ?= sklearn-byoc
IMAGE_TAG   ?= latest
IMAGE       := $(IMAGE_REPO):$(IMAGE_TAG)
# The host's CA bundle lets pip inside the build trust a re-signing proxy; it
# is passed as a build secret and never lands in a layer.
PIP_CERT_FILE ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
export PIP_CERT_FILE

.PHONY: help setup tools engine base-image image demo test test-fast bench lint lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed  ## create .venv with everything the tools and tests need

tools:  ## install missing host tools (docker.io, docker-registry, debootstrap)
	@bash docker/install_host_tools.sh

engine: tools  ## make sure a Docker engine answers (starts dockerd as root if needed)
	@bash docker/ensure_engine.sh

base-image: engine  ## pull python:3.11-slim, or build an equivalent from Debian packages
	@bash docker/build_base_image.sh $(BASE_IMAGE) >/dev/null

image: base-image  ## build the image as sklearn-byoc:latest
	@BASE_IMAGE=$$(bash docker/build_base_image.sh $(BASE_IMAGE) | tail -n1) \
	  ./build_and_push.sh --build-only --repository $(IMAGE_REPO) --tag $(IMAGE_TAG) >/dev/null
	@echo "built $(IMAGE)"

demo: setup image  ## the whole lifecycle on the bundled penguins data, locally
	$(PYTHON) -m orchestration run --image $(IMAGE)

test: setup image  ## every test, Docker ones included
	SKLEARN_BYOC_IMAGE=$(IMAGE) $(PYTHON) -m pytest $(PYTEST_ARGS)

test-fast: setup  ## the tests that need no Docker
	$(PYTHON) -m pytest -m "not docker" $(PYTEST_ARGS)

bench: setup image  ## the benchmarks (prints tables; see benchmarks/README.md)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || true
	$(PYTHON) -m benchmarks $(BENCH_ARGS)

lint: setup  ## ruff
	$(VENV)/bin/ruff check container orchestration tests benchmarks

lock:  ## re-resolve docker/requirements.txt from docker/requirements.in
	python3 -m venv /tmp/sklearn-byoc-lock && /tmp/sklearn-byoc-lock/bin/pip install -q -r docker/requirements.in
	( echo "# Exact runtime set of the image, resolved from docker/requirements.in (make lock)."; \
	  /tmp/sklearn-byoc-lock/bin/pip freeze | tr 'A-Z' 'a-z' ) > docker/requirements.txt
	rm -rf /tmp/sklearn-byoc-lock

clean:  ## remove local state and build leftovers (keeps .venv)
	rm -rf .state local_test/test_dir/model local_test/test_dir/output .pytest_cache
