"""``bdbench report``: results -> self-contained HTML, Markdown summary and CSV.

Reads records only (never runs an engine). Everything taken from results files is escaped by
Jinja2's autoescaping; figures are embedded as PNG data URIs, so the page needs no network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import metrics
from harness.engines import Placement, Role
from harness.errors import UserError
from harness.results import now_iso
from harness.stopping import Policy
from reports.busy import busy_warnings
from reports.claims import ClaimReport, LadderRow, Verdict, check_claims
from reports.columns import COLUMNS
from reports.data import load_results, records_frame
from reports.figures import Chart, recovery_chart, scaling_chart, workload_charts
from reports.iterations import (
    IterationRatio,
    IterationRow,
    fmt_times,
    iteration_ratios,
    iteration_rows,
)
from reports.markdown import md_code, md_text
from reports.published import (
    MAPREDUCE_SYSTEM,
    PAPER_BYTES_PER_CORE,
    PAPER_INPUT,
    PAPER_ITERATIONS,
    PAPER_SIDES,
    RDD_SYSTEM,
)
from reports.recovery import RecoveryRow, detection_text, recovery_rows
from reports.recovery import rows_json as recovery_json
from reports.recovery import table as recovery_table
from reports.scaling import (
    SCALING_INTRO,
    WorkloadScaling,
    scaling_json_text,
    scaling_markdown,
    scaling_workloads,
)
from reports.stats import (
    PACED_NOTE,
    CellSummary,
    fmt_bytes,
    fmt_metric,
    fmt_rate,
    fmt_relative,
    fmt_seconds,
    runs_label,
    summarize,
)
from reports.streaming import PERCENTILES, StreamingRow, streaming_rows
from reports.udf import (
    UdfSpeedup,
    fmt_calls,
    fmt_ratio,
    params_label,
    udf_speedups,
    workload_defaults,
)

#: Said before each cell whose answers were judged by quality.
QUALITY_NOTE = (
    "Checked by quality, not value by value (a different algorithm from the reference's):"
)

#: Said before the claims (the same in HTML and Markdown).
CLAIMS_INTRO = (
    "Each claim with its source, the ratio measured in these results and a verdict: holds, "
    "does not hold here, or not measured (with why). Only measured runs count (no warm-ups, "
    "status ok, answer not failed); medians over the runs. Rows on a one-machine stand-in are "
    "shown apart from those on a cluster."
)
#: Heads the rows shown apart.
CLAIMS_APART = "not a cluster (a cluster engine in local mode, or a simulation on one machine)"


@dataclass
class WorkloadSection:
    """What the report shows for one workload."""

    name: str
    description: str
    summaries: list[CellSummary]
    charts: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Cells whose answers were judged by quality (a different algorithm): "label: detail".
    quality_notes: list[str] = field(default_factory=list)
    #: Achieved vs ideal speedups of our optimizer (UDF workloads only).
    udf_rows: list[UdfSpeedup] = field(default_factory=list)
    #: Cold vs warm iteration times (iterative workloads only) and the headline ratios.
    iteration_rows: list[IterationRow] = field(default_factory=list)
    iteration_ratios: list[IterationRatio] = field(default_factory=list)
    #: Latency per window update and micro-batches (streaming workloads only).
    streaming_rows: list[StreamingRow] = field(default_factory=list)
    #: Parameter points of the section's cells (shown when there is more than one).
    params: dict[str, str] = field(default_factory=dict)
    #: How each engine/variant implements the workload (from the batches' env files).
    how: dict[str, str] = field(default_factory=dict)


def _description(name: str) -> str:
    from harness import registry

    try:
        return registry.workloads_by_name()[name].description
    except (KeyError, UserError):
        return "(workload not registered in this version of bdbench)"


def _how(
    workload: str, summaries: list[CellSummary], environments: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """``engine/variant`` -> how it is implemented, and what its time consists of where its
    implementation says (e.g. the engine's own first-query cost), as the batches recorded it."""
    known: dict[str, str] = {}
    notes: dict[str, str] = {}
    for env in environments.values():
        known.update(env.get("implementations") or {})
        notes.update(env.get("implementation_notes") or {})
    out: dict[str, str] = {}
    for s in summaries:
        key = f"{s.engine}/{s.variant}"
        text = known.get(f"{workload} {key}")
        note = notes.get(f"{workload} {key}")
        if text and note:
            text = f"{text} Its time: {note}"
        if text:
            out.setdefault(key, text)
    return out


def _sections(
    records: list[Any], environments: dict[str, dict[str, Any]], baseline: str | None = None
) -> list[WorkloadSection]:
    frame = records_frame(records)
    frame["scale_label"] = [
        s if f == 1 else f"{s} x{f:g}" for s, f in zip(frame["scale"], frame["factor"], strict=True)
    ]
    summaries = summarize(records, environments, baseline)
    simulated = {s.label for s in summaries if s.role.placement is Placement.SIMULATED}
    # Figure labels carry the simulation caveat too, not only the tables.
    frame["label"] = [
        f"{x} (simulated)" if x in simulated and "(simulated)" not in x else x
        for x in frame["label"]
    ]
    sections = []
    speedups = udf_speedups(records)
    iterations = iteration_rows(records)
    streaming = streaming_rows(records)
    for name in dict.fromkeys(r.workload for r in records):
        mine = [s for s in summaries if s.workload == name]
        notes = list(dict.fromkeys(s.note for s in mine if s.note))
        notes += [f"{s.label}: {s.stop_failures}" for s in mine if s.stop_failures]
        if any(s.paced for s in mine):
            notes.append(PACED_NOTE)
        section = WorkloadSection(name, _description(name), mine, notes=notes)
        judged: dict[str, list[str]] = {}
        for s in mine:
            if s.quality_check and s.label not in judged.setdefault(s.quality_check, []):
                judged[s.quality_check].append(s.label)
        section.quality_notes = [f"{', '.join(labels)}: {d}" for d, labels in judged.items()]
        section.udf_rows = [u for u in speedups if u.workload == name]
        section.iteration_rows = [r for r in iterations if r.workload == name]
        section.iteration_ratios = iteration_ratios(section.iteration_rows)
        section.streaming_rows = [r for r in streaming if r.workload == name]
        points = {s.params for s in mine}
        if len(points) > 1:
            defaults = workload_defaults(name)
            section.params = {p: params_label(json.loads(p), defaults) for p in points}
        section.how = _how(name, mine, environments)
        section.charts = workload_charts(frame[frame["workload"] == name], mine, name)
        sections.append(section)
    return sections


def _environment_rows(environments: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    rows = []
    for batch_id, env in environments.items():
        versions = env.get("versions") or {}
        git = env.get("git") or {}
        commit = git.get("commit") or "unknown"
        if git.get("dirty"):
            commit += " (uncommitted changes)"
        memory = env.get("memory_bytes")
        rows.append(
            {
                "batch": batch_id,
                "date": str(env.get("captured_at", "")),
                "command": str(env.get("command", "")),
                "machine": f"{env.get('cpu_model', '?')}, {env.get('cpu_count_logical', '?')} "
                f"cores, {fmt_bytes(memory) if isinstance(memory, (int, float)) else '?'}",
                "os": str(env.get("os", "")),
                "python": str(env.get("python", "")),
                "java": str(env.get("java") or "none"),
                "versions": ", ".join(f"{k} {v}" for k, v in versions.items() if v),
                "commit": commit,
                "measured": measured_how(env),
                "placement": ran_where(env),
            }
        )
    return rows


def ran_where(env: dict[str, Any]) -> str:
    """What each engine variant of the batch is, as its engine declared it: ``a/b: single
    machine, 2 cores, baseline; c/d: cluster, 2 nodes, 4 cores`` ("" in older env files)."""
    parts = []
    for engine, facts in (env.get("engines") or {}).items():
        for variant, role in ((facts or {}).get("roles") or {}).items():
            parts.append(f"{engine}/{variant}: {Role.from_json(role).describe()}")
    return "; ".join(parts)


def measured_how(env: dict[str, Any]) -> str:
    """The batch's stopping rule and the cells measured otherwise, in words."""
    parts = []
    try:
        parts.append(Policy.from_json(env["policy"]).describe())
    except (KeyError, TypeError):
        parts.append("stopping rule not recorded")
    cold = env.get("no_warmup") or {}
    if isinstance(cold, dict) and cold:
        reasons = sorted(set(map(str, cold.values())))
        parts.append(f"no warm-up for {', '.join(sorted(cold))} ({'; '.join(reasons)})")
    if env.get("share_engines"):
        parts.append(
            "engines shared between cells (--share-engines: a started engine serves the next "
            "cells with the same settings, each with fresh state; a first call may find it warm)"
        )
    return "; ".join(parts)


def _template_env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,  # results files are untrusted input
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        seconds=fmt_seconds,
        bytes=fmt_bytes,
        rate=fmt_rate,
        relative=fmt_relative,
        ratio=fmt_ratio,
        times=fmt_times,
    )
    env.globals.update(calls=fmt_calls, runs_label=runs_label)
    return env


_md = md_text


def _iteration_markdown(section: WorkloadSection) -> list[str]:
    if not section.iteration_rows:
        return []
    lines = [
        "",
        f"### {_md(section.name)}: cold vs warm iterations (medians over runs)",
        "",
        "| engine/variant | scale | params | runs | iterations | first | later (median) | "
        "cold / warm | later x baseline |",
        "|" + "---|" * 9,
    ]
    for r in section.iteration_rows:
        cells = (
            r.label,
            r.scale,
            r.params,
            str(r.runs),
            str(r.iterations),
            fmt_metric(metrics.FIRST_ITERATION, r.first_s),
            fmt_metric(metrics.LATER_ITERATIONS, r.later_s),
            fmt_times(r.cold_warm),
            fmt_times(r.vs_baseline),
        )
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    if section.iteration_ratios:
        lines.append("")
    for q in section.iteration_ratios:
        lines.append(f"- {_md(q.what)} ({_md(q.scale)}, {_md(q.params)}): {fmt_times(q.ratio)}")
    return lines


def _streaming_markdown(section: WorkloadSection) -> list[str]:
    if not section.streaming_rows:
        return []
    lines = [
        "",
        f"### {_md(section.name)}: latency per window update (medians of per-run figures)",
        "",
        "| engine/variant | scale | runs | offered rate | micro-batches | batch median | "
        + " | ".join(f"latency {p}" for p in PERCENTILES)
        + " | window updates |",
        "|" + "---|" * (7 + len(PERCENTILES)),
    ]
    for r in section.streaming_rows:
        cells = (
            r.label,
            r.scale,
            str(r.runs),
            fmt_rate(r.offered_rate, "events") if r.offered_rate else "at once",
            "-" if r.batches is None else str(r.batches),
            fmt_metric(metrics.BATCH_MEDIAN, r.batch_median_s),
            *(fmt_metric(metrics.LATENCY, r.latency[p]) for p in PERCENTILES),
            "-" if r.window_updates is None else f"{r.window_updates:,}",
        )
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return lines


def _claim_table(verdicts: list[Verdict]) -> list[str]:
    header = ("check", "workload", "scale", "params", "compared", "ratio", "verdict", "on", "why")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for v in verdicts:
        cells = (
            v.check,
            v.workload,
            v.scale,
            v.params,
            " / ".join(v.cells) or "-",
            fmt_times(v.ratio),
            v.verdict,
            v.basis or "-",
            v.why,
        )
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return lines


def _claims_markdown(claims: list[ClaimReport]) -> list[str]:
    lines = ["", "## Published claims, re-checked", "", CLAIMS_INTRO]
    for c in claims:
        lines += [
            "",
            f"### {_md(c.claim.statement)}",
            "",
            f"Source: {_md(c.claim.source)}. The paper: {_md(c.claim.paper)}.",
            "",
            f"Measured here: {_md(c.claim.measured)}.",
            "",
            *(f"- {_md(rule)}" for rule in c.claim.rules),
            "",
            *_claim_table(c.main),
        ]
        if c.apart:
            lines += ["", f"Shown apart, {CLAIMS_APART}:", "", *_claim_table(c.apart)]
        if c.ladder:
            lines += ["", "At each size of the ladder, next to the paper:", ""]
            lines += _ladder_table(c.ladder)
        if c.notes:
            lines += ["", *(f"- {_md(note)}" for note in c.notes)]
    return lines


def _ladder_table(ladder: list[LadderRow]) -> list[str]:
    header = (
        "params", "scale", "points", "input", "per core", MAPREDUCE_SYSTEM, "iteration", RDD_SYSTEM,
        "first", "later", "ratio",
    )  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in ladder:
        cells = (
            r.params,
            r.scale,
            f"{r.rows:,}" if r.rows else "-",
            fmt_bytes(r.input_bytes),
            fmt_bytes(r.per_core_bytes),
            r.mapreduce,
            fmt_seconds(r.mapreduce_s),
            r.rdd,
            fmt_seconds(r.first_s),
            fmt_seconds(r.later_s),
            fmt_times(r.ratio),
        )
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    mapreduce, first, later = PAPER_ITERATIONS
    paper = (
        "the paper", "-", "-", PAPER_INPUT, fmt_bytes(PAPER_BYTES_PER_CORE), PAPER_SIDES[0],
        f"{mapreduce:g} s", PAPER_SIDES[1], f"{first:g} s", f"{later:g} s",
        fmt_times(mapreduce / later),
    )  # fmt: skip
    lines.append("| " + " | ".join(paper) + " |")
    return lines


def markdown_summary(
    sections: list[WorkloadSection],
    env_rows: list[dict[str, str]],
    claims: list[ClaimReport] | None = None,
    warnings: list[str] | None = None,
    scaling: list[WorkloadScaling] | None = None,
    recovery: list[RecoveryRow] | None = None,
) -> str:
    """The Markdown summary (CI job summaries): one table per workload, the scaling over
    sizes, what lost workers cost, then the claims."""
    lines = ["# bdbench summary", ""]
    for row in env_rows:
        lines.append(
            f"- batch {md_code(row['batch'])} at {_md(row['date'])}, commit "
            f"{md_code(row['commit'])}: {_md(row['machine'])}; {md_code(row['command'])}"
        )
        if row["placement"]:
            lines.append(f"  - ran where: {_md(row['placement'])}")
    for warning in warnings or []:
        lines += ["", f"> **Warning: busy machine.** {_md(warning)}."]
    for section in sections:
        lines += [
            "",
            f"## {_md(section.name)}",
            "",
            "| " + " | ".join(c.header for c in COLUMNS) + " |",
            "|" + "---|" * len(COLUMNS),
        ]
        for s in section.summaries:
            cells = [c.text(s) for c in COLUMNS]
            if section.params:
                cells[0] += f" [{section.params[s.params]}]"
            lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
        if section.how:
            lines += ["", "How each cell is implemented:", ""]
            lines += [f"- {_md(key)}: {_md(text)}" for key, text in section.how.items()]
        for note in section.notes:
            lines += ["", f"Note: {_md(note)}."]
        for note in section.quality_notes:
            lines += ["", f"{QUALITY_NOTE} {_md(note)}"]
        lines += _iteration_markdown(section)
        lines += _streaming_markdown(section)
        if section.udf_rows:
            lines += [
                "",
                f"### {_md(section.name)}: our optimizer, achieved vs ideal speedup",
                "",
                "| engine/variant | scale | params | mode | wall off | wall mode | achieved | "
                "ideal | achieved/ideal | UDF calls off → mode | nodes (bottom-up) | "
                "calls = rows reaching the node |",
                "|" + "---|" * 12,
            ]
            for u in section.udf_rows:
                udf_cells = (
                    u.label,
                    u.scale,
                    u.params,
                    u.mode,
                    fmt_seconds(u.wall_off),
                    fmt_seconds(u.wall_mode),
                    fmt_ratio(u.achieved),
                    fmt_ratio(u.ideal),
                    "-" if u.efficiency is None else f"{u.efficiency:.2f}",
                    fmt_calls(u.calls_off, u.calls_mode),
                    u.nodes or "-",
                    {True: "yes", False: "NO", None: "-"}[u.survivors_exact],
                )
                lines.append("| " + " | ".join(_md(c) for c in udf_cells) + " |")
    lines += scaling_markdown(scaling or [])
    lines += _recovery_markdown(recovery or [])
    lines += _claims_markdown(claims or [])
    return "\n".join(lines) + "\n"


#: The Recovery section's introduction.
RECOVERY_INTRO = (
    "What losing a worker node cost each cell run under a fault plan (bdbench run --inject): "
    "control and fault processes alternated in one batch, one value each after their warm-ups; "
    "in each fault run bdbench killed one worker node of the cell's cluster (its daemon and "
    "everything working for it: executors, task containers) from outside the measured "
    "process tree, and brought it back (untimed) before the next process. Fault runs appear "
    "only here; their controls are ordinary runs of the cell. Slowdown: the fault runs' "
    "median wall minus the controls' median. The engine's account is its own record of the "
    "loss, fault runs minus controls. On one host a killed process's connections close at "
    "once, so the engines notice a kill without waiting for a heartbeat; a node declared lost "
    "by expiry (YARN) waits for the setting below."
)


def _recovery_view(rows: list[RecoveryRow], charts: list[Any]) -> dict[str, Any] | None:
    """What the template shows of the Recovery section (None: no fault runs)."""
    if not rows:
        return None
    header, body = recovery_table(rows)
    return {
        "intro": RECOVERY_INTRO,
        "detection": detection_text(rows),
        "header": header,
        "rows": body,
        "charts": [c for c in charts if c is not None],
    }


def _recovery_markdown(rows: list[RecoveryRow]) -> list[str]:
    if not rows:
        return []
    header, body = recovery_table(rows)
    lines = ["", "## Recovery: what a lost worker cost", "", _md(RECOVERY_INTRO), ""]
    lines += [f"Loss detection: {_md(detection_text(rows))}.", ""]
    lines += ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in body]
    return lines


def build_report(
    paths: list[Path], out_dir: Path, command: str = "", baseline: str | None = None
) -> Path:
    """Write ``index.html``, ``summary.md``, ``results.csv`` and ``scaling.json`` into
    ``out_dir``; ``baseline`` (a cell label) replaces the fastest single-node cell as the
    Relative column's reference."""
    results = load_results(paths)
    sections = _sections(results.records, results.environments, baseline)
    env_rows = _environment_rows(results.environments)
    recovery = recovery_rows(results.records, results.fault_records, results.environments)
    claims = check_claims(results.records, results.environments, recovery)
    recovery_charts = [recovery_chart(row) for row in recovery]
    warnings = busy_warnings(results.records, results.environments)
    scaling = scaling_workloads(results.records)
    shown = [w for w in scaling if w.fitted]  # a workload with a line: ran at two sizes
    for w in shown:
        w.chart = scaling_chart(w)
    html = (
        _template_env()
        .get_template("report.html.j2")
        .render(
            sections=sections,
            env_rows=env_rows,
            command=command,
            generated_at=now_iso(),
            files=[str(p) for p in results.files],
            n_records=len(results.records),
            columns=COLUMNS,
            quality_note=QUALITY_NOTE,
            percentiles=PERCENTILES,
            claims=claims,
            paper_per_core=PAPER_BYTES_PER_CORE,
            paper=PAPER_ITERATIONS,
            paper_input=PAPER_INPUT,
            paper_sides=PAPER_SIDES,
            systems=(MAPREDUCE_SYSTEM, RDD_SYSTEM),
            claims_intro=CLAIMS_INTRO,
            claims_apart=CLAIMS_APART,
            warnings=warnings,
            scaling=shown,
            scaling_intro=SCALING_INTRO,
            recovery=_recovery_view(recovery, recovery_charts),
        )
    )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        index = out_dir / "index.html"
        index.write_text(html, encoding="utf-8")
        (out_dir / "summary.md").write_text(
            markdown_summary(sections, env_rows, claims, warnings, shown, recovery), "utf-8"
        )
        (out_dir / "scaling.json").write_text(scaling_json_text(scaling), "utf-8")
        if recovery:
            (out_dir / "recovery.json").write_text(recovery_json(recovery), "utf-8")
        every = [*results.records, *results.fault_records]
        records_frame(every).to_csv(out_dir / "results.csv", index=False)
    except OSError as exc:
        raise UserError(f"cannot write report to {out_dir}: {exc.strerror or exc}") from exc
    return index
