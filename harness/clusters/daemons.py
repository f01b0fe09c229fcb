"""Long-lived daemon processes of a local cluster: start detached, wait until ready, stop.

A daemon outlives the ``bdbench`` command that started it (``cluster up`` returns), so it is
remembered by (pid, create time) in the cluster's state file; ``stop`` never signals a reused
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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

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
    create_time: float
    log: str

    def process(self) -> psutil.Process | None:
        """The live process, or None when it is gone (or its pid was reused)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.01:
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
    return Handle(name, proc.pid, created, str(log))


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
