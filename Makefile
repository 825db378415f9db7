# Two set-up commands: `make devnet` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install test lint proto proto-check devnet clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project's metadata changes (editable install tracks the code).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

# Regenerate the committed protobuf/gRPC code from proto/*.proto.
proto: $(STAMP)
	$(BIN)/python -m proto.generate

# Fail when the committed generated code differs from what proto/*.proto produces.
proto-check: $(STAMP)
	$(BIN)/python -m proto.generate --check

devnet: $(STAMP)
	$(BIN)/cbdc devnet up --demo

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
