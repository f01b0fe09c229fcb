"""PySpark: variants by API (``rdd``, ``df``) and a separate switch for our optimizer rules."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.argtypes import int_at_least
from harness.engines.base import Engine, Placement, Role, cpu_count
from harness.engines.options import option
from harness.errors import EngineUnavailable
from harness.rules import RulesMode
from harness.tools import find_java, java_version, no_java_reason

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from harness.clusters.watch import ClusterWatch
    from harness.datasets import Dataset
    from harness.faults import FaultTarget

LOG4J_CONF = Path(__file__).with_name("log4j2.properties")
#: Input bytes per partition when sizing partitions to the data.
BYTES_PER_PARTITION = 64 * 1024 * 1024
#: How long ``stop`` waits for the driver JVM to exit before killing it.
STOP_TIMEOUT_S = 30


#: A heap size both the JVM (``-Xmx``) and Spark read alike: digits and k, m, g or t. Spark's
#: launcher passes the text to ``-Xmx`` as it is, so ``2gb``, ``1p`` or ``0.5g`` stop the JVM,
#: and bare digits are bytes there (MiB to Spark).
_JVM_SIZE = re.compile(r"^(\d+)([kmgt])$", re.IGNORECASE)
_JVM_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
#: Spark's smallest driver heap: 1.5 x its 300 MiB reserved memory (``UnifiedMemoryManager``).
MIN_DRIVER_HEAP = 450 << 20
#: The master URLs Spark accepts (``SparkContext.createTaskScheduler``, ``SparkSubmit``).
_SPARK_MASTER = re.compile(
    r"^(local(\[(\*|\d+)(,\d+)?\])?"
    r"|local-cluster\[\d+,\d+,\d+\]"
    r"|spark://[^\s/:,]+:\d+(,[^\s/:,]+:\d+)*"
    r"|yarn|k8s://\S+)$"
)


def jvm_size(text: str) -> str:
    """A driver JVM heap size: ``512m``, ``2g``; from Spark's minimum to the machine's memory."""
    from harness.memlimit import check_fits

    match = _JVM_SIZE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a size like 512m or 2g, got {text!r}")
    size = int(match.group(1)) * _JVM_UNITS[match.group(2).lower()]
    # Below it the JVM dies at launch or Spark refuses to start: no run could use it.
    if size < MIN_DRIVER_HEAP:
        raise argparse.ArgumentTypeError(f"{text!r} is below Spark's smallest driver heap, 450m")
    check_fits(text, size)
    return text.strip()


def spark_master(text: str) -> str:
    """A Spark master URL: local, local[N], local[*], spark://HOST:PORT, yarn or k8s://..."""
    if not _SPARK_MASTER.match(text.strip()):
        raise argparse.ArgumentTypeError(
            f"expected local[N], local[*], spark://HOST:PORT, yarn or k8s://URL, got {text!r}"
        )
    return text.strip()


#: The system each variant is, as published claims name it.
SYSTEMS = {"rdd": "Spark RDD", "df": "Spark SQL", "stream": "Spark Structured Streaming"}


def master_cores(master: str) -> int:
    """Cores a ``local[N]`` master uses; the machine's cores for anything else."""
    match = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\s*\d+)?\])?", master)
    if match is None:
        return cpu_count()
    if match.group(1) is None:
        return 1
    return cpu_count() if match.group(1) == "*" else int(match.group(1))


def data_partitions(input_bytes: int, cores: int) -> int:
    """Partitions sized to the data: at least one per core, one per 64 MiB of input."""
    return max(cores, math.ceil(input_bytes / BYTES_PER_PARTITION))


@dataclass
class SparkOptions:
    """Options of the Spark engine (``bdbench run --spark-*``)."""

    master: str = option(
        "local[*]",
        flag="--spark-master",
        parse=spark_master,
        help="master URL: local[N], spark://host:port, yarn",
    )
    driver_memory: str = option(
        "2g", flag="--spark-driver-memory", parse=jvm_size, help="driver JVM heap"
    )
    #: None = sized to the data (cores, or one per 64 MiB of input when that is more).
    partitions: int | None = option(
        None,
        flag="--spark-partitions",
        parse=int_at_least(1),
        help="shuffle/default partitions (default: sized to the data)",
    )
    conf: dict[str, str] = option(
        flag="--spark-conf", kind="mapping", help="extra Spark conf KEY=VALUE"
    )
    ui: bool = option(
        flag="--spark-ui",
        kind="switch",
        help="enable the Spark UI (bound to 127.0.0.1 for local masters)",
    )


#: Container sizes for Spark on YARN unless ``--spark-conf`` says otherwise (a 2-core machine's
#: YARN offers a few GiB; Spark's defaults ask for more than a small NodeManager has).
YARN_DEFAULTS = {
    "spark.yarn.am.memory": "512m",
    "spark.executor.memory": "1g",
    "spark.executor.instances": "1",
    "spark.executor.cores": "2",
}


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def pyspark_jars() -> Path:
    """The installed pyspark's ``jars`` folder."""
    spec = find_spec("pyspark")
    assert spec is not None and spec.origin is not None, "pyspark is installed"
    return Path(spec.origin).parent / "jars"


def yarn_conf_dirs() -> list[str]:
    """Where Spark finds YARN: ``$YARN_CONF_DIR``, ``$HADOOP_CONF_DIR``, else the local
    cluster's configuration (bdbench cluster up)."""
    found = [os.environ[e] for e in ("YARN_CONF_DIR", "HADOOP_CONF_DIR") if os.environ.get(e)]
    if found:
        return found
    from harness.clusters import local

    conf_dir = ((local.read_state() or {}).get("hadoop") or {}).get("conf_dir")
    return [conf_dir] if conf_dir else []


def yarn_resourcemanager_host() -> str | None:
    """The ResourceManager host named by the yarn-site.xml of ``yarn_conf_dirs()``."""
    from harness.clusters.watch import yarn_site

    props = yarn_site(yarn_conf_dirs())
    if props is None:
        return None
    address = props.get("yarn.resourcemanager.address")
    if address:
        return address.rsplit(":", 1)[0]
    return props.get("yarn.resourcemanager.hostname")


#: Variants that read their input as files (a stream reads its own fed folder).
BATCH_VARIANTS = ("rdd", "df")

#: What Hadoop's glob (``FileInputFormat``, Spark's file sources) reads as pattern syntax.
_GLOB_CHARS = re.compile(r"([\\{}\[\]*?])")


def hadoop_path(location: str) -> str:
    """A path or URI, as plain text (never percent-encoded), the way Hadoop's ``Path(String)``
    and its glob read it literally: the glob characters of its path escaped with a backslash.
    Hadoop quotes the rest itself (``file:///a b.txt`` is right; a ``%20`` stays ``%20``)."""
    scheme, sep, rest = location.partition("://")
    if not sep:
        return _GLOB_CHARS.sub(r"\\\1", location)
    # The authority may hold brackets (an IPv6 host): only the path is a pattern.
    authority, slash, path = rest.partition("/")
    escaped = _GLOB_CHARS.sub(r"\\\1", path)
    return f"{scheme}://{authority}{slash}{escaped}"


def local_uri(path: Path) -> str:
    """A local file as the ``file://`` URI Spark reads literally (see ``hadoop_path``): explicit,
    so a cluster whose default file system is HDFS still reads the local file."""
    return hadoop_path(f"file://{path.resolve()}")


def _split_like_hadoop(text: str) -> list[str]:
    """Hadoop's ``FileInputFormat.getPathStrings``: commas split, except inside ``{...}``."""
    parts, start, depth, group = [], 0, 0, False
    for i, char in enumerate(text):
        if char == "{":
            depth, group = depth + 1, True
        elif char == "}":
            depth -= 1
            if depth == 0:
                group = False
        elif char == "," and not group:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def comma_lists(locations: Iterable[str]) -> list[str]:
    """``locations`` (as ``hadoop_path`` gives them) as comma-separated strings for APIs that
    split one (``SparkContext.textFile``), each split back into exactly its locations: a comma
    of a name becomes the glob group ``{\\,}``, which the split never cuts. One string, unless
    a name's unbalanced braces would swallow the commas between names: then one per location.
    """
    wrapped = [location.replace(",", "{\\,}") for location in locations]
    joined = ",".join(wrapped)
    return [joined] if _split_like_hadoop(joined) == wrapped else wrapped


def _launch(builder: SparkSession.Builder) -> SparkSession:
    """``builder.getOrCreate()``; a driver JVM that dies at launch is named with its own last
    lines (pyspark says only ``[JAVA_GATEWAY_EXITED]``; the JVM said why on its stderr)."""
    from harness.stderr_tail import StderrTail

    tail = StderrTail()
    try:
        with tail:
            return builder.getOrCreate()
    except Exception as exc:
        lines = tail.last_lines() if "JAVA_GATEWAY_EXITED" in str(exc) else []
        if not lines:
            raise
        said = " | ".join(lines)
        raise RuntimeError(f"the Spark driver JVM exited at launch: {said}") from exc


class SparkEngine(Engine):
    """A SparkSession per run; start-up includes one trivial job so workers are warm."""

    name = "spark"
    variants = ("rdd", "df", "stream")
    exclusive_variants = ("stream",)
    description = "PySpark (RDD or DataFrame API), optionally with our Catalyst rules"
    rules_modes = (RulesMode.OFF, RulesMode.ON, RulesMode.PAPER)
    distributions = ("pyspark",)
    Options = SparkOptions
    options: SparkOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spark: SparkSession | None = None
        #: The session ``start`` built; cells that share the engine get a new session of it.
        self._root: SparkSession | None = None
        self.partitions = 0
        self._conf: dict[str, str] = {}
        self._phases: dict[str, float] = {}
        #: Local input path -> its copy on the local cluster's HDFS (cluster masters).
        self.staged: dict[Path, str] = {}
        #: On a cluster: the job group of the call in progress and the executors it began with.
        self._group: str | None = None
        self._calls = 0
        self._executors: list[str] = []

    def unavailable(self, variant: str, rules: RulesMode) -> str | None:
        """Reason Spark cannot run: pyspark or Java missing, or the rules jar unavailable."""
        reason = super().unavailable(variant, rules)
        if reason is None and find_java() is None:
            reason = f"spark: {no_java_reason()}"
        if reason is None and rules.loads_rules:
            from harness import spark_rules

            reason = spark_rules.unavailable_reason()
        return reason

    def prepare(self, variant: str, rules: RulesMode) -> None:
        """Build (or find) the rules jar once per cell, so a compile error is a skip with its
        reason and the measured children never race to build it; a standalone master that
        does not answer is a skip naming it."""
        reason = self.preflight()
        if reason is not None:
            raise EngineUnavailable(reason)
        if rules.loads_rules:
            from harness.spark_rules import build

            build.build_jar()

    def preflight(self) -> str | None:
        """A ``spark://`` master must accept a connection within seconds (Spark itself retries
        for about a minute and then names only a stopped SparkContext)."""
        master = self.options.master
        if not master.startswith("spark://"):
            return None
        from harness.clusters.watch import connect_error

        for address in master.removeprefix("spark://").split(","):  # HA: host1:port1,host2:...
            host, _, port = address.rpartition(":")
            reason = connect_error(host.strip("[]") or "127.0.0.1", int(port or 7077))
            if reason is None:
                return None
        return f"cannot reach the Spark master {master} ({reason})"

    def cluster_watch(self, variant: str) -> ClusterWatch | None:
        """On the local cluster: its standalone master and workers (and HDFS when the input
        is read from there), or its YARN; a user's YARN by its ResourceManager's REST state;
        a user's standalone master by connecting to it."""
        if self.is_local():
            return None
        from harness.clusters import local, watch

        state = local.read_state() or {}
        master = self.options.master
        if master == (state.get("spark") or {}).get("master"):
            hdfs = watch.HDFS if "hadoop" in state and variant in BATCH_VARIANTS else ()
            return watch.for_local(state, (*watch.STANDALONE, *hdfs))
        if master == "yarn":
            dirs = yarn_conf_dirs()
            hadoop = state.get("hadoop") or {}
            if dirs and dirs[0] == hadoop.get("conf_dir"):
                return watch.for_local(state, watch.YARN, yarn=True)
            web = watch.yarn_web_address(dirs)
            return watch.ClusterWatch(yarn_rest=web, yarn_web=web) if web else None
        if master.startswith("spark://") and "," not in master:
            host, _, port = master.removeprefix("spark://").rpartition(":")
            return watch.ClusterWatch(master=(host, int(port or 7077)))
        return None

    @classmethod
    def on_cluster(cls, options: SparkOptions, cluster: dict[str, Any]) -> SparkOptions:
        """On the local cluster, Spark cells run on its standalone master, unless the user
        chose another master (``--spark-master yarn`` runs them on its YARN)."""
        master = (cluster.get("spark") or {}).get("master")
        if master and options.master == SparkOptions().master:
            return dataclasses.replace(options, master=master)
        return options

    def role(self, variant: str) -> Role:
        """Local mode: this machine, never the single-node baseline (a cluster engine in one
        JVM); on a cluster: its workers (standalone) or NodeManagers (YARN) when they are the
        local cluster's, else an unknown number of nodes."""
        system = SYSTEMS.get(variant)
        if self.is_local():
            return Role(Placement.SINGLE, cores=master_cores(self.options.master), system=system)
        from harness.clusters import local

        state = local.read_state() or {}
        spark, hadoop = state.get("spark") or {}, state.get("hadoop") or {}
        if self.options.master == spark.get("master"):
            workers = int(spark.get("workers", 1))
            cores = workers * int(spark["worker_cores"]) if spark.get("worker_cores") else None
            return Role(Placement.CLUSTER, nodes=workers, cores=cores, system=system)
        if self.options.master == "yarn" and hadoop:
            nodes = int(hadoop.get("nodemanagers") or 1)
            vcores = hadoop.get("nodemanager_vcores")
            cores = nodes * int(vcores) if vcores else None
            return Role(Placement.CLUSTER, nodes=nodes, cores=cores, system=system)
        return Role(Placement.CLUSTER, nodes=None, system=system)

    @classmethod
    def recorded_role(cls, variant: str, where: str) -> Role:
        """A cluster when the label says where ("on ..."), else local mode."""
        placement = Placement.CLUSTER if where else Placement.SINGLE
        return Role(placement, nodes=None if where else 1, cores=None, system=SYSTEMS.get(variant))

    def where(self, variant: str) -> str:
        """ "" in local mode; "on standalone (N workers)" or "on YARN" on a cluster."""
        master = self.options.master
        if self.is_local():
            return ""
        if master == "yarn":
            return "on YARN"
        from harness.clusters import local

        spark = (local.read_state() or {}).get("spark") or {}
        if master == spark.get("master"):
            n = int(spark.get("workers", 1))
            return f"on standalone ({n} worker{'s' if n != 1 else ''})"
        return f"on {master}"

    def cluster_roots(self, variant: str) -> list[int]:
        """The local cluster's daemons that start this run's executors: the standalone
        workers when the master is the local cluster's, the NodeManagers on its YARN."""
        from harness.clusters import local

        state = local.read_state() or {}
        master = self.options.master
        if master == (state.get("spark") or {}).get("master"):
            return local.daemon_pids("spark", ("spark worker",))
        if master == "yarn" and self.on_this_machine() and "hadoop" in state:
            return local.daemon_pids("hadoop", ("nodemanager",))
        return []

    @classmethod
    def environment(cls) -> dict[str, Any]:
        """The Java runtime the driver JVM uses."""
        return {"java": java_version()}

    @property
    def session(self) -> SparkSession:
        """The started session (implementations' typed access); RuntimeError before ``start``."""
        if self.spark is None:
            raise RuntimeError("the Spark engine has no session: start it first")
        return self.spark

    def is_local(self) -> bool:
        """Whether the master runs everything in this machine's driver JVM."""
        return self.options.master.startswith("local")

    def on_this_machine(self) -> bool:
        """Whether the whole application runs on this machine (local mode, a standalone master
        on loopback, or a YARN whose ResourceManager is on loopback): then the driver binds
        to 127.0.0.1 and executors may use this run's scratch folder."""
        master = self.options.master
        if self.is_local():
            return True
        if master.startswith("spark://"):
            return _is_loopback(master.removeprefix("spark://").rsplit(":", 1)[0])
        if master == "yarn":
            return _is_loopback(yarn_resourcemanager_host() or "")
        return False

    def session_conf(self, input_bytes: int, scratch: Path | None = None) -> dict[str, str]:
        """The Spark configuration for a run over ``input_bytes`` of input."""
        opts = self.options
        java_opts = [f"-Dlog4j2.configurationFile=file:{LOG4J_CONF}", "-XX:-UsePerfData"]
        if scratch is not None:
            # Spill files, block managers and extracted native libraries land in the run's
            # scratch folder, which the runner removes even after a killed (timed-out) JVM.
            java_opts.append(f"-Djava.io.tmpdir={scratch}")
        self.partitions = opts.partitions or data_partitions(input_bytes, master_cores(opts.master))
        conf = {
            "spark.driver.memory": opts.driver_memory,
            "spark.sql.shuffle.partitions": str(self.partitions),
            "spark.default.parallelism": str(self.partitions),
            "spark.ui.enabled": "true" if opts.ui else "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.driver.extraJavaOptions": " ".join(java_opts),
            "spark.executorEnv.PYTHONHASHSEED": "0",
        }
        if scratch is not None:
            conf["spark.local.dir"] = str(scratch / "spark-local")
        if self.on_this_machine():
            # Nothing of a benchmark run should listen beyond this machine.
            conf["spark.driver.host"] = "127.0.0.1"
            conf["spark.driver.bindAddress"] = "127.0.0.1"
        if not self.is_local():
            conf.update(self._cluster_conf(scratch))
        conf.update(opts.conf)
        return conf

    def _cluster_conf(self, scratch: Path | None) -> dict[str, str]:
        """Executors in their own JVMs: the same logging and temp-file rules as the driver,
        and, on a YARN of this machine, Spark's jars used in place (never uploaded)."""
        java_opts = [f"-Dlog4j2.configurationFile=file:{LOG4J_CONF}", "-XX:-UsePerfData"]
        if scratch is not None and self.on_this_machine():
            java_opts.append(f"-Djava.io.tmpdir={scratch}")
        conf = {"spark.executor.extraJavaOptions": " ".join(java_opts)}
        conf.update(self._local_cluster_conf())
        if self.options.master == "yarn":
            conf["spark.yarn.am.extraJavaOptions"] = " ".join(java_opts)
            conf.update(YARN_DEFAULTS)
            if self.on_this_machine():
                conf["spark.yarn.jars"] = f"local:{pyspark_jars()}/*"
        return conf

    def _local_cluster_conf(self) -> dict[str, str]:
        """On the local cluster: a lost executor noticed in seconds (its detection settings),
        and, on its standalone master, every worker's executor registered before the first
        job (``spark.cores.max`` at the master's live cores, all of them waited for), so the
        cached partitions spread over the workers and losing one loses cached work."""
        from harness.clusters import local
        from harness.clusters.spark_standalone import DRIVER_DETECTION, SparkStandalone

        state = local.read_state() or {}
        spark = state.get("spark") or {}
        if self.options.master == "yarn" and "hadoop" in state:
            return dict(DRIVER_DETECTION)
        if not spark or self.options.master != spark.get("master"):
            return {}
        conf = dict(DRIVER_DETECTION)
        cores = SparkStandalone.from_state(local.cluster_dir() / "spark", spark).alive_cores()
        if cores:
            conf["spark.cores.max"] = str(cores)
            conf["spark.scheduler.minRegisteredResourcesRatio"] = "1.0"
        return conf

    def start(self, variant: str, rules: RulesMode, data: Dataset, scratch: Path) -> None:
        """Create the SparkSession and run one trivial Python job (outside the timed region)."""
        from pyspark.sql import SparkSession

        self.variant, self.rules = variant, rules
        unreachable = self.preflight()  # in seconds, not after Spark's minute of retries
        if unreachable is not None:
            raise EngineUnavailable(unreachable)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        if self.on_this_machine():
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the UI binds here, if on
        if self.options.master == "yarn" and not os.environ.get("HADOOP_CONF_DIR"):
            # Spark finds YARN (and HDFS) only through this variable.
            dirs = yarn_conf_dirs()
            if dirs:
                os.environ["HADOOP_CONF_DIR"] = dirs[0]
        self._conf = self.session_conf(data.input_bytes, scratch)
        builder = SparkSession.builder.appName(f"bdbench-{data.workload}").master(
            self.options.master
        )
        for key, value in self._conf.items():
            builder = builder.config(key, value)
        if rules.loads_rules:
            from harness import spark_rules

            # "paper": only the paper's reorder rule, the negative control.
            extensions = (
                spark_rules.PAPER_EXTENSIONS if rules is RulesMode.PAPER else spark_rules.EXTENSIONS
            )
            builder = spark_rules.configure(builder, extensions)
            self._conf["spark.sql.extensions"] = extensions
        began = time.perf_counter()
        if not self.is_local() and variant in BATCH_VARIANTS:
            self._stage(data)
        self.spark = self._root = _launch(builder)
        self.spark.sparkContext.setLogLevel("ERROR")
        session_ready = time.perf_counter()
        # The first Python job forks the pyspark.daemon workers: start-up, not workload.
        self.spark.sparkContext.parallelize(range(self.partitions), self.partitions).map(
            lambda x: x + 1
        ).sum()
        self._phases = {
            "session_s": session_ready - began,
            "first_job_s": time.perf_counter() - session_ready,
        }

    def share_key(self, variant: str, rules: RulesMode, data: Dataset) -> str | None:
        """The options, the rules mode and the partitions (from the input's size): a started
        JVM with equal ones can serve the cell."""
        cores = master_cores(self.options.master)
        partitions = self.options.partitions or data_partitions(data.input_bytes, cores)
        fields = {
            "options": dataclasses.asdict(self.options),
            "rules": rules.to_json(),
            "p": partitions,
        }
        return json.dumps(fields, sort_keys=True, default=str)

    def adopt(self, variant: str, rules: RulesMode, data: Dataset, scratch: Path) -> None:
        """A new SparkSession on the running SparkContext (``newSession``: its own SQL conf,
        temporary views and UDF registrations; the same JVM, executors and extensions)."""
        from pyspark.sql import SparkSession

        if self._root is None:
            raise RuntimeError("spark: no started engine to share")
        self.variant = variant
        if not self.is_local() and variant in BATCH_VARIANTS:
            self._stage(data)
        self.spark = self._root.newSession()
        # Code that asks for the active session (Spark ML's readers) gets the cell's own.
        SparkSession._activeSession = self.spark
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        jvm.org.apache.spark.sql.SparkSession.setActiveSession(self.spark._jsparkSession)

    def release(self) -> None:
        """Stop the cell's streaming queries, drop its cached tables and persisted RDDs."""
        if self.spark is None:
            return
        for query in self.spark.streams.active:
            query.stop()
        self.spark.catalog.clearCache()
        sc = self.spark.sparkContext
        for rdd in list(sc._jsc.getPersistentRDDs().values()):
            rdd.unpersist(True)

    def _stage(self, data: Dataset) -> None:
        """On a cluster, read the input from the local cluster's HDFS copy (the one mrjob on
        Hadoop reads; put there once, untimed), when that Hadoop is up."""
        from harness.clusters import local

        state = (local.read_state() or {}).get("hadoop")
        if not state:
            return
        from harness.clusters.hadoop import HadoopCluster

        cluster = HadoopCluster.from_state(local.cluster_dir() / "hadoop", state)
        uris = cluster.client().stage(list(data.inputs), f"{data.workload}-{data.root.name}")
        self.staged = dict(zip(data.inputs, uris, strict=True))

    def input_uris(self, paths: Iterable[Path]) -> list[str]:
        """URIs implementations read: the HDFS copy on a cluster, else explicit ``file://``
        (so a cluster whose default file system is HDFS still reads local files); as Spark's
        readers take them literally (``hadoop_path``). Pass them to ``textFile`` through
        ``comma_lists``."""
        return [hadoop_path(self.staged[p]) if p in self.staged else local_uri(p) for p in paths]

    def stop(self) -> None:
        """Stop the session and wait for the driver JVM to exit (no orphan JVM, temp cleaned)."""
        if self.spark is None:
            return
        from pyspark import SparkContext

        (self._root or self.spark).stop()
        self.spark = self._root = None
        gateway = SparkContext._gateway
        if gateway is None:
            return
        proc = getattr(gateway, "proc", None)
        gateway.shutdown()
        SparkContext._gateway = None
        SparkContext._jvm = None
        if proc is not None:
            # The gateway JVM exits (running its shutdown hooks) when its stdin closes.
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def fault_target(self, variant: str, cluster: dict[str, Any]) -> FaultTarget | None:
        """On the local cluster's standalone master: its workers, whose executors hold the
        cached partitions; on its YARN: the NodeManagers running the executors. Executors live
        across iterations either way."""
        from harness.faults import FaultTarget

        if self.is_local():
            return None
        if self.options.master == (cluster.get("spark") or {}).get("master"):
            return FaultTarget("spark worker", "executors", "Spark worker")
        if self.options.master == "yarn" and cluster.get("hadoop"):
            return FaultTarget("nodemanager", "executors", "NodeManager")
        return None

    def begin_call(self) -> None:
        """On a cluster: the call's jobs get a group of their own and its executors are noted,
        for ``run_metrics``' account of lost executors and failed tasks."""
        if self.spark is None or self.is_local():
            return
        sc = self.spark.sparkContext
        self._calls += 1
        self._group = f"bdbench-call-{self._calls}"
        # Python threads are pinned to JVM threads: the implementation's jobs, run from this
        # thread, carry the group.
        sc.setJobGroup(self._group, "a measured bdbench call")
        self._executors = self._executor_ids()

    def _executor_ids(self) -> list[str]:
        assert self.spark is not None
        ids = self.spark.sparkContext._jsc.sc().getExecutorIds().mkString(",")
        return sorted(i for i in str(ids).split(",") if i)

    def run_metrics(self) -> dict[str, Any]:
        """On a cluster, ``recovery``: Spark's own account of the call: tasks that failed (an
        executor lost under them), stages run again (a lost shuffle output), and executors
        lost during it with the reason Spark gives."""
        if self.spark is None or self._group is None:
            return {}
        sc = self.spark.sparkContext
        tracker = sc.statusTracker()
        failed = retried = stages = 0
        for job in tracker.getJobIdsForGroup(self._group):
            info = tracker.getJobInfo(job)
            for stage_id in info.stageIds if info is not None else []:
                stage = tracker.getStageInfo(stage_id)
                if stage is None:
                    continue
                stages += 1
                failed += stage.numFailedTasks
                retried += 1 if stage.currentAttemptId > 0 else 0
        now = self._executor_ids()
        lost = sorted(set(self._executors) - set(now), key=lambda e: (len(e), e))
        return {
            "recovery": {
                "failed_tasks": failed,
                "stage_retries": retried,
                "stages": stages,
                "executors_at_start": len(self._executors),
                "executors_lost": len(lost),
                "loss_reasons": self._loss_reasons(lost),
            }
        }

    def _loss_reasons(self, lost: list[str]) -> dict[str, str]:
        """Why Spark removed each of ``lost`` (its status store's ``removeReason``)."""
        if not lost or self.spark is None:
            return {}
        reasons: dict[str, str] = {}
        try:
            summaries = self.spark.sparkContext._jsc.sc().statusStore().executorList(False)
            for i in range(summaries.size()):
                summary = summaries.apply(i)
                reason = summary.removeReason()
                if summary.id() in lost and reason.isDefined():
                    reasons[str(summary.id())] = str(reason.get())
        except Exception as exc:  # an internal API: the count above stands without it
            return {"?": f"not readable: {type(exc).__name__}"}
        return reasons

    def crash_reason(self) -> str | None:
        """How the driver JVM (pyspark's gateway process) ended, when it did."""
        from pyspark import SparkContext

        proc = getattr(SparkContext._gateway, "proc", None)
        if proc is None:
            return None
        try:
            code = proc.wait(timeout=0.5)  # it may still be dying when Python notices
        except subprocess.TimeoutExpired:
            return None
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the Spark driver JVM was killed by {name}"
        return f"the Spark driver JVM exited with code {code}"

    def info(self) -> dict[str, Any]:
        """Master, versions, parallelism and the conf this run used."""
        info: dict[str, Any] = {"master": self.options.master, "conf": dict(self._conf)}
        if self.spark is not None:
            sc = self.spark.sparkContext
            info.update(
                spark_version=self.spark.version,
                default_parallelism=sc.defaultParallelism,
                partitions=self.partitions,
                app_id=sc.applicationId,
                startup_phases=dict(self._phases),
            )
        info["rules"] = self.rules.to_json()
        # Which copy of the input the run read: the cluster's HDFS copy or local files.
        info["input_fs"] = "hdfs" if self.staged else "local"
        return info
