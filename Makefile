# pyctrd: `make lab` (daemon + registry + JupyterLab) and `make test` set themselves up on a
# fresh Debian machine as root. Every target that needs the venv depends on it.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages: python3 and python3-venv (`make venv` runs `python3 -m venv`), the real
# containerd/ctr/Go shim (compatibility tests and benchmarks), runc, the registry, busybox for
# offline sample images, graphviz, chromium for the browser test. While they install, a
# policy-rc.d keeps their services from starting: never a real containerd on its default paths.
APT_PACKAGES := python3 python3-venv containerd runc docker-registry busybox-static graphviz chromium tree jq \
	iproute2 psmisc procps util-linux e2fsprogs btrfs-progs ca-certificates
STAMP_APT := $(VENV)/.apt-$(shell echo $(APT_PACKAGES) | md5sum | cut -c1-8)
STAMP_PIP := $(VENV)/.pip-$(shell cat pyproject.toml setup.py | md5sum | cut -c1-8)
LAB_DIR ?= $(CURDIR)/.lab
PYTEST_ARGS ?=

.PHONY: all deps venv api test test-fast notebooks lab bench soak lint typecheck clean

all: test

$(STAMP_APT):
	@mkdir -p $(VENV)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
		if [ -n "$$missing" ]; then \
			echo "apt-get install: $$missing"; \
			policy=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
				printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy=1; fi; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
			rc=$$?; [ -z "$$policy" ] || rm -f /usr/sbin/policy-rc.d; [ $$rc = 0 ] || exit $$rc; \
		fi; \
	else echo "not root or no apt-get: assuming $(APT_PACKAGES) are installed"; fi
	@touch $@

deps: $(STAMP_APT)

$(STAMP_PIP): $(STAMP_APT) pyproject.toml setup.py
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q grpcio-tools==1.85.1 googleapis-common-protos==1.76.0
	$(BIN)/python scripts/gen_api.py
	$(BIN)/pip install -q -e '.[jupyter,test]'
	@touch $@

venv: $(STAMP_PIP)

# Regenerate the gRPC stubs from containerd's .proto files (never committed).
api: $(STAMP_PIP)
	$(BIN)/python scripts/gen_api.py

test: venv
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: venv
	$(BIN)/python -m pytest -q -x -m "not slow" $(PYTEST_ARGS)

# The notebooks alone, as CI's nbmake runs them (make test runs them too: tests/notebooks/).
notebooks: venv
	$(BIN)/python -m pytest -q --nbmake --nbmake-timeout=120 notebooks/

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy runtime

# The main job: daemon + local registry + JupyterLab on 127.0.0.1, all under $(LAB_DIR).
lab: venv
	$(BIN)/python -m pyctrd.lab --dir $(LAB_DIR)

# The full comparison with a private containerd (README "Benchmarks"), from a regular (wheel)
# install in a venv of its own: an editable install adds an import finder (~10 ms) to every
# Python process, and the Python shim is a process per container. BENCH_ARGS adds options.
BENCH_VENV ?= .venv-bench
BENCH_ARGS ?=
bench: venv
	rm -rf build/bench $(BENCH_VENV)
	$(BIN)/pip wheel -q --no-deps --no-build-isolation -w build/bench .
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --upgrade pip  # older pips' console scripts import re (~5 ms a start)
	$(BENCH_VENV)/bin/pip install -q build/bench/pyctrd-*.whl
	$(BENCH_VENV)/bin/pyctr bench --compare --out results $(BENCH_ARGS)

soak: venv
	# every reliability suite (the slow ones are those that scale), with the full counts
	PYCTRD_SOAK=1 $(BIN)/python -m pytest -q tests/reliability $(PYTEST_ARGS)

clean:
	rm -rf build dist runtime/_api *.egg-info .pytest_cache
