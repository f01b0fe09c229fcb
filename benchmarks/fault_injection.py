"""Inject real faults into real batches and show what bdbench keeps (not a test: a report).

``python -m benchmarks.fault_injection [--only NAME ...]`` runs each scenario as a user would
meet it, with ``bdbench run`` in a fresh process, its own results folder and its own ``TMPDIR``:

* ``full-disk``: results on a 1 MiB tmpfs filled up mid-batch, then ``--resume`` once space is
  back (needs root to mount the tmpfs);
* ``kill-worker``: ``kill -9`` of the measured worker process in the middle of a run;
* ``kill-jvm``: ``kill -9`` of the Spark driver JVM in the middle of a run;
* ``startup-timeout``: a Spark run whose timeout strikes while its JVM starts;
* ``oom``: a Spark run under ``--memory-limit`` too small for its JVM;
* ``sigterm-resume``: SIGTERM to bdbench mid-batch, then ``--resume``;
* ``kill-nodemanager``: on a local cluster brought up for the batch (its own folder, the default
  ports), ``kill -9`` of the only NodeManager while a MapReduce job's container runs; the note
  says how long after the kill the failed record came, what the next cluster cell's record
  says, and how many YARN applications were still waiting. Needs Maven's Hadoop (make setup).

It prints one row per scenario: records kept, records lost (runs that ended but have no whole
record: must be 0), orphan processes and temp folders left (must be 0), and the error text the
records carry. Needs Java for the Spark scenarios. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness import memlimit

QUICK = ["-w", "wordcount", "-s", "tiny", "--warmups", "0", "--no-progress"]


@dataclass
class Outcome:
    """What one scenario left behind."""

    scenario: str
    kept: int = 0
    lost: int = 0
    orphans: int = 0
    temp_left: int = 0
    errors: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class Place:
    """A scenario's own results folder and TMPDIR."""

    root: Path

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def env(self) -> dict[str, str]:
        self.tmp.mkdir(parents=True, exist_ok=True)
        return dict(os.environ, TMPDIR=str(self.tmp))

    def start(self, *args: str) -> subprocess.Popen[str]:
        """``bdbench run ARGS`` in the background."""
        cmd = [sys.executable, "-m", "harness.cli", "run", *args, "--results", str(self.results)]
        return subprocess.Popen(
            cmd, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def run(self, *args: str, results: bool = True) -> subprocess.CompletedProcess[str]:
        """``bdbench run ARGS`` to the end."""
        extra = ["--results", str(self.results)] if results else []
        cmd = [sys.executable, "-m", "harness.cli", "run", *args, *extra]
        return subprocess.run(
            cmd, env=self.env(), capture_output=True, text=True, timeout=900, check=False
        )

    def batch(self) -> Path | None:
        found = sorted(self.results.glob("*.jsonl")) if self.results.is_dir() else []
        return found[0] if found else None


def _count(place: Place, outcome: Outcome, planned: int) -> None:
    """Records kept and lost, orphans and temp folders left (after the scenario ended)."""
    path = place.batch()
    lines = path.read_text().splitlines() if path else []
    whole = []
    for line in lines:
        try:
            whole.append(json.loads(line))
        except ValueError:
            outcome.lost += 1  # a cut line: a run that ended without its record
    outcome.kept = len(whole)
    keys = [(r["workload"], r["engine"], r["variant"], r["repeat"], r["is_warmup"]) for r in whole]
    outcome.lost += len(keys) - len(set(keys))  # a duplicate hides a lost or rerun record
    if planned:
        outcome.lost += max(0, planned - len(set(keys)))
    outcome.errors = sorted({r["error"] for r in whole if r.get("error")})
    time.sleep(1)  # killed processes take a moment to disappear
    outcome.orphans = len(_our_processes(place))
    left = list(place.tmp.iterdir()) if place.tmp.is_dir() else []
    outcome.temp_left = len(left) + len(memlimit.leftover_cgroups())


def _our_processes(place: Place) -> list[psutil.Process]:
    """Live processes that belong to this scenario (their environment names its TMPDIR)."""
    mine = []
    for proc in psutil.process_iter(["environ"]):
        env = proc.info.get("environ") or {}
        if str(place.tmp) in env.get("TMPDIR", "") and proc.pid != os.getpid():
            mine.append(proc)
    return mine


def _wait_for(
    predicate: Callable[[], psutil.Process | None], timeout: float = 120
) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found is not None:
            return found
        time.sleep(0.05)
    raise TimeoutError("the process to kill never appeared")


def _find(place: Place, needle: str) -> Callable[[], psutil.Process | None]:
    def look() -> psutil.Process | None:
        for proc in _our_processes(place):
            try:
                if needle in " ".join(proc.cmdline()):
                    return proc
            except psutil.Error:
                continue
        return None

    return look


def full_disk(place: Place) -> Outcome:
    outcome = Outcome("full-disk")
    disk = place.root / "disk"
    disk.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        outcome.note = f"skipped: cannot mount a tmpfs ({mounted.stderr.strip()})"
        return outcome
    try:
        results = disk / "results"
        results.mkdir()
        stat = os.statvfs(disk)
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - 3 * 4096))
        place_on_disk = Place(place.root)
        args = [*QUICK, "-e", "numpy", "-r", "10", "--results", str(results)]
        first = place_on_disk.run(*args, results=False)
        lines = first.stderr.strip().splitlines()
        outcome.note = f"rc {first.returncode}; " + (lines[-1] if lines else "no error")
        filler.unlink()
        (path,) = results.glob("*.jsonl")
        place.run("--resume", str(path), "--no-progress", results=False)
        shutil.copytree(results, place.results)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    _count(place, outcome, planned=10)
    outcome.note += "; then --resume"
    return outcome


def _kill_mid_run(place: Place, name: str, needle: str, after_s: float) -> Outcome:
    """Two Spark runs; ``kill -9`` the first process whose command line has ``needle``,
    ``after_s`` seconds after it appears."""
    outcome = Outcome(name)
    proc = place.start(*QUICK, "-e", "spark/rdd", "-r", "2")
    victim = _wait_for(_find(place, needle))
    time.sleep(after_s)
    victim.kill()
    proc.wait(timeout=600)
    _count(place, outcome, planned=2)
    return outcome


def kill_worker(place: Place) -> Outcome:
    return _kill_mid_run(place, "kill-worker", "harness.worker", 3)  # its JVM is starting


def kill_jvm(place: Place) -> Outcome:
    return _kill_mid_run(place, "kill-jvm", "org.apache.spark.deploy.SparkSubmit", 6)  # working


def startup_timeout(place: Place) -> Outcome:
    outcome = Outcome("startup-timeout")
    place.run(*QUICK, "-e", "spark/rdd", "-r", "2", "--timeout", "2.5")
    _count(place, outcome, planned=2)
    return outcome


def oom(place: Place) -> Outcome:
    outcome = Outcome("oom")
    place.run(*QUICK, "-e", "spark/rdd", "-r", "1", "--memory-limit", "250M")
    _count(place, outcome, planned=1)
    return outcome


def sigterm_resume(place: Place) -> Outcome:
    outcome = Outcome("sigterm-resume")
    proc = place.start(*QUICK, "-e", "numpy", "-r", "6")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        path = place.batch()
        if path is not None and len(path.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    resume = [line for line in err.splitlines() if line.startswith("resume with:")]
    outcome.note = f"rc {proc.returncode}; " + (resume[0] if resume else "no resume line")
    path = place.batch()
    if path is not None:
        place.run("--resume", str(path), "--no-progress", results=False)
    _count(place, outcome, planned=6)
    return outcome


def kill_nodemanager(place: Place) -> Outcome:
    outcome = Outcome("kill-nodemanager")
    cluster = place.root / "cluster"
    env = dict(place.env(), BDBENCH_CLUSTER_DIR=str(cluster))
    cmd = [sys.executable, "-m", "harness.cli", "run", "--cluster", "local",
           "-w", "logreg,wordcount", "-e", "mrjob/hadoop,numpy", "-s", "tiny", "-r", "1",
           "--warmups", "0", "--no-progress", "--timeout", "600",
           "--results", str(place.results)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def nodemanager_at_work() -> psutil.Process | None:
        try:
            state = json.loads((cluster / "state.json").read_text())
            nodemanager = psutil.Process(state["hadoop"]["daemons"]["nodemanager"]["pid"])
            return nodemanager if nodemanager.children() else None
        except (OSError, ValueError, KeyError, psutil.Error):
            return None

    victim = _wait_for(nodemanager_at_work, timeout=300)
    state = json.loads((cluster / "state.json").read_text())
    web = state["hadoop"]["web"]["resourcemanager"]
    time.sleep(1)
    victim.kill()
    killed = time.monotonic()
    failed_after = None
    waiting = None
    while proc.poll() is None and failed_after is None:
        path = place.batch()
        lines = path.read_text().splitlines() if path else []
        if any(json.loads(line)["status"] == "failed" for line in lines if line.endswith("}")):
            failed_after = time.monotonic() - killed
            try:
                from harness.clusters.daemons import http_json

                apps = http_json(f"{web}/ws/v1/cluster/apps?states=NEW,SUBMITTED,ACCEPTED,RUNNING")
                waiting = len((apps.get("apps") or {}).get("app") or [])
            except Exception as exc:  # the batch may have taken the cluster down already
                waiting = f"unknown ({exc})"
        time.sleep(0.1)
    proc.communicate(timeout=900)
    _count(place, outcome, planned=4)
    path = place.batch()
    records = [json.loads(line) for line in path.read_text().splitlines()] if path else []
    skipped = [r for r in records if r["status"] == "skipped"]
    after = f"{failed_after:.1f} s" if failed_after is not None else "never"
    nxt = f"skipped: {skipped[0]['error']}" if skipped else "not skipped"
    outcome.note = (
        f"failed record {after} after the kill; applications still waiting then: {waiting}; "
        f"next cluster cell: {nxt}"
    )
    return outcome


SCENARIOS: dict[str, Callable[[Place], Outcome]] = {
    "full-disk": full_disk,
    "kill-worker": kill_worker,
    "kill-jvm": kill_jvm,
    "startup-timeout": startup_timeout,
    "oom": oom,
    "sigterm-resume": sigterm_resume,
    "kill-nodemanager": kill_nodemanager,
}


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(SCENARIOS), help="scenario(s)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bdbench-faults-") as tmp:
        for name in args.only or list(SCENARIOS):
            place = Place(Path(tmp) / name)
            place.root.mkdir()
            began = time.monotonic()
            outcome = SCENARIOS[name](place)
            rows.append((outcome, time.monotonic() - began))
            for proc in _our_processes(place):  # never leave one behind, even if counted
                proc.kill()
    header = (
        f"{'scenario':16} {'kept':>4} {'lost':>4} {'orphans':>7} {'temp':>4} {'time':>6}  error"
    )
    print(header)
    print("-" * len(header))
    for outcome, took in rows:
        errors = "; ".join(outcome.errors) or "-"
        print(
            f"{outcome.scenario:16} {outcome.kept:>4} {outcome.lost:>4} {outcome.orphans:>7} "
            f"{outcome.temp_left:>4} {took:>5.0f}s  {errors}"
        )
        if outcome.note:
            print(f"{'':16} note: {outcome.note}")
    bad = [o for o, _ in rows if o.lost or o.orphans or o.temp_left]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
