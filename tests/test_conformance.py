"""Conformance, generated from the registry: every built-in cell runs through the real runner.

Each registered (workload, engine, variant, rules) cell of the built-in workloads runs once at
tiny scale (the workloads' smoke parameters), as ``bdbench run --share-engines`` runs it: one
batch per engine, a Spark JVM started once per settings and shared by the next cells (the
other engines' cells each get a fresh measured process). Each must pass its answer check with
every figure a record promises. A newly registered cell is tested here
without writing a test; a cell that cannot run on this machine is skipped with its reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import workloads
from harness import metrics, registry, runner
from harness.cells import Cell, matrix
from harness.results import ResultsWriter, RunRecord


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


def _smoke_grid(cells: list[Cell]) -> dict[str, list[Any]]:
    """The workloads' smoke parameters as one grid (each applies to the workloads that
    have it); two workloads may not ask different values of one parameter."""
    grid: dict[str, list[Any]] = {}
    for name in dict.fromkeys(c.workload for c in cells):
        for key, value in registry.get_workload(name).smoke_params.items():
            assert grid.setdefault(key, [value]) == [value], f"smoke {key} differs"
    return grid


_BATCHES: dict[str, dict[tuple[str, ...], RunRecord]] = {}


def _engine_batch(engine: str, root: Path) -> dict[tuple[str, ...], RunRecord]:
    """Every built-in cell of ``engine`` in one batch with ``--share-engines``, once per
    session: an engine that can be shared (a Spark JVM) starts once per settings instead of
    once per cell; the others run each cell in a worker process of its own, as always."""
    if engine not in _BATCHES:
        cells = [c for c in CELLS if c.engine == engine]
        writer = ResultsWriter(root / engine, "conformance")
        writer.ensure_writable()
        config = runner.RunConfig(
            scales=["tiny"],
            repeats=1,
            warmups=0,
            timeout=300,
            params=_smoke_grid(cells),
            share_engines=True,
        )
        records = runner.run_batch(cells, config, writer)
        _BATCHES[engine] = {r.cell.key: r for r in records}
    return _BATCHES[engine]


# The timeout covers the batch of the cell's engine, run by the first of its cells.
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.name.replace(" ", ":"))
def test_cell_runs_through_the_runner_and_passes_its_check(
    cell: Cell, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.getbasetemp() / "conformance"
    record = _engine_batch(cell.engine, root).get(cell.key)
    assert record is not None, f"{cell.name}: no record"
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
    # Reports and compare read figures through the registry: nothing may go undeclared
    # (sharing's own figures included).
    assert metrics.undeclared(record.metrics) == []


def test_a_shared_engine_served_later_cells(tmp_path_factory: pytest.TempPathFactory) -> None:
    # --share-engines: a started JVM serves the next cells with the same settings, and the
    # records say so; without Java the Spark cells are skipped and there is nothing to share.
    root = tmp_path_factory.getbasetemp() / "conformance"
    ran = [r for r in _engine_batch("spark", root).values() if r.status != "skipped"]
    if not ran:
        pytest.skip("no Spark cell ran here")
    assert any("engine_shared_after" in r.metrics for r in ran)
