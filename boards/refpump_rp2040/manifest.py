# Frozen build of the reference pump board (rev A): MicroPython's rp2 port
# with the pump logic, the drivers and this board folder compiled into the
# firmware image. Build (README, "Frozen build") from a MicroPython checkout:
#
#     make -C ports/rp2 BOARD_DIR=/abs/path/to/repo/boards/refpump_rp2040
#
# The image holds the same modules, under the same names, as tools/deploy.py
# copies: `pump`, `hw` (without hw/sim, which only runs on hosts) and this
# folder as the top-level `board` package. /main.py stays on the filesystem:
# `python tools/deploy.py --frozen` copies it (with the key and calibration).
import os
import shutil

include("$(PORT_DIR)/boards/manifest.py")  # noqa: F821 (manifest API)

# While a manifest runs, the current directory is the folder it is in.
_repo = os.path.abspath(os.path.join(os.getcwd(), "..", ".."))

package("pump", base_path=os.path.join(_repo, "firmware"))  # noqa: F821
package("hw", base_path=_repo,  # noqa: F821
        files=[name for name in sorted(os.listdir(os.path.join(_repo, "hw"))) if name.endswith(".py")])

# manifest's package() names a package after its folder, so this folder is
# staged as build/frozen/board to be frozen as `board`.
_stage = os.path.join(_repo, "build", "frozen", "board")
shutil.rmtree(_stage, ignore_errors=True)
os.makedirs(_stage)
for _name in sorted(os.listdir(os.getcwd())):
    if _name.endswith(".py") and _name != "manifest.py":
        shutil.copy2(_name, os.path.join(_stage, _name))
package("board", base_path=os.path.dirname(_stage))  # noqa: F821
