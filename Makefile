# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Pins torch to the CPU build the build machines carry; GPU users override (see README).
CONSTRAINTS ?= constraints.txt
# ray: `batch --ray` and its tests (tests/test_batch_ray.py, about a minute, marked slow).
EXTRAS ?= model,dev,ray
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
DEMO_DIR ?= demo-out

.PHONY: install demo test test-fast bench clean

install: $(STAMP)

# Setup talks on stderr only, so `make bench` prints nothing but its JSON on stdout.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	@echo "setting up $(VENV) (extras: $(EXTRAS))" >&2
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) >&2
	@$(BIN)/python -m pip install -q --upgrade pip >&2
	@$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[$(EXTRAS)]' >&2
	@touch $@

demo: install
	$(BIN)/python -m examples.demo --out $(DEMO_DIR)

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	@$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(DEMO_DIR) build *.egg-info .pytest_cache
