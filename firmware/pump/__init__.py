"""The pump's logic: hardware-free, clock-free, integer-only.

Nothing in this package reads a clock or touches a pin; time is passed in and
hardware is reached through the board object. That is what lets a 90-day run
finish in seconds and come out identical on CPython and MicroPython.
"""
