"""Telling the same process apart from a reused pid, across processes and hours.

psutil's ``create_time()`` is the boot time plus the process's start ticks; on a VM the boot
time it reads moves (seen: 9 s between two reads), so a stored create time stops matching a
process that never went away. The start ticks themselves (field 22 of ``/proc/PID/stat``, in
clock ticks since boot) never change for a process and differ for a later one with its pid.
"""

from __future__ import annotations

import os

import psutil


def start_ticks(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (None when it is gone or the
    system has no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 overall; fields[0] is field 3 (the state)
    except (IndexError, ValueError):
        return None


def alive(pid: int, ticks: int | None) -> bool:
    """Whether the process that started at ``ticks`` still runs as ``pid`` (a zombie does not
    count); without ``ticks``, whether any live process has that pid."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.Error:
        return False
    return ticks is None or start_ticks(pid) == ticks


def me() -> tuple[int, int | None]:
    """This process: (pid, start ticks)."""
    pid = os.getpid()
    return pid, start_ticks(pid)
