"""A Spark standalone cluster on 127.0.0.1, from the installed pyspark: one master, N workers.

The pyspark wheel ships ``bin/spark-class`` but no ``sbin/start-master.sh``, so the master and
the workers are started as ``spark-class org.apache.spark.deploy.master.Master`` and
``...deploy.worker.Worker``, each its own detached daemon, with ``SPARK_LOCAL_IP=127.0.0.1`` so
that the executors they start bind there too. Everything they write (logs, executor working
folders, spill, the JVMs' temp files) stays under the cluster's folder.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import psutil

from harness.clusters import daemons
from harness.clusters.daemons import ClusterError, Handle
from harness.engines.spark_engine import LOG4J_CONF
from harness.tools import find_java, no_java_reason

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
#: Heap of the master and worker daemons themselves (executors get their own).
DAEMON_MEMORY = "512m"
#: How fast a lost worker is noticed, in seconds (Spark's defaults are for real networks).
#: ``spark.worker.timeout`` is read by the master (a worker silent that long is DEAD; default
#: 60) and the workers (they heartbeat every quarter of it).
DAEMON_DETECTION = {"spark.worker.timeout": "10"}
#: What drivers on the local cluster set (``SparkEngine``): an executor silent for
#: ``spark.network.timeout`` is lost (default 120s), and it heartbeats well within it.
#: On one host a killed process's sockets close at once, so a kill is noticed through the
#: closed connection first; these bound a silent (frozen) node.
DRIVER_DETECTION = {
    "spark.network.timeout": "30s",
    "spark.executor.heartbeatInterval": "3s",
    # How often the driver looks for expired heartbeats (default 60s; Spark requires it to
    # be at most the network timeout).
    "spark.network.timeoutInterval": "10s",
}


@dataclass
class SparkPorts:
    """Ports of the standalone cluster (workers' web UIs count up from ``worker_webui``)."""

    # 17xxx: Hadoop's ports of the same local cluster are 18xxx.
    master: int = 17077
    master_webui: int = 17080
    worker_webui: int = 17081

    def shifted(self, by: int) -> SparkPorts:
        """Every port moved by ``by``."""
        return SparkPorts(self.master + by, self.master_webui + by, self.worker_webui + by)


@dataclass
class SparkStandalone:
    """A standalone master and its workers under ``root``."""

    root: Path
    workers: int = 1
    worker_cores: int = 2
    worker_memory: str = "2g"
    ports: SparkPorts = field(default_factory=SparkPorts)
    handles: list[Handle] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        """The ``spark://`` URL drivers connect to."""
        return f"spark://127.0.0.1:{self.ports.master}"

    @property
    def webui(self) -> str:
        """The master's web UI (its ``/json/`` endpoint tells the cluster's state)."""
        return f"http://127.0.0.1:{self.ports.master_webui}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        conf = self.root / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        env.update(
            SPARK_LOCAL_IP="127.0.0.1",
            # An empty conf folder: a user's spark-env.sh or defaults must not change the cluster.
            SPARK_CONF_DIR=str(conf),
            SPARK_LOG_DIR=str(self.root / "logs"),
            SPARK_LOCAL_DIRS=str(self.root / "local"),
            SPARK_WORKER_DIR=str(self.root / "work"),
            SPARK_DAEMON_MEMORY=DAEMON_MEMORY,
            # No REST submission server: one more fixed port (6066) nothing here uses.
            SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false",
            SPARK_DAEMON_JAVA_OPTS=f"-Djava.io.tmpdir={tmp} -XX:-UsePerfData "
            f"-Dlog4j2.configurationFile=file:{LOG4J_CONF} "
            + " ".join(f"-D{k}={v}" for k, v in DAEMON_DETECTION.items()),
        )
        env.pop("SPARK_HOME", None)  # the installed pyspark's own, found by spark-class
        return env

    def _ports(self) -> dict[str, int]:
        ports = {
            "spark master": self.ports.master,
            "spark master web UI": self.ports.master_webui,
        }
        for i in range(self.workers):
            ports[f"spark worker {i + 1} web UI"] = self.ports.worker_webui + i
        return ports

    def up(self, timeout: float = 120) -> dict[str, Any]:
        """Start the master, then the workers; wait until every worker is ALIVE."""
        reason = unavailable()
        if reason:
            raise ClusterError(reason)
        daemons.check_ports(self._ports())
        env, spark_class = self._env(), _spark_class()
        logs = self.root / "logs"
        began = time.monotonic()
        try:
            master = daemons.start(
                "spark master",
                [spark_class, MASTER_CLASS, "--host", "127.0.0.1", "--port",
                 str(self.ports.master), "--webui-port", str(self.ports.master_webui)],
                logs / "master.log",
                env,
                self.root,
            )  # fmt: skip
            self.handles = [master]
            daemons.wait_ready(master, lambda: self._state()["status"] == "ALIVE", timeout)
            for i in range(self.workers):
                self.handles.append(self._start_worker(i, spark_class, env))
            daemons.wait_ready(master, lambda: self.alive_workers() >= self.workers, timeout)
        except BaseException:
            self.down()
            raise
        return self.to_state(startup_s=time.monotonic() - began)

    def work_dir(self, i: int) -> Path:
        """Worker ``i``'s (1-based) executor folders: apart, so that an executor can be told
        by its folder even after its worker died."""
        return self.root / "work" / f"worker-{i}"

    def restart_worker(self, i: int, timeout: float = 60) -> float:
        """Start worker ``i`` (1-based) again after it was lost; wait until the master lists
        it ALIVE again. Seconds it took."""
        began = time.monotonic()
        name = f"spark worker {i}"
        handle = self._start_worker(i - 1, _spark_class(), self._env())
        try:
            daemons.wait_ready(handle, lambda: self._worker_alive(i), timeout)
        except BaseException:
            daemons.stop(handle)  # not left running unrecorded
            raise
        self.handles = [h for h in self.handles if h.name != name] + [handle]
        return round(time.monotonic() - began, 2)

    def _worker_alive(self, i: int) -> bool:
        """Whether the master lists worker ``i`` (by its web UI's port) ALIVE."""
        address = f":{self.ports.worker_webui + i - 1}"
        return any(
            str(w.get("webuiaddress", "")).endswith(address) and w.get("state") == "ALIVE"
            for w in self._state().get("workers", [])
        )

    def _start_worker(self, i: int, spark_class: str, env: dict[str, str]) -> Handle:
        work = self.work_dir(i + 1)
        work.mkdir(parents=True, exist_ok=True)
        return daemons.start(
            f"spark worker {i + 1}",
            [spark_class, WORKER_CLASS, "--host", "127.0.0.1", "--cores", str(self.worker_cores),
             "--memory", self.worker_memory, "--webui-port", str(self.ports.worker_webui + i),
             "--work-dir", str(work), self.master_url],
            self.root / "logs" / f"worker-{i + 1}.log",
            env,
            self.root,
        )  # fmt: skip

    def _state(self) -> dict[str, Any]:
        state = daemons.http_json(f"{self.webui}/json/")
        if not isinstance(state, dict):
            raise ClusterError(f"spark master at {self.webui} answered no JSON object")
        return state

    def alive_workers(self) -> int:
        """Workers the master sees ALIVE."""
        return sum(1 for w in self._state().get("workers", []) if w.get("state") == "ALIVE")

    def alive_cores(self) -> int | None:
        """Cores of the workers the master sees ALIVE (None: the master does not answer)."""
        try:
            workers = self._state().get("workers", [])
        except Exception:
            return None
        return sum(int(w.get("cores", 0)) for w in workers if w.get("state") == "ALIVE")

    def down(self) -> None:
        """Stop the workers (and their executors), then the master, then whatever of the
        cluster's folder still runs (a worker whose master died, executors); remove temp
        folders."""
        for handle in reversed(self.handles):
            daemons.stop(handle)
        self.handles = []
        daemons.kill_all(self._strays(), find=self._strays)
        for name in ("tmp", "local", "work"):
            shutil.rmtree(self.root / name, ignore_errors=True)

    def _strays(self) -> list[psutil.Process]:
        """The cluster's JVMs (their temp folder is ours) and executors (running in the work
        folder), whichever handle they belong to."""
        return daemons.processes_under(self.root, [self.root / "work"])

    def port_purposes(self) -> dict[str, int]:
        """Every port this cluster listens on, by purpose."""
        return self._ports()

    def status(self) -> dict[str, Any]:
        """What runs: master URL, version, daemons and the workers the master sees."""
        out: dict[str, Any] = {
            "master": self.master_url,
            "webui": self.webui,
            "version": spark_version(),
            "daemons": {h.name: "running" if h.alive() else "stopped" for h in self.handles},
        }
        try:
            state = self._state()
        except Exception:
            out["alive_workers"] = 0
            return out
        out["alive_workers"] = sum(1 for w in state.get("workers", []) if w["state"] == "ALIVE")
        out["cores"] = state.get("cores")
        out["memory_mb"] = state.get("memory")
        return out

    def to_state(self, **extra: Any) -> dict[str, Any]:
        """JSON state for the cluster's state file."""
        return {
            "workers": self.workers,
            "worker_cores": self.worker_cores,
            "worker_memory": self.worker_memory,
            "ports": asdict(self.ports),
            "handles": [h.to_json() for h in self.handles],
            "master": self.master_url,
            "version": spark_version(),
            "detection": {**DAEMON_DETECTION, **DRIVER_DETECTION},
            **extra,
        }

    @classmethod
    def from_state(cls, root: Path, state: dict[str, Any]) -> SparkStandalone:
        """The cluster described by a state written by ``to_state``."""
        return cls(
            root,
            workers=int(state["workers"]),
            worker_cores=int(state["worker_cores"]),
            worker_memory=str(state["worker_memory"]),
            ports=SparkPorts(**state["ports"]),
            handles=[Handle(**h) for h in state["handles"]],
        )


def _spark_class() -> str:
    spec = find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise ClusterError("spark standalone: python package 'pyspark' is not installed")
    return str(Path(spec.origin).parent / "bin" / "spark-class")


def spark_version() -> str | None:
    """The installed pyspark's version."""
    try:
        return metadata.version("pyspark")
    except metadata.PackageNotFoundError:
        return None


def unavailable() -> str | None:
    """Why a standalone cluster cannot start here (None when it can)."""
    if find_spec("pyspark") is None:
        return "spark standalone: python package 'pyspark' is not installed"
    if find_java() is None:
        return f"spark standalone: {no_java_reason()}"
    return None
