"""What a killed bdbench leaves, and telling a process from a reused pid (issue 23): the next
batch sweeps scratch folders and run cgroups whose owner is gone; a daemon's identity survives
a moving boot time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import run_cli
from harness import memlimit, procid
from harness.clusters import daemons
from harness.clusters.daemons import Handle
from plugin_workloads import PIDFILE_ENV

QUICK = ("-s", "tiny", "--warmups", "0", "--no-progress")


def test_start_ticks_identify_a_process_whatever_its_create_time_says(tmp_path: Path) -> None:
    handle = daemons.start("sleeper", ["sleep", "60"], tmp_path / "sleeper.log")
    try:
        assert handle.start_ticks == procid.start_ticks(handle.pid) is not None
        # A VM's boot time moves: the create time psutil gives another process is off by 9 s.
        moved = Handle(**{**handle.to_json(), "create_time": handle.create_time + 9})
        assert moved.alive()
        # The same pid with other start ticks is another process (a reused pid).
        other = Handle(**{**handle.to_json(), "start_ticks": (handle.start_ticks or 0) - 1})
        assert not other.alive()
        assert daemons.stop(moved)
        assert not moved.alive()
    finally:
        daemons.stop(handle)


def _cgroup_possible() -> bool:
    group = memlimit.RunCgroup.create("bdbench-probe-test", 1 << 30)
    if group is None:
        return False
    group.remove()
    return True


def test_the_next_run_sweeps_what_a_killed_bdbench_left(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    pidfile = tmp_path / "pids"
    env = dict(os.environ, TMPDIR=str(tmp), **{PIDFILE_ENV: str(pidfile)})
    with_cgroup = _cgroup_possible()
    limit = ("--memory-limit", "1G") if with_cgroup else ()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "-w", "t_sleepy", "-e", "numpy", "-r", "1",
         *QUICK, *limit, "--results", str(tmp_path / "r1")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pidfile.exists(), "the sleepy run never started"
        proc.send_signal(signal.SIGKILL)  # bdbench itself, not its run
        proc.wait(timeout=10)
        sleeper, worker = (int(x) for x in pidfile.read_text().split())
        assert [p.name for p in tmp.iterdir() if p.name.startswith("bdbench-")]
        orphans = memlimit.leftover_cgroups()
        assert bool(orphans) == with_cgroup
        done = run_cli(
            "run", "-w", "wordcount", "-e", "numpy", "-r", "1", *QUICK,
            "--results", str(tmp_path / "r2"), env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        cgroups = " and 1 run cgroup" if with_cgroup else ""
        note = (
            f"bdbench: note: removed 1 scratch folder{cgroups} left by bdbench processes that "
            "are gone"
        )
        assert note in done.stderr.splitlines()
        assert list(tmp.iterdir()) == []
        assert memlimit.leftover_cgroups() == []
        # What ran in the dead batch's scratch (its worker, the worker's child) is gone too.
        assert not psutil.pid_exists(worker) or psutil.Process(worker).status() == "zombie"
        assert not psutil.pid_exists(sleeper) or psutil.Process(sleeper).status() == "zombie"
        # A live batch's scratch is never swept: the second run's own went with it.
        again = run_cli(
            "run", "-w", "wordcount", "-e", "numpy", "-r", "1", *QUICK,
            "--results", str(tmp_path / "r3"), env=env,
        )  # fmt: skip
        assert "removed" not in again.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in (int(x) for x in (pidfile.read_text().split() if pidfile.exists() else [])):
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass


@pytest.mark.parametrize("owner", ["another live process", "nobody"])
def test_scratch_roots_of_live_owners_or_of_nobody_are_kept(tmp_path: Path, owner: str) -> None:
    from harness import scratch

    root = tmp_path / "bdbench-keepme"
    root.mkdir()
    if owner == "another live process":
        pid = os.getppid()
        (root / scratch.OWNER_FILE).write_text(f"{pid} {procid.start_ticks(pid)}\n")
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp_path)
    import tempfile

    tempfile.tempdir = None
    try:
        assert scratch.sweep()[0] == 0
    finally:
        if old is None:
            os.environ.pop("TMPDIR")
        else:
            os.environ["TMPDIR"] = old
        tempfile.tempdir = None
    assert root.is_dir()
