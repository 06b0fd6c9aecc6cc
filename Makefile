# Tierline — the README's commands. Everything installs into .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip
PYTEST_ARGS ?=

DISTS := shared deploy/launcher clients/cli $(sort $(wildcard services/*))
PYPROJECTS := $(addsuffix /pyproject.toml,$(DISTS))

.PHONY: help install kafka system-packages console-assets run demo test lint typecheck format unit integration e2e bench chaos clean docs

help:
	@echo "make run   - start Kafka, PostgreSQL, the five services and the console locally (Ctrl-C stops)"
	@echo "make demo  - the same on demo budgets, with a vendor simulator; tells one incident's climb L1 -> L4"
	@echo "make test  - install everything pinned, run ruff, mypy and the whole test suite with coverage"
	@echo "make chaos - the whole system under load while a seeded schedule of faults runs; the verdict (~8 min)"
	@echo "make lint | typecheck | format | unit | integration | e2e | docs | bench | clean"

$(STAMP): requirements/constraints.txt requirements/dev.txt $(PYPROJECTS)
	@echo "[tierline] installing Python dependencies into $(VENV) (first run takes a minute)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP) install --quiet --disable-pip-version-check \
		-c requirements/constraints.txt -r requirements/dev.txt \
		$(addprefix -e ,$(DISTS))
	@touch $@

install: $(STAMP)

kafka: $(STAMP)
	@$(BIN)/python -m tierline_launcher fetch

# Debian packages some tests run for real (chromium, prometheus, promtool, dovecot); fast when they are present.
system-packages:
	@deploy/scripts/install-system-packages.sh

# The console's browser assets (htmx, its SSE extension, Chart.js) from the npm registry, as
# services/console/assets.txt pins them; fast when they are there.
CONSOLE_ASSETS := services/console/src/tierline_console/static/vendor/.assets.txt
$(CONSOLE_ASSETS): services/console/assets.txt deploy/scripts/fetch-console-assets.sh
	@deploy/scripts/fetch-console-assets.sh

console-assets: $(CONSOLE_ASSETS)

run: install kafka console-assets
	@$(BIN)/python -m tierline_launcher run

# The system on demo budgets with a vendor simulator; narrates one incident L1 -> L4 -> resolved.
demo: install kafka console-assets
	@$(BIN)/python -m tierline_launcher demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy over every distribution's src (which packages, and which are strict: pyproject.toml [tool.mypy]).
typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# pytest exits 5 when it collected nothing; that is not a failure of the suite.
# $(2), when given, runs only after a green run (the coverage floor below).
define run_pytest
	@$(BIN)/python -m pytest $(1) $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; \
	elif [ $$rc -eq 0 ]; then $(2) true; rc=$$?; fi; exit $$rc
endef

# Branch coverage of the tierline_* packages ([tool.coverage.*] in pyproject.toml): pytest-cov prints
# the report; the floor (fail_under) is checked after a green run, so "no tests collected" stays 0.
COVERAGE_ARGS := --cov --cov-report=term:skip-covered --cov-fail-under=0
COVERAGE_FLOOR := total=$$($(BIN)/python -m coverage report --format=total) || { echo "$$total"; exit 2; };

test: lint typecheck kafka system-packages console-assets
	$(call run_pytest,$(COVERAGE_ARGS),$(COVERAGE_FLOOR))

unit: $(STAMP)
	$(call run_pytest,-m "not integration and not e2e")

integration: kafka console-assets
	$(call run_pytest,-m integration)

e2e: kafka console-assets
	$(call run_pytest,-m e2e)

# The README's configuration table, regenerated from the services' settings classes.
docs: $(STAMP)
	@$(BIN)/python -m tierline_launcher settings-doc

clean:
	rm -rf $(VENV) .run .pytest_cache .ruff_cache .mypy_cache .cache/mypy .coverage htmlcov

# SLA_BENCH_ARGS e.g. "--clocks 200000" on a slow machine (the default arms a million clocks).
# REPORTS_BENCH_ARGS e.g. "--repeat 3 --explain" (the default: 100,000 incidents, 7 runs a report, ~40 s).
# PIPELINE_BENCH_ARGS e.g. "--quick" (~90 s instead of ~5 min) or "--rates 10 50 100 200": the whole
# stack as processes, end to end (it apt-get installs prometheus-alertmanager for its baseline if missing).
bench: kafka
	@$(BIN)/python -m tests.bench.messaging $(BENCH_ARGS)
	@$(BIN)/python -m tests.bench.sla_timers $(SLA_BENCH_ARGS)
	@$(BIN)/python -m tests.bench.vendor_deliveries $(VENDOR_BENCH_ARGS)
	@$(BIN)/python -m tests.bench.reports $(REPORTS_BENCH_ARGS)
	@$(BIN)/python -m tests.bench.mail_parse
	@$(BIN)/python -m tests.bench.pipeline $(PIPELINE_BENCH_ARGS)

# The whole system under load while faults strike (SIGKILL of each service and of the broker, a
# PostgreSQL crash, a broker stall, a replica killed); exits 1 on any lost or duplicated incident.
# CHAOS_ARGS e.g. "--short" (200 incidents, ~3 min) or "--incidents 500 --rate 10 --seed 7 --json out.json".
chaos: kafka
	@$(BIN)/python -m tests.chaos.run $(CHAOS_ARGS)
