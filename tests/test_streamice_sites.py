"""The streamice site table names real call statements (checked against the sources)."""

import re

from phtest import ROOT

SRC = ROOT / "fortran" / "kernels" / "streamice"


def test_every_site_line_is_the_call_in_the_primal_source():
    inc = (SRC / "streamice_sites.inc").read_text()
    callees = re.findall(r"^\s+'(\w+)'", inc.split("site_callee")[1].split("site_file")[0], re.M)
    files = re.findall(r"^\s+'([\w.]+)'", inc.split("site_file")[1].split("site_line")[0], re.M)
    lines = [int(x) for x in re.findall(r"^\s+(\d+)", inc.split("site_line(nsites)")[1], re.M)]
    assert len(callees) == len(files) == len(lines) >= 25
    for callee, f, n in zip(callees, files, lines):
        text = (SRC / f).read_text().splitlines()[n - 1]
        assert re.match(rf"\s*call {callee}\(", text), (callee, f, n, text)
        assert "! site S_" in text
