# The two commands of the README: `make run` and `make test`. Both create .venv in
# the repo and install into it (pinned by constraints.txt): the hub with Airflow
# and the test tools, the simulators and the county SDK, each as its own
# distribution, editable.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test bench clean

$(STAMP): pyproject.toml simulators/pyproject.toml clients/python/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[airflow,test]' -e ./simulators -e ./clients/python
	touch $(STAMP)

install: $(STAMP)

## run the hub on its embedded defaults: simulate a day, ingest, compute, serve on 127.0.0.1:8000
run: install
	$(BIN)/cityhub run

## run the test suite (two processes: the machine has two cores)
test: install
	$(BIN)/python -m pytest -q -n 2

## print the benchmark figures (not part of the tests)
bench: install
	$(BIN)/python bench/catalog_ingest.py
	$(BIN)/python bench/kafka_events.py
	$(BIN)/python bench/connector_ingest.py

clean:
	rm -rf var .pytest_cache build dist
