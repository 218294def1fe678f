# On the device the board folder is installed as the top-level package `board`
# (tools/deploy.py copies it there; boards/refpump_rp2040/manifest.py freezes it
# so). This stub tells pyright that firmware/main.py's `import board` is the
# reference board's, so main.py is checked against its real types.
from boards.refpump_rp2040 import build as build, kbd_intr as kbd_intr, panic as panic
