"""calltree: a synthetic adjoint kernel whose call tree is read from a description.

A description (JSON) lists nodes; the first is the root::

    {"m": 256,
     "nodes": [
       {"name": "root", "work": 1, "children": [{"node": "a", "loop": 3}, {"node": "b"}]},
       {"name": "a", "work": 2, "pad": 1000, "snap_pad": 0, "comm": true},
       {"name": "b", "work": 1, "children": [{"node": "a", "loop": 2}]}]}

Per node: ``work`` sweeps of x <- x + a sin(x) over the rank's state of ``m``
reals (the real floating-point work; each sweep tapes m reals), ``pad`` extra
reals taped per call (a large tape), ``snap_pad`` extra reals in its snapshot,
``comm`` a ring exchange with the neighbouring ranks (and its adjoint),
``branch`` (default false) every even sweep subtracting instead, a branch whose
outcome the forward sweep pushes as a control bit and the backward sweep pops, as
Tapenade's code does (PUSHCONTROL1B/POPCONTROL1B). Every
call edge is a checkpoint site named ``child@parent.f:k`` (k-th call in the
parent). A node may be called from several parents (the same callee at several
sites) as long as there is no cycle.

Generators (:func:`generate`) make trees of a given shape and number of sites:
chain, balanced, deep, wide, random.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import runtime
from ..errors import UsageError
from . import FortranKernel, KernelSpec

__all__ = ["CalltreeParams", "Calltree", "SPEC", "generate", "load_description",
           "validate_description", "SHAPES", "count_instances"]

SHAPES = ("chain", "balanced", "deep", "wide", "random")


def _node(name, rng, big_tapes: bool):
    work = int(rng.integers(1, 4))
    pad = int(rng.choice([0, 0, 64, 512, 4096])) if big_tapes else int(rng.choice([0, 16, 64]))
    return {"name": name, "work": work, "pad": pad, "snap_pad": int(rng.choice([0, 0, 32])),
            "comm": bool(rng.random() < 0.3), "children": []}


def generate(shape: str = "random", nsites: int = 12, seed: int = 0, m: int = 256,
             max_loop: int = 3, shared: float = 0.15) -> dict:
    """A description with ``nsites`` call edges (checkpoint sites) of the given shape.

    Loop counts are kept small near the root so that the number of dynamic
    instances stays bounded (at most ``max_loop`` per edge, 1 below depth 4).
    With ``shared`` > 0, some edges of the random shape call an existing leaf
    again (the same callee at several sites).
    """
    if shape not in SHAPES:
        raise UsageError(f"unknown tree shape '{shape}'; shapes: {', '.join(SHAPES)}")
    if nsites < 1:
        raise UsageError("a call tree needs at least 1 site")
    if seed < 0:
        # numpy's own error, with its traceback, named neither the parameter nor the range
        raise UsageError(f"seed {seed}: the generator's seed is an integer >= 0 (--param seed=N)")
    rng = np.random.default_rng(seed)
    nodes = [_node("root", rng, True)]
    depth = [0]

    def add_edge(parent: int, child: int | None = None):
        if child is None:
            child = len(nodes)
            nodes.append(_node(f"n{child}", rng, True))
            depth.append(depth[parent] + 1)
        loop = int(rng.integers(1, max_loop + 1)) if depth[parent] < 4 else 1
        nodes[parent]["children"].append({"node": nodes[child]["name"], "loop": loop})

    for k in range(nsites):
        n = len(nodes)
        if shape == "chain":
            parent = n - 1
        elif shape == "wide":
            parent = 0
        elif shape == "balanced":
            parent = (n - 1) // 2          # binary heap order
        elif shape == "deep":
            parent = n - 1 if rng.random() < 0.8 else int(rng.integers(0, n))
        else:
            parent = int(rng.integers(0, n))
        if shape == "random" and k > 2 and rng.random() < shared:
            # a leaf calls nothing, so calling it again cannot close a cycle
            leaves = [i for i in range(1, n) if not nodes[i]["children"] and i != parent]
            if leaves:
                add_edge(parent, int(rng.choice(leaves)))
                continue
        add_edge(parent)
    return {"m": m, "shape": shape, "seed": seed, "nodes": nodes}


def _reaches(nodes, a: int, b: int) -> bool:
    """Does node a (transitively) call node b? (cycle check)"""
    names = {nd["name"]: i for i, nd in enumerate(nodes)}
    stack, seen = [a], set()
    while stack:
        i = stack.pop()
        if i == b:
            return True
        if i in seen:
            continue
        seen.add(i)
        stack += [names[c["node"]] for c in nodes[i]["children"]]
    return False


def validate_description(desc: dict, source: str = "description") -> dict:
    """Check a description; returns it with defaults filled in."""
    if not isinstance(desc, dict) or not isinstance(desc.get("nodes"), list) or not desc["nodes"]:
        raise UsageError(f"{source}: a call-tree description is an object with a non-empty 'nodes' list")
    names = {}
    for i, nd in enumerate(desc["nodes"]):
        if not isinstance(nd, dict) or not isinstance(nd.get("name"), str):
            raise UsageError(f"{source}: node {i} needs a 'name'")
        if nd["name"] in names:
            raise UsageError(f"{source}: node name '{nd['name']}' appears twice")
        names[nd["name"]] = i
        for key in ("work", "pad", "snap_pad"):
            v = nd.setdefault(key, 1 if key == "work" else 0)
            if not isinstance(v, int) or v < 0:
                raise UsageError(f"{source}: node '{nd['name']}': '{key}' must be an integer >= 0")
        nd.setdefault("comm", False)
        nd.setdefault("branch", False)
        if not isinstance(nd["branch"], bool):
            raise UsageError(f"{source}: node '{nd['name']}': 'branch' must be true or false")
        nd.setdefault("children", [])
    for nd in desc["nodes"]:
        for c in nd["children"]:
            if c.get("node") not in names:
                raise UsageError(f"{source}: node '{nd['name']}' calls unknown node '{c.get('node')}'")
            if names[c["node"]] == 0:
                raise UsageError(f"{source}: node '{nd['name']}' calls the root")
            c.setdefault("loop", 1)
            if not isinstance(c["loop"], int) or c["loop"] < 0:
                raise UsageError(f"{source}: loop counts must be integers >= 0")
    if not any(nd["children"] for nd in desc["nodes"]):
        # no call, no checkpoint site: sites and tune failed on the empty table with a traceback
        raise UsageError(f"{source}: a call tree needs at least 1 site (a call): the root "
                         f"'{desc['nodes'][0]['name']}' calls nothing; give it 'children', "
                         'e.g. [{"node": "NAME"}]')
    for i in range(len(desc["nodes"])):
        for c in desc["nodes"][i]["children"]:
            if _reaches(desc["nodes"], names[c["node"]], i):
                raise UsageError(f"{source}: the call graph has a cycle through '{desc['nodes'][i]['name']}'")
    desc.setdefault("m", 256)
    return desc


def load_description(path: str | Path) -> dict:
    p = Path(path)
    try:
        desc = json.loads(p.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read call-tree description '{p}': {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{p}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    return validate_description(desc, str(p))


def count_instances(desc: dict, nsteps: int = 1) -> dict[str, int]:
    """Dynamic calls of every site in one primal run of ``nsteps`` time steps
    (computed from the description alone, independently of the Fortran)."""
    names = {nd["name"]: i for i, nd in enumerate(desc["nodes"])}
    counts: dict[str, int] = {}

    def visit(i: int, mult: int):
        nd = desc["nodes"][i]
        for k, c in enumerate(nd["children"], 1):
            site = f"{c['node']}@{nd['name']}.f:{k}"
            counts[site] = counts.get(site, 0) + mult * c["loop"]
            visit(names[c["node"]], mult * c["loop"])

    visit(0, nsteps)
    return counts


@dataclass(frozen=True)
class CalltreeParams:
    """A generated tree (shape, nsites, seed) or a description file (tree=PATH)."""

    shape: str = "random"
    nsites: int = 12
    seed: int = 0
    m: int = 256
    tree: str = ""
    nsteps: int = 1       # time steps: the root runs nsteps times

    def description(self) -> dict:
        if self.tree:
            d = load_description(self.tree)
            d["m"] = self.m if self.m else d["m"]
            return d
        return validate_description(generate(self.shape, self.nsites, self.seed, self.m))


class Calltree(FortranKernel):
    """The tree's locations are registered here, from Python (site names come from
    the description); the Fortran ``setup`` hook gets the tree as flat arrays.
    Subclasses (kernels with a fixed tree, e.g. examples/plugin-kernel) run on the
    same Fortran kernel."""

    fortran_name = "calltree"
    ts_param = "nsteps"
    supports_time_stepping = True     # calltree_kernel.f90 binds the ts_* hooks
    # order 2 from ~0.3 down; round-off (~1e-13, costs near 100) reached near 1e-7;
    # its boundary entry is the end of the rank's state, sent round the ring (the default)
    taylor_eps = (1e-2, 1e-5)

    def setup_ints(self) -> list[int]:
        if self.params.nsteps < 1:
            # was run as 1 step, silently (streamice and biogeo refuse nt < 1)
            raise UsageError(f"nsteps {self.params.nsteps}: the time loop needs at least 1 step "
                             "(--param nsteps=N)")
        desc = self.params.description()
        self.desc = desc
        api = runtime.api()
        api.api_registry_clear()
        nodes = desc["nodes"]
        names = {nd["name"]: i for i, nd in enumerate(nodes)}
        turn_id = [runtime.register(nd["name"], "calltree.f", 0, False) + 1 for nd in nodes]
        start, child, loop, site = [1], [], [], []
        for nd in nodes:
            for k, c in enumerate(nd["children"], 1):
                child.append(names[c["node"]] + 1)
                loop.append(c["loop"])
                site.append(runtime.register(c["node"], nd["name"] + ".f", k, True) + 1)
            start.append(len(child) + 1)
        nsteps = self.params.nsteps
        # events are recorded by location id: calibrate the profiler on that path
        self.event_probe = (0, int(site[0]) if site else int(turn_id[0]))
        # the map's coefficients scale as 1/(dynamic sweeps): derivatives stay O(1)
        counts = count_instances(desc, nsteps)
        calls = {nodes[0]["name"]: nsteps}
        for site_name, c in counts.items():
            callee = site_name.split("@")[0]
            calls[callee] = calls.get(callee, 0) + c
        sweeps = sum(calls[nd["name"]] * nd["work"] for nd in nodes if nd["name"] in calls)
        self._amp = 0.3 / max(1, sweeps)
        return ([int(desc["m"]), len(nodes), len(child), nsteps] + start + child + loop + site
                + turn_id + [nd["work"] for nd in nodes] + [nd["pad"] for nd in nodes]
                + [nd["snap_pad"] for nd in nodes]
                + [int(bool(nd["comm"])) | (2 if nd["branch"] else 0) for nd in nodes])

    def setup_reals(self) -> list[float]:
        return [self._amp]

    def ts_nsteps(self) -> int:
        return max(1, self.params.nsteps)

    def control_default(self) -> np.ndarray:
        i = np.arange(self._n) + self.comm.rank * self._n
        return 0.5 + 0.25 * np.sin(0.37 * i)


SPEC = KernelSpec(
    name="calltree",
    params_type=CalltreeParams,
    sizes={
        "small": CalltreeParams(),
        "medium": CalltreeParams(shape="random", nsites=200, seed=1, m=4096),
    },
    factory=Calltree,
    description="synthetic call tree from a description: scaling, exhaustive comparisons",
)
Calltree.spec = SPEC
