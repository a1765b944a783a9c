# Everything runs inside .venv, which the first target that needs it creates.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.chunkwise-installed
QUESTION ?= How can I find out which package a particular file came from?

export DO_NOT_TRACK := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test lint typecheck check wheel install clean prefect-server

demo: $(STAMP)  ## ingest examples/data into the embedded store and answer a question
	$(BIN)/chunkwise ingest examples/data --store .chunkwise/demo --collection demo
	$(BIN)/chunkwise query "$(QUESTION)" --store .chunkwise/demo --collection demo -k 3

# The suite runs in TEST_WORKERS processes, a test file each at a time (its fixtures stay in one
# process), the longest files first (tests/conftest.py): much of it waits on the processes it starts.
# TEST_WORKERS=0 runs it in this one.
TEST_WORKERS ?= 2

test: $(STAMP)  ## run the test suite
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

prefect-server: $(STAMP)  ## a Prefect server (API and UI) on http://127.0.0.1:4200, its state in .chunkwise/prefect
	mkdir -p .chunkwise/prefect
	PREFECT_HOME=$(CURDIR)/.chunkwise/prefect $(BIN)/prefect server start --host 127.0.0.1 --port 4200

lint: $(STAMP)  ## ruff: lint and format
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)  ## mypy over the package (chunkwise ships py.typed), read through links laid out as installed
	rm -rf build/typed && mkdir -p build/typed/chunkwise
	ln -s $(CURDIR)/chunkwise/*.py $(CURDIR)/chunkwise/py.typed $(CURDIR)/pipeline $(CURDIR)/connectors $(CURDIR)/flows build/typed/chunkwise/
	$(BIN)/mypy

check: lint typecheck test  ## what CI runs

wheel: $(STAMP)  ## build dist/chunkwise-*.whl
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .

install: $(STAMP)

$(STAMP): Makefile pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	# --no-compile: modules are compiled when first imported, not all of them at install
	$(BIN)/pip install --quiet --no-compile -c constraints.txt -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) .chunkwise dist build
