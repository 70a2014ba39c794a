"""The meson build lists its sources by name, no globs (shared/STYLE.md): a source
file that is in the tree but not in its list is left out of the installed package,
and the first sign is an import error far from the cause (a new kernel's
pyharness/kernels/NAME.py: 'No module named pyharness.kernels.NAME' from
--list-kernels). These tests name the file and the list it is missing from."""

import re

from phtest import ROOT


def _listed(meson_build):
    return set(re.findall(r"'([^']+\.(?:py|f90|c))'", meson_build.read_text()))


def test_every_python_file_of_the_package_is_installed():
    pkg = ROOT / "pyharness"
    on_disk = {p.relative_to(pkg).as_posix() for p in pkg.rglob("*.py") if "__pycache__" not in p.parts}
    missing = sorted(on_disk - _listed(pkg / "meson.build"))
    assert not missing, f"add to pyharness/meson.build (py.install_sources of their folder): {missing}"


def test_every_kernel_source_is_compiled():
    kernels = ROOT / "fortran" / "kernels"
    on_disk = {p.relative_to(kernels).as_posix() for p in kernels.rglob("*.f90")}
    missing = sorted(on_disk - _listed(kernels / "meson.build"))
    assert not missing, f"add to kernels_src in fortran/kernels/meson.build (dependency order): {missing}"


def test_every_generated_site_table_is_on_the_include_path():
    kernels = ROOT / "fortran" / "kernels"
    inc = re.search(r"kernels_inc\s*=\s*include_directories\(([^)]*)\)", (kernels / "meson.build").read_text())
    folders = set(re.findall(r"'([^']+)'", inc.group(1)))
    need = {p.parent.name for p in kernels.glob("*/*_sites.inc")}
    assert need <= folders, f"add to kernels_inc in fortran/kernels/meson.build: {sorted(need - folders)}"
