"""Engines declare their role; reports, claims and COST read it from the records, never from
engine names: a new single-node engine becomes the baseline, a cluster engine is never "one
machine", and records from before roles were recorded keep their meaning."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.engines import ENGINES, Placement, Role, recorded_role
from harness.errors import UserError
from harness.results import ResultsWriter, RunRecord
from harness.rules import RulesMode
from reports.claims import COST, ITERATIONS_CLAIM, NOT_MEASURED, WARM_CHECK, check_claims
from reports.html import build_report
from reports.published import MAPREDUCE_SYSTEM, RDD_SYSTEM
from reports.stats import summarize

ONE = Role(Placement.SINGLE, nodes=1, cores=2, baseline=True).to_json()
CLUSTER = Role(Placement.CLUSTER, nodes=3, cores=12, baseline=True).to_json()
LOCAL = Role(Placement.SINGLE, nodes=1, cores=2).to_json()


def _rec(
    engine: str, wall: float, role: dict[str, object] | None = None, **kw: object
) -> RunRecord:
    base: dict[str, object] = dict(
        batch_id="roles", workload="wordcount", engine=engine, variant="default",
        rules=RulesMode.NONE,
        scale="tiny", params={}, repeat=0, is_warmup=False, status="ok", wall_s=wall,
        check="pass", metrics={}, role=role or {},
    )  # fmt: skip
    base.update(kw)
    return RunRecord(**base)  # type: ignore[arg-type]


def test_a_new_single_node_engine_becomes_the_baseline_when_fastest() -> None:
    records = [
        _rec("numpy", 2.0, ONE),
        _rec("fastone", 0.5, ONE),  # an engine this version never heard of
        _rec("bigcluster", 1.0, CLUSTER),
    ]
    by = {s.engine: s for s in summarize(records)}
    assert by["fastone"].relative == pytest.approx(1.0) and by["fastone"].baseline
    assert by["numpy"].relative == pytest.approx(0.25)
    assert by["bigcluster"].relative == pytest.approx(0.5)
    assert {s.baseline for s in by.values()} == {"fastone/default"}


def test_a_failed_check_or_a_cluster_never_serves_as_the_baseline() -> None:
    records = [
        _rec("wrongone", 0.1, ONE, check="fail"),
        _rec("bigcluster", 0.2, CLUSTER),  # declares baseline, but runs on a cluster
        _rec("localmode", 0.3, LOCAL),  # one machine, not a baseline candidate
        _rec("numpy", 4.0, ONE),
    ]
    by = {s.engine: s for s in summarize(records)}
    assert {s.baseline for s in by.values() if s.relative} == {"numpy/default"}
    assert by["bigcluster"].relative == pytest.approx(20.0)


def test_baseline_can_be_chosen_and_an_unknown_choice_is_one_error() -> None:
    records = [_rec("numpy", 2.0, ONE), _rec("localmode", 1.0, LOCAL)]
    by = {s.engine: s for s in summarize(records, baseline="localmode/default")}
    assert by["numpy"].relative == pytest.approx(0.5) and by["numpy"].baseline == (
        "localmode/default"
    )
    with pytest.raises(UserError, match="--baseline 'nope/x': no such cell"):
        summarize(records, baseline="nope/x")


def test_cost_compares_the_fastest_single_node_cell_with_the_fastest_cluster_cell() -> None:
    records = [
        _rec("numpy", 3.0, ONE),
        _rec("fastone", 1.0, ONE),
        _rec("bigcluster", 4.0, CLUSTER),
        _rec("localmode", 0.5, LOCAL),
    ]
    cost = next(c for c in check_claims(records) if c.claim.id == COST.id)
    (main,) = cost.main
    assert main.cells == ["bigcluster/default", "fastone/default"]
    assert main.ratio == pytest.approx(4.0)
    (apart,) = cost.apart  # local mode is a stand-in, never "one machine"
    assert apart.cells == ["localmode/default", "fastone/default"]


def test_a_cluster_engine_alone_is_never_one_machine() -> None:
    records = [_rec("bigcluster", 1.0, CLUSTER), _rec("other", 2.0, CLUSTER)]
    cost = next(c for c in check_claims(records) if c.claim.id == COST.id)
    (row,) = cost.verdicts
    assert row.verdict == NOT_MEASURED and "no single-node cell" in row.why


def test_the_iterations_claim_picks_cells_by_their_declared_system() -> None:
    def it(engine: str, first: float, later: float, role: Role) -> RunRecord:
        metrics = {"first_iteration_s": first, "later_iterations_median_s": later,
                   "iteration_s": [first] + [later] * 4}  # fmt: skip
        return _rec(engine, first + 4 * later, role.to_json(), workload="logreg", metrics=metrics)

    records = [
        it("mr2", 30.0, 30.0, Role(Placement.CLUSTER, nodes=2, system=MAPREDUCE_SYSTEM)),
        it("rdd2", 4.0, 1.5, Role(Placement.CLUSTER, nodes=2, system=RDD_SYSTEM)),
        it("other", 0.1, 0.01, Role(Placement.CLUSTER, nodes=2, system="Something Else")),
    ]
    claim = next(c for c in check_claims(records) if c.claim.id == ITERATIONS_CLAIM.id)
    (warm,) = [v for v in claim.main if v.check == WARM_CHECK]
    assert warm.cells == ["mr2/default", "rdd2/default"] and warm.ratio == pytest.approx(20.0)


def test_old_records_get_their_role_from_their_engine() -> None:
    assert recorded_role("numpy", "default", "", None).baseline
    assert recorded_role("mrjob", "local", "(simulated)", None).placement is Placement.SIMULATED
    hadoop = recorded_role("mrjob", "hadoop", "(Hadoop 3.4.2, 1 NodeManager)", None)
    assert hadoop.placement is Placement.CLUSTER and hadoop.system == MAPREDUCE_SYSTEM
    spark = recorded_role("spark", "rdd", "", None)
    assert spark.placement is Placement.SINGLE and not spark.baseline
    assert spark.system == RDD_SYSTEM
    assert recorded_role("spark", "rdd", "on YARN", None).placement is Placement.CLUSTER
    assert recorded_role("gone", "x", "", None) == Role(Placement.SINGLE, cores=None)
    assert recorded_role("numpy", "default", "", CLUSTER).placement is Placement.CLUSTER


def test_every_engine_declares_a_role_for_every_variant() -> None:
    for cls in ENGINES.values():
        for variant in cls.variants:
            role = cls().role(variant)
            assert isinstance(role.placement, Placement)
            assert Role.from_json(role.to_json()) == role


def test_the_report_names_the_baseline_and_takes_a_chosen_one(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path / "res", "roles")
    writer.ensure_writable()
    writer.write_env({"batch_id": "roles"})
    for record in [_rec("numpy", 2.0, ONE), _rec("fastone", 1.0, ONE)]:
        writer.append(record)
    html = build_report([tmp_path / "res"], tmp_path / "out").read_text()
    assert 'title="against fastone/default">0.50X' in html
    chosen = build_report([tmp_path / "res"], tmp_path / "out2", baseline="numpy/default")
    assert 'title="against numpy/default">2.00X' in chosen.read_text()
