# `make demo` and `make test` each set up their own venv when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/arena: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,server,ray]'
	touch $(BIN)/arena

.PHONY: install browser demo lint test test-all bench
install: $(BIN)/arena

# The page tests drive Debian's chromium through its chromedriver; install them when missing
# (as root, through apt-get), else say why the page tests will be skipped.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else echo "no chromium/chromedriver and no root apt-get: the page tests will be skipped"; fi

demo: install
	$(BIN)/arena demo

# ruff over the tree; mypy over the modules of arena's core and the replay package.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy $(wildcard arena/*.py) $(wildcard arena/replay/*.py)

# --dist loadfile: each test file runs in one worker, so its module-scoped fixtures (trained
# agents, servers) and compiled functions are built once, not once per worker.
test: install browser
	SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy $(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow"

test-all: install browser
	SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy $(BIN)/python -m pytest -q

bench: install
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done
