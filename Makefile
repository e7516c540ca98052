# Two commands for a fresh machine with only Python 3.11:
#   make run    the whole platform natively (PostgreSQL, Redis, nginx, SMTP sink, services)
#   make test   the whole test suite against real processes
# Both install what they need: uv (into .tools/), the Python packages (uv.lock), and the
# Debian packages postgresql, redis-server, nginx-light, libnginx-mod-http-js (as root).

PYTHON ?= python3
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
RUN    := $(UV) run --frozen --all-packages

.PHONY: run test test-resilience bench lint bootstrap prereqs clean

$(UV):
	@echo "[make] installing uv into $(TOOLS)/"
	@$(PYTHON) -m venv $(TOOLS) || { echo "error: python3 venv is missing: apt-get install python3-venv"; exit 1; }
	@$(TOOLS)/bin/pip install -q --disable-pip-version-check uv

.venv/.synced: $(UV) uv.lock pyproject.toml
	@echo "[make] installing Python dependencies (uv sync)"
	@$(UV) sync --frozen --all-packages -q
	@touch $@

bootstrap: .venv/.synced

prereqs: bootstrap
	@$(RUN) python -m devstack prereqs

run: prereqs
	@$(RUN) python -m devstack run

test: prereqs
	@$(RUN) pytest

bench: prereqs
	@$(RUN) python bench/run.py

lint: bootstrap
	@$(RUN) ruff check libs services tools tests gateway bench
	@$(RUN) mypy --strict libs/contracts/src/contracts

clean:
	rm -rf .run .venv $(TOOLS)
