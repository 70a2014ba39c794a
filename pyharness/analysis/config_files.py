"""Callee list files: one lower-case name per line, ``#`` comments.

The form Tapenade users keep next to their build for ``-nocheckpoint "..."``.
Names are compared in lower case (Fortran names are case-insensitive). A name
that matches no site and no callee is an error listing the unknown names and a
few known ones, never silently ignored (Tapenade ignores unknown names, which
cost its users runs).

Example
-------
>>> import tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "nocheckpoint.txt")
>>> write_name_list(p, ["CG_Solve", "halo_exchange"], header="inhibited callees")
>>> read_name_list(p)
('cg_solve', 'halo_exchange')
>>> check_names(read_name_list(p), sites=[], callees=["cg_solve", "halo_exchange"])
"""

from __future__ import annotations

import difflib
from typing import Iterable, Sequence

from ..errors import UsageError

__all__ = ["read_name_list", "write_name_list", "check_names"]


from ..config import read_name_list, write_name_list  # the one implementation


def check_names(names: Iterable[str], sites: Sequence[str], callees: Sequence[str],
                source: str = "") -> None:
    """Raise if a name is neither a site name nor a callee name.

    Parameters
    ----------
    names : iterable of str
        Names to check (compared in lower case).
    sites, callees : sequence of str
        The known site names (``callee@file:line``) and callee names.
    source : str
        Where the names come from, for the message (a file name).

    Raises
    ------
    UsageError
        ``unknown name(s) in FILE: 'cg_solv'. Known callees include: ...
        ('cg_solv': did you mean cg_solve?)``
    """
    known = {s.lower() for s in sites} | {c.lower() for c in callees if c}
    unknown = [n for n in names if n.lower() not in known]
    if not unknown:
        return
    where = f" in {source}" if source else ""
    kc = sorted({c.lower() for c in callees if c})
    shown = ", ".join(kc[:8]) + (f" (and {len(kc) - 8} more)" if len(kc) > 8 else "")
    msg = (f"unknown name(s){where}: {', '.join(repr(u) for u in unknown)}; names must be "
           f"callees or sites of this profile. Known callees include: {shown or '(none)'}")
    hints = []
    for u in unknown[:5]:
        close = difflib.get_close_matches(u.lower(), sorted(known), n=3, cutoff=0.6)
        if close:
            hints.append(f"'{u}': did you mean {', '.join(close)}?")
    if hints:
        msg += " (" + "; ".join(hints) + ")"
    raise UsageError(msg)
