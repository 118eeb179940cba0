# Quick start: `make demo` (main job) and `make test` (lint + test suite).
# Both create .venv with python3 and install the package into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= runs/demo
# Real word crops (training splits of IIIT5K and SVT) scored beside the synthetic test, read in
# place and never trained on; skipped where the folder is absent.
REAL_WORDS ?= ../shared/fixtures/real_words
BENCHES := $(if $(wildcard $(REAL_WORDS)/iiit5k_train),--bench IIIT5K-train=$(REAL_WORDS)/iiit5k_train) \
	$(if $(wildcard $(REAL_WORDS)/svt_train),--bench SVT-train=$(REAL_WORDS)/svt_train)

.PHONY: demo test lint clean

$(BIN)/textmask-ocr: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,fonts]'
	touch $@

demo: $(BIN)/textmask-ocr
	$(BIN)/textmask-ocr demo --out $(OUT) $(BENCHES)

test: $(BIN)/textmask-ocr
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: $(BIN)/textmask-ocr
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) build *.egg-info
