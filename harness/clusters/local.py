"""The local cluster as one thing: Hadoop (HDFS + YARN + MapReduce) and Spark standalone, up
and down together, described by a state file that later commands (and runs) read.

State lives in ``.bdbench/cluster/`` (``BDBENCH_CLUSTER_DIR`` overrides): ``state.json`` says
what runs, with the daemons' pids, ports, versions and start-up times.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import paths
from harness.clusters import daemons
from harness.clusters.daemons import ClusterError, Handle
from harness.clusters.spark_standalone import SparkPorts, SparkStandalone

CLUSTER_DIR_ENV = paths.CLUSTER_DIR_ENV


def cluster_dir() -> Path:
    """Where the local cluster keeps its state: ``$BDBENCH_CLUSTER_DIR`` or ``.bdbench/cluster``."""
    return paths.cluster_dir()


def state_path(root: Path | None = None) -> Path:
    """The state file."""
    return (root or cluster_dir()) / "state.json"


def read_state(root: Path | None = None) -> dict[str, Any] | None:
    """The recorded state, or None when no cluster was brought up (or it was taken down)."""
    path = state_path(root)
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ClusterError(f"cluster state {path} is unreadable: {exc}") from exc
    return state if isinstance(state, dict) else None


def write_state(root: Path, state: dict[str, Any]) -> None:
    """Replace the state file (atomically): a node restarted by a fault run has a new handle."""
    path = state_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    tmp.replace(path)


@dataclass
class UpOptions:
    """What ``cluster up`` starts."""

    hadoop: bool = True
    spark: bool = True
    workers: int = 1
    worker_cores: int = 2
    worker_memory: str = "2g"
    nodemanager_memory_mb: int = 4096
    nodemanager_vcores: int = 4
    #: YARN NodeManagers (each a node of its own: ports, scratch and logs).
    nodemanagers: int = 1
    #: Added to every default port (a second cluster beside a user's, e.g. for tests).
    port_offset: int = 0


def up(options: UpOptions | None = None, root: Path | None = None) -> dict[str, Any]:
    """Bring the selected parts up (none may run already); record and return the state."""
    options = options or UpOptions()
    root = root or cluster_dir()
    if read_state(root) is not None:
        raise ClusterError(f"a local cluster is already up (see bdbench cluster status; {root})")
    state: dict[str, Any] = {"root": str(root), "started_at": time.time()}
    began = time.monotonic()
    try:
        if options.hadoop:
            from harness.clusters.hadoop import HadoopCluster, HadoopPorts

            hadoop = HadoopCluster(
                root / "hadoop",
                HadoopPorts().shifted(options.port_offset),
                nodemanager_memory_mb=options.nodemanager_memory_mb,
                nodemanager_vcores=options.nodemanager_vcores,
                nodemanagers=options.nodemanagers,
            )
            state["hadoop"] = hadoop.up()
            write_state(root, state)  # a later failure still lets `down` stop Hadoop
        if options.spark:
            spark = SparkStandalone(
                root / "spark",
                options.workers,
                options.worker_cores,
                options.worker_memory,
                SparkPorts().shifted(options.port_offset),
            )
            state["spark"] = spark.up()
    except BaseException:
        down(root, state)
        raise
    state["startup_s"] = time.monotonic() - began
    write_state(root, state)
    return state


def down(root: Path | None = None, state: dict[str, Any] | None = None) -> bool:
    """Stop whatever the state says runs (and every process of the cluster's folders) and
    forget it; False when nothing was up. ClusterError when one of the cluster's ports is
    still in use afterwards (naming the port and who holds it): "down" means free."""
    root = root or cluster_dir()
    state = state if state is not None else read_state(root)
    if state is None:
        return False
    ports: dict[str, int] = {}
    if "spark" in state:
        spark = SparkStandalone.from_state(root / "spark", state["spark"])
        ports.update(spark.port_purposes())
        spark.down()
    if "hadoop" in state:
        from harness.clusters.hadoop import HadoopCluster

        hadoop = HadoopCluster.from_state(root / "hadoop", state["hadoop"])
        ports.update({f"hadoop {name}": port for name, port in hadoop.port_purposes().items()})
        hadoop.down()
    state_path(root).unlink(missing_ok=True)
    shutil.rmtree(root / "tmp", ignore_errors=True)
    daemons.wait_ports_free(ports)
    return True


def status(root: Path | None = None) -> dict[str, Any]:
    """What runs, where, with versions: ``{"hadoop": {...}, "spark": {...}}`` ({} when down)."""
    root = root or cluster_dir()
    state = read_state(root)
    if state is None:
        return {}
    out: dict[str, Any] = {}
    if "hadoop" in state:
        from harness.clusters.hadoop import HadoopCluster

        out["hadoop"] = HadoopCluster.from_state(root / "hadoop", state["hadoop"]).status()
    if "spark" in state:
        out["spark"] = SparkStandalone.from_state(root / "spark", state["spark"]).status()
    return out


__all__ = [
    "SparkPorts",
    "UpOptions",
    "cluster_dir",
    "daemon_pids",
    "describe",
    "down",
    "for_batch",
    "read_state",
    "status",
    "up",
]


def daemon_pids(part: str, names: tuple[str, ...], root: Path | None = None) -> list[int]:
    """Pids of the running daemons of ``part`` ("hadoop", "spark") whose name starts with one
    of ``names`` (e.g. "spark worker", "nodemanager"); empty when the cluster is down."""
    try:
        state = read_state(root)
    except ClusterError:
        return []
    facts = (state or {}).get(part) or {}
    # Spark's state lists its handles; Hadoop's names them ("daemons": {name: handle}).
    handles = facts.get("handles") or facts.get("daemons") or []
    if isinstance(handles, dict):
        handles = list(handles.values())
    pids = []
    for data in handles:
        handle = Handle(**data)
        if handle.name.lower().startswith(names) and handle.alive():
            pids.append(handle.pid)
    return pids


#: What a batch's environment file records of the Hadoop part (see ``HadoopCluster.up``).
HADOOP_FACTS = (
    "version",
    "fs",
    "resourcemanager",
    "conf_dir",
    "nodemanagers",
    "datanodes",
    "nodemanager_memory_mb",
    "nodemanager_vcores",
    "nodes",
    "detection",
    "conf",
    "startup_s",
)


@contextlib.contextmanager
def for_batch(options: UpOptions | None = None) -> Iterator[tuple[dict[str, Any], bool]]:
    """The local cluster for one batch: the one already up, or one brought up now (untimed)
    and taken down when the batch ends, however it ends (failure, Ctrl-C, SIGTERM). Yields
    (state, whether this batch brought it up)."""
    state = read_state()
    if state is not None:
        yield state, False
        return
    state = up(options)
    try:
        yield state, True
    finally:
        down()


def describe(state: dict[str, Any], brought_up: bool) -> dict[str, Any]:
    """The cluster as a batch's environment file records it: kind, nodes, cores and memory
    per node, versions, key configuration, start-up time."""
    out: dict[str, Any] = {
        "kind": "local pseudo-distributed (every daemon on 127.0.0.1)",
        "brought_up_by_batch": brought_up,
        "startup_s": state.get("startup_s"),
    }
    hadoop = state.get("hadoop")
    if hadoop:
        out["hadoop"] = {k: hadoop[k] for k in HADOOP_FACTS if hadoop.get(k) is not None}
    spark = state.get("spark")
    if spark:
        out["spark"] = {
            k: spark.get(k)
            for k in (
                "version",
                "master",
                "workers",
                "worker_cores",
                "worker_memory",
                "detection",
                "startup_s",
            )
        }
    return out


def stand_in(options: UpOptions | None = None) -> dict[str, Any]:
    """What the state of a cluster brought up with ``options`` says of where cells run, before
    it is up (to check a batch's cells against it first)."""
    options = options or UpOptions()
    state: dict[str, Any] = {}
    if options.spark:
        spark = SparkStandalone(Path(), ports=SparkPorts().shifted(options.port_offset))
        state["spark"] = {"master": spark.master_url, "workers": options.workers}
    if options.hadoop:
        state["hadoop"] = {"nodemanagers": options.nodemanagers}
    return state


def all_daemon_pids(root: Path | None = None) -> list[int]:
    """Pids of every running daemon of the local cluster (all parts; empty when it is down):
    the system under test beside a cluster run, never "other processes" using the CPUs."""
    return daemon_pids("hadoop", ("",), root) + daemon_pids("spark", ("",), root)
