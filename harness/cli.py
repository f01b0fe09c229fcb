"""The ``bdbench`` command line: list, datagen, run.

Imports no engine: ``bdbench --help`` and ``bdbench list`` stay fast; engines load only inside
the measured child processes.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from harness.errors import UserError
from harness.rules import label as rules_label

PROG = "bdbench"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print one error line and exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def _int_at_least(low: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}: {text!r}")
        return value

    return parse


def _csv_list(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _scales_help() -> str:
    from harness import registry
    from harness.datasets import SCALES

    lines = ["named scales (items per workload; --factor multiplies them):"]
    for workload in registry.workloads_by_name().values():
        sizes = ", ".join(f"{s}={workload.scale_sizes[s]:,}" for s in SCALES)
        lines.append(f"  {workload.name} ({workload.unit}): {sizes}")
    return "\n".join(lines)


def _add_param_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=V1[,V2...]",
        help="set a workload parameter; several values run every combination (a sweep)",
    )


def _add_data_options(parser: argparse.ArgumentParser, many_scales: bool = True) -> None:
    parser.add_argument(
        "-w",
        "--workload",
        action="append",
        metavar="NAME",
        help="workload(s) to use (repeat or comma-separate; default: all)",
    )
    parser.add_argument(
        "-s",
        "--scale",
        action="append",
        metavar="SCALE",
        help="named scale(s): tiny, small, medium, large (repeat or comma-separate; "
        "default: small)",
    )
    parser.add_argument(
        "--factor",
        type=_positive_float,
        default=1.0,
        help="multiply the scale's size by this factor (default 1)",
    )
    parser.add_argument("--seed", type=int, default=42, help="data generator seed (default 42)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data cache folder (default $BDBENCH_DATA_DIR or ./.bdbench/data)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = _Parser(
        prog=PROG,
        description="Run identical big-data workloads on mrjob (Hadoop Streaming), PySpark and "
        "NumPy; check every engine's answer; record wall time, CPU and peak memory.",
    )
    from harness import __version__

    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    scales = _scales_help()
    sub.required = True

    p_list = sub.add_parser("list", help="show the workload x engine x variant matrix")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")

    p_gen = sub.add_parser(
        "datagen",
        help="generate (and cache) input data and reference answers",
        description="Generate seeded input data and its reference answer, cached by "
        "(workload, scale, factor, seed).",
        epilog=scales,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_options(p_gen)

    p_prof = sub.add_parser(
        "profile",
        help="measure and store the UDF profiles (per-row cost, selectivity) runs order by",
        description="Profile each UDF of the selected workloads on a sample of the data (per-row "
        "cost in plain Python, selectivity) and store the result beside the data; later runs "
        "order their filters by these measured annotations. bdbench run does this by itself "
        "the first time; profile measures again.",
        epilog=scales,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_options(p_prof)
    _add_param_option(p_prof)

    p_run = sub.add_parser(
        "run",
        help="measure the selected cells and append results",
        description="Measure every selected workload x engine x variant x scale cell: each run "
        "in a fresh process, warm-ups recorded and flagged, answers checked.",
        epilog=scales,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_options(p_run)
    p_run.add_argument(
        "-e",
        "--engine",
        action="append",
        metavar="ENGINE[/VARIANT]",
        help="engine(s), optionally with a variant: numpy, mrjob/local, spark/df ... "
        "(repeat or comma-separate; default: all)",
    )
    p_run.add_argument(
        "--rules",
        choices=("auto", "off", "on", "both", "paper", "all"),
        default="auto",
        help="our optimizer rules: off, on, both, paper (the paper's reorder-only control) or "
        "all; auto (default) = each workload's own choice (off for word count, all for the "
        "UDF workloads). On numpy and mrjob, rules on = UDF filters in ranked order",
    )
    _add_param_option(p_run)
    p_run.add_argument(
        "--input",
        type=Path,
        metavar="PATH",
        help="run on this file (or, for stream_window, this folder of event files) instead",
    )
    p_run.add_argument(
        "--campaigns",
        type=Path,
        metavar="FILE",
        help="with --input: the ad_id,campaign_id table stream_window joins events to",
    )
    p_run.add_argument(
        "-r",
        "--repeats",
        type=_int_at_least(1),
        default=10,
        help="measured runs per cell (default 10: what bdbench compare needs to catch a 20%% "
        "slowdown on a noisy machine)",
    )
    p_run.add_argument(
        "--warmups",
        type=_int_at_least(0),
        default=1,
        help="recorded, flagged warm-up runs per cell (default 1)",
    )
    p_run.add_argument(
        "--timeout",
        type=_positive_float,
        default=1800.0,
        help="seconds per run before its process tree is killed (default 1800)",
    )
    p_run.add_argument(
        "--results", type=Path, default=Path("results"), help="results folder (default ./results)"
    )
    p_run.add_argument(
        "--keep-answers",
        action="store_true",
        help="write each run's answer as JSON next to the results",
    )
    p_run.add_argument(
        "--sample-interval",
        type=_positive_float,
        default=0.05,
        help="first probe sampling interval in seconds; it then backs off (default 0.05)",
    )
    p_run.add_argument(
        "--probe-budget",
        type=_positive_float,
        default=0.01,
        help="max share of one core the probe may use (default 0.01)",
    )
    p_run.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_run.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write this batch's HTML report, summary.md and CSV to DIR",
    )
    spark = p_run.add_argument_group("spark")
    spark.add_argument(
        "--spark-master",
        default="local[*]",
        help="master URL: local[N], spark://host:port, yarn (default local[*])",
    )
    spark.add_argument("--spark-driver-memory", default="2g", help="default 2g")
    spark.add_argument(
        "--spark-partitions",
        type=_int_at_least(1),
        default=None,
        help="shuffle/default partitions (default: sized to the data)",
    )
    spark.add_argument(
        "--spark-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Spark conf (repeatable)",
    )
    spark.add_argument(
        "--spark-ui",
        action="store_true",
        help="enable the Spark UI (bound to 127.0.0.1 for local masters)",
    )
    mr = p_run.add_argument_group("mrjob")
    mr.add_argument(
        "--mrjob-num-cores",
        type=_int_at_least(1),
        default=None,
        help="local runner parallelism (default: all cores)",
    )
    mr.add_argument(
        "--hadoop-streaming-jar", default=None, help="Hadoop streaming jar for the hadoop runner"
    )
    mr.add_argument(
        "--mrjob-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra mrjob option passed through, e.g. --mrjob-arg=--hadoop-bin=/x (repeatable)",
    )
    p_report = sub.add_parser(
        "report",
        help="build the HTML report, summary.md and results.csv from results",
        description="Read results (files or folders of *.jsonl) and write a self-contained "
        "DIR/index.html, DIR/summary.md and DIR/results.csv. Runs no engine.",
    )
    p_report.add_argument(
        "results",
        nargs="+",
        type=Path,
        metavar="RESULTS",
        help="results .jsonl files or folders holding them",
    )
    p_report.add_argument(
        "--out", type=Path, default=Path("report"), help="output folder (default ./report)"
    )

    p_cmp = sub.add_parser(
        "compare",
        help="compare two sets of results; exit 1 on a significant regression",
        description="Pair cells of BASE and NEW; a cell regresses when NEW's median wall time is "
        "more than --threshold times BASE's and the difference is significant at --alpha. "
        "Exit 0 = no regression, 1 = regression, 2 = usage or input error.",
    )
    p_cmp.add_argument("base", type=Path, help="baseline results (.jsonl file or folder)")
    p_cmp.add_argument("new", type=Path, help="new results (.jsonl file or folder)")
    p_cmp.add_argument(
        "--threshold",
        type=_positive_float,
        default=1.10,
        help="slowdown ratio of medians that counts (default 1.10)",
    )
    p_cmp.add_argument(
        "--alpha",
        type=_positive_float,
        default=0.05,
        help="significance level of the test over repeats (default 0.05)",
    )
    p_cmp.add_argument(
        "--memory-threshold",
        type=_positive_float,
        default=1.20,
        help="peak-RSS ratio of medians that counts as a memory regression (default 1.20)",
    )
    p_cmp.add_argument(
        "--markdown", action="store_true", help="print a Markdown table (for CI job summaries)"
    )
    return parser


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report, summary.md and results.csv."""
    from reports.html import build_report

    index = build_report(args.results, args.out, command=_command_line())
    print(f"report: {index}")
    print(f"summary: {index.with_name('summary.md')}")
    print(f"csv: {index.with_name('results.csv')}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare two result sets; the exit code says whether anything regressed."""
    from reports.compare import run_compare

    if args.alpha >= 1:
        raise UserError(f"--alpha must be below 1, got {args.alpha:g}")
    return run_compare(
        args.base,
        args.new,
        threshold=args.threshold,
        alpha=args.alpha,
        memory_threshold=args.memory_threshold,
        markdown=args.markdown,
    )


def _command_line() -> str:
    """The command as the user typed it (``bdbench ...``)."""
    import shlex

    return shlex.join([PROG, *sys.argv[1:]])


def cmd_list(args: argparse.Namespace) -> int:
    """Print the matrix with what is missing or unavailable and why."""
    from harness.matrix import matrix_rows

    rows = matrix_rows()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="bdbench matrix (workload x engine x variant)")
    for col in ("workload", "engine", "variant", "rules", "status"):
        table.add_column(col, overflow="fold")
    for row in rows:
        rules = rules_label(row["rules"])
        style = {"ready": "green", "missing": "yellow"}.get(row["state"], "red")
        status = row["state"] if not row["reason"] else f"{row['state']}: {row['reason']}"
        table.add_row(
            row["workload"], row["engine"], row["variant"], rules, f"[{style}]{status}[/{style}]"
        )
    Console().print(table)
    for row in rows:
        if row.get("note"):
            print(f"note: {row['engine']}/{row['variant']}: {row['note']}")
            break
    return 0


def cmd_datagen(args: argparse.Namespace) -> int:
    """Generate and cache data and reference answers."""
    from harness import datasets, registry

    names = _csv_list(args.workload) or list(registry.workloads_by_name())
    scales = [datasets.validate_scale(s) for s in (_csv_list(args.scale) or ["small"])]
    for name in names:
        workload = registry.get_workload(name)
        for scale in scales:
            data = datasets.generated(workload, scale, args.factor, args.seed, args.data_dir)
            datasets.reference_answer(workload, data, dict(workload.params))
            print(
                f"{name} {scale} x{args.factor:g} seed={args.seed}: "
                f"{data.input_bytes:,} bytes in {data.root}"
            )
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    """Measure (again) and store the UDF profiles of the selected workloads; print them."""
    from harness import datasets, registry
    from harness.runner import param_points

    names = _csv_list(args.workload) or [
        n for n, w in registry.workloads_by_name().items() if w.prepare is not None
    ]
    for name in names:
        if registry.get_workload(name).prepare is None:
            raise UserError(f"workload {name!r} has no UDF profile to measure")
    scales = [datasets.validate_scale(s) for s in (_csv_list(args.scale) or ["small"])]
    grid = _param_grid(args.param, [_Named(n) for n in names])
    for name in names:
        workload = registry.get_workload(name)
        for scale in scales:
            data = datasets.generated(workload, scale, args.factor, args.seed, args.data_dir)
            for params in param_points(workload, grid):
                profile = datasets.prepared(workload, data, params, refresh=True)
                for udf, figures in profile.get("udfs", {}).items():
                    print(
                        f"{name} {scale} {udf}: {figures['cost'] * 1e6:.2f} us per row, "
                        f"selectivity {figures['selectivity']:.3f} "
                        f"({profile.get('sample_rows')} rows)"
                    )
    return 0


class _Named:
    """A stand-in cell for ``_param_grid`` (only its ``workload`` is read)."""

    def __init__(self, workload: str) -> None:
        self.workload = workload


def _options(args: argparse.Namespace) -> Any:
    from harness.engines import EngineOptions

    conf = {}
    for item in args.spark_conf:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--spark-conf needs KEY=VALUE, got {item!r}")
        conf[key.strip()] = value
    return EngineOptions(
        spark_master=args.spark_master,
        spark_driver_memory=args.spark_driver_memory,
        spark_partitions=args.spark_partitions,
        spark_conf=conf,
        spark_ui=args.spark_ui,
        mrjob_num_cores=args.mrjob_num_cores,
        hadoop_streaming_jar=args.hadoop_streaming_jar,
        mrjob_args=list(args.mrjob_arg),
    )


def cmd_run(args: argparse.Namespace) -> int:
    """Measure the selected cells; print a summary table and where the results are."""
    from harness import datasets, runner
    from harness.engines import get_engine_class
    from harness.results import ResultsWriter, capture_environment, new_batch_id

    workloads = _csv_list(args.workload)
    if args.input is not None and not workloads:
        raise UserError("--input needs --workload (which workload reads the file?)")
    side = {"campaigns": args.campaigns} if args.campaigns is not None else {}
    if side and args.input is None:
        raise UserError("--campaigns goes with --input (generated data has its own table)")
    scales = [datasets.validate_scale(s) for s in (_csv_list(args.scale) or ["small"])]
    if args.input is not None:
        scales = ["input"]
    options = _options(args)
    cells = runner.expand_cells(workloads, _csv_list(args.engine), args.rules)
    reasons = {
        c: get_engine_class(c.engine)(options).unavailable(c.variant, c.rules) for c in cells
    }
    if all(reasons.values()):
        # Nothing can run: one error line, no half-empty batch.
        unique = dict.fromkeys(r for r in reasons.values() if r)
        raise UserError("no selected cell can run here: " + "; ".join(unique))
    if args.input is not None:
        for name in workloads or []:
            from harness import registry

            datasets.user_input(registry.get_workload(name), args.input, args.data_dir, side)
    grid = _param_grid(args.param, cells)
    config = runner.RunConfig(
        scales=scales,
        params=grid,
        factor=args.factor,
        seed=args.seed,
        repeats=args.repeats,
        warmups=args.warmups,
        timeout=args.timeout,
        input_path=args.input,
        side_inputs=side,
        data_dir=args.data_dir,
        keep_answers=args.keep_answers,
        options=options,
        sample_interval=args.sample_interval,
        probe_budget=args.probe_budget,
    )
    batch_id = new_batch_id()
    writer = ResultsWriter(args.results, batch_id)
    created_dir = not writer.dir.exists()
    writer.ensure_writable()
    command = _command_line()
    writer.write_env(
        capture_environment(
            {
                "batch_id": batch_id,
                "command": command,
                "argv": sys.argv,
                "engine_options": options.to_json(),
                "engines": _engine_versions(cells, options),
            }
        )
    )
    try:
        records = _run_with_progress(cells, config, writer, scales, args.no_progress)
    except UserError:
        # Bad input found while preparing the data (e.g. a malformed side input): no run
        # happened, so no batch is left behind.
        writer.discard_if_empty(created_dir)
        raise
    _print_summary(records)
    print(f"results: {writer.path}")
    print(f"environment: {writer.env_path}")
    if args.report is not None and records:
        from reports.html import build_report

        print(f"report: {build_report([writer.path], args.report, command=command)}")
    if args.keep_answers and writer.answers_dir.exists():
        print(f"answers: {writer.answers_dir}")
    bad = [r for r in records if r.status in ("failed", "timeout")]
    return 1 if bad else 0


def _param_value(text: str) -> Any:
    """``3`` -> 3, ``0.5`` -> 0.5, ``true`` -> True, anything else stays a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text.strip()


def _param_grid(items: list[str], cells: Sequence[Any]) -> dict[str, list[Any]]:
    """``--param`` values as a grid; every key must be a parameter of a selected workload."""
    from harness import registry

    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise UserError(f"--param needs KEY=VALUE[,VALUE...], got {item!r}")
        grid[key] = [_param_value(v) for v in values.split(",") if v.strip()]
    names = list(dict.fromkeys(c.workload for c in cells))
    for key in grid:
        owners = [n for n in names if key in registry.get_workload(n).params]
        if not owners:
            known = sorted({p for n in names for p in registry.get_workload(n).params})
            raise UserError(
                f"unknown parameter {key!r} for {', '.join(names)} "
                f"(known: {', '.join(known) or 'none'})"
            )
    from harness.runner import param_points

    for name in names:
        workload = registry.get_workload(name)
        if workload.check_params is not None:
            for point in param_points(workload, grid):
                workload.check_params(point)
    return grid


def _engine_versions(cells: Sequence[Any], options: Any) -> dict[str, Any]:
    from harness.engines import get_engine_class

    out: dict[str, Any] = {}
    for cell in cells:
        engine = get_engine_class(cell.engine)(options)
        out.setdefault(cell.engine, {"versions": engine.versions()})
        note = engine.simulation_note(cell.variant)
        if note:
            out[cell.engine].setdefault("notes", {})[cell.variant] = note
    return out


def _run_with_progress(
    cells: list[Any], config: Any, writer: Any, scales: list[str], no_progress: bool
) -> list[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harness import runner

    total = len(cells) * len(scales) * (config.repeats + config.warmups)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=no_progress or not sys.stderr.isatty(),
        transient=True,
    )
    with progress:
        task = progress.add_task("starting", total=total)

        def on_record(record: Any) -> None:
            step = 1 if record.status != "skipped" else config.repeats + config.warmups
            progress.advance(task, step)
            if record.status not in ("ok", "skipped"):
                progress.console.print(
                    f"[red]{record.workload} {record.engine}/{record.variant}: "
                    f"{record.status}: {record.error}[/red]"
                )

        return runner.run_batch(
            cells,
            config,
            writer,
            on_record=on_record,
            on_start=lambda text: progress.update(task, description=text),
        )


def _print_summary(records: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from reports import stats

    table = Table(title="bdbench run summary (measured repeats; warm-ups excluded)")
    for col in (
        "workload",
        "engine/variant",
        "rules",
        "scale",
        "ok",
        "median wall",
        "min wall",
        "median cpu",
        "peak rss",
        "startup",
        "throughput",
        "relative",
        "check",
        "note",
    ):
        table.add_column(col, overflow="fold")
    for s in stats.summarize(records):
        note = "" if s.status == "ok" else f"{s.status}: {s.reason}"
        if s.paced and s.status == "ok":
            note = "fed: throughput over busy time, no relative"
        if len(note) > 90:
            note = note[:89] + "…"
        table.add_row(
            s.workload,
            f"{s.engine}/{s.variant}",
            rules_label(s.rules),
            s.scale_label,
            f"{s.n_ok}/{s.n_measured}",
            stats.fmt_seconds(s.wall_median),
            stats.fmt_seconds(s.wall_min),
            stats.fmt_seconds(s.cpu_median),
            stats.fmt_bytes(s.rss_median),
            stats.fmt_seconds(s.startup_median),
            stats.fmt_rate(s.throughput_median, s.unit),
            stats.fmt_relative(s.relative),
            s.check,
            note,
        )
    # Not a terminal (CI logs, pipes): a wide table reads better than a folded one.
    console = Console() if Console().is_terminal else Console(width=200)
    console.print(table)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


COMMANDS = {
    "list": cmd_list,
    "datagen": cmd_datagen,
    "profile": cmd_profile,
    "run": cmd_run,
    "report": cmd_report,
    "compare": cmd_compare,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bdbench`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM (a CI job cancelled) unwinds like Ctrl-C, so runs in flight are killed and the
    # scratch folder removed; records already written stay intact.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
