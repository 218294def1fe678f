"""boards/refpump_rp2040 as a MicroPython custom board: manifest.py, mpconfigboard.*.

No MicroPython source tree here, so manifest.py runs against a stand-in of
the manifest API (include/package, with manifestfile's path rules), and what
it would freeze is compared with what tools/deploy.py copies: the frozen
build and a deployed board must import the same modules under the same names.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import deploy  # noqa: E402
import mpenv  # noqa: E402

BOARD_DIR = os.path.join(mpenv.ROOT, "boards", "refpump_rp2040")


def frozen_targets():
    """(includes, {target path in the image: source file}) of manifest.py."""
    includes, targets = [], {}

    def include(path, **_options):
        includes.append(path)

    def package(package_path, files=None, base_path=".", opt=None):
        base = os.path.abspath(base_path)
        if files is not None:
            names = [os.path.join(package_path, name) for name in files]
        else:
            names = []
            for folder, _dirs, found in os.walk(os.path.join(base, package_path)):
                names += [os.path.relpath(os.path.join(folder, f), base) for f in found if f.endswith(".py")]
        for name in names:
            assert os.path.isfile(os.path.join(base, name)), name
            targets[name.replace(os.sep, "/")] = os.path.join(base, name)

    previous = os.getcwd()
    os.chdir(BOARD_DIR)   # manifestfile runs a manifest from its own folder
    try:
        with open("manifest.py") as f:
            exec(f.read(), {"include": include, "package": package})
    finally:
        os.chdir(previous)
    return includes, targets


def test_the_manifest_starts_from_the_rp2_ports_own_manifest():
    includes, _targets = frozen_targets()
    assert includes == ["$(PORT_DIR)/boards/manifest.py"]


def test_the_frozen_image_holds_exactly_the_modules_deploy_copies():
    _includes, targets = frozen_targets()
    deployed = {device.lstrip("/")[:-len(".mpy")] + ".py" for _source, device, compiled in deploy.plan() if compiled}
    assert set(targets) == deployed


def test_the_board_folder_is_frozen_as_the_board_package_with_its_own_sources():
    _includes, targets = frozen_targets()
    for name in ("__init__", "pins", "config"):
        with open(targets["board/%s.py" % name]) as frozen, open(os.path.join(BOARD_DIR, name + ".py")) as source:
            assert frozen.read() == source.read()
    assert not any(target.startswith("hw/sim") or target.endswith("manifest.py") for target in targets)


def test_the_cmake_file_points_the_rp2_build_at_the_manifest():
    with open(os.path.join(BOARD_DIR, "mpconfigboard.cmake")) as f:
        cmake = f.read()
    assert re.search(r"set\(MICROPY_FROZEN_MANIFEST \$\{MICROPY_BOARD_DIR\}/manifest\.py\)", cmake)
    assert 'set(PICO_BOARD "pico")' in cmake


def test_the_board_header_names_the_board_and_keeps_the_picos_filesystem_size():
    with open(os.path.join(BOARD_DIR, "mpconfigboard.h")) as f:
        header = f.read()
    assert re.search(r'#define MICROPY_HW_BOARD_NAME\s+"[^"]+"', header)
    assert re.search(r"#define MICROPY_HW_FLASH_STORAGE_BYTES\s+\(1408 \* 1024\)", header)
