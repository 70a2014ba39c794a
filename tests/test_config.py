"""Tapenade's -nocheckpoint rule, kept in one place (pyharness.config.nocheckpoint_list)."""

import json

import h5py
import numpy as np
import pytest

import pyharness.config as config
from pyharness.config import Configuration, SiteTable, nocheckpoint_list

# halo_exchange is called from two sites, viscosity and cg_solve from one each; main is a
# routine that turns (not a site: never a unit of the list)
TABLE = SiteTable(
    names=("halo_exchange@a.f90:1", "halo_exchange@a.f90:2", "viscosity@a.f90:3",
           "cg_solve@b.f90:4", "main@a.f90"),
    callees=("halo_exchange", "halo_exchange", "viscosity", "cg_solve", "main"),
    is_site=(True, True, True, True, False))
SITES_OF = {"halo_exchange": ["halo_exchange@a.f90:1", "halo_exchange@a.f90:2"],
            "viscosity": ["viscosity@a.f90:3"], "cg_solve": ["cg_solve@b.f90:4"]}


@pytest.mark.parametrize("inhibited,listed", [
    # nothing inhibited: an empty list (every call checkpointed, Tapenade's default)
    ([], []),
    # halo_exchange keeps site 1 checkpointed, so -nocheckpoint "halo_exchange" (which
    # inhibits it at every call) would be another configuration: only viscosity is listed
    (["halo_exchange@a.f90:2", "viscosity@a.f90:3"], ["viscosity"]),
    # both of halo_exchange's sites inhibited: it is listed; names come out sorted
    (["viscosity@a.f90:3", "halo_exchange@a.f90:2", "halo_exchange@a.f90:1"], ["halo_exchange", "viscosity"]),
    # every site
    (TABLE.names[:4], ["cg_solve", "halo_exchange", "viscosity"]),
])
def test_a_callee_is_listed_only_when_every_one_of_its_sites_is_inhibited(inhibited, listed):
    assert nocheckpoint_list(inhibited, SITES_OF) == listed
    assert Configuration(frozenset(inhibited)).nocheckpoint_callees(TABLE) == listed


def test_a_callee_without_sites_is_never_listed():
    # "every one of its sites inhibited" holds vacuously, but there is nothing to inhibit
    assert nocheckpoint_list([], {"unused": [], "viscosity": ["viscosity@a.f90:3"]}) == []
    assert nocheckpoint_list(["viscosity@a.f90:3"], {"unused": (), "viscosity": ("viscosity@a.f90:3",)}) \
        == ["viscosity"]


def test_the_kernel_table_the_report_and_analyze_apply_the_same_function(tmp_path, monkeypatch):
    """One rule: Configuration (a SiteTable), report --nocheckpoint (names from a tune.h5,
    no kernel) and analyze's proposal each call config.nocheckpoint_list."""
    import pyharness.analysis.suggestions as suggestions
    import pyharness.report.__main__ as report
    calls = []

    def spy(inhibited, sites_of):
        calls.append(True)
        return nocheckpoint_list(inhibited, sites_of)

    for module in (config, report, suggestions):
        monkeypatch.setattr(module, "nocheckpoint_list", spy, raising=True)
    inhibited = ["halo_exchange@a.f90:2", "viscosity@a.f90:3"]
    assert Configuration(frozenset(inhibited)).nocheckpoint_callees(TABLE) == ["viscosity"]
    assert len(calls) == 1
    # a tune.h5 of those units (docs/FORMAT.md), read without the kernel
    with h5py.File(tmp_path / "tune.h5", "w") as h:
        h.attrs.update(schema="pyharness", schema_version=1, kind="tune")
        h["keys"] = np.array(TABLE.names[:4], dtype=h5py.string_dtype())
        g = h.create_group("steps/00001")
        g.attrs.update(step=1, decision="accepted", inhibited=json.dumps(inhibited))
        g["wall_s"] = np.ones(2)
        g["peak_bytes"] = np.full(2, 1000, dtype=np.int64)
    option, partial = report._nocheckpoint(tmp_path / "tune.h5", "1")
    assert option == '-nocheckpoint "viscosity"' and partial == ["halo_exchange@a.f90:2"]
    assert len(calls) == 2


@pytest.mark.parametrize("differ,same,suspects", [
    # the only configuration that changed the gradient inhibited two callees; one of them
    # was also inhibited where the gradient stayed: only the other is suspected
    ([["React@a.f90:1", "mix@a.f90:2"]], [["mix@a.f90:3"]], ["react"]),
    # every callee of the bad configurations was cleared by a good one: no suspect
    ([["mix@a.f90:2"]], [["mix@a.f90:2", "react@a.f90:1"]], []),
    # two bad configurations, nothing good: every callee they inhibited, sorted, once
    ([["react@a.f90:1"], ["mix@a.f90:2", "react@a.f90:4"]], [], ["mix", "react"]),
    # no bad configuration
    ([], [["mix@a.f90:2"]], []),
])
def test_must_stay_checkpointed_are_the_callees_inhibited_only_where_the_gradient_changed(
        differ, same, suspects):
    # a callee is cleared by name (any of its sites inhibited with the gradient kept),
    # because -nocheckpoint lists callees, and names compare in lower case as Tapenade's do
    assert config.gradient_suspects(differ, same) == suspects
    assert config.gradient_suspects(iter(differ), iter(same)) == suspects   # generators too


@pytest.mark.parametrize("text,message", [
    # a JSON list was read as a callee list of one unknown name, '["cg_solve"]'
    ('["cg_solve", "viscosity"]', 'a JSON list is not a configuration: write {"inhibited": [...]'),
    # true was taken as 1 snapshot
    ('{"inhibited": [], "snapshots": true}', "'snapshots' must be a non-negative integer"),
])
def test_a_json_file_that_is_not_a_configuration_is_refused_saying_what_is(tmp_path, text, message):
    from pyharness.errors import UsageError
    p = tmp_path / "c.json"
    p.write_text(text)
    with pytest.raises(UsageError) as ei:
        config.read_config_file(p, TABLE)
    assert message in str(ei.value)
    assert "Known callees" not in str(ei.value)
