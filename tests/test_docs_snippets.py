"""Every Python code block of README.md and docs/*.md runs as a reader would run it: in a
directory holding the profile.h5 the documented command makes (streamice, one rank, the
small size), one block after another. A block that no longer runs (a renamed function,
attribute or option, an import the page forgot) fails here with the page and line."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from phtest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^( *)```python\n(.*?)^\1```", re.S | re.M)


def python_blocks():
    for page in PAGES:
        text = page.read_text()
        for m in FENCE.finditer(text):
            line = text[:m.start()].count("\n") + 1
            yield f"{page.relative_to(ROOT)}:{line}", textwrap.dedent(m.group(2))


BLOCKS = list(python_blocks())


def test_the_pages_have_python_blocks():
    # the pattern finds the blocks (indented ones in lists too): an empty list would pass
    assert len(BLOCKS) >= 4, [b[0] for b in BLOCKS]


@pytest.fixture(scope="module")
def profile_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("docs")
    p = subprocess.run([sys.executable, "-m", "pyharness.profile", "--kernel", "streamice", "--size",
                        "small", "--out", "profile.h5"], cwd=d, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return d


@pytest.mark.parametrize("where,code", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_python_block_runs(where, code, profile_dir):
    p = subprocess.run([sys.executable, "-c", code], cwd=profile_dir, capture_output=True, text=True,
                       timeout=300, env=dict(os.environ, PYTHONSAFEPATH="1"))
    assert p.returncode == 0, f"{where}:\n{code}\n{p.stderr[-3000:]}"
