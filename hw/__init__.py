"""What every board shares: the drivers (one small class per device), the
board contract (contract.py), the reference pump's board built from a board
folder's pin map (pumpboard.py), the calibration rule (calibration.py) and,
in hw/sim, the simulated hardware the host runs use. Drivers are handed
their pins and buses; the board folder (boards/NAME) decides which."""
