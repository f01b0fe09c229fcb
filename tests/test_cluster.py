"""The real local cluster: Hadoop (HDFS, YARN with two NodeManagers, JobHistory) and Spark
standalone (a master, two workers) on 127.0.0.1. Status, ``hadoop fs`` through the shim, cached
staging, an mrjob word count on YARN through the streaming jar, ``bdbench run`` on mrjob/hadoop,
Spark standalone and Spark on YARN with answers checked, a worker node lost mid-run by a fault
plan (recovered from, or not), a daemon killed mid-run, bad input, and nothing left behind
after ``down``.

One cluster for the test session (this module), brought up as ``bdbench cluster up`` does, on
ports of its own (the defaults + 11000: never a user's cluster, below the ephemeral range),
always taken down. The last test takes it down itself and checks what remains.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.clusters import daemons, local
from harness.clusters.daemons import ClusterError, Handle
from harness.clusters.hadoop import (
    HADOOP_VERSION,
    MAIN_CLASSES,
    POM,
    HadoopCluster,
    HadoopPorts,
    unavailable,
)
from harness.engines.mrjob_engine import HadoopTarget, hadoop_runner_args

REASON = unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

OFFSET = 11000
PORTS = HadoopPorts().shifted(OFFSET)
TMP = Path("/tmp")
#: Names of what Hadoop, its JVMs or mrjob would leave in /tmp if not told otherwise.
TMP_LEFTOVER = re.compile(
    r"hadoop|yarn|hdfs|mapred|jetty|netty|snappy|leveldb|mrjob|wrapper\.lock|Jetty", re.I
)


@dataclass
class Run:
    """The module's cluster and what the tests saw of it."""

    cluster: HadoopCluster
    tmp_before: set[str]
    perf_before: set[str]
    #: The daemons as started.
    handles: list[Handle] = field(default_factory=list)
    #: Every process of the cluster seen (daemons, containers, task processes).
    pids: set[int] = field(default_factory=set)
    #: The local cluster's state, as ``bdbench cluster up`` recorded it.
    state: dict[str, Any] = field(default_factory=dict)


def _perf_dir() -> Path:
    return TMP / f"hsperfdata_{psutil.Process().username()}"


def _listing(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        return set()


def _processes_of(root: Path) -> list[psutil.Process]:
    """Live processes whose command line or working folder is in ``root``."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if proc.info["pid"] == me:
            continue
        cmdline = " ".join(proc.info["cmdline"] or [])
        if f"{root}/" in cmdline or f"{proc.info['cwd'] or ''}/".startswith(f"{root}/"):
            found.append(proc)
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The local cluster, up for the module's tests (as ``bdbench cluster up`` brings it up,
    in a cluster folder of its own), down afterwards whatever happens."""
    root = tmp_path_factory.mktemp("cluster")
    old = os.environ.get(local.CLUSTER_DIR_ENV)
    # The measured children of bdbench run find the cluster through this variable too.
    os.environ[local.CLUSTER_DIR_ENV] = str(root)
    before = Run(None, _listing(TMP), _listing(_perf_dir()))  # type: ignore[arg-type]
    options = local.UpOptions(
        port_offset=OFFSET,
        workers=2,
        worker_cores=2,
        worker_memory="1g",
        nodemanagers=2,
        nodemanager_memory_mb=3072,
    )
    try:
        state = local.up(options, root)
        before.cluster = HadoopCluster.from_state(root / "hadoop", state["hadoop"])
        before.state = state
        before.handles = list(before.cluster.handles.values())
        before.pids.update(h.pid for h in before.handles)
        yield before
    finally:
        local.down(root)
        if old is None:
            os.environ.pop(local.CLUSTER_DIR_ENV, None)
        else:
            os.environ[local.CLUSTER_DIR_ENV] = old


def test_pom_pins_the_module_version() -> None:
    pinned = re.search(r"<hadoop.version>([^<]+)</hadoop.version>", POM.read_text())
    assert pinned is not None
    assert pinned.group(1) == HADOOP_VERSION


def test_status_running_with_version(run: Run) -> None:
    cluster = run.cluster
    status = cluster.status()
    assert status["daemons"] == dict.fromkeys([*MAIN_CLASSES, "nodemanager 2"], "running")
    assert status["version"] == HADOOP_VERSION  # as the ResourceManager reports it
    assert status["nodemanagers"] == 2
    assert status["nodes"] == {"nodemanager": "RUNNING", "nodemanager 2": "RUNNING"}
    assert status["live_datanodes"] == 1
    assert status["safemode"] is False
    assert status["fs"] == f"hdfs://127.0.0.1:{PORTS.namenode_rpc}"
    state = cluster.to_state()
    assert set(state["startup_s"]) == {*MAIN_CLASSES, "nodemanager 2", "total"}
    assert [node["name"] for node in state["nodes"]] == ["nodemanager", "nodemanager 2"]
    assert state["detection"]["yarn.nm.liveness-monitor.expiry-interval-ms"] == "10000"
    # A fresh process knows the cluster from its state alone.
    again = HadoopCluster.from_state(cluster.root, state)
    assert again.status()["daemons"] == status["daemons"]


def test_status_survives_a_moving_boot_time(run: Run) -> None:
    """psutil adds the boot time to a process's start; on a VM that figure moves (seen: 9 s),
    so the create times in the state file stop matching running daemons. The state file is
    left shifted for the rest of the module: later commands (and ``down``) must still know
    every daemon."""
    path = local.state_path(run.cluster.root.parent)
    state = json.loads(path.read_text())
    for handle in [*state["hadoop"]["daemons"].values(), *state["spark"]["handles"]]:
        handle["create_time"] += 9.0
    path.write_text(json.dumps(state))
    found = local.status(run.cluster.root.parent)
    assert set(found["hadoop"]["daemons"].values()) == {"running"}
    assert set(found["spark"]["daemons"].values()) == {"running"}
    assert local.daemon_pids("hadoop", ("nodemanager",)) == [
        run.cluster.handles["nodemanager"].pid,
        run.cluster.handles["nodemanager 2"].pid,
    ]


def test_every_daemon_port_is_on_loopback(run: Run) -> None:
    listening: dict[str, set[tuple[str, int]]] = {}
    for name, handle in run.cluster.handles.items():
        conns = psutil.Process(handle.pid).net_connections(kind="inet")
        listening[name] = {
            (c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN
        }
    addresses = {addr for found in listening.values() for addr in found}
    assert {ip for ip, _ in addresses} == {"127.0.0.1"}, listening
    # Every configured port is really in use, the shuffles (our loopback handler) included:
    # each NodeManager's own, its -D overrides reaching the handler.
    assert set(run.cluster.port_purposes().values()) <= {port for _, port in addresses}
    assert ("127.0.0.1", PORTS.shuffle) in listening["nodemanager"]
    assert ("127.0.0.1", PORTS.shuffle + 100) in listening["nodemanager 2"]


def test_fs_round_trip_through_the_shim(run: Run, tmp_path: Path) -> None:
    cluster = run.cluster
    local = tmp_path / "hello.txt"
    local.write_text("héllo hadoop\nsecond line\n", encoding="utf-8")
    assert cluster.hadoop_bin().is_file()
    put = cluster.fs("-put", "-f", str(local), "/roundtrip.txt")
    assert put.returncode == 0, put.stderr
    cat = cluster.fs("-cat", "/roundtrip.txt")
    assert cat.returncode == 0, cat.stderr
    assert cat.stdout == local.read_text(encoding="utf-8")
    missing = cluster.fs("-cat", "/no/such/file")
    assert missing.returncode != 0
    assert "No such file" in missing.stderr


def test_stage_copies_once(run: Run, tmp_path: Path) -> None:
    cluster = run.cluster
    files = [tmp_path / "b.txt", tmp_path / "a.txt"]
    files[0].write_text("bee\n")
    files[1].write_text("ay ay\n")
    uris = cluster.stage(files, "stage-test")
    base = f"hdfs://127.0.0.1:{PORTS.namenode_rpc}/bdbench/data/stage-test"
    assert uris == [f"{base}/b.txt", f"{base}/a.txt"]
    marker = "/bdbench/data/stage-test/_COMPLETE"
    first = cluster.fs("-stat", "%Y", marker)
    assert first.returncode == 0, first.stderr
    assert cluster.stage(files, "stage-test") == uris
    # Cached: the marker (written last) was not written again.
    assert cluster.fs("-stat", "%Y", marker).stdout == first.stdout
    assert cluster.fs("-cat", uris[1]).stdout == "ay ay\n"


def _watch(root: Path, pids: set[int], stop: threading.Event) -> None:
    """Remember every process of the cluster (containers, tasks) while a job runs."""
    while not stop.is_set():
        pids.update(p.pid for p in _processes_of(root))
        stop.wait(0.5)


def test_mrjob_wordcount_on_yarn(run: Run, tmp_path: Path) -> None:
    from workloads.wordcount.mr_wordcount import WORD_RE, MRWordCount

    cluster = run.cluster
    text = "the quick brown fox\njumps over the lazy dog\nthe dog barks, café café\n" * 3
    source = tmp_path / "words.txt"
    source.write_text(text, encoding="utf-8")
    (uri,) = cluster.stage([source], "wordcount-test")
    target = HadoopTarget(str(cluster.hadoop_bin()), str(cluster.streaming_jar()), {}, True)
    job = MRWordCount(["-r", "hadoop", *hadoop_runner_args(target, tmp_path), uri])
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(cluster.root, run.pids, stop), daemon=True)
    watcher.start()
    try:
        with job.make_runner() as runner:
            runner.run()
            counts = dict(job.parse_output(runner.cat_output()))
            counters = runner.counters()
    finally:
        stop.set()
        watcher.join()
    assert counts == dict(Counter(WORD_RE.findall(text)))
    # Real YARN: map and reduce tasks were launched in containers.
    jobs = counters[0]["Job Counters "]
    assert jobs["Launched map tasks"] >= 1
    assert jobs["Launched reduce tasks"] >= 1


def test_port_in_use_is_named(tmp_path: Path) -> None:
    ports = HadoopPorts().shifted(12000)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports.resourcemanager_http))
        taken.listen()
        with pytest.raises(ClusterError, match=rf"port {ports.resourcemanager_http} "):
            HadoopCluster(tmp_path / "clash", ports).up()
    assert not (tmp_path / "clash").exists()  # refused before anything was written


def test_failed_daemon_is_named_and_the_started_ones_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.clusters import hadoop

    # A heap the JVM refuses: the DataNode dies at once, after the NameNode came up.
    monkeypatch.setitem(hadoop.DAEMON_HEAP_MB, "datanode", 1)
    root = tmp_path / "broken"
    cluster = HadoopCluster(root, HadoopPorts().shifted(12000))
    with pytest.raises(ClusterError, match=r"datanode exited while starting: see .*datanode\.log"):
        cluster.up(timeout=60)
    assert cluster.handles == {}
    assert not _processes_of(root)
    assert not daemons.port_in_use(cluster.ports.namenode_rpc)


def _batch(tmp_path: Path, engines: list[str], timeout: float = 300, **spark: str) -> list[Any]:
    """One tiny word-count batch through the real runner, on the cluster (``--cluster local``)."""
    from harness import cli, runner
    from harness.engines import EngineOptions
    from harness.engines.spark_engine import SparkOptions
    from harness.results import ResultsWriter

    options = EngineOptions({"spark": SparkOptions(**spark)})
    options = cli._on_cluster(options, local.read_state() or {})
    cells = runner.expand_cells(["wordcount"], engines, "off")
    writer = ResultsWriter(tmp_path / "results", "cluster")
    writer.ensure_writable()
    config = runner.RunConfig(
        scales=["tiny"], repeats=1, warmups=0, timeout=timeout, options=options
    )
    return runner.run_batch(cells, config, writer)


def test_status_json_says_what_runs_where(run: Run) -> None:
    from conftest import run_cli

    done = run_cli("cluster", "status", "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert {"conf_dir", "fs", "resourcemanager", "version"} <= set(status["hadoop"])
    assert status["hadoop"]["version"] == HADOOP_VERSION
    assert status["spark"]["master"] == f"spark://127.0.0.1:{17077 + OFFSET}"
    assert status["spark"]["alive_workers"] == 2
    assert status["hadoop"]["nodemanagers"] == 2


def test_spark_on_yarn_cell_passes(run: Run, tmp_path: Path) -> None:
    (record,) = _batch(tmp_path, ["spark/rdd"], master="yarn")
    assert (record.status, record.check) == ("ok", "pass"), record.error
    assert record.where == "on YARN"
    assert record.engine_info["master"] == "yarn"
    assert record.metrics["cluster_procs"] >= 1


def _fault_batch(tmp_path: Path, engines: list[str], plan: str, iterations: int) -> list[Any]:
    """A tiny logreg batch under a fault plan: one control and one fault process per cell,
    one value each, no warm-up (through the real runner, on the cluster)."""
    from harness import cli, runner
    from harness.engines import EngineOptions
    from harness.faults import FaultPlan
    from harness.results import ResultsWriter

    options = cli._on_cluster(EngineOptions({}), local.read_state() or {})
    cells = runner.expand_cells(["logreg"], engines, "off")
    writer = ResultsWriter(tmp_path / "results", "fault")
    writer.ensure_writable()
    config = runner.RunConfig(
        scales=["tiny"],
        params={"iterations": [iterations]},
        repeats=1,
        values=1,
        warmups=0,
        timeout=300,
        options=options,
        fault=FaultPlan.parse(plan),
    )
    return runner.run_batch(cells, config, writer)


def _by_role(records: list[Any], engine: str) -> dict[str, Any]:
    found = {r.fault["role"]: r for r in records if r.engine == engine and not r.is_warmup}
    assert set(found) == {"control", "fault"}, [(r.engine, r.status, r.error) for r in records]
    return found


def test_a_lost_spark_worker_is_recomputed_from_lineage(run: Run, tmp_path: Path) -> None:
    """Spark worker 2 and its executor are killed after iteration 1: iteration 2 re-reads the
    partition it had cached, the answer stays right, and the record says what it cost."""
    records = _fault_batch(tmp_path, ["spark/rdd"], "kill-worker@iteration=1", 3)
    runs = _by_role(records, "spark")
    for record in runs.values():
        assert (record.status, record.check) == ("ok", "pass"), record.error
        assert record.where == "on standalone (2 workers)"
        assert record.engine_info["input_fs"] == "hdfs"  # the HDFS copy mrjob reads too
        assert record.metrics["cluster_procs"] >= 1  # executors counted with the run
        assert record.metrics["iterations_reported"] == 3
    control, fault = runs["control"], runs["fault"]
    assert control.metrics["recovery"]["executors_lost"] == 0
    assert control.metrics["partitions_parsed"][1:] == [0, 0]
    info = fault.fault
    assert info["injected"] and info["plan"] == "kill-worker@iteration=1"
    target = info["target"]
    assert (target["role"], target["live_after"], target["iterations_done"]) == (
        "spark worker",
        1,
        1,
    )
    assert {"spark worker 1", "spark worker 2"} & {k["what"] for k in target["killed"]}
    assert any(k["what"].startswith("executor ") for k in target["killed"])
    recovery = fault.metrics["recovery"]
    assert recovery["executors_lost"] == 1
    assert "worker lost" in " ".join(recovery["loss_reasons"].values())
    # Iteration 2 parsed again the partition the lost executor had cached: lineage.
    assert fault.metrics["partitions_parsed"][1] >= 1
    slowdown = fault.metrics["slowdown"]
    assert slowdown["lost_iteration"] == 2 and slowdown["control_runs"] == 1
    assert isinstance(fault.metrics["slowdown_s"], float)
    assert info["restored_after"]["restarted"] == [target["name"]]
    assert local.status()["spark"]["alive_workers"] == 2


def test_a_fault_that_leaves_no_worker_fails_and_the_batch_goes_on_to_hadoop_which_recovers(
    run: Run, tmp_path: Path
) -> None:
    """With Spark worker 2 already gone, the plan kills the only worker left: a failed record
    naming what was killed and what Spark said, and the batch goes on: mrjob on YARN loses a
    NodeManager mid-job and re-runs its maps on the other one, with the right answer."""
    from harness.clusters import nodes

    (spare,) = [n for n in nodes.worker_nodes("spark worker") if n.index == 2]
    nodes.kill(spare)
    records = _fault_batch(tmp_path, ["spark/rdd", "mrjob/hadoop"], "kill-worker@iteration=1", 2)
    spark = _by_role(records, "spark")
    assert (spark["control"].status, spark["control"].check) == ("ok", "pass")
    failed = spark["fault"]
    assert failed.status == "failed"
    error = failed.error or ""
    assert error.startswith(
        "the engine cannot recover: bdbench killed the only live Spark worker (spark worker 1, "
    ), error
    assert "the standalone master has no live worker" in error
    assert failed.fault["target"]["live_after"] == 0
    nodes.restore(["spark worker 2"])  # spark worker 1 came back after the fault process
    assert local.status()["spark"]["alive_workers"] == 2

    hadoop = _by_role(records, "mrjob")
    for record in hadoop.values():
        assert (record.status, record.check) == ("ok", "pass"), record.error
        assert record.where == f"(Hadoop {HADOOP_VERSION}, 2 NodeManagers, pseudo-distributed)"
        assert record.metrics["cluster_procs"] >= 1
        (first, _) = record.metrics["jobs"]  # this call's two jobs only
        assert first["counters"][0]["Job Counters "]["Launched map tasks"] >= 1
    fault = hadoop["fault"]
    target = fault.fault["target"]
    assert target["role"] == "nodemanager" and target["live_after"] == 1
    assert any(k["what"].startswith("container_") for k in target["killed"])
    # The lost job's counters: the attempt on the lost node was launched again on the other
    # node (or, when that node also ran the job's ApplicationMaster, the job's second attempt
    # re-ran it). Its "killed" count is not reliable: the AM counts a kill when the attempt
    # reaches KILLED, presumably after its cleanup call to the dead NodeManager, which can come
    # after the job has finished (a CI run showed 3 maps launched, 0 killed). So: more attempts
    # launched than any job of the same shape needed (speculative attempts only add), or a
    # killed or failed one.
    lost_job = fault.metrics["recovery"]["per_job"][1]
    same_shape = [
        *hadoop["control"].metrics["recovery"]["per_job"],
        fault.metrics["recovery"]["per_job"][0],
    ]
    needed = min(j["launched_maps"] + j["launched_reduces"] for j in same_shape)
    unlucky = sum(
        lost_job[k] for k in ("killed_maps", "failed_maps", "killed_reduces", "failed_reduces")
    )
    relaunched = lost_job["launched_maps"] + lost_job["launched_reduces"] > needed
    assert relaunched or unlucky >= 1 or target["hosted_am"], (lost_job, same_shape)
    assert fault.metrics["slowdown"]["lost_iteration"] == 2
    assert fault.fault["restored_after"]["restarted"] == [target["name"]]
    assert local.status()["hadoop"]["nodes"] == {
        "nodemanager": "RUNNING",
        "nodemanager 2": "RUNNING",
    }
    apps = daemons.http_json(
        f"{run.cluster.web['resourcemanager']}/ws/v1/cluster/apps"
        "?states=NEW,NEW_SAVING,SUBMITTED,ACCEPTED,RUNNING"
    )
    assert not (apps.get("apps") or {}).get("app"), apps


def _kill_when_a_container_runs(nodemanager: Handle, killed: list[float]) -> threading.Thread:
    """Kill the NodeManager (SIGKILL) once a container of a job runs under it."""

    def watch() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                if psutil.Process(nodemanager.pid).children():
                    time.sleep(1.0)  # the container is at work, the job in flight
                    os.kill(nodemanager.pid, signal.SIGKILL)
                    killed.append(time.monotonic())
                    return
            except psutil.Error:
                return
            time.sleep(0.1)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_nodemanager_killed_mid_run_fails_it_at_once_and_skips_the_next_cluster_cells(
    run: Run, tmp_path: Path
) -> None:
    """The last NodeManager dies while a job runs (the other one is gone already): YARN would
    wait for a node (for ever with Hadoop's defaults). The run fails within seconds naming
    them, the application is killed, later cells that need YARN are skipped with the same
    reason, and the other cells run."""
    from harness import runner
    from harness.clusters import nodes
    from harness.results import ResultsWriter

    # The state's handles: a fault test before may have restarted either NodeManager.
    first, second = nodes.worker_nodes("nodemanager")
    nodes.kill(second)
    nodemanager = first.handle
    killed: list[float] = []
    recorded: dict[str, float] = {}
    killer = _kill_when_a_container_runs(nodemanager, killed)
    cells = runner.expand_cells(["wordcount", "logreg"], ["mrjob/hadoop", "numpy"], "off")
    writer = ResultsWriter(tmp_path / "results", "nm-killed")
    writer.ensure_writable()
    config = runner.RunConfig(scales=["tiny"], repeats=1, warmups=0, timeout=300)
    records = runner.run_batch(
        cells,
        config,
        writer,
        on_record=lambda r: recorded.setdefault(f"{r.workload} {r.engine}", time.monotonic()),
    )
    killer.join(timeout=5)
    assert killed, "the NodeManager was never killed (no container seen)"
    by_cell = {f"{r.workload} {r.engine}": r for r in records}
    pids = f"{nodemanager.pid}, {second.handle.pid}"
    reason = f"the NodeManagers (pids {pids}) died during the run; "
    reason += "YARN has no live NodeManager"
    failed = by_cell["wordcount mrjob"]
    assert failed.status == "failed"
    assert (failed.error or "").startswith(reason), failed.error
    print(f"NodeManager killed -> failed record: {recorded['wordcount mrjob'] - killed[0]:.1f} s")
    skipped = by_cell["logreg mrjob"]
    assert (skipped.status, skipped.error) == ("skipped", reason)
    assert by_cell["wordcount numpy"].status == by_cell["logreg numpy"].status == "ok"
    # Nothing of the job waits on YARN for a node that will never come.
    apps = daemons.http_json(
        f"{run.cluster.web['resourcemanager']}/ws/v1/cluster/apps"
        "?states=NEW,NEW_SAVING,SUBMITTED,ACCEPTED,RUNNING"
    )
    assert not (apps.get("apps") or {}).get("app"), apps


def test_a_dead_spark_master_is_named_at_once(run: Run, tmp_path: Path) -> None:
    """The standalone master is killed: the next Spark cell says it cannot reach the master
    (not "a stopped SparkContext" after a minute of retries), and so does the command line."""
    from conftest import run_cli

    master = next(h for h in _spark_handles() if h.name == "spark master")
    os.kill(master.pid, signal.SIGKILL)
    with contextlib.suppress(psutil.Error):  # our child: reap it, so its port is free
        psutil.Process(master.pid).wait(timeout=10)
    url = f"spark://127.0.0.1:{17077 + OFFSET}"
    (record,) = _batch(tmp_path, ["spark/rdd"])
    assert record.status == "skipped"
    assert record.error == f"cannot reach the Spark master {url} (connection refused)"
    done = run_cli("run", "-w", "wordcount", "-e", "spark/rdd", "-s", "tiny", "--cluster", "local",
                   "--results", str(tmp_path / "cli"))  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"bdbench: error: cannot reach the Spark master {url} (connection refused)"
    ]
    assert not (tmp_path / "cli").exists()


def _spark_handles() -> list[Handle]:
    state = local.read_state() or {}
    return [Handle(**h) for h in (state.get("spark") or {}).get("handles", [])]


def test_cluster_up_errors_are_one_line(run: Run, tmp_path: Path) -> None:
    from conftest import run_cli

    again = run_cli("cluster", "up")  # one is up already
    assert again.returncode == 2
    root = run.cluster.root.parent
    expected = f"a local cluster is already up (see bdbench cluster status; {root})"
    assert again.stderr.strip().splitlines() == [f"bdbench: error: {expected}"]
    env = dict(os.environ)
    env[local.CLUSTER_DIR_ENV] = str(tmp_path / "other")
    env["BDBENCH_HADOOP_HOME"] = str(tmp_path / "nohadoop")  # nothing fetched there
    # No mvn on PATH (java stays: it is found through JAVA_HOME or /usr/bin).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("java", "javac"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    env["PATH"] = str(bin_dir)
    missing = run_cli("cluster", "up", "--only", "hadoop", env=env)
    assert missing.returncode == 2
    (line,) = missing.stderr.strip().splitlines()
    assert "mvn" in line and line.startswith("bdbench: error:")


def test_down_leaves_no_process_port_or_tmp_file(run: Run) -> None:
    cluster = run.cluster
    assert local.down(cluster.root.parent)
    assert not local.down(cluster.root.parent)  # idempotent: nothing is up any more
    cluster.down()
    assert not [h.name for h in run.handles if h.alive()]
    # Containers and task processes too (pids seen during the job may be reused by now:
    # what counts is that nothing runs from the cluster's folder).
    assert not _processes_of(cluster.root.parent)  # Spark's master, worker, executors too
    spark_ports = [17077 + OFFSET, 17080 + OFFSET, 17081 + OFFSET, 17082 + OFFSET]
    ports = [*cluster.port_purposes().values(), *spark_ports]
    assert not [port for port in ports if daemons.port_in_use(port)]
    assert not (cluster.root.parent / "state.json").exists()
    assert not (cluster.root / "tmp").exists()
    new_tmp = _listing(TMP) - run.tmp_before
    assert not [name for name in new_tmp if TMP_LEFTOVER.search(name)], new_tmp
    new_perf = _listing(_perf_dir()) - run.perf_before
    assert not [name for name in new_perf if name.isdigit() and int(name) in run.pids]
    status = cluster.status()
    assert set(status["daemons"].values()) == {"stopped"}
