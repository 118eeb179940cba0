# Quick start: `make demo` (main job) and `make test` (lint + test suite).
# Both create .venv with python3 and install the package into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= runs/demo

.PHONY: demo test lint clean

$(BIN)/textmask-ocr: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,fonts]'
	touch $@

demo: $(BIN)/textmask-ocr
	$(BIN)/textmask-ocr demo --out $(OUT)

test: $(BIN)/textmask-ocr
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: $(BIN)/textmask-ocr
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) build *.egg-info
