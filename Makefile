# Two commands on a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install browser lint bench clean-db

# (Re)install when pyproject.toml changes; the stamp keeps repeat runs instant.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	@$(BIN)/organizer up

# The dashboard's browser test needs Chromium: installed where apt can (root on Debian), else skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& timeout 900 sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium' >/dev/null 2>&1; } \
		|| echo "chromium not available: browser tests will be skipped"

# Two pytest-xdist workers (2 cores): each has its own embedded server or, with DATABASE_URL, its own
# template database on the shared server. PYTEST_WORKERS=0 runs everything in one process.
PYTEST_WORKERS ?= 2
test: install browser
	@$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: install
	@$(BIN)/ruff check .

bench: install
	@$(BIN)/organizer bench all

clean-db:
	@$(BIN)/organizer db stop || true
	rm -rf .organizer/pgdata
