# porthole developer commands. `make demo` and `make test` are the two a new user needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test test-unit test-lab venv lab-up lab-down lab-status bench schema docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev,lab]'
	touch $(STAMP)

venv: $(STAMP)

## make demo: build the venv, start the lab site, audit it, show the report, tear the lab down
demo: $(STAMP)
	$(PY) -m lab.demo

## make test: build the venv with the dev extras and run the whole suite
test: $(STAMP)
	$(PY) -m pytest

test-unit: $(STAMP)
	$(PY) -m pytest -m "not lab"

test-lab: $(STAMP)
	$(PY) -m pytest -m lab

lab-up: $(STAMP)
	$(VENV)/bin/porthole lab up

lab-down: $(STAMP)
	$(VENV)/bin/porthole lab down

lab-status: $(STAMP)
	$(VENV)/bin/porthole lab status

bench: $(STAMP)
	$(PY) -m bench.sweep

## make bench-audit: porthole audit vs nmap -sV with NSE scripts on the default lab site (root)
bench-audit: $(STAMP)
	@command -v nmap >/dev/null || { echo "bench-audit needs nmap: apt-get install nmap"; exit 2; }
	$(PY) -m bench.audit

## make bench-tls: porthole's TLS enumeration vs sslyze (own venv bench/.venv-peers) and testssl.sh (root)
bench-tls: $(STAMP)
	@command -v testssl >/dev/null || command -v testssl.sh >/dev/null || { echo "bench-tls needs testssl.sh: apt-get install testssl.sh"; exit 2; }
	$(PY) -m bench.tls

## make docs: regenerate docs/findings.md from porthole/catalog/findings.toml
docs: $(STAMP)
	$(PY) -m porthole.findings > docs/findings.md

## make schema: check that the committed JSON Schema matches the report model
schema: $(STAMP)
	$(PY) -m pytest -q tests/unit/report/test_report_schema.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
