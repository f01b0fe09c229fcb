"""The report's Recovery section: what losing a worker node cost each cell under a fault plan.

Records of a batch run with ``--inject`` come in two roles (``RunRecord.fault``): controls,
the cell as usual, measured in processes alternating with the fault runs, in which a worker
node of the cluster was killed during the measured call. Controls are ordinary runs and stay
in every table; fault runs appear only here (``reports.data.Results.fault_records``). Per cell
and plan this gives the control and fault wall medians, the slowdown in seconds and percent,
per-iteration medians with the iteration that lost the worker, and the engine's own account
of the loss (as the engines record it in ``metrics.recovery``), fault runs minus controls.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from harness.engines import Placement
from harness.results import RunRecord
from reports.data import cell_key, display_label, record_role
from reports.stats import fmt_seconds

#: The recovery figures the table shows first when an engine records them, fault minus
#: control (others follow in their recorded order). Launched attempts lead the task counts:
#: they show the re-runs, where killed counts also move with speculation and with when the
#: ApplicationMaster gets to count a kill.
FIRST_FIGURES = (
    "executors_lost",
    "failed_tasks",
    "stage_retries",
    "launched_maps",
    "killed_maps",
    "failed_maps",
)


@dataclass
class RecoveryRow:
    """One cell under one fault plan: its controls against its fault runs."""

    workload: str
    label: str
    scale: str
    params: dict[str, Any]
    plan: str
    #: The system the cell declares itself (``Role.system``) and whether it ran on a cluster.
    system: str | None
    on_cluster: bool
    #: Worker nodes of the role the fault killed, before the kill (the lost share is 1 of them).
    workers: int | None
    role_name: str
    control_walls: list[float]
    fault_walls: list[float]
    #: Fault runs that failed (the engine could not recover), with their errors.
    failures: list[str] = field(default_factory=list)
    #: Fault runs whose fault did happen and whose check passed, of all fault values.
    passed: int = 0
    faults: int = 0
    control_iterations: list[float] = field(default_factory=list)
    fault_iterations: list[float] = field(default_factory=list)
    lost_iteration: int | None = None
    #: After iteration K (``@iteration``) or at T s (``@seconds``), for the chart's marker.
    marker: str = ""
    #: The engine's own account: figure -> median of fault runs minus median of controls.
    account: dict[str, float] = field(default_factory=dict)
    loss_reason: str | None = None
    detection: dict[str, str] = field(default_factory=dict)

    @property
    def control_s(self) -> float | None:
        """Median wall of the controls."""
        return statistics.median(self.control_walls) if self.control_walls else None

    @property
    def fault_s(self) -> float | None:
        """Median wall of the fault runs that recovered."""
        return statistics.median(self.fault_walls) if self.fault_walls else None

    @property
    def slowdown_s(self) -> float | None:
        """Fault median minus control median."""
        if self.control_s is None or self.fault_s is None:
            return None
        return self.fault_s - self.control_s

    @property
    def slowdown_pct(self) -> float | None:
        """The slowdown over the control median, in percent."""
        if self.slowdown_s is None or not self.control_s:
            return None
        return 100.0 * self.slowdown_s / self.control_s

    @property
    def lost_share(self) -> str:
        """``1 of 2 <role>s``: the share of the workers lost."""
        if not self.workers:
            return f"1 {self.role_name}"
        plural = "s" if self.workers != 1 else ""
        return f"1 of {self.workers} {self.role_name}{plural}"

    @property
    def iterations_param(self) -> int | None:
        """The run's ``iterations`` parameter (None: the workload has none)."""
        value = self.params.get("iterations")
        return int(value) if isinstance(value, int | float) else None

    def params_text(self) -> str:
        """The parameters as the tables show them."""
        return ", ".join(f"{k}={v}" for k, v in self.params.items()) or "-"

    def account_text(self) -> str:
        """The engine's account, fault runs minus controls, most telling figures first."""
        keys = [k for k in FIRST_FIGURES if k in self.account]
        # Other figures only where they moved (a count of stages or executors at the start
        # says nothing of the loss when it is the controls').
        keys += [k for k, v in self.account.items() if k not in keys and v != 0]
        parts = [f"{k.replace('_', ' ')} {_signed(self.account[k])}" for k in keys]
        return "; ".join(parts) or "-"


def _signed(value: float) -> str:
    text = f"{value:+g}" if float(value).is_integer() else f"{value:+.1f}"
    return text


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _group_key(record: RunRecord) -> tuple[Any, ...]:
    return (*cell_key(record), (record.fault or {}).get("plan"))


def recovery_rows(
    records: list[RunRecord],
    faults: list[RunRecord],
    environments: dict[str, dict[str, Any]] | None = None,
) -> list[RecoveryRow]:
    """A row per cell and plan that has fault runs (``faults``); its controls from
    ``records`` (those with ``fault.role == "control"`` of the same cell and plan)."""
    controls: dict[tuple[Any, ...], list[RunRecord]] = {}
    for record in records:
        fault = record.fault or {}
        if fault.get("role") == "control" and not record.is_warmup and record.status == "ok":
            controls.setdefault(_group_key(record), []).append(record)
    groups: dict[tuple[Any, ...], list[RunRecord]] = {}
    for record in faults:
        if not record.is_warmup and (record.fault or {}).get("armed", True):
            groups.setdefault(_group_key(record), []).append(record)
    rows = [_row(runs, controls.get(key, []), environments or {}) for key, runs in groups.items()]
    return sorted(rows, key=lambda r: (r.workload, r.plan, r.label))


def _row(
    runs: list[RunRecord], controls: list[RunRecord], environments: dict[str, dict[str, Any]]
) -> RecoveryRow:
    first = runs[0]
    role = record_role(first)
    recovered = [r for r in runs if r.status == "ok" and r.wall_s is not None]
    targets = [(r.fault or {}).get("target") or {} for r in runs]
    live = [int(f["live_before"]) for r in runs if (f := r.fault or {}).get("live_before")]
    role_name = _role_name(targets, role.system)
    row = RecoveryRow(
        workload=first.workload,
        label=display_label(first.cell, first.where),
        scale=first.scale,
        params=dict(first.params),
        plan=str((first.fault or {}).get("plan")),
        system=role.system,
        on_cluster=role.placement is Placement.CLUSTER,
        workers=max(live) if live else None,
        role_name=role_name,
        control_walls=[r.wall_s for r in controls if r.wall_s is not None],
        fault_walls=[r.wall_s for r in recovered if r.wall_s is not None],
        failures=[r.error or r.status for r in runs if r.status != "ok"],
        passed=sum(1 for r in recovered if r.check == "pass"),
        faults=len(runs),
    )
    row.control_iterations = _iteration_medians(controls)
    row.fault_iterations = _iteration_medians(recovered)
    lost: list[int] = [
        int(k) for r in recovered if (k := (r.metrics.get("slowdown") or {}).get("lost_iteration"))
    ]
    at = (first.fault or {}).get("at") or {}
    if at.get("iteration") is not None:
        row.lost_iteration = int(at["iteration"]) + 1
        row.marker = f"worker killed after iteration {at['iteration']}"
    elif lost:
        row.lost_iteration = int(statistics.median(lost))
        row.marker = f"worker killed {at.get('seconds')} s in"
    row.account = _account(recovered, controls)
    reasons = [
        str(v)
        for r in recovered
        for v in ((r.metrics.get("recovery") or {}).get("loss_reasons") or {}).values()
    ]
    row.loss_reason = reasons[0] if reasons else None
    row.detection = _detection(first, environments)
    return row


def _role_name(targets: list[dict[str, Any]], system: str | None) -> str:
    """How people call the killed node's role (as the cluster code names it)."""
    from harness.clusters.watch import ROLE_NAMES

    roles = [str(t["role"]) for t in targets if t.get("role")]
    return ROLE_NAMES.get(roles[0], roles[0]) if roles else "worker"


def _iteration_medians(runs: list[RunRecord]) -> list[float]:
    series: list[list[float]] = [
        list(r.metrics["iteration_s"]) for r in runs if r.metrics.get("iteration_s")
    ]
    if not series:
        return []
    n = min(len(s) for s in series)
    return [statistics.median(s[i] for s in series) for i in range(n)]


def _account(recovered: list[RunRecord], controls: list[RunRecord]) -> dict[str, float]:
    """Each number of the engines' ``recovery`` account: median of the fault runs minus
    median of the controls."""
    keys: dict[str, None] = {}
    for r in recovered:
        for key, value in (r.metrics.get("recovery") or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                keys[key] = None
    out: dict[str, float] = {}
    for key in keys:
        fault = _median(_figures(recovered, key))
        if fault is not None:
            out[key] = fault - (_median(_figures(controls, key)) or 0.0)
    return out


def _figures(runs: list[RunRecord], key: str) -> list[float]:
    found = []
    for run in runs:
        value = (run.metrics.get("recovery") or {}).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found.append(float(value))
    return found


def _detection(record: RunRecord, environments: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The loss-detection settings of the cluster the record's batch ran on (its environment
    file), for the part whose worker the fault killed."""
    env = environments.get(record.batch_id) or {}
    cluster = env.get("cluster") or {}
    found: dict[str, str] = {}
    for part in cluster.values():
        if isinstance(part, dict) and isinstance(part.get("detection"), dict):
            found.update({str(k): str(v) for k, v in part["detection"].items()})
    return found


def detection_text(rows: list[RecoveryRow]) -> str:
    """The settings that decided how fast a lost node was noticed, as recorded."""
    merged: dict[str, str] = {}
    for row in rows:
        merged.update(row.detection)
    return ", ".join(f"{k}={v}" for k, v in sorted(merged.items())) or "not recorded"


def table(rows: list[RecoveryRow]) -> tuple[list[str], list[list[str]]]:
    """The Recovery table: header and rows, as text."""
    header = [
        "cell",
        "scale",
        "params",
        "plan",
        "lost",
        "runs (control / fault)",
        "control wall",
        "fault wall",
        "slowdown",
        "lost iteration: control → fault",
        "later iterations Δ",
        "engine's account (fault - control)",
        "checks",
    ]
    body = []
    for r in rows:
        runs = f"{len(r.control_walls)} / {len(r.fault_walls)}"
        if r.failures:
            runs += f" ({len(r.failures)} failed: {r.failures[0][:160]})"
        slow = "-"
        if r.slowdown_s is not None:
            pct = f" ({r.slowdown_pct:+.0f}%)" if r.slowdown_pct is not None else ""
            slow = f"{r.slowdown_s:+.2f} s{pct}"
        lost, later = "-", "-"
        k = r.lost_iteration
        if k is not None and k <= min(len(r.control_iterations), len(r.fault_iterations)):
            lost = (
                f"#{k}: {fmt_seconds(r.control_iterations[k - 1])} → "
                f"{fmt_seconds(r.fault_iterations[k - 1])}"
            )
            deltas = [
                f - c
                for c, f in zip(r.control_iterations[k:], r.fault_iterations[k:], strict=False)
            ]
            if deltas:
                later = f"{sum(deltas):+.2f} s over {len(deltas)}"
        body.append(
            [
                r.label,
                r.scale,
                r.params_text(),
                r.plan,
                r.lost_share,
                runs,
                fmt_seconds(r.control_s),
                fmt_seconds(r.fault_s),
                slow,
                lost,
                later,
                r.account_text(),
                f"{r.passed}/{r.faults} pass",
            ]
        )
    return header, body


def rows_json(rows: list[RecoveryRow]) -> str:
    """The rows as JSON (for ``recovery.json`` beside the report)."""
    out = [
        {
            "workload": r.workload,
            "cell": r.label,
            "scale": r.scale,
            "params": r.params,
            "plan": r.plan,
            "lost": r.lost_share,
            "control_wall_s": r.control_walls,
            "fault_wall_s": r.fault_walls,
            "slowdown_s": r.slowdown_s,
            "slowdown_pct": r.slowdown_pct,
            "control_iteration_s": r.control_iterations,
            "fault_iteration_s": r.fault_iterations,
            "lost_iteration": r.lost_iteration,
            "account": r.account,
            "failures": r.failures,
            "detection": r.detection,
        }
        for r in rows
    ]
    return json.dumps(out, indent=1)
