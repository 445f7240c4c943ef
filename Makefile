# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv if absent and install bnnas into it with the CPU build of torch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel; a bare `torch` would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0
EXTRAS ?= dev

STAMP := $(VENV)/.installed-$(EXTRAS)

.PHONY: install demo test test-slow lint bench clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

demo: install
	$(BIN)/bnnas demo

test: install
	$(BIN)/python -m pytest -q -n 2 tests
	$(BIN)/ruff check bnnas tests bench

test-slow: install
	$(BIN)/python -m pytest -q -m slow tests

lint: install
	$(BIN)/ruff check bnnas tests bench

clean-venv:
	rm -rf $(VENV)
