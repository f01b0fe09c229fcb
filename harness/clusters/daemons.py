"""Long-lived daemon processes of a local cluster: start detached, wait until ready, stop.

A daemon outlives the ``bdbench`` command that started it (``cluster up`` returns), so it is
remembered by (pid, start ticks since boot) in the cluster's state file (``harness.procid``: a
create time moves with the VM's boot time, the ticks never do); ``stop`` never signals a reused
pid. Each daemon is a session leader: it and everything it forks (YARN containers, Spark
executors) are found and stopped together.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from harness import procid
from harness.errors import UserError

#: Seconds a daemon gets to exit after SIGTERM before SIGKILL.
STOP_GRACE_S = 5.0


class ClusterError(UserError):
    """A cluster cannot come up, or is not in the state a command needs (one clear line)."""


@dataclass
class Handle:
    """A started daemon: enough to find it again from another process."""

    name: str
    pid: int
    #: When it started as psutil read it (informative: it moves with the VM's boot time).
    create_time: float
    log: str
    #: Its start in clock ticks since boot: what identifies it (None in older state files).
    start_ticks: int | None = None

    def process(self) -> psutil.Process | None:
        """The live process, or None when it is gone (or its pid was reused)."""
        try:
            proc = psutil.Process(self.pid)
            if self.start_ticks is not None:
                if procid.start_ticks(self.pid) != self.start_ticks:
                    return None
            elif abs(proc.create_time() - self.create_time) > 0.01:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None

    def alive(self) -> bool:
        """Whether the daemon still runs."""
        return self.process() is not None

    def to_json(self) -> dict[str, Any]:
        """JSON form for the state file."""
        return asdict(self)


def start(
    name: str,
    argv: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Handle:
    """Start ``argv`` detached (own session, output to ``log``); return its handle."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )
    created = psutil.Process(proc.pid).create_time()
    return Handle(name, proc.pid, created, str(log), procid.start_ticks(proc.pid))


def wait_ready(
    handle: Handle, ready: Callable[[], bool], timeout: float, step: float = 0.5
) -> float:
    """Wait until ``ready()``; ClusterError naming the daemon and its log when it dies or
    ``timeout`` passes. Returns the seconds waited."""
    began = time.monotonic()
    while True:
        with contextlib.suppress(Exception):  # not listening yet, half-written output ...
            if ready():
                return time.monotonic() - began
        if not handle.alive():
            raise ClusterError(f"{handle.name} exited while starting: see {handle.log}")
        if time.monotonic() - began > timeout:
            raise ClusterError(f"{handle.name} not ready after {timeout:g} s: see {handle.log}")
        time.sleep(step)


def stop(handle: Handle, grace: float = STOP_GRACE_S) -> bool:
    """Stop a daemon and everything it started (SIGTERM, then SIGKILL after ``grace``);
    True when something was running."""
    proc = handle.process()
    if proc is None:
        return False
    try:
        tree = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        tree = [proc]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    for p in tree:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(tree, timeout=grace)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=grace)
    return True


def processes_under(root: Path, cwd_dirs: Sequence[Path] = ()) -> list[psutil.Process]:
    """Live processes of a cluster folder that no handle may account for: JVMs whose temp
    folder is in ``root`` (daemons, clients, containers: every JVM of the cluster gets one
    there) and anything running in one of ``cwd_dirs`` (containers', executors' folders).
    Never this process or its parents."""
    ours = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    tmpdir_flag = f"-Djava.io.tmpdir={root}/"
    dirs = tuple(f"{d}/" for d in cwd_dirs)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if proc.info["pid"] in ours:
            continue
        cmdline = proc.info["cmdline"] or []
        cwd = f"{proc.info['cwd'] or ''}/"
        if any(arg.startswith(tmpdir_flag) for arg in cmdline) or (dirs and cwd.startswith(dirs)):
            found.append(proc)
    return found


def kill_all(
    procs: list[psutil.Process],
    rounds: int = 3,
    find: Callable[[], list[psutil.Process]] | None = None,
) -> None:
    """SIGKILL ``procs`` and wait for them to be gone; with ``find``, look again (a dying
    process may have started a child) up to ``rounds`` times."""
    for _ in range(rounds):
        if not procs:
            return
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(procs, timeout=STOP_GRACE_S)
        if find is None:
            return
        procs = find()


def port_holder(port: int, host: str = "127.0.0.1") -> str:
    """``pid N (command)`` of the process listening on ``host:port``, or ``""``."""
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.pid is not None:
                if conn.status == psutil.CONN_LISTEN and conn.laddr.ip in (host, "0.0.0.0", "::"):
                    with contextlib.suppress(psutil.Error):
                        cmd = " ".join(psutil.Process(conn.pid).cmdline()[:2])
                        return f"pid {conn.pid} ({cmd[:100]})"
                    return f"pid {conn.pid}"
    return ""


def wait_ports_free(ports: dict[str, int], timeout: float = STOP_GRACE_S) -> None:
    """Wait until no port of ``ports`` is in use; ClusterError naming the first one still held
    (and by whom) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        held = {purpose: port for purpose, port in ports.items() if port_in_use(port)}
        if not held:
            return
        if time.monotonic() > deadline:
            purpose, port = next(iter(held.items()))
            holder = port_holder(port)
            by = f" by {holder}" if holder else ""
            raise ClusterError(
                f"port {port} ({purpose}) on 127.0.0.1 is still in use{by} after the cluster "
                "was stopped"
            )
        time.sleep(0.2)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on (or holds) ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(ports: dict[str, int]) -> None:
    """ClusterError naming the first port (and its purpose) that is already in use."""
    for purpose, port in ports.items():
        if port_in_use(port):
            raise ClusterError(f"port {port} ({purpose}) on 127.0.0.1 is already in use")


def http_json(url: str, timeout: float = 2.0) -> Any:
    """GET ``url`` and parse its JSON body (raises on any failure)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False
