# Two entry points for a fresh machine (see README): `make sim` and `make test`.
# Each creates .venv from the pinned requirements first if it is missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
MP_HEAP ?= 160K
SCENARIO ?= tools/scenarios/week_flex.json

# pyright (pyrightconfig.json) runs on the machine's Node.js; without this it
# would ask PyPI for a newer version on every run.
export PYRIGHT_PYTHON_IGNORE_WARNINGS = 1

.PHONY: venv sim test typecheck bench clean

$(BIN)/.installed: requirements.txt requirements-stubs.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --upgrade --target $(VENV)/typings -r requirements-stubs.txt
	touch $@

venv: $(BIN)/.installed

sim: venv
	$(BIN)/python tools/sim.py $(SCENARIO)

test: venv typecheck
	$(BIN)/python tools/check_mpy.py
	$(BIN)/python tools/mptest.py --heap $(MP_HEAP)
	$(BIN)/python -m pytest -q -n auto host_tests

# firmware/, hw/ (not hw/sim) and every board folder (not boards/sim) against the rp2 stubs: 0 errors.
typecheck: venv
	@command -v node >/dev/null || { echo "pyright needs Node.js on PATH (Debian: apt-get install nodejs)"; exit 1; }
	$(BIN)/pyright

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis
