"""How often ``bdbench compare`` cries wolf, and how often it catches a real 20% slowdown.

Measures real worker processes through the real runner (each starts, makes its recorded
warm-up, then ``--values`` measured calls, under the probe) of a calibrated CPU-bound workload
(``benchmarks.spin_workload``): a pool of processes at ``iterations = W`` and a pool at
``1.2 * W``, collected process by process in alternation so both see the same machine. It then
forms many trials: each side of a trial draws whole processes from a pool (without
replacement) and takes their values exactly as ``bdbench run``'s default stopping rule
(``harness.stopping.Policy``) would, until the rule stops the cell; then
``reports.compare.compare_results`` runs on the pair, at the default threshold and alpha:

- A/A: BASE and NEW both drawn (disjointly) from the W pool: the share of trials flagged as a
  regression is the false-positive rate (required: <= 5%); also shown with BASE from the first
  half of the collection and NEW from the second, which adds the machine's drift;
- planted: BASE from the W pool, NEW from the 1.2 W pool: the share flagged is the detection
  rate (required: >= 95% with the default rule).

Also shown, for information: fixed counts of 3, 5 and 10 values per side, the values and
processes the rule used, and the pools' noise (CV within and between processes, deciles,
CPU/wall share). The default run takes about four minutes on 2 cores.

    python -m benchmarks.compare_power [--pool 40] [--trials 2000] [--target-s 0.35]
    python -m benchmarks.compare_power --save-pools pools.json   # keep the measured runs
    python -m benchmarks.compare_power --load-pools pools.json   # new trials, same runs

Exits 1 when a requirement is not met.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.results import RunRecord
from harness.rules import RulesMode
from harness.stopping import STOP, CellProgress, Policy
from reports.compare import (
    DEFAULT_ALPHA,
    DEFAULT_MEMORY_THRESHOLD,
    DEFAULT_THRESHOLD,
    MEMORY_REGRESSION,
    REGRESSION,
    compare_results,
)
from reports.data import Results

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "benchmarks.spin_workload"
#: Also shown, for information: fixed counts of values per side.
INFO_REPEATS = (3, 5, 10)
#: Measured values each pooled process makes (the default rule takes 3 to 10 of them).
POOL_VALUES = 10
Process = list[RunRecord]
MAX_FALSE_POSITIVES = 0.05
MIN_DETECTION = 0.95


@dataclasses.dataclass
class Rates:
    """Outcome of many compare trials of one kind."""

    trials: int = 0
    flagged: int = 0
    time_flagged: int = 0
    memory_flagged: int = 0
    #: The test alone (p <= alpha, either metric ignored): how calibrated it is by itself.
    time_p_significant: int = 0
    #: The ratio alone (median ratio > threshold).
    time_ratio_over: int = 0
    #: Values and processes each side used.
    values: list[int] = dataclasses.field(default_factory=list)
    processes: list[int] = dataclasses.field(default_factory=list)

    def share(self, count: int) -> float:
        """``count`` as a share of the trials."""
        return count / self.trials if self.trials else math.nan


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion."""
    if trials == 0:
        return (math.nan, math.nan)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def calibrate(target_s: float) -> int:
    """Iterations of ``spin`` that take about ``target_s`` on this machine, unloaded."""
    from benchmarks.spin_workload import spin

    probe = 1_000_000
    best = math.inf
    # The best of several: other processes only ever make it slower.
    for _ in range(5):
        start = time.perf_counter()
        spin(probe)
        best = min(best, time.perf_counter() - start)
    return max(10_000, round(probe * target_s / best))


def collect_pools(
    iterations: int, slowdown: float, pool: int, values: int, work_dir: Path
) -> tuple[list[Process], list[Process]]:
    """Measure ``pool`` worker processes (a warm-up, then ``values`` values each) at
    ``iterations`` and at ``slowdown * iterations``, alternating; each process's records,
    its warm-up first."""
    from benchmarks import spin_workload
    from harness import registry, runner
    from harness.results import ResultsWriter

    plugins = [p for p in os.environ.get(registry.PLUGINS_ENV, "").split(",") if p.strip()]
    os.environ[registry.PLUGINS_ENV] = ",".join(dict.fromkeys([*plugins, PLUGIN]))
    # The measured children run with their scratch folder as cwd: they find us through this.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
    )
    registry.load_all()
    spin_workload.register()
    cells = [runner.Cell(spin_workload.NAME, "numpy", "default", RulesMode.NONE)]
    sides = {"base": iterations, "slow": round(iterations * slowdown)}
    pools: dict[str, list[Process]] = {name: [] for name in sides}
    failures = 0
    batch = 0
    while any(len(procs) < pool for procs in pools.values()):
        for name, work in sides.items():
            if len(pools[name]) >= pool:
                continue
            batch += 1
            config = runner.RunConfig(
                scales=["tiny"],
                repeats=values,
                values=values,
                warmups=1,
                timeout=120,
                data_dir=work_dir / "data",
                params={"iterations": [work]},
            )
            writer = ResultsWriter(work_dir / "results", f"{batch:04d}-{name}")
            writer.ensure_writable()
            records = runner.run_batch(cells, config, writer)
            measured = [r for r in records if not r.is_warmup]
            if len(measured) == values and all(r.status == "ok" for r in records):
                pools[name].append(records)  # the warm-up first
            else:
                failures += 1
                if failures > pool:
                    raise RuntimeError(f"too many failed processes: {records[-1].error}")
        if sys.stderr.isatty():
            done = sum(len(procs) for procs in pools.values())
            print(f"  measured {done}/{2 * pool} processes", file=sys.stderr, end="\r", flush=True)
    return pools["base"], pools["slow"]


def take(policy: Policy, processes: Sequence[Process]) -> tuple[list[RunRecord], int]:
    """The values ``policy`` would have measured from these processes (in order), and how
    many processes it used: the rule of ``bdbench run``, replayed on recorded processes."""
    cell = CellProgress(values=[])
    taken: list[RunRecord] = []
    for process in processes:
        cell.processes += 1
        cell.calls_in_process = policy.warmups
        cell.process_calls_s = 0.0
        cell.process_startup_s = process[0].startup_s or 0.0
        # The process's start-up and warm-up, which the cell's time budget counts.
        cell.elapsed += cell.process_startup_s + (process[0].wall_s or 0.0)
        for record in process[1:]:
            if policy.decide(cell)[0] == STOP:
                return taken, cell.processes
            if policy.process_full(cell):
                break
            wall = record.wall_s or 0.0
            taken.append(record)
            cell.values.append(wall)
            cell.calls_in_process += 1
            cell.process_calls_s += wall
            cell.elapsed += wall
        if policy.decide(cell)[0] == STOP:
            return taken, cell.processes
    return taken, cell.processes


def save_pools(path: Path, base: Sequence[Process], slow: Sequence[Process]) -> None:
    """Write both pools as one JSON file (processes in collection order)."""
    data = {
        "base": [[r.to_json() for r in proc] for proc in base],
        "slow": [[r.to_json() for r in proc] for proc in slow],
    }
    path.write_text(json.dumps(data))


def load_pools(path: Path) -> tuple[list[Process], list[Process]]:
    """Read pools written by ``save_pools``."""
    data = json.loads(path.read_text())
    return (
        [[RunRecord.from_json(r) for r in proc] for proc in data["base"]],
        [[RunRecord.from_json(r) for r in proc] for proc in data["slow"]],
    )


def as_side(records: Sequence[RunRecord], batch_id: str) -> Results:
    """Records of one trial side: the same cell on both sides, whatever ``iterations`` was."""
    return Results(
        records=[
            dataclasses.replace(r, batch_id=batch_id, params={"iterations": "W"}, repeat=i)
            for i, r in enumerate(records)
        ]
    )


Draw = Callable[[random.Random], tuple[list[Process], list[Process]]]


def run_trials(draw: Draw, policy: Policy, trials: int, rng: random.Random) -> Rates:
    """Compare ``trials`` pairs of sides: processes from ``draw``, values as ``policy`` takes
    them, at compare's default settings."""
    rates = Rates()
    for _ in range(trials):
        base_procs, new_procs = draw(rng)
        base, base_n = take(policy, base_procs)
        new, new_n = take(policy, new_procs)
        rates.values += [len(base), len(new)]
        rates.processes += [base_n, new_n]
        (cell,) = compare_results(
            as_side(base, "base"),
            as_side(new, "new"),
            DEFAULT_THRESHOLD,
            DEFAULT_ALPHA,
            DEFAULT_MEMORY_THRESHOLD,
        )
        rates.trials += 1
        rates.flagged += cell.regression
        rates.time_flagged += REGRESSION in cell.flags
        rates.memory_flagged += MEMORY_REGRESSION in cell.flags
        assert cell.time is not None and cell.time.ratio is not None
        if cell.time.ratio > 1 and cell.time.p_value is not None:
            rates.time_p_significant += cell.time.p_value <= DEFAULT_ALPHA + 1e-9
        rates.time_ratio_over += cell.time.ratio > DEFAULT_THRESHOLD
    return rates


def describe(name: str, pool: Sequence[Process]) -> str:
    """Pool size, median, spread and coefficient of variation of the values' wall times,
    within a process and between processes' medians; the warm-ups' median apart."""
    runs = [r for proc in pool for r in proc[1:]]
    walls = [r.wall_s for r in runs if r.wall_s is not None]
    cpus = [r.cpu_s for r in runs if r.cpu_s is not None]
    rss = [r.peak_rss_bytes for r in runs if r.peak_rss_bytes is not None]
    # A single-threaded CPU-bound run getting less than a whole core was preempted; when CPU
    # time varies as much as wall time, the core itself ran slower (a busy host, a busy
    # hyper-thread sibling): either way, noise the test has to see through.
    share = [r.cpu_s / r.wall_s for r in runs if r.cpu_s and r.wall_s]
    deciles = statistics.quantiles(walls, n=10)
    within = statistics.median(cv([r.wall_s or 0.0 for r in proc[1:]]) for proc in pool)
    between = cv([statistics.median(r.wall_s or 0.0 for r in proc[1:]) for proc in pool])
    warm = statistics.median(proc[0].wall_s or 0.0 for proc in pool)
    return (
        f"{name}: {len(pool)} processes, {len(walls)} values, wall median "
        f"{statistics.median(walls):.3f} s, min {min(walls):.3f}, p10 {deciles[0]:.3f}, "
        f"p90 {deciles[-1]:.3f}, max {max(walls):.3f}, CV {100 * cv(walls):.1f}% (within a "
        f"process {100 * within:.1f}%, between process medians {100 * between:.1f}%); "
        f"warm-up median {warm:.3f} s; cpu_s CV {100 * cv(cpus):.1f}%, CPU/wall median "
        f"{statistics.median(share):.2f} (min {min(share):.2f}); peak RSS median "
        f"{statistics.median(rss) / 2**20:.1f} MiB, CV {100 * cv(rss):.2f}%"
    )


def cv(values: Sequence[float]) -> float:
    """Coefficient of variation (sample standard deviation over mean)."""
    if len(values) < 2:
        return math.nan
    return statistics.stdev(values) / statistics.fmean(values)


def line(label: str, count: int, rates: Rates) -> str:
    """``label: 1.2% (24/2000 trials, 95% CI 0.8-1.8%)``."""
    low, high = wilson(count, rates.trials)
    return (
        f"{label}: {100 * rates.share(count):.1f}% ({count}/{rates.trials} trials, "
        f"95% CI {100 * low:.1f}-{100 * high:.1f}%)"
    )


def main(argv: list[str] | None = None) -> int:
    """Collect the pools, run the trials, print the rates; 1 when a requirement fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pool", type=int, default=40, help="worker processes per pool (default 40)"
    )
    parser.add_argument("--trials", type=int, default=2000, help="trials per rate (default 2000)")
    parser.add_argument(
        "--target-s", type=float, default=0.35, help="seconds of one W call (default 0.35)"
    )
    parser.add_argument("--slowdown", type=float, default=1.2, help="planted (default 1.2)")
    parser.add_argument("--seed", type=int, default=0, help="trial resampling seed")
    parser.add_argument(
        "--save-pools", type=Path, metavar="JSON", help="write the measured pools to this file"
    )
    parser.add_argument(
        "--load-pools",
        type=Path,
        metavar="JSON",
        help="re-use pools saved by --save-pools instead of measuring (same data, new trials)",
    )
    args = parser.parse_args(argv)
    if args.pool < 4:
        parser.error("--pool must be at least 4 (A/A draws two sides of processes)")

    started = time.monotonic()
    load_before = os.getloadavg()
    if args.load_pools:
        base_pool, slow_pool = load_pools(args.load_pools)
        print(f"pools loaded from {args.load_pools}")
    else:
        iterations = calibrate(args.target_s)
        print(
            f"workload: spin, W = {iterations:,} iterations (~{args.target_s:g} s), planted "
            f"{args.slowdown:g} W; {os.cpu_count()} cores"
        )
        work_dir = Path(tempfile.mkdtemp(prefix="bdbench-power-"))
        try:
            base_pool, slow_pool = collect_pools(
                iterations, args.slowdown, args.pool, POOL_VALUES, work_dir
            )
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        if args.save_pools:
            save_pools(args.save_pools, base_pool, slow_pool)
    print(
        f"compare settings: threshold x{DEFAULT_THRESHOLD:g}, alpha {DEFAULT_ALPHA:g}, "
        f"memory threshold x{DEFAULT_MEMORY_THRESHOLD:g}"
    )
    measured_s = time.monotonic() - started
    print(describe("W pool   ", base_pool))
    print(describe("1.2W pool", slow_pool))
    ratio = statistics.median(r.wall_s or 0 for p in slow_pool for r in p[1:]) / statistics.median(
        r.wall_s or 0 for p in base_pool for r in p[1:]
    )
    print(f"pool median ratio (1.2W / W): {ratio:.3f}")
    if not args.load_pools:
        load_after = os.getloadavg()
        print(
            f"measuring took {measured_s:.0f} s; load average (1/5/15 min) before "
            + "/".join(f"{x:.2f}" for x in load_before)
            + ", after "
            + "/".join(f"{x:.2f}" for x in load_after)
        )

    def same_code(rng: random.Random) -> tuple[list[Process], list[Process]]:
        picked = rng.sample(base_pool, len(base_pool))
        half = len(picked) // 2
        return picked[:half], picked[half:]

    half = len(base_pool) // 2

    def same_code_later(rng: random.Random) -> tuple[list[Process], list[Process]]:
        # BASE from the first half of the collection, NEW from the second: includes drift.
        return rng.sample(base_pool[:half], half), rng.sample(base_pool[half:], half)

    def planted(rng: random.Random) -> tuple[list[Process], list[Process]]:
        return rng.sample(base_pool, half), rng.sample(slow_pool, half)

    default = Policy()
    policies = [("default rule: " + default.describe(), default)]
    policies += [(f"{n} values per side (information only)", Policy.fixed_count(n))
                 for n in INFO_REPEATS]  # fmt: skip
    ok = True
    for number, (title, policy) in enumerate(policies):
        rng = random.Random(args.seed + number)
        aa = run_trials(same_code, policy, args.trials, rng)
        drift = run_trials(same_code_later, policy, args.trials, rng)
        hit = run_trials(planted, policy, args.trials, rng)
        print(f"\n{title}:")
        used = aa.values + hit.values
        procs = aa.processes + hit.processes
        print(
            f"  values per side: median {statistics.median(used):g} (min {min(used)}, max "
            f"{max(used)}), from {statistics.median(procs):g} processes (max {max(procs)})"
        )
        print("  " + line("A/A false-positive rate (any regression flag)", aa.flagged, aa))
        print("    " + line("of which wall time", aa.time_flagged, aa))
        print("    " + line("of which peak memory", aa.memory_flagged, aa))
        print("    " + line("test alone: p <= alpha, slower", aa.time_p_significant, aa))
        print("    " + line("ratio alone: > threshold", aa.time_ratio_over, aa))
        print("  " + line("A/A, BASE from 1st half, NEW from 2nd", drift.flagged, drift))
        print("  " + line(f"planted {args.slowdown:g}x detection rate", hit.time_flagged, hit))
        print("    " + line("test alone: p <= alpha, slower", hit.time_p_significant, hit))
        print("    " + line("ratio alone: > threshold", hit.time_ratio_over, hit))
        if policy is default:
            fp_ok = aa.share(aa.flagged) <= MAX_FALSE_POSITIVES
            det_ok = hit.share(hit.time_flagged) >= MIN_DETECTION
            print(f"  requirement A/A <= {MAX_FALSE_POSITIVES:.0%}: {'PASS' if fp_ok else 'FAIL'}")
            print(f"  requirement detection >= {MIN_DETECTION:.0%}: {'PASS' if det_ok else 'FAIL'}")
            ok = ok and fp_ok and det_ok
    print(
        f"\ntotal {time.monotonic() - started:.0f} s; pools W {len(base_pool)}, "
        f"1.2W {len(slow_pool)} processes; {args.trials} trials per rate"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
