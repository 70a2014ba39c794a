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


def test_the_kernels_with_a_site_table_are_found_by_their_tags():
    """Every kernel folder with a `! site` tag is one (a new kernel needs no edit of
    gen_sites.py: docs/KERNELS.md), and the built-in ones are among them."""
    assert {"streamice", "biogeo"} <= set(_gen().kernels())
    assert "calltree" not in _gen().kernels()       # its sites come from a description


def test_a_new_kernel_folder_gets_its_table_without_editing_the_generator(tmp_path):
    """A kernel the generator has never heard of: its tagged calls, numbered file by
    file in the order of the file names, written to NAME/NAME_sites.inc."""
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy_b.f90").write_text(
        "subroutine b(u)\n  call leaf(u)   ! site S_LEAF\nend subroutine b\n")
    (tmp_path / "toy" / "toy_a.f90").write_text(
        "subroutine a(u)\n  x = 1\n  call step(u)   ! site S_STEP\n  call cost(u)   ! site S_COST\nend\n")
    (tmp_path / "toy" / "toy_grid.f90").write_text("module toy_grid\nend module toy_grid\n")
    (tmp_path / "plain").mkdir()                    # no tag: not a kernel with a table
    (tmp_path / "plain" / "p.f90").write_text("call x(u)\n")
    gen = _gen()
    assert gen.kernels(tmp_path) == ["toy"]
    assert gen.sites("toy", tmp_path) == [("S_STEP", "step", "toy_a.f90", 3),
                                         ("S_COST", "cost", "toy_a.f90", 4),
                                         ("S_LEAF", "leaf", "toy_b.f90", 2)]
    gen.main([], root=tmp_path)
    inc = (tmp_path / "toy" / "toy_sites.inc").read_text()
    assert "integer, parameter :: nsites = 3" in inc
    assert "S_STEP = 1" in inc and "S_COST = 2" in inc and "S_LEAF = 3" in inc
    with pytest.raises(SystemExit, match="no kernel 'plain'"):
        gen.main(["plain"], root=tmp_path)


# the lower bounds are independent of the generator: counted in docs/STREAMICE.md and
# docs/BIOGEO.md (30 and 43 sites); a new kernel needs at least one
AT_LEAST = {"streamice": 25, "biogeo": 40}


@pytest.mark.parametrize("kernel", _gen().kernels())
def test_every_site_line_is_the_call_in_the_primal_source(kernel):
    at_least = AT_LEAST.get(kernel, 1)
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
    for kernel in _gen().kernels():
        text = "\n".join(p.read_text() for p in (KERNELS / kernel).glob("*.f90"))
        for name, *_ in _gen().sites(kernel):
            assert text.count(f"act({name})") >= 2, (kernel, name)
            assert f"snp_write({name})" in text and f"snp_read({name})" in text, (kernel, name)
