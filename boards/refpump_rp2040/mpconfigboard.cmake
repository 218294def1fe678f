# Reference pump board rev A: the Pico's RP2040 and flash, with the pump
# firmware frozen in from manifest.py beside this file.
set(PICO_BOARD "pico")
set(PICO_PLATFORM "rp2040")

set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py)
