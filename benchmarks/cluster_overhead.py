"""Fixed costs of the local cluster: start-up per daemon, and the overhead of one empty job.

``python -m benchmarks.cluster_overhead [--jobs 3]`` brings a local cluster up in a folder of
its own (ports moved by ``--port-offset`` so that it never meets a cluster already up), then
times, ``--jobs`` times each:

* an empty Hadoop Streaming job straight through ``hadoop jar`` (``cat`` as mapper and
  reducer over an empty HDFS file): YARN scheduling, the ApplicationMaster and task JVMs;
* the same empty job through mrjob's hadoop runner (adds mrjob's own ``hadoop fs`` calls);
* an empty Spark job on the standalone master and on YARN, session start-up apart.

and takes the cluster down. Every figure is printed; nothing is asserted (a benchmark, not a
test). Measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.clusters import local
from harness.clusters.hadoop import HadoopCluster
from harness.engines.mrjob_engine import HadoopTarget, hadoop_runner_args
from harness.engines.spark_engine import pyspark_jars

EMPTY = "/bdbench/bench/empty.txt"


def _time(fn: Any) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def streaming_job(cluster: HadoopCluster, out: str) -> None:
    """One empty streaming job through ``hadoop jar``: cat | sort | cat over an empty file."""
    argv = [
        str(cluster.hadoop_bin()),
        "jar",
        str(cluster.streaming_jar()),
        "-D",
        "mapreduce.job.reduces=1",
        "-input",
        EMPTY,
        "-output",
        out,
        "-mapper",
        "cat",
        "-reducer",
        "cat",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"streaming job failed: {done.stderr.strip().splitlines()[-1:]}")


def mrjob_job(cluster: HadoopCluster, scratch: Path) -> None:
    """The same empty job through mrjob's hadoop runner (the way bdbench runs mrjob/hadoop)."""
    from workloads.wordcount.mr_wordcount import MRWordCount

    target = HadoopTarget(str(cluster.hadoop_bin()), str(cluster.streaming_jar()), {}, True)
    job = MRWordCount(["-r", "hadoop", *hadoop_runner_args(target, scratch), f"hdfs://{EMPTY}"])
    with job.make_runner() as runner:
        runner.run()


def spark_jobs(master: str, jobs: int) -> dict[str, Any]:
    """Session start-up, then ``jobs`` empty jobs, on ``master``."""
    from pyspark.sql import SparkSession

    began = time.perf_counter()
    spark = (
        SparkSession.builder.master(master)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.executor.memory", "1g")
        .config("spark.yarn.am.memory", "512m")
        .config("spark.executor.instances", "1")
        .config("spark.ui.showConsoleProgress", "false")
        # As bdbench runs Spark on a YARN of this machine: its jars in place, never uploaded.
        .config("spark.yarn.jars", f"local:{pyspark_jars()}/*")
        .getOrCreate()
    )
    session = time.perf_counter() - began
    sc = spark.sparkContext
    sc.setLogLevel("ERROR")
    times = [_time(lambda: sc.parallelize([], 1).map(lambda x: x).count()) for _ in range(jobs)]
    spark.stop()
    return {"session_s": session, "job_s": times}


def main(argv: list[str] | None = None) -> int:
    """Bring the cluster up, time the empty jobs, take it down, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3, help="empty jobs of each kind (3)")
    parser.add_argument("--port-offset", type=int, default=13000, help="ports + this (13000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bdbench-cluster-bench-") as tmp:
        root = Path(tmp)
        os.environ[local.CLUSTER_DIR_ENV] = str(root)
        state = local.up(local.UpOptions(port_offset=args.port_offset), root)
        try:
            report(state, root, args.jobs)
        finally:
            local.down(root)
    return 0


def report(state: dict[str, Any], root: Path, jobs: int) -> None:
    """Time the empty jobs on the cluster that ``state`` describes and print every figure."""
    print(f"cluster up: {state['startup_s']:.1f} s in total")
    for part in ("hadoop", "spark"):
        startup = state[part].get("startup_s")
        if isinstance(startup, dict):
            print(f"  {part}: " + ", ".join(f"{k} {v:.1f} s" for k, v in startup.items()))
        elif startup is not None:
            print(f"  {part}: {startup:.1f} s")
    cluster = HadoopCluster.from_state(root / "hadoop", state["hadoop"])
    client = cluster.client()
    client.fs("-mkdir", "-p", "/bdbench/bench")
    client.fs("-touchz", EMPTY)
    raw = [
        _time(lambda i=i: streaming_job(cluster, f"/bdbench/bench/out-{i}")) for i in range(jobs)
    ]
    with tempfile.TemporaryDirectory(dir=root) as scratch:
        via_mrjob = [_time(lambda: mrjob_job(cluster, Path(scratch))) for _ in range(jobs)]
    os.environ["HADOOP_CONF_DIR"] = str(cluster.conf_dir)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    standalone = spark_jobs(state["spark"]["master"], jobs)
    yarn = spark_jobs("yarn", jobs)
    print(f"{'empty job':<42} {'median':>8} {'min':>8} {'max':>8}")
    rows = [
        ("Hadoop Streaming (hadoop jar, cat | cat)", raw),
        ("Hadoop Streaming via mrjob's hadoop runner", via_mrjob),
        ("Spark job on standalone (session apart)", standalone["job_s"]),
        ("Spark job on YARN (session apart)", yarn["job_s"]),
    ]
    for name, values in rows:
        print(
            f"{name:<42} {statistics.median(values):>7.2f}s {min(values):>7.2f}s "
            f"{max(values):>7.2f}s"
        )
    print(
        f"Spark session start-up: standalone {standalone['session_s']:.1f} s, "
        f"YARN {yarn['session_s']:.1f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
