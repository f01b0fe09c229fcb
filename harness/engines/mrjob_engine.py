"""Hadoop Streaming through mrjob: ``local`` (simulated on one machine), ``inline``, ``hadoop``."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.argtypes import int_at_least
from harness.engines.base import Engine, cpu_count
from harness.engines.options import option
from harness.rules import RulesMode
from harness.tools import find_binary

if TYPE_CHECKING:
    from mrjob.job import MRJob

    from harness.datasets import Dataset

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
        None, flag="--hadoop-streaming-jar", help="Hadoop streaming jar for the hadoop runner"
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


class MrjobEngine(Engine):
    """mrjob jobs (mapper/combiner/reducer scripts) on one of its runners."""

    name = "mrjob"
    variants = ("local", "inline", "hadoop")
    description = "Hadoop Streaming via mrjob"
    distributions = ("mrjob",)
    Options = MrjobOptions
    options: MrjobOptions

    def unavailable(self, variant: str, rules: RulesMode) -> str | None:
        """Reason the runner cannot work here: mrjob missing, or no hadoop binary."""
        reason = super().unavailable(variant, rules)
        if reason is None and variant == "hadoop" and find_hadoop() is None:
            return "mrjob/hadoop: no hadoop binary on PATH or in $HADOOP_HOME/bin"
        return reason

    def start(self, variant: str, rules: RulesMode, data: Dataset, scratch: Path) -> None:
        """Import mrjob and the runner (tasks start per job; nothing long-lived to start)."""
        import importlib

        import mrjob
        import mrjob.job

        # Import the runner's module now so its import time is start-up, not workload time.
        importlib.import_module(f"mrjob.{variant}")
        self.variant = variant
        self._mrjob_version = mrjob.__version__

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
        elif self.options.hadoop_streaming_jar:
            args += ["--hadoop-streaming-jar", self.options.hadoop_streaming_jar]
        args += list(self.options.args)
        return args + [str(p) for p in inputs]

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
            runner.run()
            pairs = list(job.parse_output(runner.cat_output()))
            return (pairs, runner.counters()) if with_counters else pairs

    def info(self) -> dict[str, Any]:
        """Runner and parallelism."""
        info: dict[str, Any] = {"runner": self.variant, "mrjob": self._mrjob_version}
        if self.variant == "local":
            info["num_cores"] = self.num_cores()
        if self.variant == "hadoop":
            info["hadoop_bin"] = find_hadoop()
            info["hadoop_streaming_jar"] = self.options.hadoop_streaming_jar
        if self.options.args:
            info["extra_args"] = list(self.options.args)
        return info

    def where(self, variant: str) -> str:
        """``(simulated)`` for the local runner; the Hadoop it runs on for ``hadoop``."""
        if variant == "local":
            return "(simulated)"
        if variant == "hadoop":
            return hadoop_where()
        return ""

    def simulation_note(self, variant: str) -> str | None:
        """The local runner is a simulation of Hadoop Streaming."""
        return LOCAL_NOTE if variant == "local" else None
