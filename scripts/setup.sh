#!/usr/bin/env bash
# Set up everything pyharness needs on a Debian machine, idempotently:
#   - Debian packages: gfortran, OpenMPI, pkg-config (apt-get, only if missing)
#   - a virtual environment (default: .venv in the repository) with the Python
#     dependencies and pyharness itself, rebuilt only when the sources changed.
# Afterwards `source scripts/env.sh` puts the venv and MPI settings in the shell.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
venv="${PYHARNESS_VENV:-$here/.venv}"
python="${PYTHON:-python3}"

need_pkgs=()
for p in gfortran openmpi-bin libopenmpi-dev pkg-config git; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
  echo "setup: installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
deps=(numpy mpi4py h5py f90wrap meson-python meson ninja pytest matplotlib tqdm numba checkpoint_schedules scipy)
if ! (cd / && "$venv/bin/python" -c "import numpy, mpi4py, h5py, f90wrap, mesonpy, pytest, matplotlib, tqdm, numba, checkpoint_schedules, scipy" 2>/dev/null); then
  echo "setup: installing Python dependencies"
  "${pip[@]}" install "${deps[@]}"
fi

# Rebuild pyharness only when the sources (tracked, changed or new) differ from what
# was last installed, or the installed package does not import. The check runs
# outside the repository with PYTHONSAFEPATH: from the root, `import pyharness`
# would find the source tree (no compiled bindings) and fail every time.
stamp="$venv/.pyharness-build-stamp"
state="$( (git rev-parse HEAD 2>/dev/null; git ls-files -s; git diff HEAD 2>/dev/null
           git ls-files -o --exclude-standard -z | xargs -0 -r sha1sum) | sha1sum | cut -d' ' -f1)"
installed_ok() { (cd / && PYTHONSAFEPATH=1 "$venv/bin/python" -c "import pyharness.phapi" 2>/dev/null); }
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$state" ] || ! installed_ok; then
  echo "setup: building and installing pyharness (Fortran runtime, kernels, f90wrap bindings)"
  if ! "${pip[@]}" install --no-build-isolation --no-deps . > "$venv/pyharness-build.log" 2>&1; then
    grep -vE "WARNING: Location" "$venv/pyharness-build.log" | tail -40 >&2
    echo "setup: the build failed (full log: $venv/pyharness-build.log)" >&2
    exit 1
  fi
  if ! installed_ok; then
    echo "setup: pyharness was installed but does not import (log: $venv/pyharness-build.log)" >&2
    exit 1
  fi
  echo "$state" > "$stamp"
else
  echo "setup: pyharness is up to date (nothing changed since the last build)"
fi
echo "setup: ready ($venv)"
