"""Copy the runtime's Fortran .mod files out of meson's private build directory.

Called by meson.build: copy_mods.py BUILD_DIR OUT_DIR NAME.mod ... The library's
modules live in <build>/libpyharness_runtime.*.p/ (meson's private directory of
the target); each named module must be found there, else the build fails.
"""

import shutil
import sys
from pathlib import Path


def main(argv):
    build, out, names = Path(argv[0]), Path(argv[1]), argv[2:]
    dirs = sorted(p for p in build.glob("libpyharness_runtime*.p") if p.is_dir())
    for name in names:
        found = [d / name for d in dirs if (d / name).is_file()]
        if not found:
            sys.exit(f"copy_mods: {name} not found in {', '.join(map(str, dirs)) or build}: "
                     "is the module still defined by a runtime source (runtime_mods in meson.build)?")
        shutil.copyfile(found[0], out / name)


if __name__ == "__main__":
    main(sys.argv[1:])
