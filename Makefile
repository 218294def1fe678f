# Two entry points for a fresh machine (see README): `make sim` and `make test`.
# Each creates .venv from the pinned requirements first if it is missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
MP_HEAP ?= 160K
SCENARIO ?= tools/scenarios/week_flex.json

.PHONY: venv sim test bench clean

$(BIN)/.installed: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

venv: $(BIN)/.installed

sim: venv
	$(BIN)/python tools/sim.py $(SCENARIO)

test: venv
	$(BIN)/python tools/check_mpy.py
	$(BIN)/python tools/mptest.py --heap $(MP_HEAP)
	$(BIN)/python -m pytest -q host_tests

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
