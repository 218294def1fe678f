"""What the `bench` command can inject, by name: one home for the names that
the command table (pump.schema), the event log (pump.events, where a
fault's index is its code: append only), pump.bench and the host tools
share, in a module light enough for each of them to import."""
BENCH_FAULTS = ("clear", "pressure", "stall", "empty", "occlusion", "sensor_open", "sensor_stuck",
                "sensor_out_of_range", "low_battery", "temperature", "clock", "storage", "low_reservoir",
                "restart", "crash", "outage")
# The faults that take a value -> the argument that carries it, named for its unit.
BENCH_VALUE_UNITS = {"pressure": "mpsi", "low_battery": "mv", "temperature": "mc", "outage": "min"}
