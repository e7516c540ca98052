# Two commands for a fresh machine with only Python 3.11:
#   make run    the whole platform natively (PostgreSQL, Redis, nginx, SMTP sink, services)
#   make test   the whole test suite against real processes
# Both install what they need: uv (into .tools/), the Python packages (uv.lock), and the
# Debian packages postgresql, redis-server, nginx-light, libnginx-mod-http-js,
# libnginx-mod-http-lua (as root).

PYTHON ?= python3
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
RUN    := $(UV) run --frozen --all-packages

SERVICES := identity workspace boards notifier scheduler

.PHONY: run test test-resilience bench lint bootstrap clean $(addprefix test-,$(SERVICES))

$(UV):
	@echo "[make] installing uv into $(TOOLS)/"
	@$(PYTHON) -m venv $(TOOLS) || { echo "error: python3 venv is missing: apt-get install python3-venv"; exit 1; }
	@$(TOOLS)/bin/pip install -q --disable-pip-version-check uv

.venv/.synced: $(UV) uv.lock pyproject.toml
	@echo "[make] installing Python dependencies (uv sync)"
	@$(UV) sync --frozen --all-packages -q
	@touch $@

bootstrap: .venv/.synced

# Each command checks (and, as root, installs) only its own system prerequisites.
prereqs-%: bootstrap
	@$(RUN) python -m devstack prereqs $*

# make run PORT=8081: the gateway on exactly that port (default 8080, or a free one if taken).
run: prereqs-run
	@$(RUN) python -m devstack run $(if $(PORT),--port $(PORT))

test: prereqs-test
	@$(RUN) pytest

# Faults (kill -9, Redis/PostgreSQL restarts, SMTP outage), fuzzing: slower, separate.
test-resilience: prereqs-test
	@$(RUN) pytest tests/resilience

# One service's tests in a venv holding only that service, contracts, chassis and the test tools:
# proof that it deploys (and tests) alone.
$(addprefix test-,$(SERVICES)): test-%: prereqs-test
	@echo "[make] $* alone: installing only its dependencies into .venv-$*"
	@UV_PROJECT_ENVIRONMENT=.venv-$* $(UV) sync --frozen --package $* --group test -q
	@.venv-$*/bin/pytest services/$*

bench: prereqs-bench
	@$(RUN) python bench/run.py

# One mypy run over every package (strict) and every test folder (bodies checked, fixtures
# need no annotations); the settings are [tool.mypy] in pyproject.toml (docs/adr/0010).
MYPY_PACKAGES := libs/contracts/src libs/chassis/src tools/devstack/src \
                 $(foreach s,$(SERVICES),services/$(s)/src)
MYPY_TESTS    := libs/contracts/tests libs/chassis/tests tools/devstack/tests gateway/tests \
                 $(foreach s,$(SERVICES),services/$(s)/tests) tests

lint: bootstrap
	@$(RUN) ruff check libs services tools tests gateway bench
	@$(RUN) mypy $(MYPY_PACKAGES) $(MYPY_TESTS)

# As root the state lives under /var/lib/kanban/ and .run links to it: remove both.
clean:
	@if [ -L .run ]; then echo "rm -rf $$(readlink .run)"; rm -rf "$$(readlink .run)"; fi
	rm -rf .run .venv .venv-* $(TOOLS)
