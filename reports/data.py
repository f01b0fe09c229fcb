"""Loading results for reports and comparisons: records, environments, one tidy DataFrame.

A path may be a results JSONL file or a folder of them; each batch's ``.env.json`` is read
when present. Errors are ``UserError``: one clear line from the CLI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cells import Cell
from harness.engines import Role, recorded_role
from harness.errors import UserError
from harness.results import RunRecord, load_records

if TYPE_CHECKING:
    import pandas as pd

#: Fields that identify one cell across batches (repeats of a cell share them).
CELL_FIELDS = ("workload", "engine", "variant", "rules", "scale", "factor", "params")


@dataclass
class Results:
    """Records from one or more results files, with their batches' environments."""

    records: list[RunRecord] = field(default_factory=list)
    #: Runs in which a fault plan killed a worker (``--inject``): kept apart from every table,
    #: claim and comparison but the Recovery section's (their controls are ordinary runs).
    fault_records: list[RunRecord] = field(default_factory=list)
    #: batch_id -> environment dict (from ``<batch>.env.json``)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def _expand(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.jsonl"))
            if not found:
                raise UserError(f"no results files (*.jsonl) in folder {path}")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise UserError(f"results file not found: {path}")
    return files


def load_results(paths: list[Path]) -> Results:
    """Load every record and environment from ``paths`` (files or folders)."""
    results = Results()
    for path in _expand(paths):
        results.files.append(path)
        for record in load_records(path):
            fault = is_fault_run(record)
            (results.fault_records if fault else results.records).append(record)
        env_path = path.with_name(path.name.removesuffix(".jsonl") + ".env.json")
        if env_path.is_file():
            try:
                env = json.loads(env_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UserError(f"cannot read environment file {env_path}: {exc}") from exc
            if not isinstance(env, dict):
                raise UserError(f"environment file {env_path} is not a JSON object")
            results.environments[str(env.get("batch_id") or path.stem)] = env
    if not results.records and not results.fault_records:
        raise UserError("no records in " + ", ".join(str(p) for p in paths))
    return results


def is_fault_run(record: RunRecord) -> bool:
    """Whether a fault plan acted on the run (not its control): never pooled with others."""
    return (record.fault or {}).get("role") == "fault"


def cell_key(record: RunRecord) -> tuple[Cell, str, float, str, str]:
    """Identity of a record's cell at its data point and place: (cell, scale, factor, params
    as JSON, where it ran). A cell on a cluster is never mixed with the same cell run locally."""
    params = json.dumps(record.params, sort_keys=True, default=str)
    return (Cell.of(record), record.scale, record.factor, params, record.where)


def record_rows(record: RunRecord) -> int | None:
    """A record's data size in its workload's unit: ``rows``, or for older records the
    registered workload's ``scale_sizes[scale] x factor`` (None: unknown, e.g. a user's input
    or a workload not registered in this version)."""
    if record.rows is not None:
        return int(record.rows)
    from harness import registry

    try:
        workload = registry.get_workload(record.workload)
    except UserError:
        return None
    if record.scale not in workload.scale_sizes:
        return None
    # As harness.datasets.scale_size rounds it, so old and new records of a size agree.
    return max(1, round(workload.scale_sizes[record.scale] * record.factor))


def record_role(record: RunRecord) -> Role:
    """What the record's engine variant is: the role it recorded, or for an older record,
    what its engine makes of its ``where``."""
    return recorded_role(record.engine, record.variant, record.where, record.role)


def display_label(cell: Cell, where: str = "") -> str:
    """A cell's label with where it ran, e.g. ``<engine>/<variant>+rules on YARN``."""
    return f"{cell.label} {where}" if where else cell.label


def records_frame(records: list[RunRecord]) -> pd.DataFrame:
    """One row per run; metrics flattened into ``m_<name>`` columns; ``label`` for display."""
    import pandas as pd

    rows = []
    for record in records:
        row = record.to_json()
        metrics = row.pop("metrics") or {}
        row.pop("engine_info", None)
        row.pop("role", None)
        row["placement"] = str(record_role(record).placement)
        row["params"] = json.dumps(row["params"], sort_keys=True, default=str)
        row["input_bytes"] = (row.pop("input") or {}).get("bytes")
        row["label"] = display_label(Cell.of(record), record.where)
        fault = row.pop("fault", None) or {}
        row["fault_role"] = fault.get("role")
        row["fault_plan"] = fault.get("plan")
        for key, value in metrics.items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                row[f"m_{key}"] = value
        rows.append(row)
    return pd.DataFrame(rows)
