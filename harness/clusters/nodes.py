"""Worker nodes of the local cluster: find them, see what runs on them, lose one, bring it back.

A worker node here is a daemon and everything working for it: a YARN NodeManager with its task
containers (each started with ``setsid``, in a session of its own, so they would outlive their
NodeManager), or a Spark standalone worker with its executors and their Python workers. Losing a
node kills all of it at once with SIGKILL, as a crashed machine would lose it, then sweeps the
node's own folders for anything that escaped. HDFS is never touched: on a real cluster the input
stays readable through its other replicas.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from harness.clusters import daemons, local
from harness.clusters.daemons import ClusterError, Handle

#: The roles a node can have, and the part of the local cluster's state that lists them.
PARTS = {"nodemanager": "hadoop", "spark worker": "spark"}
_CONTAINER = re.compile(r"container_(?:e\d+_)?(\d+)_(\d+)_(\d+)_(\d+)")


@dataclass
class Node:
    """One worker node of the local cluster."""

    role: str
    #: Its handle's name: ``nodemanager 2``, ``spark worker 1``.
    name: str
    #: 1-based.
    index: int
    handle: Handle
    #: Its own folders: whatever runs there works for it (containers, executors).
    dirs: list[Path]

    def alive(self) -> bool:
        """Whether its daemon runs."""
        return self.handle.alive()

    def processes(self) -> list[psutil.Process]:
        """Its daemon, the daemon's descendants, and whatever runs in its folders."""
        found = {p.pid: p for p in self.tree()}
        found.update((p.pid, p) for p in _in_folders(self.dirs))
        return list(found.values())

    def tree(self) -> list[psutil.Process]:
        """Its daemon and the daemon's descendants now (empty when the daemon is gone)."""
        daemon = self.handle.process()
        if daemon is None:
            return []
        try:
            return [daemon, *daemon.children(recursive=True)]
        except psutil.Error:
            return [daemon]


def _in_folders(dirs: list[Path]) -> list[psutil.Process]:
    prefixes = tuple(f"{d}/" for d in dirs)
    found = []
    for proc in psutil.process_iter(["pid", "cwd"]):
        if f"{proc.info['cwd'] or ''}/".startswith(prefixes):
            found.append(proc)
    return found


def worker_nodes(role: str, state: dict[str, Any] | None = None) -> list[Node]:
    """The local cluster's nodes of ``role`` ("nodemanager", "spark worker"), by index, alive
    or not (empty when the cluster or that part is down)."""
    state = state if state is not None else (local.read_state() or {})
    part = state.get(PARTS[role]) or {}
    root = Path(state.get("root") or local.cluster_dir())
    nodes: list[Node] = []
    if role == "nodemanager" and part:
        from harness.clusters.hadoop import HadoopCluster

        cluster = HadoopCluster.from_state(root / "hadoop", part)
        for i in range(1, cluster.nodemanagers + 1):
            data = (part.get("daemons") or {}).get(cluster.nm_name(i))
            if data is not None:
                nodes.append(
                    Node(role, cluster.nm_name(i), i, Handle(**data), [cluster.nm_local(i)])
                )
    elif role == "spark worker" and part:
        from harness.clusters.spark_standalone import SparkStandalone

        spark = SparkStandalone.from_state(root / "spark", part)
        for data in part.get("handles") or []:
            handle = Handle(**data)
            if handle.name.startswith("spark worker "):
                i = int(handle.name.rsplit(" ", 1)[1])
                nodes.append(Node(role, handle.name, i, handle, [spark.work_dir(i)]))
    return sorted(nodes, key=lambda n: n.index)


def what(proc: psutil.Process, node: Node) -> str:
    """What a process of ``node`` is, for the record: the daemon, a container (by id) or an
    executor (by id), or its command."""
    if proc.pid == node.handle.pid:
        return node.name
    try:
        cmdline = proc.cmdline()
        cwd = proc.cwd()
    except psutil.Error:
        try:
            return proc.name()
        except psutil.Error:
            return "gone"
    program = Path(cmdline[0]).name if cmdline else "?"
    if "pyspark.daemon" in cmdline or "pyspark.worker" in " ".join(cmdline):
        return "python worker"
    if "--executor-id" in cmdline:
        at = cmdline.index("--executor-id")
        return f"executor {cmdline[at + 1] if at + 1 < len(cmdline) else '?'}"
    found = _CONTAINER.search(cwd) or _CONTAINER.search(" ".join(cmdline))
    if found:
        return f"{found.group(0)} {program}"
    return program


@dataclass
class Loss:
    """A node being lost: its processes SIGKILLed (``lose``), then waited for and its folders
    swept (``finish``, which may run after the caller moved on)."""

    node: Node
    procs: list[psutil.Process]
    #: What was killed: ``[{"pid", "what"}]``.
    killed: list[dict[str, Any]]

    def finish(self) -> None:
        """Wait for the killed processes to be gone; sweep the node's folders twice for one
        started meanwhile (a container its NodeManager was launching)."""
        psutil.wait_procs(self.procs, timeout=daemons.STOP_GRACE_S)
        dirs = self.node.dirs
        daemons.kill_all(_in_folders(dirs), rounds=2, find=lambda: _in_folders(dirs))


def lose(node: Node, procs: list[psutil.Process] | None = None) -> Loss:
    """SIGKILL ``node``'s daemon and everything working for it (``procs``: a snapshot taken
    earlier, refreshed with the daemon's descendants now) at once, as a crashed machine would
    lose them; returns at once (``Loss.finish`` waits)."""
    found = {p.pid: p for p in (node.processes() if procs is None else procs)}
    found.update((p.pid, p) for p in node.tree())
    alive = [p for p in found.values() if p.is_running()]
    killed = [{"pid": p.pid, "what": what(p, node)} for p in alive]
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            continue
    return Loss(node, alive, killed)


def kill(node: Node) -> list[dict[str, Any]]:
    """Lose ``node`` and wait until all of it is gone; what was killed."""
    loss = lose(node)
    loss.finish()
    return loss.killed


@dataclass(frozen=True)
class Container:
    """A YARN container seen on a node (from the NodeManager's pid files)."""

    application: str
    #: Its number within the application attempt: 1 is the ApplicationMaster.
    number: int

    @property
    def is_am(self) -> bool:
        """Whether it is its application's ApplicationMaster."""
        return self.number == 1


def containers(node: Node) -> list[Container]:
    """The containers a NodeManager has launched and not yet cleaned up: its pid files,
    ``<local dir>/nmPrivate/<application>/<container>/<container>.pid``."""
    found = []
    for pid_file in node.dirs[0].glob("nmPrivate/application_*/container_*/*.pid"):
        match = _CONTAINER.search(pid_file.name)
        if match:
            app = f"application_{match.group(1)}_{match.group(2)}"
            found.append(Container(app, int(match.group(4))))
    return found


def restore(names: list[str], timeout: float = 120) -> dict[str, Any]:
    """Start the named nodes of the local cluster again (each with its old settings) and record
    their new handles in the state file: ``{"restarted": [...], "restore_s": s}``.
    ClusterError when one does not come back."""
    began = time.monotonic()
    restarted: list[str] = []
    if not names:
        return {"restarted": restarted, "restore_s": 0.0}
    root = local.cluster_dir()
    state = local.read_state(root)
    if state is None:
        raise ClusterError("the local cluster is down: no node to restore")
    for name in names:
        if name.startswith("nodemanager"):
            from harness.clusters.hadoop import HadoopCluster

            cluster = HadoopCluster.from_state(root / "hadoop", state["hadoop"])
            i = 1 if name == "nodemanager" else int(name.rsplit(" ", 1)[1])
            cluster.restart_nodemanager(i, timeout)
            state["hadoop"]["daemons"][name] = cluster.handles[name].to_json()
        else:
            from harness.clusters.spark_standalone import SparkStandalone

            spark = SparkStandalone.from_state(root / "spark", state["spark"])
            spark.restart_worker(int(name.rsplit(" ", 1)[1]), timeout)
            state["spark"]["handles"] = [h.to_json() for h in spark.handles]
        local.write_state(root, state)
        restarted.append(name)
    return {"restarted": restarted, "restore_s": round(time.monotonic() - began, 2)}
