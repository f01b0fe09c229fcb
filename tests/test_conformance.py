"""Conformance, generated from the registry: every built-in cell runs through the real runner.

Each registered (workload, engine, variant, rules) cell of the built-in workloads runs once at
tiny scale in a fresh measured process, exactly as ``bdbench run`` runs it, and must pass its
answer check with every figure a record promises. A newly registered cell is tested here
without writing a test; a cell that cannot run on this machine is skipped with its reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import workloads
from harness import metrics, registry, runner
from harness.cells import Cell, matrix
from harness.results import ResultsWriter


def _builtin_cells() -> list[Cell]:
    registry.load_all()
    names = [
        w.name
        for w in registry.workloads_by_name().values()
        if w.make_data.__module__.split(".")[0] == workloads.__name__
    ]
    return list(matrix(names))


CELLS = _builtin_cells()


def test_the_matrix_covers_every_builtin_workload_and_engine() -> None:
    from harness.engines import ENGINES

    assert {c.workload for c in CELLS} >= set(
        m.rsplit(".", 1)[-1] for m in workloads.WORKLOAD_MODULES
    )
    assert {c.engine for c in CELLS} == set(ENGINES)
    assert len({c.key for c in CELLS}) == len(CELLS)


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.name.replace(" ", ":"))
def test_cell_runs_through_the_runner_and_passes_its_check(cell: Cell, tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path, "conformance")
    writer.ensure_writable()
    smoke = registry.get_workload(cell.workload).smoke_params
    config = runner.RunConfig(
        scales=["tiny"],
        repeats=1,
        warmups=0,
        timeout=300,
        params={k: [v] for k, v in smoke.items()},
    )
    (record,) = runner.run_batch([cell], config, writer)
    if record.status == "skipped":
        pytest.skip(f"{cell.name}: {record.error}")
    detail = record.error or record.metrics.get("traceback")
    assert record.status == "ok", f"{cell.name}: {detail}"
    assert record.check == "pass" and record.answer_digest
    assert record.cell == cell
    assert record.wall_s is not None and record.wall_s > 0
    assert record.startup_s is not None and record.cpu_s is not None
    assert record.peak_rss_bytes and record.peak_rss_bytes > 0
    assert record.stop_error is None
    assert record.metrics["items"] > 0 and record.metrics["items_per_s"] > 0
    # Reports and compare read figures through the registry: nothing may go undeclared.
    assert metrics.undeclared(record.metrics) == []


def test_one_batch_with_shared_engines_passes_with_declared_figures(tmp_path: Path) -> None:
    # --share-engines: a started engine serves the next cell with the same settings; every
    # cell still passes, and what sharing adds to the records is declared too.
    writer = ResultsWriter(tmp_path, "conformance-shared")
    writer.ensure_writable()
    cells = [c for c in CELLS if c.workload == "wordcount"]
    config = runner.RunConfig(
        scales=["tiny"], repeats=1, warmups=0, timeout=300, share_engines=True
    )
    records = runner.run_batch(cells, config, writer)
    ran = [r for r in records if r.status != "skipped"]
    assert ran and all(r.status == "ok" and r.check == "pass" for r in ran), [
        (r.cell.name, r.error) for r in ran if r.status != "ok"
    ]
    assert all(metrics.undeclared(r.metrics) == [] for r in records)
    if any(c.engine == "spark" for c in cells):  # the engine that can be shared, when here
        assert any("engine_shared_after" in r.metrics for r in ran)
