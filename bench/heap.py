"""Peak MicroPython heap of the pump logic, against the RP2040's 160K, and the .mpy size.

    .venv/bin/python bench/heap.py

bench/mp_control_loop.py, in the MicroPython unix port, imports the compiled
pump modules (.mpy, as a board imports them from its filesystem) one by one,
dependencies first, then the simulated board; programs the pump over the
protocol and runs a simulated day at the typical rate, sampling
gc.mem_alloc() at every wake-up (that file says what each figure is). The
figures are taken in a heap large enough not to matter, and compared with
160K; then the smallest heap the same run completes in is searched for.
The simulated board (physics, fake flash) rides along in the same heap, so
every figure after the imports is the pump plus its board. The unix port is
a 64-bit build: an object pointer takes 8 bytes there and 4 on the RP2040.
Last, the board's .mpy total, compiled by tools/check_mpy.py for armv6m.
"""
import os
import re
import tempfile

from common import ROOT, TYPICAL, MicroPythonFailed, full_or_quick, micropython, table
from check_mpy import board_files, compile_all  # tools/, on the path once common is imported

TARGET_BYTES = 160 * 1024
MEASURE_HEAP_K = 512
HOURS = full_or_quick(24, 2)
PUMP_IMPORT = re.compile(r"^\s*(?:from pump\.(\w+) import|from pump import (.+)|import pump\.(\w+))", re.M)


def pump_modules():
    """firmware/pump's modules, each after the pump modules it imports, so
    that each import cost is the module's own."""
    folder = os.path.join(ROOT, "firmware", "pump")
    names = sorted(n[:-3] for n in os.listdir(folder) if n.endswith(".py") and n != "__init__.py")
    deps = {}
    for name in names:
        with open(os.path.join(folder, name + ".py")) as f:
            found = set()
            for single, listed, plain in PUMP_IMPORT.findall(f.read()):
                found.update([single or plain] if single or plain else
                             [part.split(" as ")[0].strip() for part in listed.split(",")])
            deps[name] = sorted(found & set(names))
    ordered = []

    def visit(name):
        if name not in ordered:
            for dep in deps[name]:
                visit(dep)
            ordered.append(name)
    for name in names:
        visit(name)
    return ["pump." + n for n in ordered]


def day_run(heap_k, modules):
    return micropython("bench/mp_control_loop.py", TYPICAL.scenario(HOURS), "%dK" % heap_k, ["heap"] + modules)[0]


def smallest_heap_k(modules, low_k, high_k, step_k=4):
    """Smallest heap (a multiple of step_k) the run fits in; high_k must work."""
    while high_k - low_k > step_k:
        mid = (low_k + high_k) // 2 // step_k * step_k
        try:
            day_run(mid, modules)
            high_k = mid
        except MicroPythonFailed:
            low_k = mid
    return high_k


def main():
    modules = pump_modules()
    out = day_run(MEASURE_HEAP_K, modules)
    seen = out["heap_seen"]
    pump_bytes = sum(size for _name, size in out["module_bytes"])

    def row(name, size):
        return [name, "%d" % size, "%.1f%%" % (100 * size / TARGET_BYTES)]
    largest = sorted(out["module_bytes"], key=lambda m: -m[1])[:4]
    table("MicroPython heap, %d simulated hours at %s (%d wake-ups), against 160K (%d bytes)"
          % (HOURS, TYPICAL.label, out["wakes"], TARGET_BYTES), ["what", "bytes", "of 160K"],
          [row("interpreter at start", out["interpreter_bytes"]),
           row("import of the pump logic (%d modules)" % len(modules), pump_bytes)]
          + [row("  of which %s" % name, size) for name, size in largest]
          + [row("import of the simulated board", out["board_import_bytes"]),
             row("live + allocated by a programming command", seen["programming_max"]),
             row("live after boot and programming", out["programmed_bytes"]),
             row("live between wake-ups, high-water", seen["live_max"]),
             row("live + allocated by a wake-up, high-water", seen["peak_max"]),
             row("most allocated by one wake-up", seen["alloc_max"])])
    try:
        day_run(160, modules)
        print("The run fits in -X heapsize=160K.")
    except MicroPythonFailed as failure:
        print("The run does NOT fit in -X heapsize=160K (%s);" % str(failure).split(": ", 1)[1])
        print("smallest heap it runs in: %dK" % smallest_heap_k(modules, 160, MEASURE_HEAP_K))
    with tempfile.TemporaryDirectory() as out_dir:
        total, errors = compile_all(out_dir)
    print("Board .mpy (mpy-cross -march=armv6m): %d files, %d bytes%s"
          % (len(board_files()), total, "" if not errors else ", %d did not compile" % len(errors)))
    print()


if __name__ == "__main__":
    main()
