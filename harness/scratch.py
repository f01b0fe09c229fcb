"""The batch's scratch root under TMPDIR, and sweeping what killed batches left behind.

Every run's temp files live in a scratch folder under the batch's root (``bdbench-*`` in
TMPDIR), removed whatever happens, unless bdbench itself is killed (kill -9): then the root,
and the memory cgroups of runs in flight (``--memory-limit``), stay. Both carry their owner
(pid and start ticks, ``harness.procid``): the next batch removes those whose owner is gone,
and kills what still runs in them.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import psutil

from harness import memlimit, procid

#: Name prefix of scratch roots in TMPDIR.
PREFIX = "bdbench-"
#: The file in a scratch root naming its owner: ``PID TICKS``.
OWNER_FILE = "owner"


def make_root() -> Path:
    """A new scratch root in TMPDIR, owned by this process."""
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    pid, ticks = procid.me()
    (root / OWNER_FILE).write_text(f"{pid} {ticks}\n")
    return root


def _owner_gone(root: Path) -> bool:
    try:
        pid_text, ticks_text = (root / OWNER_FILE).read_text().split()
        pid, ticks = int(pid_text), int(ticks_text)
    except (OSError, ValueError):
        return False  # not ours, or its owner is still writing the file
    return not procid.alive(pid, ticks)


def _kill_inside(root: Path) -> None:
    """Kill processes running in ``root`` (workers of the dead batch run in their scratch)."""
    prefix = f"{root}/"
    found = []
    for proc in psutil.process_iter(["cwd"]):
        if f"{proc.info['cwd'] or ''}/".startswith(prefix):
            found.append(proc)
    for proc in found:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(found, timeout=5)


def sweep() -> tuple[int, int]:
    """Remove the scratch roots and run cgroups whose owning bdbench process is gone (killing
    what still runs in them); how many of each."""
    folders = 0
    for root in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        if root.is_dir() and _owner_gone(root):
            _kill_inside(root)
            shutil.rmtree(root, ignore_errors=True)
            folders += not root.exists()
    return folders, memlimit.sweep_orphans()


def sweep_note() -> str | None:
    """``sweep()``, said in one line when it removed something."""
    folders, cgroups = sweep()
    if not folders and not cgroups:
        return None
    parts = []
    if folders:
        parts.append(f"{folders} scratch folder{'s' if folders != 1 else ''}")
    if cgroups:
        parts.append(f"{cgroups} run cgroup{'s' if cgroups != 1 else ''}")
    return f"removed {' and '.join(parts)} left by bdbench processes that are gone"
