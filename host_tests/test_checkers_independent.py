"""The checkers share no code with what they check: the dose checker and
the sequence test's invariants import nothing from the pump logic (firmware/
pump), so a mistake in it cannot pass them by being made twice."""
import ast
import os

from mpenv import ROOT

CHECKERS = ("hw/sim/dosecheck.py", "host_tests/logic/seqcheck.py")


def imported_modules(rel):
    with open(os.path.join(ROOT, rel)) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module or ""


def test_no_checker_imports_the_pump_logic():
    for rel in CHECKERS:
        from_pump = [m for m in imported_modules(rel) if m == "pump" or m.startswith("pump.")]
        assert not from_pump, "%s imports %s" % (rel, from_pump)
