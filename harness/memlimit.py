"""Per-run memory limits (``--memory-limit``) and telling an OOM kill from any other death.

A limit is enforced on the run's whole process tree by a memory cgroup made for the run under
the runner's own (cgroup v2 ``memory.max``, or v1 ``memory.limit_in_bytes``): the kernel then
OOM-kills inside that tree only, and the cgroup's ``oom_kill`` count says it did. Where no
memory cgroup is writable (no root, no delegation), the probe enforces the limit instead: it
kills the tree when its summed RSS passes the limit (``probe.TreeSampler``), coarser by its
sampling interval. Without a limit, the kernel's own counters (the runner's cgroup, else
``/proc/vmstat``) still say when the OOM killer struck during a run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from harness import procid

CGROUP_ROOT = Path("/sys/fs/cgroup")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
#: Name prefix of the cgroups made for runs.
PREFIX = "bdbench-"
#: Below this no run of any engine starts (a Python interpreter and its array library alone
#: take ~40 MiB).
MIN_LIMIT = 64 << 20


#: How a failed record's error begins when the run died of memory: the kernel's OOM killer,
#: or the probe enforcing ``--memory-limit`` where no cgroup could (see ``runner._Limit``).
OOM_REASONS = ("killed by the OOM killer", "killed by bdbench at ")


def out_of_memory(error: str | None) -> bool:
    """Whether a run's error says it died of memory (an OOM kill, or over its limit)."""
    return bool(error) and str(error).startswith(OOM_REASONS)


def machine_memory() -> int:
    """This machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def parse_size(text: str) -> int:
    """``2G`` -> 2 GiB in bytes (units K, M, G, T, binary; plain digits are bytes), at least
    64M and at most the machine's memory."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size like 512M or 2G, got {text!r}")
    size = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if size < MIN_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r} is below the smallest limit, 64M")
    # A limit the machine cannot reach limits nothing: it would be recorded as if it had.
    check_fits(text, size)
    return int(size)


def check_fits(text: str, size: float) -> None:
    """``argparse.ArgumentTypeError`` when ``size`` (bytes, given as ``text``) is more than
    this machine's memory."""
    total = machine_memory()
    if size > total:
        raise argparse.ArgumentTypeError(
            f"{text!r} is more than this machine's memory, {total / (1 << 30):.1f}G"
        )


def fmt_size(size: int) -> str:
    """Bytes as the shortest exact binary unit: 2147483648 -> ``2G``."""
    for unit in ("T", "G", "M", "K"):
        factor = _UNITS[unit.lower()]
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup paths: ``{"v2": path}`` and/or ``{"memory": path}`` (v1)."""
    found: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            found["v2"] = path
        elif "memory" in controllers.split(","):
            found["memory"] = path
    return found


def _field(path: Path, name: str) -> int | None:
    """The value of ``name`` in a flat-keyed cgroup file (``memory.events``, ``oom_control``)."""
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == name:
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def _v2_dir(own: dict[str, str]) -> Path | None:
    # cgroup v2 sits at /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid).
    if "v2" not in own:
        return None
    for base in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        if (base / "cgroup.controllers").is_file():
            return base / own["v2"].lstrip("/")
    return None


def _v1_dir(own: dict[str, str]) -> Path | None:
    base = CGROUP_ROOT / "memory"
    if "memory" not in own or not (base / "memory.limit_in_bytes").is_file():
        return None
    return base / own["memory"].lstrip("/")


def oom_kill_count() -> int | None:
    """OOM kills so far as the kernel counts them for this process's surroundings: its memory
    cgroup's count (v2 ``memory.events``, v1 ``memory.oom_control``), else the machine's."""
    own = _own_cgroups()
    v2 = _v2_dir(own)
    if v2 is not None and (count := _field(v2 / "memory.events", "oom_kill")) is not None:
        return count
    v1 = _v1_dir(own)
    if v1 is not None and (count := _field(v1 / "memory.oom_control", "oom_kill")) is not None:
        return count
    return _field(Path("/proc/vmstat"), "oom_kill")


def leftover_cgroups() -> list[Path]:
    """Run cgroups (``bdbench-*``) still present under this process's own cgroups."""
    own = _own_cgroups()
    found: list[Path] = []
    for parent in (_v2_dir(own), _v1_dir(own)):
        if parent is not None and parent.is_dir():
            found += [p for p in parent.glob(f"{PREFIX}*") if p.is_dir()]
    return found


def run_cgroup_name(run: str) -> str:
    """The cgroup name of one run: the prefix, this process's pid and start ticks (so a later
    batch can tell an orphan from a live batch's), the run's name."""
    pid, ticks = procid.me()
    return f"{PREFIX}{pid}.{ticks}-{run}"


def _owner(path: Path) -> tuple[int, int] | None:
    match = re.match(rf"^{re.escape(PREFIX)}(\d+)\.(\d+)-", path.name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def sweep_orphans() -> int:
    """Remove run cgroups whose owning bdbench process is gone (killing what is left in
    them); older names without an owner only when empty. How many were removed."""
    removed = 0
    for path in leftover_cgroups():
        owner = _owner(path)
        if owner is not None and procid.alive(*owner):
            continue
        if owner is None:
            try:
                if (path / "cgroup.procs").read_text().split():
                    continue
            except OSError:
                continue
        version = "cgroup v2" if (path / "memory.max").exists() else "cgroup v1"
        RunCgroup(path, version, 0).remove()
        removed += not path.exists()
    return removed


@dataclass
class RunCgroup:
    """A memory cgroup holding one run's process tree, with the run's limit."""

    path: Path
    version: str  # "cgroup v2" or "cgroup v1"
    limit: int

    @classmethod
    def create(cls, name: str, limit: int) -> RunCgroup | None:
        """Make the cgroup under this process's own, or None when no memory cgroup is
        writable here (the probe then enforces the limit)."""
        own = _own_cgroups()
        for version, parent, files in (
            ("cgroup v2", _v2_dir(own), ("memory.max", "memory.swap.max")),
            ("cgroup v1", _v1_dir(own), ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")),
        ):
            if parent is None:
                continue
            path = parent / name
            try:
                path.mkdir()
            except OSError:
                continue
            try:
                (path / files[0]).write_text(str(limit))
            except OSError:
                with contextlib.suppress(OSError):
                    path.rmdir()
                continue
            # No swapping past the limit either (v2: none at all; v1: memory+swap = limit).
            swap = "0" if version == "cgroup v2" else str(limit)
            with contextlib.suppress(OSError):  # swap accounting may be off
                (path / files[1]).write_text(swap)
            return cls(path, version, limit)
        return None

    def add(self, pid: int) -> None:
        """Move ``pid`` into the cgroup (its later children are born there)."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def oom_kills(self) -> int:
        """How many processes the kernel OOM-killed in this cgroup."""
        name = "memory.events" if self.version == "cgroup v2" else "memory.oom_control"
        return _field(self.path / name, "oom_kill") or 0

    def peak_bytes(self) -> int | None:
        """The cgroup's peak memory use, where the kernel keeps it."""
        name = "memory.peak" if self.version == "cgroup v2" else "memory.max_usage_in_bytes"
        try:
            return int((self.path / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def remove(self, wait_s: float = 5.0) -> None:
        """Remove the cgroup, killing whatever is still in it (the runner reaped the run's
        session already; this catches a process that left it)."""
        with contextlib.suppress(OSError, ValueError):
            for pid in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.05)  # killed processes take a moment to leave a cgroup
