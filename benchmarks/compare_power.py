"""How often ``bdbench compare`` cries wolf, and how often it catches a real 20% slowdown.

Measures real runs through the real runner (a fresh child process per run, under the probe) of
a calibrated CPU-bound workload (``benchmarks.spin_workload``): a pool at ``iterations = W`` and
a pool at ``1.2 * W``, collected run by run in alternation so both see the same machine. It then
forms many trials by drawing repeats from the pools without replacement and runs
``reports.compare.compare_results`` on each, at the default threshold and alpha:

- A/A: BASE and NEW both drawn (disjointly) from the W pool: the share of trials flagged as a
  regression is the false-positive rate (required: <= 5%); also shown with BASE from the first
  half of the collection and NEW from the second, which adds the machine's drift;
- planted: BASE from the W pool, NEW from the 1.2 W pool: the share flagged is the detection
  rate (required: >= 95% at the default repeat count of ``bdbench run``, 10).

Both are printed at the default repeat count (the requirement), and at 3 and 5 for information,
with the test alone and the ratio alone, the pool sizes, and the pools' noise (CV, deciles,
CPU/wall share). The default run takes about two minutes on 2 cores.

    python -m benchmarks.compare_power [--pool 50] [--trials 2000] [--target-s 0.35]
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
from harness.runner import DEFAULT_REPEATS
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
#: Also shown, for information: what fewer repeats give up.
INFO_REPEATS = (3, 5)
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
    iterations: int, slowdown: float, pool: int, chunk: int, work_dir: Path
) -> tuple[list[RunRecord], list[RunRecord]]:
    """Measure ``pool`` ok runs at ``iterations`` and at ``slowdown * iterations``, alternating."""
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
    cells = [runner.Cell(spin_workload.NAME, "numpy", "default", None)]
    sides = {"base": iterations, "slow": round(iterations * slowdown)}
    pools: dict[str, list[RunRecord]] = {name: [] for name in sides}
    failures = 0
    batch = 0
    while any(len(runs) < pool for runs in pools.values()):
        for name, work in sides.items():
            need = min(chunk, pool - len(pools[name]))
            if need <= 0:
                continue
            batch += 1
            config = runner.RunConfig(
                scales=["tiny"],
                repeats=need,
                warmups=0,
                timeout=120,
                data_dir=work_dir / "data",
                params={"iterations": [work]},
            )
            writer = ResultsWriter(work_dir / "results", f"{batch:04d}-{name}")
            writer.ensure_writable()
            for record in runner.run_batch(cells, config, writer):
                if record.status == "ok" and record.wall_s is not None:
                    pools[name].append(record)
                else:
                    failures += 1
                    if failures > pool:
                        raise RuntimeError(f"too many failed runs: {record.error}")
        if sys.stderr.isatty():
            done = sum(len(runs) for runs in pools.values())
            print(f"  measured {done}/{2 * pool} runs", file=sys.stderr, end="\r", flush=True)
    return pools["base"], pools["slow"]


def save_pools(path: Path, base: Sequence[RunRecord], slow: Sequence[RunRecord]) -> None:
    """Write both pools as one JSON file (records in collection order)."""
    data = {"base": [r.to_json() for r in base], "slow": [r.to_json() for r in slow]}
    path.write_text(json.dumps(data))


def load_pools(path: Path) -> tuple[list[RunRecord], list[RunRecord]]:
    """Read pools written by ``save_pools``."""
    data = json.loads(path.read_text())
    return (
        [RunRecord.from_json(r) for r in data["base"]],
        [RunRecord.from_json(r) for r in data["slow"]],
    )


def as_side(records: Sequence[RunRecord], batch_id: str) -> Results:
    """Records of one trial side: the same cell on both sides, whatever ``iterations`` was."""
    return Results(
        records=[
            dataclasses.replace(r, batch_id=batch_id, params={"iterations": "W"}, repeat=i)
            for i, r in enumerate(records)
        ]
    )


def run_trials(
    draw: Callable[[random.Random, int], tuple[list[RunRecord], list[RunRecord]]],
    repeats: int,
    trials: int,
    rng: random.Random,
) -> Rates:
    """Compare ``trials`` pairs of sides produced by ``draw`` at the default settings."""
    rates = Rates()
    for _ in range(trials):
        base, new = draw(rng, repeats)
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


def describe(name: str, runs: Sequence[RunRecord]) -> str:
    """Pool size, median, spread and coefficient of variation of the wall times."""
    walls = [r.wall_s for r in runs if r.wall_s is not None]
    cpus = [r.cpu_s for r in runs if r.cpu_s is not None]
    rss = [r.peak_rss_bytes for r in runs if r.peak_rss_bytes is not None]
    # A single-threaded CPU-bound run getting less than a whole core was preempted; when CPU
    # time varies as much as wall time, the core itself ran slower (a busy host, a busy
    # hyper-thread sibling): either way, noise the test has to see through.
    share = [r.cpu_s / r.wall_s for r in runs if r.cpu_s and r.wall_s]
    deciles = statistics.quantiles(walls, n=10)
    return (
        f"{name}: {len(walls)} runs, wall median {statistics.median(walls):.3f} s, "
        f"min {min(walls):.3f}, p10 {deciles[0]:.3f}, p90 {deciles[-1]:.3f}, "
        f"max {max(walls):.3f}, CV {100 * cv(walls):.1f}%; "
        f"cpu_s CV {100 * cv(cpus):.1f}%, CPU/wall median {statistics.median(share):.2f} "
        f"(min {min(share):.2f}); peak RSS median {statistics.median(rss) / 2**20:.1f} MiB, "
        f"CV {100 * cv(rss):.2f}%"
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
    parser.add_argument("--pool", type=int, default=50, help="ok runs per pool (default 50)")
    parser.add_argument("--trials", type=int, default=2000, help="trials per rate (default 2000)")
    parser.add_argument(
        "--target-s", type=float, default=0.35, help="seconds of one W run (default 0.35)"
    )
    parser.add_argument("--slowdown", type=float, default=1.2, help="planted (default 1.2)")
    parser.add_argument(
        "--chunk",
        type=int,
        default=1,
        help="runs per batch before switching pools (default 1: the pools see the same machine)",
    )
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
    if args.pool < 2 * DEFAULT_REPEATS:
        parser.error(f"--pool must be at least {2 * DEFAULT_REPEATS} (A/A draws two sides)")

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
                iterations, args.slowdown, args.pool, args.chunk, work_dir
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
    ratio = statistics.median(r.wall_s or 0 for r in slow_pool) / statistics.median(
        r.wall_s or 0 for r in base_pool
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

    def same_code(rng: random.Random, n: int) -> tuple[list[RunRecord], list[RunRecord]]:
        picked = rng.sample(base_pool, 2 * n)
        return picked[:n], picked[n:]

    half = len(base_pool) // 2

    def same_code_later(rng: random.Random, n: int) -> tuple[list[RunRecord], list[RunRecord]]:
        # BASE from the first half of the collection, NEW from the second: includes drift.
        return rng.sample(base_pool[:half], n), rng.sample(base_pool[half:], n)

    def planted(rng: random.Random, n: int) -> tuple[list[RunRecord], list[RunRecord]]:
        return rng.sample(base_pool, n), rng.sample(slow_pool, n)

    ok = True
    for repeats in (DEFAULT_REPEATS, *INFO_REPEATS):
        if 2 * repeats > len(base_pool):
            continue
        rng = random.Random(args.seed + repeats)
        aa = run_trials(same_code, repeats, args.trials, rng)
        drift = run_trials(same_code_later, repeats, args.trials, rng) if half >= repeats else None
        hit = run_trials(planted, repeats, args.trials, rng)
        tag = "default" if repeats == DEFAULT_REPEATS else "information only"
        print(f"\n{repeats} repeats per side ({tag}):")
        print("  " + line("A/A false-positive rate (any regression flag)", aa.flagged, aa))
        print("    " + line("of which wall time", aa.time_flagged, aa))
        print("    " + line("of which peak memory", aa.memory_flagged, aa))
        print("    " + line("test alone: p <= alpha, slower", aa.time_p_significant, aa))
        print("    " + line("ratio alone: > threshold", aa.time_ratio_over, aa))
        if drift is not None:
            print("  " + line("A/A, BASE from 1st half, NEW from 2nd", drift.flagged, drift))
        print("  " + line(f"planted {args.slowdown:g}x detection rate", hit.time_flagged, hit))
        print("    " + line("test alone: p <= alpha, slower", hit.time_p_significant, hit))
        print("    " + line("ratio alone: > threshold", hit.time_ratio_over, hit))
        if repeats == DEFAULT_REPEATS:
            fp_ok = aa.share(aa.flagged) <= MAX_FALSE_POSITIVES
            det_ok = hit.share(hit.time_flagged) >= MIN_DETECTION
            print(f"  requirement A/A <= {MAX_FALSE_POSITIVES:.0%}: {'PASS' if fp_ok else 'FAIL'}")
            print(f"  requirement detection >= {MIN_DETECTION:.0%}: {'PASS' if det_ok else 'FAIL'}")
            ok = ok and fp_ok and det_ok
    print(
        f"\ntotal {time.monotonic() - started:.0f} s; pools W {len(base_pool)}, "
        f"1.2W {len(slow_pool)}; {args.trials} trials per rate"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
