"""Drivers for the reference board (one small class per device) and, in hw/sim,
the simulated hardware the host runs use. Drivers are handed their pins and
buses; the board folder (boards/refpump_rp2040) decides which."""
