"""Hadoop Streaming through mrjob: ``local`` (simulated on one machine), ``inline``, ``hadoop``."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.argtypes import executable, existing_file, int_at_least
from harness.engines.base import Engine, Placement, Role, cpu_count
from harness.engines.options import option
from harness.errors import EngineUnavailable
from harness.rules import RulesMode
from harness.tools import find_binary

if TYPE_CHECKING:
    from mrjob.job import MRJob

    from harness.clusters.watch import ClusterWatch
    from harness.datasets import Dataset
    from harness.faults import FaultTarget

#: The system every variant runs (the local runners simulate it), as published claims name it.
SYSTEM = "Hadoop MapReduce"

LOCAL_NOTE = (
    "mrjob 'local' simulates Hadoop Streaming on one machine "
    "(separate map, combine and reduce processes with a sort between them; no HDFS, no cluster)"
)


def counter_totals(counters: Iterable[dict[str, dict[str, int]]], group: str) -> dict[str, int]:
    """One counter group summed over the steps of a job (``runner.counters()`` lists steps)."""
    totals: dict[str, int] = {}
    for step in counters:
        for name, value in step.get(group, {}).items():
            totals[name] = totals.get(name, 0) + value
    return totals


def find_hadoop() -> str | None:
    """Path of the ``hadoop`` binary: ``$HADOOP_HOME/bin/hadoop`` or PATH."""
    return find_binary("hadoop", "HADOOP_HOME")


@dataclass
class MrjobOptions:
    """Options of the mrjob engine (``bdbench run --mrjob-*``)."""

    #: Local runner task parallelism (``--num-cores``); None = all cores.
    num_cores: int | None = option(
        None,
        flag="--mrjob-num-cores",
        parse=int_at_least(1),
        help="local runner parallelism (default: all cores)",
    )
    hadoop_streaming_jar: str | None = option(
        None,
        flag="--hadoop-streaming-jar",
        parse=existing_file,
        help="Hadoop streaming jar for the hadoop runner (default: the local cluster's)",
    )
    hadoop_bin: str | None = option(
        None,
        flag="--hadoop-bin",
        parse=executable,
        help="the hadoop command of your own cluster (default: the local cluster's, else "
        "$HADOOP_HOME/bin/hadoop or PATH)",
    )
    #: Extra command-line options passed to every mrjob job as they are.
    args: list[str] = option(
        flag="--mrjob-arg",
        kind="list",
        metavar="ARG",
        help="extra mrjob option passed through, e.g. --mrjob-arg=--hadoop-bin=/x",
    )


def hadoop_where() -> str:
    """``(Hadoop 3.4.2, 1 NodeManager, pseudo-distributed)`` on the local cluster, else
    ``(Hadoop cluster)``: a user's cluster, as its ``hadoop`` command reaches it."""
    from harness.clusters import local

    state = (local.read_state() or {}).get("hadoop")
    if not state:
        return "(Hadoop cluster)"
    nodes = int(state.get("nodemanagers", 1))
    plural = "s" if nodes != 1 else ""
    return f"(Hadoop {state.get('version')}, {nodes} NodeManager{plural}, pseudo-distributed)"


@dataclass(frozen=True)
class HadoopTarget:
    """Where the hadoop runner submits: the command, its streaming jar, its environment."""

    hadoop_bin: str
    streaming_jar: str | None
    env: dict[str, str]
    #: The local cluster (bdbench cluster up), or None for a user's own cluster.
    local: bool
    #: Prefix of staged inputs' URIs: the namenode's ``hdfs://host:port``, or ``hdfs://``
    #: (whatever the cluster's default file system is).
    fs_uri: str = "hdfs://"
    #: Where mrjob looks for task logs (``<dir>/userlogs``), one per NodeManager.
    log_dirs: tuple[str, ...] = ()


def hadoop_target(options: MrjobOptions) -> HadoopTarget | None:
    """The Hadoop to run on: ``--hadoop-bin``, else the local cluster, else ``$HADOOP_HOME``
    or PATH; None when there is none."""
    if options.hadoop_bin:
        return HadoopTarget(options.hadoop_bin, options.hadoop_streaming_jar, {}, False)
    from harness.clusters import local

    state = (local.read_state() or {}).get("hadoop")
    if state:
        from harness.clusters.hadoop import HadoopCluster

        cluster = HadoopCluster.from_state(local.cluster_dir() / "hadoop", state)
        env = {"HADOOP_CONF_DIR": str(cluster.conf_dir), "HADOOP_LOG_DIR": str(cluster.log_dir)}
        jar = options.hadoop_streaming_jar or str(cluster.streaming_jar())
        logs = tuple(str(cluster.nm_logs(i).parent) for i in range(1, cluster.nodemanagers + 1))
        return HadoopTarget(str(cluster.hadoop_bin()), jar, env, True, cluster.fs_uri, logs)
    found = find_hadoop()
    if found:
        return HadoopTarget(found, options.hadoop_streaming_jar, {}, False)
    return None


def hadoop_runner_args(target: HadoopTarget, scratch: Path) -> list[str]:
    """mrjob's hadoop runner on ``target``: its command and jar; on the local cluster also this
    venv's Python for the tasks (mrjob is installed there: no bootstrap), no user mrjob.conf,
    and the client's temp files in ``scratch``."""
    args = ["--hadoop-bin", target.hadoop_bin]
    if target.streaming_jar:
        args += ["--hadoop-streaming-jar", target.streaming_jar]
    if target.local:
        tmp = scratch / "mrjob-tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        args += ["--python-bin", sys.executable, "--no-bootstrap-mrjob", "--no-conf"]
        args += ["--local-tmp-dir", str(tmp)]
        if len(target.log_dirs) > 1:  # mrjob's default is $HADOOP_LOG_DIR: NodeManager 1's
            for folder in target.log_dirs:
                args += ["--hadoop-log-dirs", folder]
    return args


#: JobCounter's display names -> the ``recovery`` keys (Hadoop prints only counters it
#: incremented: an absent one is 0).
ATTEMPT_COUNTERS = {
    "Failed map tasks": "failed_maps",
    "Killed map tasks": "killed_maps",
    "Launched map tasks": "launched_maps",
    "Failed reduce tasks": "failed_reduces",
    "Killed reduce tasks": "killed_reduces",
    "Launched reduce tasks": "launched_reduces",
}


def task_attempts(jobs: list[list[dict[str, dict[str, int]]]]) -> dict[str, Any]:
    """Failed, killed and launched task attempts from each job's counters (``[{group: {name:
    value}}]`` per step, as mrjob parses them): summed, and per job. A lost node's running
    attempts are killed (and its finished maps re-run while reducers need them); a reducer that
    cannot fetch a map's output gets it re-run as failed. Speculative attempts count too, so a
    fault run's are read against its controls'."""
    per_job = []
    for steps in jobs:
        counts = dict.fromkeys(ATTEMPT_COUNTERS.values(), 0)
        for step in steps:
            for group, values in step.items():
                if group.strip() != "Job Counters":  # Hadoop's group name ends in a space
                    continue
                for name, key in ATTEMPT_COUNTERS.items():
                    counts[key] += int(values.get(name, 0))
        per_job.append(counts)
    total = {key: sum(job[key] for job in per_job) for key in ATTEMPT_COUNTERS.values()}
    return {**total, "per_job": per_job}


class MrjobEngine(Engine):
    """mrjob jobs (mapper/combiner/reducer scripts) on one of its runners."""

    name = "mrjob"
    variants = ("local", "inline", "hadoop")
    description = "Hadoop Streaming via mrjob"
    distributions = ("mrjob",)
    Options = MrjobOptions
    options: MrjobOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.target: HadoopTarget | None = None
        #: Local input path -> its copy on the cluster's file system (hadoop runner).
        self.staged: dict[Path, str] = {}
        #: Each job's wall time (submit to finish) and counters, in order.
        self.jobs: list[dict[str, Any]] = []

    @classmethod
    def fresh_calls(cls, variant: str) -> str | None:
        """The local and hadoop runners start every task of every job as a new process
        (measured at tiny: a process's first call is no slower than its second)."""
        if variant in ("local", "hadoop"):
            return f"mrjob/{variant} runs every task of every job in a new process"
        return None

    def unavailable(self, variant: str, rules: RulesMode) -> str | None:
        """Reason the runner cannot work here: mrjob missing, or no Hadoop to run on."""
        reason = super().unavailable(variant, rules)
        if reason is None and variant == "hadoop" and hadoop_target(self.options) is None:
            return (
                "mrjob/hadoop: no hadoop binary on PATH or in $HADOOP_HOME/bin, and no local "
                "cluster up (bdbench cluster up; --hadoop-bin for your own cluster)"
            )
        return reason

    def start(self, variant: str, rules: RulesMode, data: Dataset, scratch: Path) -> None:
        """Import mrjob and the runner; on Hadoop, put the input on HDFS once (cached by
        dataset, as Hadoop users keep their data there). Never timed."""
        import importlib

        import mrjob
        import mrjob.job

        # Import the runner's module now so its import time is start-up, not workload time.
        importlib.import_module(f"mrjob.{variant}")
        self.variant = variant
        self._mrjob_version = mrjob.__version__
        if variant == "hadoop":
            self.target = hadoop_target(self.options)
            if self.target is None:
                raise EngineUnavailable(self.unavailable(variant, rules) or "no Hadoop")
            os.environ.update(self.target.env)
            self._stage(data)

    def _stage(self, data: Dataset) -> None:
        from harness.clusters.hadoop import HadoopClient

        assert self.target is not None
        client = HadoopClient(Path(self.target.hadoop_bin), self.target.env, self.target.fs_uri)
        key = f"{data.workload}-{data.root.name}"
        uris = client.stage(list(data.inputs), key)
        self.staged = dict(zip(data.inputs, uris, strict=True))

    def num_cores(self) -> int:
        """Task parallelism for the local runner."""
        return self.options.num_cores or cpu_count()

    def job_args(self, inputs: Iterable[Path], scratch: Path) -> list[str]:
        """Command-line arguments for one job on this engine's runner."""
        assert self.variant is not None, "start() first"
        args = ["-r", self.variant]
        if self.variant in ("local", "inline"):
            tmp = scratch / "mrjob-tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            # No user mrjob.conf: local results must not depend on a file outside the batch.
            args += ["--no-conf", "--local-tmp-dir", str(tmp), "--python-bin", sys.executable]
            if self.variant == "local":
                args += ["--num-cores", str(self.num_cores()), "--no-bootstrap-mrjob"]
        else:
            args += self._hadoop_args(scratch)
        args += list(self.options.args)
        return args + [self.staged.get(Path(p), str(p)) for p in inputs]

    def _hadoop_args(self, scratch: Path) -> list[str]:
        """The hadoop runner's arguments for this engine's target."""
        target = self.target or hadoop_target(self.options)
        if target is None:  # no Hadoop found here: pass on what the user gave
            jar = self.options.hadoop_streaming_jar
            return ["--hadoop-streaming-jar", jar] if jar else []
        return hadoop_runner_args(target, scratch)

    def run_job(
        self,
        job_class: type[MRJob],
        inputs: Iterable[Path],
        scratch: Path,
        extra_args: Sequence[str] = (),
        with_counters: bool = False,
    ) -> Any:
        """Run ``job_class`` over ``inputs``; return its parsed output pairs (and, with
        ``with_counters``, the Hadoop counters of each step: ``[{group: {name: value}}]``)."""
        job = job_class([*extra_args, *self.job_args(inputs, scratch)])
        with job.make_runner() as runner:
            began = time.perf_counter()
            runner.run()
            # Submit to finish: on Hadoop, each job's fixed cost (JVMs, YARN, HDFS) shows here.
            record: dict[str, Any] = {"wall_s": time.perf_counter() - began}
            counters = runner.counters()
            if counters:
                record["counters"] = counters
            self.jobs.append(record)
            pairs = list(job.parse_output(runner.cat_output()))
            return (pairs, counters) if with_counters else pairs

    def fault_target(self, variant: str, cluster: dict[str, Any]) -> FaultTarget | None:
        """On the local cluster's YARN: its NodeManagers, whose containers run one job's tasks
        (nothing stays on a node between the iterations' jobs)."""
        from harness.faults import FaultTarget

        if variant != "hadoop" or self.options.hadoop_bin or not cluster.get("hadoop"):
            return None
        return FaultTarget("nodemanager", "tasks", "NodeManager")

    def begin_call(self) -> None:
        """Each call's jobs are its own (a process's second call listed the first's too)."""
        self.jobs = []

    def run_metrics(self) -> dict[str, Any]:
        """Every job of the run: its wall time and, where the runner reports them, counters;
        on a cluster also ``recovery``: the task attempts YARN and MapReduce failed, killed and
        launched, summed over the jobs and per job (what a lost node cost them)."""
        if not self.jobs:
            return {}
        found: dict[str, Any] = {"jobs": list(self.jobs)}
        if self.variant == "hadoop":
            found["recovery"] = task_attempts([job.get("counters") or [] for job in self.jobs])
        return found

    def info(self) -> dict[str, Any]:
        """Runner and parallelism."""
        info: dict[str, Any] = {"runner": self.variant, "mrjob": self._mrjob_version}
        if self.variant == "local":
            info["num_cores"] = self.num_cores()
        if self.variant == "hadoop" and self.target is not None:
            info["hadoop_bin"] = self.target.hadoop_bin
            info["hadoop_streaming_jar"] = self.target.streaming_jar
            info["local_cluster"] = self.target.local
        if self.options.args:
            info["extra_args"] = list(self.options.args)
        return info

    def cluster_roots(self, variant: str) -> list[int]:
        """On the local cluster: the NodeManagers, whose containers (the ApplicationMaster, map
        and reduce tasks with their Python pipes) do the run's work."""
        target = hadoop_target(self.options) if variant == "hadoop" else None
        if target is None or not target.local:
            return []
        from harness.clusters import local

        return local.daemon_pids("hadoop", ("nodemanager",))

    def cluster_watch(self, variant: str) -> ClusterWatch | None:
        """On the local cluster: HDFS, YARN and the JobHistoryServer (job clients ask it for a
        finished job's status); a user's cluster by its ResourceManager's REST state, where its
        configuration names one."""
        target = hadoop_target(self.options) if variant == "hadoop" else None
        if target is None:
            return None
        from harness.clusters import local, watch

        if target.local:
            return watch.for_local(local.read_state() or {}, watch.MAPREDUCE, yarn=True)
        conf = os.environ.get("HADOOP_CONF_DIR") or target.env.get("HADOOP_CONF_DIR")
        if not conf and os.environ.get("HADOOP_HOME"):
            conf = str(Path(os.environ["HADOOP_HOME"]) / "etc" / "hadoop")
        web = watch.yarn_web_address([conf]) if conf else None
        return watch.ClusterWatch(yarn_rest=web, yarn_web=web) if web else None

    def role(self, variant: str) -> Role:
        """``local`` and ``inline`` simulate Hadoop on this machine (``inline`` in one process,
        one task at a time); ``hadoop`` runs on a cluster, of as many nodes as the local
        cluster has NodeManagers (unknown for a user's cluster)."""
        if variant == "hadoop":
            from harness.clusters import local

            state = (local.read_state() or {}).get("hadoop") or {}
            if not state or self.options.hadoop_bin:  # a user's cluster: its size is unknown
                return Role(Placement.CLUSTER, nodes=None, system=SYSTEM)
            nodes = int(state.get("nodemanagers") or 1)
            vcores = state.get("nodemanager_vcores")
            cores = nodes * int(vcores) if vcores else None
            return Role(Placement.CLUSTER, nodes=nodes, cores=cores, system=SYSTEM)
        cores = self.num_cores() if variant == "local" else 1
        return Role(Placement.SIMULATED, nodes=1, cores=cores, system=SYSTEM)

    @classmethod
    def recorded_role(cls, variant: str, where: str) -> Role:
        """``hadoop`` on a cluster, the local runners simulated."""
        if variant == "hadoop":
            return Role(Placement.CLUSTER, nodes=None, cores=None, system=SYSTEM)
        return Role(Placement.SIMULATED, cores=None, system=SYSTEM)

    def where(self, variant: str) -> str:
        """``(simulated)`` for the local runner; the Hadoop it runs on for ``hadoop``."""
        if variant == "local":
            return "(simulated)"
        if variant == "hadoop" and hadoop_target(self.options) is not None:
            return hadoop_where()
        return ""

    def simulation_note(self, variant: str) -> str | None:
        """The local runner is a simulation of Hadoop Streaming."""
        return LOCAL_NOTE if variant == "local" else None
