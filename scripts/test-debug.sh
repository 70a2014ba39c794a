#!/usr/bin/env bash
# The debug build: Fortran compiled with -fcheck=all (bounds, pointers, ...) and
# floating-point traps (invalid, division by zero, overflow), then the Fortran
# tests and the MPI test modules at 1 and 2 ranks run against it. Any
# out-of-bounds access or floating-point exception in a kernel stops the run.
# Installed apart (.venv/debug-site, first on PYTHONPATH): the release build in
# the venv stays as it is. Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup.sh" >/dev/null
source "$here/scripts/env.sh"
cd "$here"
venv="${PYHARNESS_VENV:-$here/.venv}"
site="$venv/debug-site"
stamp="$site/.pyharness-build-stamp"
state="$( (git ls-files -s; git diff; git rev-parse HEAD 2>/dev/null) | sha1sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$state" ]; then
  echo "test-debug: building pyharness with -Dchecks=true"
  rm -rf "$site"
  if ! python -m pip --disable-pip-version-check -q install --no-build-isolation --no-deps \
       -Csetup-args=-Dchecks=true -Cbuild-dir="$venv/build-debug" --target "$site" . \
       > "$venv/build-debug.log" 2>&1; then
    grep -vE "WARNING: Location" "$venv/build-debug.log" | tail -40 >&2
    echo "test-debug: the debug build failed (full log: $venv/build-debug.log)" >&2
    exit 1
  fi
  echo "$state" > "$stamp"
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
python -c "import pyharness._build_info as b, sys; sys.exit(0 if b.CHECKS else 'not the debug build')"
export PYHARNESS_TEST_FFLAGS="-g -fcheck=all -ffpe-trap=invalid,zero,overflow"
exec pytest -q tests/test_runtime_fortran.py "tests/test_mpi.py::test_mpi_suite[1]" \
  "tests/test_mpi.py::test_mpi_suite[2]" "$@"
