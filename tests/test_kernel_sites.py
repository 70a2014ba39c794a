"""Each kernel's site table names real call statements (checked against the
sources), and the committed table is what gen_sites.py makes of them now."""

import importlib.util
import re

import pytest

from phtest import ROOT

KERNELS = ROOT / "fortran" / "kernels"


def _gen():
    spec = importlib.util.spec_from_file_location("gen_sites", KERNELS / "gen_sites.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("kernel, at_least", [("streamice", 25), ("biogeo", 40)])
def test_every_site_line_is_the_call_in_the_primal_source(kernel, at_least):
    src = KERNELS / kernel
    inc = (src / f"{kernel}_sites.inc").read_text()
    callees = re.findall(r"^\s+'(\w+)'", inc.split("site_callee")[1].split("site_file")[0], re.M)
    files = re.findall(r"^\s+'([\w.]+)'", inc.split("site_file")[1].split("site_line")[0], re.M)
    lines = [int(x) for x in re.findall(r"^\s+(\d+)", inc.split("site_line(nsites)")[1], re.M)]
    assert len(callees) == len(files) == len(lines) >= at_least
    for callee, f, n in zip(callees, files, lines):
        text = (src / f).read_text().splitlines()[n - 1]
        assert re.match(rf"\s*call {callee}\(", text), (callee, f, n, text)
        assert "! site S_" in text
    # no edit of a primal file since the table was generated
    assert inc == _gen().render(kernel), f"rerun: python3 fortran/kernels/gen_sites.py {kernel}"


def test_every_site_has_both_branches_in_the_sweeps():
    """Each site constant is used in an act() test of the forward and of the
    backward sweep (a site without a checkpoint branch is not a site)."""
    for kernel in _gen().KERNELS:
        text = "\n".join(p.read_text() for p in (KERNELS / kernel).glob("*.f90"))
        for name, *_ in _gen().sites(kernel):
            assert text.count(f"act({name})") >= 2, (kernel, name)
            assert f"snp_write({name})" in text and f"snp_read({name})" in text, (kernel, name)
