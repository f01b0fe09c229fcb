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

from harness.argtypes import int_at_least, positive_float, positive_floats, row_counts
from harness.clusters import commands
from harness.errors import UserError
from harness.rules import CHOICES as RULES_CHOICES
from harness.rules import RulesMode

PROG = "bdbench"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        """Print one error line and exit 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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
        lines.append(f"  {workload.name} ({workload.size_unit or workload.unit}): {sizes}")
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
        "--factors",
        type=positive_floats,
        default=None,
        metavar="F[,F...]",
        help="multiply the scale's size by this factor; several (1,4,16) make each size in "
        "turn, smallest first (default 1)",
    )
    from harness.datasets import DEFAULT_SEED

    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"data generator seed (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data cache folder (default $BDBENCH_DATA_DIR or ./.bdbench/data)",
    )


def _description() -> str:
    from harness.engines import ENGINES

    engines = ", ".join(cls.description for cls in ENGINES.values())
    return (
        f"Run identical big-data workloads on {engines}; check every engine's answer; "
        "record wall time, CPU and peak memory."
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    from harness import __version__

    parser = _Parser(prog=PROG, description=_description())
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    scales = _scales_help()
    p_list = sub.add_parser("list", help="show the workload x engine x variant matrix")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    _add_datagen_parser(sub, scales)
    _add_profile_parser(sub, scales)
    _add_run_parser(sub, scales)
    _add_run_parser(sub, scales, "scale")
    _add_report_parser(sub)
    _add_compare_parser(sub)
    commands.add_parser(sub)
    return parser


def _add_data_parser(sub: Any, name: str, help: str, description: str, scales: str) -> Any:
    """A sub-command over the data options (datagen, profile)."""
    parser = sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=scales,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_data_options(parser)
    return parser


def _add_datagen_parser(sub: Any, scales: str) -> None:
    _add_data_parser(
        sub,
        "datagen",
        "generate (and cache) input data and reference answers",
        "Generate seeded input data and its reference answer, cached by "
        "(workload, scale, factor, seed).",
        scales,
    )


def _add_profile_parser(sub: Any, scales: str) -> None:
    p_prof = _add_data_parser(
        sub,
        "profile",
        "measure and store the UDF profiles (per-row cost, selectivity) runs order by",
        "Profile each UDF of the selected workloads on a sample of the data (per-row "
        "cost in plain Python, selectivity) and store the result beside the data; later runs "
        "order their filters by these measured annotations. bdbench run does this by itself "
        "the first time; profile measures again.",
        scales,
    )
    _add_param_option(p_prof)


#: ``bdbench scale``'s default ladder: sizes 4x apart from the scale's (``small``) upward.
LADDER_FACTORS = (1.0, 4.0, 16.0, 64.0)
#: ``bdbench scale``'s default cap on one call (``--max-call``), in seconds: with it the
#: default ladder of wordcount, logreg and kmeans fits an hour on 2 cores (see README).
LADDER_MAX_CALL = 180.0
#: ``bdbench scale``'s default ``--timeout``: a call far past its predicted line is cut.
LADDER_TIMEOUT = 600.0


def _add_run_parser(sub: Any, scales: str, name: str = "run") -> None:
    from harness.cells import selector_examples

    if name == "run":
        p_run = sub.add_parser(
            "run",
            help="measure the selected cells and append results",
            description="Measure every selected workload x engine x variant x scale cell: each "
            "run in a fresh process, warm-ups recorded and flagged, answers checked.",
            epilog=scales,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    else:
        p_run = sub.add_parser(
            name,
            help="run the selected cells at several sizes (a ladder) and fit their cost lines",
            description="A size ladder: the selected cells at each size of the scale in turn, "
            "smallest first, through the same runner as bdbench run (every run an ordinary "
            "record with its rows and factor; bdbench report fits wall = a + b x rows over "
            "them). A cell is not run at a size where it ran out of memory or timed out at a "
            "smaller one, or where its cost line predicts a call over --max-call. With "
            "--predict ROWS, no run: each cell's predicted wall time at that size from the "
            "results in --results.",
            epilog=scales,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    _add_data_options(p_run)
    p_run.add_argument(
        "-e",
        "--engine",
        action="append",
        metavar="ENGINE[/VARIANT]",
        help=f"engine(s), optionally with a variant: {selector_examples()} "
        "(repeat or comma-separate; default: all)",
    )
    p_run.add_argument(
        "--rules",
        choices=("auto", *RULES_CHOICES),
        default="auto",
        help=_rules_help(),
    )
    _add_param_option(p_run)
    p_run.add_argument(
        "--cluster",
        choices=("local",),
        default=None,
        help="run the cluster cells on the local cluster (bdbench cluster): the one up, or one "
        "brought up for this batch (untimed) and taken down after it",
    )
    _add_input_options(p_run)
    _add_measure_options(p_run)
    _add_output_options(p_run)
    _add_engine_options(p_run)
    if name == "run":
        faults = p_run.add_argument_group("fault injection")
        faults.add_argument(
            "--inject",
            type=_fault_plan,
            default=None,
            metavar="KIND@iteration=K|KIND@seconds=T",
            help="kill one worker node of each cell's cluster (a standalone worker with its "
            "executors, a NodeManager with its containers) after iteration K, or T s into the "
            "timed region (kill-worker; optionally ,node=I); each cell runs control and fault "
            "processes in turn (--repeats pairs, default 3), one value each; needs --cluster "
            f"local (one is brought up with {FAULT_NODES} nodes of each kind if none is up)",
        )
    if name != "run":
        # Last: its defaults (rules, timeout) replace those of the options added above.
        _add_ladder_options(p_run)


#: Worker nodes of each kind of the cluster a fault batch brings up: one can be lost.
FAULT_NODES = 2
#: Control/fault pairs per cell under ``--inject`` unless ``--repeats`` says.
FAULT_PAIRS = 3


def _fault_plan(text: str) -> Any:
    """``--inject``'s plan (argparse type: one line on a bad one)."""
    from harness.faults import FaultPlan, PlanError

    try:
        return FaultPlan.parse(text)
    except PlanError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _check_inject(args: argparse.Namespace) -> Any:
    """With ``--inject``: one error line unless every selected cell can take the plan on the
    local cluster (the one up, or the one the batch would bring up), before anything starts;
    the options of the cluster the batch brings up."""
    from harness import faults
    from harness.cells import expand_cells
    from harness.clusters import local

    plan = getattr(args, "inject", None)
    if plan is None:
        return None
    if args.cluster is None:
        raise UserError(
            "--inject needs --cluster local (faults are injected into the local cluster's "
            "worker nodes)"
        )
    if args.share_engines:
        raise UserError(
            "--inject cannot share engines (a fault damages the application a shared engine "
            "would pass on)"
        )
    options = local.UpOptions(nodemanagers=FAULT_NODES, workers=FAULT_NODES)
    workloads, _, _ = _run_inputs(args)
    cells = expand_cells(workloads, _csv_list(args.engine), args.rules, [])
    grid = _param_grid(args.param, cells)
    state = local.read_state() or local.stand_in(options)
    faults.check_plan(plan, cells, grid, _options(args), state)
    return options


def _add_ladder_options(p_scale: argparse.ArgumentParser) -> None:
    """``bdbench scale``'s own options: the sizes, the cap on a call, predictions."""
    factors = ",".join(f"{f:g}" for f in LADDER_FACTORS)
    # Our rules have nothing to act on in the workloads a ladder is for (no Python UDF
    # filters): "off" by default spares duplicate cells; --rules adds them.
    p_scale.set_defaults(factor=None, rules="off", timeout=LADDER_TIMEOUT)
    group = p_scale.add_argument_group(
        "ladder",
        f"sizes: --factor (default {factors} of --scale, default small) or --rows; here "
        f"--rules defaults to off and --timeout to {LADDER_TIMEOUT:g}",
    )
    group.add_argument(
        "--rows",
        type=row_counts,
        default=None,
        metavar="N[,N...]",
        help="explicit sizes in each workload's own unit (points, words, rows), instead of "
        "--factor",
    )
    group.add_argument(
        "--max-call",
        type=positive_float,
        default=LADDER_MAX_CALL,
        metavar="SECONDS",
        help="do not run a cell at a size where the cost line of its smaller sizes predicts a "
        f"call longer than this (default {LADDER_MAX_CALL:g})",
    )
    group.add_argument(
        "--predict",
        type=row_counts,
        default=None,
        metavar="ROWS",
        help="run nothing: print each cell's predicted wall time at ROWS (comma-separate "
        "several) from the cost lines fitted to the results in --results",
    )


def _rules_help() -> str:
    from harness.engines import ENGINES

    plain = [name for name, cls in ENGINES.items() if not cls.rules_modes]
    return (
        f"our optimizer rules: {', '.join(RULES_CHOICES)} (paper = the paper's reorder-only "
        "control, all = every mode); auto (default) = each workload's own choice. On engines "
        f"without an optimizer of their own ({', '.join(plain)}), rules on = UDF filters in "
        "ranked order"
    )


def _side_inputs() -> dict[str, list[str]]:
    """Side input name -> the workloads that declare it (``Workload.side_inputs``)."""
    from harness import registry

    found: dict[str, list[str]] = {}
    for workload in registry.workloads_by_name().values():
        for name in workload.side_inputs:
            found.setdefault(name, []).append(workload.name)
    return found


def _add_input_options(p_run: argparse.ArgumentParser) -> None:
    p_run.add_argument(
        "--input",
        type=Path,
        metavar="PATH",
        help="run on this file (or, for a workload that reads folders, this folder) instead",
    )
    for name, owners in _side_inputs().items():
        p_run.add_argument(
            f"--{name.replace('_', '-')}",
            dest=f"side__{name}",
            type=Path,
            metavar="FILE",
            help=f"with --input: the {name} side input of {', '.join(owners)}",
        )


def _add_measure_options(p_run: argparse.ArgumentParser) -> None:
    from harness.memlimit import parse_size
    from harness.probe import DEFAULT_BUDGET, DEFAULT_INTERVAL
    from harness.runner import DEFAULT_TIMEOUT, DEFAULT_WARMUPS
    from harness.stopping import Policy

    policy = Policy()
    p_run.add_argument(
        "-r",
        "--repeats",
        type=int_at_least(1),
        default=None,
        help="a fixed number of measured values per cell (default: adaptive, see below)",
    )
    p_run.add_argument(
        "--warmups",
        type=int_at_least(0),
        default=None,
        help=f"recorded, flagged warm-up calls at the start of every worker process "
        f"(default {DEFAULT_WARMUPS}; none for cells whose calls each start new processes, "
        "listed in the env file as no_warmup)",
    )
    p_run.add_argument(
        "--values",
        type=int_at_least(1),
        default=None,
        help=f"measured calls per worker process (default: {policy.values} to "
        f"{policy.values_max}, more while its calls took less time than its start-up)",
    )
    p_run.add_argument(
        "--min-values",
        type=int_at_least(1),
        default=policy.min_values,
        help=f"adaptive: values a cell needs before it may stop early (default "
        f"{policy.min_values}, from at least {policy.min_processes} processes)",
    )
    p_run.add_argument(
        "--max-values",
        type=int_at_least(1),
        default=policy.max_values,
        help=f"adaptive: most values per cell (default {policy.max_values})",
    )
    p_run.add_argument(
        "--target",
        type=positive_float,
        default=policy.target,
        help="adaptive: stop a cell once the 95%% interval of its median is within this share "
        f"of the median (default {policy.target:g})",
    )
    p_run.add_argument(
        "--max-time",
        type=positive_float,
        default=policy.max_time,
        metavar="SECONDS",
        help=f"adaptive: a cell stops after this long (start-ups included) once it has "
        f"{policy.floor_values} value(s) (default {policy.max_time:g})",
    )
    p_run.add_argument(
        "--share-engines",
        action="store_true",
        help="a first look: a started engine (a JVM) serves the next cells with the same "
        "settings (a new session each) instead of one engine per cell; their first calls may "
        "find it warm. Recorded; off by default",
    )
    p_run.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per run before its process tree is killed (default {DEFAULT_TIMEOUT:g})",
    )
    p_run.add_argument(
        "--memory-limit",
        type=parse_size,
        default=None,
        metavar="SIZE",
        help="memory limit of each run's whole process tree, e.g. 2G (a memory cgroup where "
        "one can be made, else enforced by the probe); recorded with each run",
    )
    p_run.add_argument(
        "--sample-interval",
        type=positive_float,
        default=DEFAULT_INTERVAL,
        help="first probe sampling interval in seconds; it then backs off "
        f"(default {DEFAULT_INTERVAL:g})",
    )
    p_run.add_argument(
        "--probe-budget",
        type=positive_float,
        default=DEFAULT_BUDGET,
        help=f"max share of one core the probe may use (default {DEFAULT_BUDGET:g})",
    )


def _add_output_options(p_run: argparse.ArgumentParser) -> None:
    p_run.add_argument(
        "--results", type=Path, default=Path("results"), help="results folder (default ./results)"
    )
    p_run.add_argument(
        "--keep-answers",
        action="store_true",
        help="write each run's answer as JSON next to the results",
    )
    p_run.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_run.add_argument(
        "--resume",
        metavar="BATCH",
        help="continue an interrupted batch (its id in --results, or its .jsonl path) with its "
        "own options: only runs without a record yet, appended to the same file",
    )
    p_run.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write this batch's HTML report, summary.md and CSV to DIR",
    )


def _add_engine_options(p_run: argparse.ArgumentParser) -> None:
    """Each engine's own options, in a group named after it (declared by the engine)."""
    from harness.engines import ENGINES
    from harness.engines.options import add_arguments

    for name, cls in ENGINES.items():
        add_arguments(p_run.add_argument_group(name, cls.description), name, cls.Options)


def _add_report_parser(sub: Any) -> None:
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
    p_report.add_argument(
        "--baseline",
        metavar="CELL",
        help="the cell every other is compared with in the Relative column, e.g. "
        "ENGINE/VARIANT (default: the fastest single-node cell whose check passed, per point)",
    )


def _add_compare_parser(sub: Any) -> None:
    from reports.compare import DEFAULT_ALPHA, DEFAULT_MEMORY_THRESHOLD, DEFAULT_THRESHOLD

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
        type=positive_float,
        default=DEFAULT_THRESHOLD,
        help=f"slowdown ratio of medians that counts (default {DEFAULT_THRESHOLD:.2f})",
    )
    p_cmp.add_argument(
        "--alpha",
        type=positive_float,
        default=DEFAULT_ALPHA,
        help=f"significance level of the test over repeats (default {DEFAULT_ALPHA:g})",
    )
    p_cmp.add_argument(
        "--memory-threshold",
        type=positive_float,
        default=DEFAULT_MEMORY_THRESHOLD,
        help="peak-RSS ratio of medians that counts as a memory regression "
        f"(default {DEFAULT_MEMORY_THRESHOLD:.2f})",
    )
    p_cmp.add_argument(
        "--markdown", action="store_true", help="print a Markdown table (for CI job summaries)"
    )


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML report, summary.md and results.csv."""
    from reports.html import build_report

    index = build_report(args.results, args.out, command=_command_line(), baseline=args.baseline)
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


def _command_line(args: argparse.Namespace | None = None) -> str:
    """The command as the user typed it (``bdbench ...``)."""
    import shlex

    argv = getattr(args, "argv", None)
    return shlex.join([PROG, *(sys.argv[1:] if argv is None else argv)])


def cmd_list(args: argparse.Namespace) -> int:
    """Print the matrix with what is missing or unavailable and why."""
    from harness.cells import matrix_rows
    from harness.engines import Role

    rows = matrix_rows()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="bdbench matrix (workload x engine x variant)")
    for col in ("workload", "engine", "variant", "rules", "role", "status"):
        table.add_column(col, overflow="fold")
    for row in rows:
        rules = RulesMode.from_json(row["rules"]).label
        style = {"ready": "green", "missing": "yellow"}.get(row["state"], "red")
        status = row["state"] if not row["reason"] else f"{row['state']}: {row['reason']}"
        role = Role.from_json(row["role"]).describe()
        table.add_row(
            row["workload"],
            row["engine"],
            row["variant"],
            rules,
            role,
            f"[{style}]{status}[/{style}]",
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
            for factor in sorted(args.factor or [1.0]):
                data = datasets.generated(workload, scale, factor, args.seed, args.data_dir)
                datasets.reference_answer(workload, data, dict(workload.params))
                print(
                    f"{name} {scale} x{factor:g} seed={args.seed}: "
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
        for scale, factor in ((s, f) for s in scales for f in sorted(args.factor or [1.0])):
            data = datasets.generated(workload, scale, factor, args.seed, args.data_dir)
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
    """Every engine's options from the parsed arguments."""
    from harness.engines import ENGINES, EngineOptions
    from harness.engines.options import from_args

    return EngineOptions(
        {name: from_args(args, name, cls.Options) for name, cls in ENGINES.items()}
    )


def _side_files(args: argparse.Namespace) -> dict[str, Path]:
    """The side inputs given on the command line, by name."""
    found = {name: getattr(args, f"side__{name}") for name in _side_inputs()}
    return {name: path for name, path in found.items() if path is not None}


def _run_inputs(args: argparse.Namespace) -> tuple[list[str] | None, list[str], dict[str, Path]]:
    """Workloads, scales and side files of ``bdbench run``, checked against each other."""
    from harness import datasets

    workloads = _csv_list(args.workload)
    if args.input is not None and not workloads:
        raise UserError("--input needs --workload (which workload reads the file?)")
    side = _side_files(args)
    if side and args.input is None:
        flags = ", ".join(f"--{n.replace('_', '-')}" for n in side)
        raise UserError(f"{flags} goes with --input (generated data has its own)")
    if args.input is not None:
        if len(args.factor or [1.0]) > 1 or getattr(args, "rows", None):
            raise UserError("--input is one size; several sizes need generated data")
        return workloads, ["input"], side
    return (
        workloads,
        [datasets.validate_scale(s) for s in (_csv_list(args.scale) or ["small"])],
        side,
    )


def _runnable(cells: list[Any], options: Any) -> None:
    """One error line, and no half-empty batch, when no selected cell can run here."""
    from harness.engines import get_engine_class

    reasons: list[str] = []
    for cell in cells:
        cls = get_engine_class(cell.engine)
        reason = cls(options.of(cls)).unavailable(cell.variant, cell.rules)
        if reason is None:
            return
        reasons.append(reason)
    raise UserError("no selected cell can run here: " + "; ".join(dict.fromkeys(reasons)))


def _preflight(cells: list[Any], options: Any) -> None:
    """One error line when a selected engine's options cannot work at all (e.g. a master
    that does not answer): found in seconds, before the batch starts."""
    from harness.engines import get_engine_class

    for name in dict.fromkeys(c.engine for c in cells):
        cls = get_engine_class(name)
        reason = cls(options.of(cls)).preflight()
        if reason is not None:
            raise UserError(reason)


def _run_config(args: argparse.Namespace, cells: list[Any], options: Any) -> Any:
    """The batch's ``RunConfig`` from the parsed arguments."""
    from harness import datasets, registry, runner

    workloads, scales, side = _run_inputs(args)
    if args.input is not None:
        for name in workloads or []:
            datasets.user_input(registry.get_workload(name), args.input, args.data_dir, side)
    return runner.RunConfig(
        scales=scales,
        params=_param_grid(args.param, cells),
        factors=list(args.factor or [1.0]),
        rows=getattr(args, "rows", None),
        max_call=getattr(args, "max_call", None) if args.command == "scale" else None,
        seed=args.seed,
        **(
            {}
            if getattr(args, "inject", None)
            else {"repeats": args.repeats, "values": args.values}
        ),
        warmups=args.warmups,
        adaptive=_policy(args),
        timeout=args.timeout,
        input_path=args.input,
        side_inputs=side,
        data_dir=args.data_dir,
        keep_answers=args.keep_answers,
        options=options,
        sample_interval=args.sample_interval,
        probe_budget=args.probe_budget,
        memory_limit=args.memory_limit,
        share_engines=args.share_engines,
        **_fault_config(args),
    )


def _fault_config(args: argparse.Namespace) -> dict[str, Any]:
    """Under ``--inject``: the plan, ``--repeats`` pairs (default 3) of one value each."""
    plan = getattr(args, "inject", None)
    if plan is None:
        return {}
    repeats = args.repeats if args.repeats is not None else FAULT_PAIRS
    return {"fault": plan, "repeats": repeats, "values": 1}


def _policy(args: argparse.Namespace) -> Any:
    """The adaptive stopping rule from ``--min-values``, ``--max-values``, ``--target`` and
    ``--max-time``."""
    from harness.stopping import Policy

    if args.min_values > args.max_values:
        raise UserError(
            f"--min-values ({args.min_values}) is more than --max-values ({args.max_values})"
        )
    return Policy(
        min_values=args.min_values,
        max_values=args.max_values,
        target=args.target,
        max_time=args.max_time,
        floor_values=min(Policy.floor_values, args.min_values),
    )


#: ``bdbench run`` options that may go with ``--resume`` (the batch keeps all the others).
RESUME_OPTIONS = ("resume", "results", "no_progress", "report")


def _resumed_args(args: argparse.Namespace) -> argparse.Namespace:
    """The arguments of the batch ``--resume`` names, as it was started, to continue it."""
    import json

    given = Path(args.resume)
    path = given if given.suffix == ".jsonl" else args.results / f"{args.resume}.jsonl"
    if not path.is_file():
        raise UserError(
            f"--resume: no results file {path} (give a batch id in --results or a path)"
        )
    flags = _run_flags(args.command)
    defaults = vars(build_parser().parse_args([args.command]))
    extra = [k for k in defaults if k in flags and k not in RESUME_OPTIONS]
    extra = [k for k in extra if _differs(getattr(args, k), defaults[k])]
    if extra:
        drop = ", ".join(flags[k] for k in extra)
        raise UserError(f"--resume continues a batch with its own options; drop {drop}")
    env_path = path.with_name(path.name.removesuffix(".jsonl") + ".env.json")
    try:
        run_args = json.loads(env_path.read_text(encoding="utf-8"))["run_args"]
        if not isinstance(run_args, list) or run_args[:1] not in (["run"], ["scale"]):
            raise ValueError(f"run_args is {run_args!r}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"cannot resume {path.name}: its environment file {env_path} is missing or has no "
            f"run_args (written by an older bdbench?): {exc}"
        ) from exc
    resumed = build_parser().parse_args(run_args)
    resumed.argv = run_args
    resumed.resume_path = path
    resumed.results = path.parent
    resumed.no_progress = args.no_progress
    resumed.report = args.report or resumed.report
    return resumed


def _run_flags(command: str = "run") -> dict[str, str]:
    """``bdbench run``'s (or ``scale``'s) options: argparse destination -> its long flag."""
    sub = _Parser(prog=PROG).add_subparsers()
    _add_run_parser(sub, "", command)
    (p_run,) = sub.choices.values()
    # argparse has no public list of a parser's actions; ``_actions`` is the stable one.
    return {a.dest: a.option_strings[-1] for a in p_run._actions if a.option_strings}


def _differs(value: Any, default: Any) -> bool:
    """Whether an option's parsed value differs from its default (empty lists count as unset)."""
    return value != default and not (value == [] and default is None)


def _ladder(args: argparse.Namespace) -> dict[str, Any]:
    """``bdbench scale``'s sizes, checked (at least two of them), as the env file says them."""
    if args.rows is not None and args.factor is not None:
        raise UserError("give the ladder's sizes once: --rows or --factor, not both")
    if args.rows is None and args.factor is None:
        args.factor = list(LADDER_FACTORS)
    sizes = args.rows if args.rows is not None else args.factor
    if len(set(sizes)) < 2:
        given = ", ".join(f"{v:g}" for v in sizes)
        raise UserError(f"a ladder needs at least two different sizes (got {given})")
    if args.input is not None:
        raise UserError("--input is one size; a ladder generates its data at each size")
    ladder: dict[str, Any] = {"max_call_s": args.max_call}
    if args.rows is not None:
        ladder["rows"] = sorted(set(args.rows))
    else:
        ladder["factors"] = sorted(set(args.factor))
    return ladder


def cmd_scale(args: argparse.Namespace) -> int:
    """A size ladder (``bdbench run`` at several sizes), or with ``--predict`` each cell's
    predicted wall time at sizes not run, from the results' fitted cost lines."""
    if args.predict is not None:
        return _predict(args)
    return cmd_run(args)


def _predict(args: argparse.Namespace) -> int:
    """Print each cell's predicted wall time at ``--predict`` rows."""
    from reports.data import load_results
    from reports.scaling import format_predictions, predict

    results = load_results([args.results])
    workloads = _csv_list(args.workload)
    tables = [format_predictions(predict(results, n, workloads)) for n in args.predict]
    if not any(tables):
        raise UserError(f"no cell in {args.results} was measured at two sizes or more")
    print("\n\n".join("\n".join(lines) for lines in tables))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Measure the selected cells (on the local cluster with ``--cluster local``); with
    ``--resume``, the runs an interrupted batch still lacks."""
    if args.resume is not None:
        args = _resumed_args(args)
    if args.command == "scale":
        args.ladder = _ladder(args)
    up = _check_inject(args)
    if args.cluster is None:
        return _run(args, None)
    from harness.clusters import local

    with local.for_batch(up) as (state, brought_up):
        return _run(args, (state, brought_up))


def _on_cluster(options: Any, state: dict[str, Any]) -> Any:
    """Every engine's options as they run on the cluster (``Engine.on_cluster``)."""
    from harness.engines import ENGINES, EngineOptions

    return EngineOptions(
        {name: cls.on_cluster(options.of(cls), state) for name, cls in ENGINES.items()}
    )


def _run(args: argparse.Namespace, cluster: tuple[dict[str, Any], bool] | None) -> int:
    """Measure the selected cells; print a summary table and where the results are."""
    from harness.cells import expand_cells

    workloads, _, _ = _run_inputs(args)
    options = _options(args)
    if cluster is not None:
        options = _on_cluster(options, cluster[0])
    notes: list[str] = []
    cells = expand_cells(workloads, _csv_list(args.engine), args.rules, notes)
    if args.command == "scale" and not any(a.startswith("--rules") for a in args.argv):
        notes = []  # the ladder's own default, not the user's choice
    for note in notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    _runnable(cells, options)
    _preflight(cells, options)
    config = _run_config(args, cells, options)
    command = _command_line(args)
    env = _environment(command, cells, options, on_cluster=cluster is not None)
    env["run_args"] = list(args.argv)
    # How many values each cell got, and why it stopped, follows from this rule.
    env["policy"] = config.policy.to_json()
    cold = {
        f"{c.engine}/{c.variant}": why
        for c in cells
        if (why := config.no_warmup_reason(c)) is not None
    }
    if config.warmups is None and cold:
        env["no_warmup"] = cold
    env["share_engines"] = config.share_engines
    if config.fault is not None:
        env["fault"] = {
            **config.fault.to_json(),
            "pairs": config.repeats,
            "order": "control and fault processes alternate, one value each after warm-ups",
            "restore": "the killed node is restarted between processes (untimed)",
        }
    if getattr(args, "ladder", None):
        env["ladder"] = args.ladder
    if cluster is not None:
        from harness.clusters import local

        env["cluster"] = local.describe(*cluster)
    writer, earlier, created_dir = _open_batch(args, env, config)
    try:
        records = _run_with_progress(cells, config, writer, args.no_progress)
    except (UserError, KeyboardInterrupt):
        # Bad input found while preparing the data, a write that failed, Ctrl-C or SIGTERM:
        # a batch with no record is not left behind; one with records can be resumed.
        if not earlier:
            writer.discard_if_empty(created_dir)
        if writer.path.is_file():
            print(f"results so far: {writer.path}", file=sys.stderr)
            print(f"resume with: {_resume_command(writer.path)}", file=sys.stderr)
        raise
    records = earlier + records
    _print_summary(records, {writer.batch_id: env})
    print(f"results: {writer.path}")
    print(f"environment: {writer.env_path}")
    if args.report is not None and records:
        from reports.html import build_report

        print(f"report: {build_report([writer.path], args.report, command=command)}")
    if args.keep_answers and writer.answers_dir.exists():
        print(f"answers: {writer.answers_dir}")
    bad = [r for r in records if r.status in ("failed", "timeout")]
    return 1 if bad else 0


def _open_batch(args: argparse.Namespace, env: dict[str, Any], config: Any) -> tuple[Any, Any, Any]:
    """The batch's writer (a new batch, or the resumed one), its earlier records, and whether
    the results folder was made for it. The environment file is written here."""
    from harness.results import ResultsWriter, load_records, new_batch_id

    resume_path = getattr(args, "resume_path", None)
    if resume_path is None:
        writer = ResultsWriter(args.results, new_batch_id())
        created_dir = not writer.dir.exists()
        writer.ensure_writable()
        env["batch_id"] = writer.batch_id
        try:
            writer.write_env(env)
        except UserError:
            writer.discard_if_empty(created_dir)
            raise
        return writer, [], created_dir
    writer = ResultsWriter(resume_path.parent, resume_path.name.removesuffix(".jsonl"))
    earlier = load_records(resume_path)
    config.prior = earlier
    writer.repair()
    env["batch_id"] = writer.batch_id
    # The first environment stays as it was (append-only); each resume adds its own.
    writer.write_env(env, writer.resume_env_path())
    print(f"resuming {writer.path}: {len(earlier)} records kept", file=sys.stderr)
    return writer, earlier, False


def _resume_command(path: Path) -> str:
    import shlex

    return shlex.join([PROG, "run", "--resume", str(path)])


def _environment(
    command: str, cells: list[Any], options: Any, on_cluster: bool = False
) -> dict[str, Any]:
    """The batch's environment: machine, versions, the engines' own facts and options."""
    from harness.engines import get_engine_class
    from harness.results import capture_environment

    engines = {get_engine_class(c.engine) for c in cells}
    from harness import load, probe

    daemons: list[int] = []
    if on_cluster:
        from harness.clusters import local

        # The local cluster's daemons are part of the system a cluster batch measures: listed
        # apart, never as busy.
        daemons = local.all_daemon_pids()
    extra: dict[str, Any] = {
        "command": command,
        "argv": sys.argv,
        "engine_options": options.to_json(),
        "engines": _engine_versions(cells, options),
        "implementations": _implementations(cells),
        "implementation_notes": _implementation_notes(cells),
    }
    for cls in sorted(engines, key=lambda c: c.name):
        extra.update(cls.environment())
    distributions = tuple(d for cls in engines for d in cls.distributions)
    env = capture_environment(extra, distributions)
    # The probes' marks start before the look at the machine (after the tools run above): the
    # batch's first calls, if short, can then be judged over enough time.
    probe.HISTORY.begin()
    # Who else was busy as the batch began (pyperf's system check is the model).
    env["load"] = load.snapshot(daemons=daemons)
    return env


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


def _implementations(cells: Sequence[Any]) -> dict[str, str]:
    """``"workload engine/variant"`` -> how that cell is implemented (its docstring), for the
    report: a reader judges each baseline without opening the code."""
    from harness import registry

    out: dict[str, str] = {}
    for cell in cells:
        impl = registry.find_impl(cell.workload, cell.engine, cell.variant)
        if impl is not None and impl.summary:
            out[f"{cell.workload} {cell.engine}/{cell.variant}"] = impl.summary
    return out


def _implementation_notes(cells: Sequence[Any]) -> dict[str, str]:
    """``"workload engine/variant"`` -> what the cell's time consists of (``ImplSpec.note``),
    where its implementation says: e.g. which part is the engine's own first-query cost."""
    from harness import registry

    out: dict[str, str] = {}
    for cell in cells:
        impl = registry.find_impl(cell.workload, cell.engine, cell.variant)
        if impl is not None and impl.note:
            out[f"{cell.workload} {cell.engine}/{cell.variant}"] = impl.note
    return out


def _engine_versions(cells: Sequence[Any], options: Any) -> dict[str, Any]:
    from harness.engines import get_engine_class

    out: dict[str, Any] = {}
    for cell in cells:
        cls = get_engine_class(cell.engine)
        engine = cls(options.of(cls))
        out.setdefault(cell.engine, {"versions": engine.versions()})
        # What each variant is, as the batch's records say too (reports read either).
        roles = out[cell.engine].setdefault("roles", {})
        roles[cell.variant] = engine.role(cell.variant).to_json()
        note = engine.simulation_note(cell.variant)
        if note:
            out[cell.engine].setdefault("notes", {})[cell.variant] = note
    return out


def _run_with_progress(cells: list[Any], config: Any, writer: Any, no_progress: bool) -> list[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harness import runner

    # Values per cell are decided as the batch goes (harness.stopping): progress counts cells.
    total = len(cells) * len(config.scales) * len(config.rows or config.factors)
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
            if record.status == "skipped" or "stop" in record.metrics:
                progress.advance(task, 1)
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


def summary_table(records: list[Any]) -> Any:
    """The run's results table (``reports.columns``, as the report's), a rich Table."""
    from rich.table import Table

    from reports import stats
    from reports.columns import COLUMNS

    table = Table(title="bdbench run summary (measured values; warm-ups excluded)")
    table.add_column("workload", overflow="fold")
    for column in COLUMNS:
        table.add_column(column.header, overflow="fold")
    for s in stats.summarize(records):
        cells = [column.text(s) for column in COLUMNS]
        # A long reason reads better whole in the report; the terminal gets its start.
        cells[-1] = cells[-1] if len(cells[-1]) <= 90 else cells[-1][:89] + "…"
        table.add_row(s.workload, *cells)
    return table


def _print_summary(records: list[Any], environments: dict[str, Any] | None = None) -> None:
    from rich.console import Console

    from reports.data import is_fault_run

    faults = [r for r in records if is_fault_run(r)]
    table = summary_table([r for r in records if not is_fault_run(r)])
    # Not a terminal (CI logs, pipes): a wide table reads better than a folded one.
    console = Console() if Console().is_terminal else Console(width=200)
    console.print(table)
    if faults:
        _print_recovery(console, records, faults, environments or {})
    from reports.busy import busy_warnings, too_short_note

    for warning in busy_warnings(records, environments or {}):
        console.print(f"[yellow]Warning: busy machine. {warning}.[/yellow]")
    if (unjudged := too_short_note(records)) is not None:
        console.print(f"Note: {unjudged}.")


def _print_recovery(
    console: Any, records: list[Any], faults: list[Any], environments: dict[str, Any]
) -> None:
    """The fault runs against their controls (the report's Recovery table)."""
    from rich.table import Table

    from reports.recovery import recovery_rows
    from reports.recovery import table as recovery_table

    header, body = recovery_table(recovery_rows(records, faults, environments))
    table = Table(title="Recovery: what a lost worker cost (fault runs vs their controls)")
    for name in header:
        table.add_column(name)
    for row in body:
        table.add_row(*row)
    console.print(table)


class Terminated(KeyboardInterrupt):
    """SIGTERM, unwinding like Ctrl-C; the exit code still says which signal it was."""

    signum = signal.SIGTERM


def _raise_interrupt(signum: int, frame: object) -> None:
    raise Terminated


COMMANDS = {
    "list": cmd_list,
    "datagen": cmd_datagen,
    "profile": cmd_profile,
    "run": cmd_run,
    "scale": cmd_scale,
    "report": cmd_report,
    "compare": cmd_compare,
    "cluster": commands.cmd_cluster,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bdbench`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    # SIGTERM (a CI job cancelled) unwinds like Ctrl-C, so runs in flight are killed and the
    # scratch folder removed; records already written stay intact.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"{PROG}: interrupted", file=sys.stderr)
        # The shell's convention, 128 + the signal: 130 for Ctrl-C (SIGINT), 143 for SIGTERM.
        return 128 + int(getattr(exc, "signum", signal.SIGINT))


if __name__ == "__main__":
    sys.exit(main())
