# The two commands of the README: `make run` (the portal with a demo IIS lab) and `make test` (the whole suite).
SHELL := /bin/sh
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# Everything but tests and benchmarks is type-checked (DESIGN.md: type hints in services, tasks, devices/iis, iissim).
TYPED := clm devices vaults certificates discovery enrollment connectors workorders iissim
export PORT

.PHONY: run test venv venv-test lint fmt typecheck check clean

$(VENV)/.base: pyproject.toml scripts/requirements.py
	@test -x $(PY) || $$(scripts/find-python) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) scripts/requirements.py > $(VENV)/requirements.txt
	$(PY) -m pip install -q -r $(VENV)/requirements.txt
	@touch $@

$(VENV)/.test: $(VENV)/.base
	$(PY) scripts/requirements.py test > $(VENV)/requirements-test.txt
	$(PY) -m pip install -q -r $(VENV)/requirements-test.txt
	@touch $@

venv: $(VENV)/.base
venv-test: $(VENV)/.test

run: $(VENV)/.base
	DEBUG=$${DEBUG:-1} $(PY) manage.py run_portal --port $(PORT)

test: $(VENV)/.test
	$(PY) scripts/check_services.py
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(TYPED)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(VENV)/.test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: $(VENV)/.test
	$(VENV)/bin/mypy $(TYPED)

clean:
	rm -rf $(VENV) var .pytest_cache
