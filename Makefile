# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Pins torch to the CPU build the build machines carry; GPU users override (see README).
CONSTRAINTS ?= constraints.txt
EXTRAS ?= model,dev
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
DEMO_DIR ?= demo-out

.PHONY: install demo test test-fast bench clean

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[$(EXTRAS)]'
	touch $@

demo: install
	$(BIN)/python -m examples.demo --out $(DEMO_DIR)

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	@$(BIN)/python -m runtime.bench

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info .pytest_cache
