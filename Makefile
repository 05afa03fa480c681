# Two commands on a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install lint bench clean-db

# (Re)install when pyproject.toml changes; the stamp keeps repeat runs instant.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	@$(BIN)/organizer up

test: install
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	@$(BIN)/ruff check .

bench: install
	@$(BIN)/organizer bench all

clean-db:
	@$(BIN)/organizer db stop || true
	rm -rf .organizer/pgdata
