"""A real pseudo-distributed Hadoop (HDFS + YARN + MapReduce) on 127.0.0.1, from Maven Central.

No Hadoop distribution comes from PyPI or Debian, and the binary tarball is not on Maven Central,
so ``fetch`` copies the daemons' jars with Maven (``maven/pom.xml``: runtime dependencies of
hadoop-hdfs, the YARN ResourceManager and NodeManager, the MapReduce client, shuffle and history
server, and hadoop-streaming) into ``.bdbench/hadoop/<version>/lib``. The NameNode and DataNode
web apps, which the tarball ships outside any jar, are unpacked from hadoop-hdfs's tests jar.

``HadoopCluster.up`` then starts five daemon JVMs (NameNode, DataNode, ResourceManager,
NodeManager, JobHistoryServer), each a detached process of its own, in that order, each waited
for before the next. Every listening port is on 127.0.0.1 (see ``HadoopPorts``); everything the
cluster writes (configuration, HDFS blocks, NodeManager scratch and container logs, JVM temp
files, Jetty and native-library unpacking) stays under the cluster's root folder, and no JVM
writes ``/tmp/hsperfdata_*`` (``-XX:-UsePerfData``). ``root/bin/hadoop`` is a small stand-in for
Hadoop's launcher (``version``, ``fs``, ``jar``, ``classpath``): enough for mrjob's hadoop runner.

The shuffle service binds 127.0.0.1 through a subclass of ours. Hadoop 3.4's ``ShuffleHandler``
(the NodeManager's ``mapreduce_shuffle`` aux-service) binds ``new InetSocketAddress(port)``, the
wildcard address, and has no bind-host setting (``yarn.nodemanager.bind-host`` covers only the
NodeManager's own servers). Rather than patch Hadoop's class at build time, ``fetch`` compiles
``java/bdbench/hadoop/LoopbackShuffleHandler.java`` (our code) against the fetched jars; it keeps
Hadoop's shuffle (handler context, channel initializer, job-token checks, metrics) and replaces
only the start-up that opens the listening socket. YARN loads it as the aux-service class
(``yarn.nodemanager.aux-services.mapreduce_shuffle.class``); ``bdbench.shuffle.bind-host`` says
where it binds.

Not covered: each job's MapReduce ApplicationMaster (a container JVM) listens on three ephemeral
wildcard ports while the job runs: ``TaskAttemptListenerImpl`` hard-codes 0.0.0.0,
``MRClientService`` binds ``new InetSocketAddress(0)`` and its web app keeps ``WebApps``'
default 0.0.0.0; no setting moves them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import psutil

from harness import paths
from harness.clusters import daemons
from harness.clusters.daemons import ClusterError, Handle
from harness.tools import build_jar, find_binary, find_java, find_javac, no_java_reason

HADOOP_VERSION = "3.4.2"
#: Environment variable naming the folder with the fetched jars (overrides ``hadoop_home()``).
HOME_ENV = "BDBENCH_HADOOP_HOME"

_HERE = Path(__file__).resolve().parent
#: The Maven project listing the jars (its hash keys the "fetched" stamp).
POM = _HERE / "maven" / "pom.xml"
#: Static configuration copied into every cluster's ``conf/``.
CONF_RESOURCES = _HERE / "hadoop_conf"
#: Our Java sources (the loopback shuffle handler), compiled by ``fetch``.
JAVA_SOURCES = _HERE / "java"
SHUFFLE_CLASS = "bdbench.hadoop.LoopbackShuffleHandler"
#: Bytecode level of our classes: the oldest Java that Hadoop 3.4 runs on.
JAVA_RELEASE = "8"

#: Daemon name -> main class, in start order (each needs the ones before it).
MAIN_CLASSES = {
    "namenode": "org.apache.hadoop.hdfs.server.namenode.NameNode",
    "datanode": "org.apache.hadoop.hdfs.server.datanode.DataNode",
    "resourcemanager": "org.apache.hadoop.yarn.server.resourcemanager.ResourceManager",
    "nodemanager": "org.apache.hadoop.yarn.server.nodemanager.NodeManager",
    "historyserver": "org.apache.hadoop.mapreduce.v2.hs.JobHistoryServer",
}
#: Daemon heaps (MB): small, a cluster of five JVMs holds about 1.3 GB resident.
DAEMON_HEAP_MB = {
    "namenode": 512,
    "datanode": 256,
    "resourcemanager": 512,
    "nodemanager": 384,
    "historyserver": 256,
}
#: Heap of the shim's client JVMs (``hadoop fs``, ``hadoop jar``).
CLIENT_HEAP_MB = 512
#: Memory of every YARN container: MapReduce ApplicationMaster, map and reduce tasks.
CONTAINER_MB = 512
#: The NodeManager takes ~7 s to give up on "running" applications and 10 s more for its
#: monitor thread after SIGTERM, though it kills its containers at once: SIGKILL it sooner.
NODEMANAGER_STOP_GRACE_S = 2.0
#: Ports of NodeManager i (i >= 2) are NodeManager 1's moved by (i - 1) x this.
NM_PORT_STRIDE = 100
#: NodeManagers one cluster may have: the port layout is proven free of collisions up to it
#: (more NodeManager JVMs than this would not fit beside the rest on a small machine anyway).
MAX_NODEMANAGERS = 8
#: How fast a lost worker is noticed, in seconds, not Hadoop's minutes (a benchmark that loses
#: a node must not wait 10 minutes for YARN to say so). yarn-site unless the key says mapreduce.
DETECTION = {
    # The ResourceManager declares a NodeManager LOST after this long without a heartbeat
    # (Hadoop's default: 600000, 10 minutes); its containers then complete as ABORTED.
    "yarn.nm.liveness-monitor.expiry-interval-ms": "10000",
    # Kept (recorded): heartbeats every second, the liveness check every second.
    "yarn.resourcemanager.nodemanagers.heartbeat-interval-ms": "1000",
    "yarn.resourcemanager.nm.liveness-monitor.interval-ms": "1000",
    # An ApplicationMaster starting a container on a dead NodeManager gives up in 10 s
    # (default 180 s, retrying every 10 s).
    "yarn.client.nodemanager-connect.max-wait-ms": "10000",
    "yarn.client.nodemanager-connect.retry-interval-ms": "1000",
    # Kept (recorded): a lost ApplicationMaster is retried once, recovering finished tasks.
    "yarn.resourcemanager.am.max-attempts": "2",
}
#: Set in capacity-scheduler.xml with two NodeManagers or more: one container per node
#: heartbeat (default 100), so a job's containers spread over the nodes as data spread over
#: nodes would (with the default, the first heartbeat takes every map of a small job).
SPREAD = {"yarn.scheduler.capacity.per-node-heartbeat.maximum-container-assignments": "1"}
#: Seconds the NameNode gets to format its name folder.
FORMAT_TIMEOUT_S = 120.0
#: What Hadoop 3.4's launcher adds for JDK 17 (hadoop_finalize_jpms_opts, HADOOP-19219).
JPMS_OPTS = (
    "-XX:+IgnoreUnrecognizedVMOptions",
    *(
        f"--add-opens=java.base/{package}=ALL-UNNAMED"
        for package in (
            "java.io",
            "java.lang",
            "java.lang.reflect",
            "java.math",
            "java.net",
            "java.text",
            "java.util",
            "java.util.concurrent",
            "java.util.zip",
            "sun.security.util",
            "sun.security.x509",
        )
    ),
)
#: Where ``stage`` puts input files in HDFS.
STAGE_DIR = "/bdbench/data"
#: Written last by ``stage``: its presence (with the same listing) means the copy is complete.
STAGE_MARKER = "_COMPLETE"
_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: A log line worth quoting when a daemon fails: log4j ERROR/FATAL or a Java exception.
_ERROR_LINE = re.compile(
    r" (ERROR|FATAL) |^Exception in thread |^(Caused by: )?[\w.$]+(Exception|Error)(: |$)"
)


def hadoop_home() -> Path:
    """Where the fetched jars live: ``$BDBENCH_HADOOP_HOME`` or ``.bdbench/hadoop/<version>``
    under the repository root."""
    return paths.fetched("hadoop", HADOOP_VERSION, HOME_ENV)


def find_mvn() -> str | None:
    """``$MAVEN_HOME/bin/mvn`` or ``mvn`` on PATH."""
    return find_binary("mvn", "MAVEN_HOME")


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part + b"\0")
    return digest.hexdigest()[:16]


def pom_key() -> str:
    """Hash of the pom: the jars are fetched again exactly when it changes."""
    return _digest(POM.read_bytes())


def _java_sources() -> list[Path]:
    return sorted(JAVA_SOURCES.rglob("*.java")) if JAVA_SOURCES.is_dir() else []


def _stamp(home: Path) -> Path:
    return home / ".fetched"


def fetched(home: Path | None = None) -> bool:
    """Whether the jars of the current pom are in ``home``."""
    home = home or hadoop_home()
    try:
        return (home / "lib").is_dir() and _stamp(home).read_text().strip() == pom_key()
    except OSError:
        return False


def shuffle_jar(home: Path | None = None) -> Path:
    """Path of our compiled classes' jar (built by ``fetch``), keyed by their sources and the
    pom they compile against."""
    home = home or hadoop_home()
    key = _digest(
        pom_key().encode(),
        JAVA_RELEASE.encode(),
        *(
            p.relative_to(JAVA_SOURCES).as_posix().encode() + p.read_bytes()
            for p in _java_sources()
        ),
    )
    return home / "aux" / f"bdbench-hadoop-{key}.jar"


def fetch(home: Path | None = None, quiet: bool = True) -> Path:
    """Fetch Hadoop's jars and web apps into ``home`` with Maven (skipped when the stamp says
    they are there) and build our classes' jar; return ``home``."""
    home = (home or hadoop_home()).resolve()
    if not fetched(home):
        _run_maven(home, quiet)
    _build_shuffle_jar(home)
    return home


def _run_maven(home: Path, quiet: bool) -> None:
    mvn = find_mvn()
    if mvn is None:
        raise ClusterError(
            f"mvn not found: install Maven 3.8+ (e.g. apt-get install maven) to fetch Hadoop "
            f"{HADOOP_VERSION}'s jars from Maven Central into {home}"
        )
    home.mkdir(parents=True, exist_ok=True)
    # A half-finished fetch never looks like a finished one: Maven fills a staging folder,
    # which replaces lib/ and share/ only on success; the stamp is written last.
    staging = home / f".fetch-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn,
        "-B",
        "-Dstyle.color=never",
        *(["-q"] if quiet else []),
        "-f",
        str(POM),
        f"-Dbdbench.home={staging}",
        "dependency:copy-dependencies@jars",
        "dependency:unpack@webapps",
    ]
    try:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=home
        )
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip())
            if not quiet:
                print(line, end="", file=sys.stderr)
        returncode = proc.wait()
        if returncode != 0:
            raise ClusterError(
                f"mvn failed to fetch Hadoop {HADOOP_VERSION} (exit {returncode}): "
                f"{_maven_error(lines)}"
            )
        for part in ("lib", "share"):
            shutil.rmtree(home / part, ignore_errors=True)
            (staging / part).rename(home / part)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _stamp(home).write_text(pom_key() + "\n")


def _maven_error(lines: list[str]) -> str:
    # Maven's console library writes colour resets even with style.color=never.
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]
    for line in lines:
        if line.startswith("[ERROR]") and line[7:].strip():
            text = line[7:].strip()
            return text if len(text) <= 400 else text[:400] + " ..."
    rest = [line for line in lines if line.strip()]
    return rest[-1].strip() if rest else "no output"


def _build_shuffle_jar(home: Path) -> Path:
    target = shuffle_jar(home)
    if target.is_file():
        return target
    javac = find_javac()
    if javac is None:
        raise ClusterError(
            "hadoop: no javac found to build the loopback shuffle handler "
            "(install a JDK 17+ with javac, or set JAVA_HOME)"
        )
    error = build_jar(javac, JAVA_RELEASE, f"{home / 'lib'}/*", _java_sources(), target)
    if error is not None:
        raise ClusterError(f"hadoop: javac failed on the shuffle handler: {error}")
    for old in target.parent.glob("bdbench-hadoop-*.jar"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


def unavailable(home: Path | None = None) -> str | None:
    """Why a Hadoop cluster cannot run here (no java, no mvn and nothing fetched, no javac and
    our jar not built), None when it can."""
    if find_java() is None:
        return f"hadoop: {no_java_reason()}"
    home = home or hadoop_home()
    if not fetched(home) and find_mvn() is None:
        return (
            f"hadoop: mvn not found and Hadoop {HADOOP_VERSION}'s jars are not fetched into "
            f"{home} (install Maven 3.8+)"
        )
    if not shuffle_jar(home).is_file() and find_javac() is None:
        return "hadoop: no javac found (install a JDK 17+ with javac, or set JAVA_HOME)"
    return None


def _java_home(java: str) -> Path:
    """The JDK folder of a ``java`` binary (``/usr/bin/java`` is a chain of symlinks)."""
    return Path(java).resolve().parent.parent


@dataclass
class HadoopPorts:
    """Every port the cluster listens on, all on 127.0.0.1 (Hadoop's defaults + 10000)."""

    namenode_rpc: int = 18020
    namenode_http: int = 18070
    datanode: int = 18866
    datanode_http: int = 18864
    datanode_ipc: int = 18867
    resourcemanager: int = 18032
    resourcemanager_scheduler: int = 18030
    resourcemanager_tracker: int = 18031
    resourcemanager_admin: int = 18033
    resourcemanager_http: int = 18088
    nodemanager: int = 18041
    nodemanager_localizer: int = 18040
    nodemanager_http: int = 18042
    shuffle: int = 18562
    jobhistory: int = 18010
    jobhistory_admin: int = 18039
    jobhistory_http: int = 18888

    def as_dict(self) -> dict[str, int]:
        """Purpose (``namenode rpc``, ...) -> port, for ``check_ports`` and messages."""
        return {f.name.replace("_", " "): getattr(self, f.name) for f in fields(self)}

    def shifted(self, by: int) -> HadoopPorts:
        """The same layout moved by ``by`` (a second cluster beside the first)."""
        return replace(self, **{f.name: getattr(self, f.name) + by for f in fields(self)})

    def nodemanager_ports(self, i: int) -> dict[str, int]:
        """NodeManager ``i``'s ports (1: the fields themselves; each further one 100 up)."""
        by = NM_PORT_STRIDE * (i - 1)
        return {
            "nodemanager": self.nodemanager + by,
            "nodemanager localizer": self.nodemanager_localizer + by,
            "nodemanager http": self.nodemanager_http + by,
            "shuffle": self.shuffle + by,
        }


def _loopback(port: int) -> str:
    return f"127.0.0.1:{port}"


def _site_xml(properties: dict[str, str]) -> str:
    body = "".join(
        f"  <property><name>{escape(name)}</name><value>{escape(value)}</value></property>\n"
        for name, value in properties.items()
    )
    return (
        '<?xml version="1.0"?>\n<!-- written by harness/clusters/hadoop.py -->\n'
        f"<configuration>\n{body}</configuration>\n"
    )


class HadoopCluster:
    """A pseudo-distributed Hadoop under ``root``: conf/, state/ (HDFS, YARN stores), logs/,
    tmp/ and the ``bin/hadoop`` shim."""

    def __init__(
        self,
        root: Path,
        ports: HadoopPorts | None = None,
        nodemanager_memory_mb: int = 4096,
        nodemanager_vcores: int = 4,
        home: Path | None = None,
        nodemanagers: int = 1,
    ) -> None:
        if not 1 <= nodemanagers <= MAX_NODEMANAGERS:
            raise ClusterError(f"hadoop: 1 to {MAX_NODEMANAGERS} NodeManagers, not {nodemanagers}")
        if nodemanager_memory_mb < 2 * CONTAINER_MB:
            raise ClusterError(
                f"hadoop: the NodeManager needs at least {2 * CONTAINER_MB} MB (an "
                f"ApplicationMaster and one task of {CONTAINER_MB} MB)"
            )
        if nodemanager_vcores < 1:
            raise ClusterError("hadoop: the NodeManager needs at least 1 vcore")
        self.root = Path(root).resolve()
        self.ports = ports or HadoopPorts()
        self.nodemanager_memory_mb = nodemanager_memory_mb
        self.nodemanager_vcores = nodemanager_vcores
        self.nodemanagers = nodemanagers
        self.home = (home or hadoop_home()).resolve()
        self.handles: dict[str, Handle] = {}
        self.startup_s: dict[str, float] = {}

    # -- where things are ---------------------------------------------------------------

    @property
    def conf_dir(self) -> Path:
        """The cluster's configuration folder (``HADOOP_CONF_DIR``)."""
        return self.root / "conf"

    @property
    def state_dir(self) -> Path:
        """What outlives ``down``: NameNode metadata, DataNode blocks, YARN stores."""
        return self.root / "state"

    @property
    def log_dir(self) -> Path:
        """One ``<daemon>.log`` per daemon, and ``userlogs/`` of the containers."""
        return self.root / "logs"

    @property
    def tmp_dir(self) -> Path:
        """``hadoop.tmp.dir`` and every JVM's ``java.io.tmpdir`` (removed by ``down``)."""
        return self.root / "tmp"

    @property
    def fs_uri(self) -> str:
        """``fs.defaultFS``."""
        return f"hdfs://127.0.0.1:{self.ports.namenode_rpc}"

    @property
    def resourcemanager(self) -> str:
        """The ResourceManager's client address (``yarn.resourcemanager.address``)."""
        return _loopback(self.ports.resourcemanager)

    @property
    def web(self) -> dict[str, str]:
        """The daemons' web UIs (also their JMX and REST endpoints)."""
        p = self.ports
        return {
            "namenode": f"http://127.0.0.1:{p.namenode_http}",
            "datanode": f"http://127.0.0.1:{p.datanode_http}",
            "resourcemanager": f"http://127.0.0.1:{p.resourcemanager_http}",
            "nodemanager": f"http://127.0.0.1:{p.nodemanager_http}",
            "historyserver": f"http://127.0.0.1:{p.jobhistory_http}",
        }

    def hadoop_bin(self) -> Path:
        """The ``hadoop`` command of this cluster (written by ``up``)."""
        return self.root / "bin" / "hadoop"

    def streaming_jar(self) -> Path:
        """Hadoop Streaming's jar (for ``hadoop jar`` and mrjob's ``--hadoop-streaming-jar``)."""
        return self.home / "lib" / f"hadoop-streaming-{HADOOP_VERSION}.jar"

    def nm_local(self, i: int = 1) -> Path:
        """NodeManager ``i``'s scratch (localized files, containers' working folders and pid
        files, map outputs): never shared, since a NodeManager cleans its own at start."""
        return self.tmp_dir / ("nm-local" if i == 1 else f"nm-local-{i}")

    def nm_logs(self, i: int = 1) -> Path:
        """NodeManager ``i``'s container logs (mrjob reads task logs from ``*/userlogs``)."""
        return self.log_dir / "userlogs" if i == 1 else self.log_dir / f"nm-{i}" / "userlogs"

    @staticmethod
    def nm_name(i: int) -> str:
        """The handle name of NodeManager ``i``: ``nodemanager``, ``nodemanager 2``, ..."""
        return "nodemanager" if i == 1 else f"nodemanager {i}"

    def nm_address(self, i: int) -> str:
        """NodeManager ``i``'s RPC address (its NodeId's port; YARN names the host
        ``localhost``)."""
        return _loopback(self.ports.nodemanager_ports(i)["nodemanager"])

    def _nm_overrides(self, i: int) -> list[str]:
        """``-D key=value`` arguments that make NodeManager ``i`` a node of its own beside the
        first (none for NodeManager 1): its ports, scratch and log folders. NodeManager.main
        parses them into the configuration's overlay, which outlives the reload that loading
        JobConf triggers (mapred-default.xml's shuffle port could not override it), so every
        NodeManager reads the one conf/. NodeManager recovery stays off: it would need its own
        ``yarn.nodemanager.recovery.dir`` too."""
        if i == 1:
            return []
        ports = self.ports.nodemanager_ports(i)
        values = {
            "yarn.nodemanager.address": _loopback(ports["nodemanager"]),
            "yarn.nodemanager.localizer.address": _loopback(ports["nodemanager localizer"]),
            "yarn.nodemanager.webapp.address": _loopback(ports["nodemanager http"]),
            "mapreduce.shuffle.port": str(ports["shuffle"]),
            "yarn.nodemanager.local-dirs": str(self.nm_local(i)),
            "yarn.nodemanager.log-dirs": str(self.nm_logs(i)),
        }
        return [arg for key, value in values.items() for arg in ("-D", f"{key}={value}")]

    def port_purposes(self) -> dict[str, int]:
        """Every port the cluster listens on, by purpose (each NodeManager's own)."""
        ports = self.ports.as_dict()
        for i in range(2, self.nodemanagers + 1):
            ports.update({f"{k} {i}": v for k, v in self.ports.nodemanager_ports(i).items()})
        return ports

    # -- configuration --------------------------------------------------------------------

    def _site_files(self) -> dict[str, dict[str, str]]:
        # Hadoop's defaults for unused servers are 0.0.0.0: point them at loopback too, so that
        # turning one on (HTTPS, say) cannot open a port on every interface.
        return {
            "core-site.xml": {"fs.defaultFS": self.fs_uri, "hadoop.tmp.dir": str(self.tmp_dir)},
            "hdfs-site.xml": self._hdfs_site(),
            "yarn-site.xml": {**self._yarn_addresses(), **self._yarn_resources()},
            "mapred-site.xml": self._mapred_site(),
        }

    def _hdfs_site(self) -> dict[str, str]:
        """HDFS: one replica, state under the cluster's folder, every address on loopback."""
        p, state = self.ports, self.state_dir
        return {
            "dfs.replication": "1",
            "dfs.permissions.enabled": "false",
            "dfs.namenode.name.dir": str(state / "nn"),
            "dfs.datanode.data.dir": str(state / "dn"),
            "dfs.namenode.rpc-address": _loopback(p.namenode_rpc),
            "dfs.namenode.http-address": _loopback(p.namenode_http),
            "dfs.namenode.https-address": _loopback(0),
            "dfs.namenode.secondary.http-address": _loopback(0),
            "dfs.namenode.secondary.https-address": _loopback(0),
            "dfs.datanode.address": _loopback(p.datanode),
            "dfs.datanode.http.address": _loopback(p.datanode_http),
            "dfs.datanode.https.address": _loopback(0),
            "dfs.datanode.ipc.address": _loopback(p.datanode_ipc),
            # One DataNode: leave safe mode as soon as its blocks are reported.
            "dfs.namenode.safemode.extension": "0",
        }

    def _yarn_addresses(self) -> dict[str, str]:
        """YARN's servers, every one on loopback."""
        p = self.ports
        return {
            "yarn.resourcemanager.hostname": "127.0.0.1",
            "yarn.resourcemanager.bind-host": "127.0.0.1",
            "yarn.resourcemanager.address": _loopback(p.resourcemanager),
            "yarn.resourcemanager.scheduler.address": _loopback(p.resourcemanager_scheduler),
            "yarn.resourcemanager.resource-tracker.address": _loopback(p.resourcemanager_tracker),
            "yarn.resourcemanager.admin.address": _loopback(p.resourcemanager_admin),
            "yarn.resourcemanager.webapp.address": _loopback(p.resourcemanager_http),
            "yarn.resourcemanager.webapp.https.address": _loopback(0),
            "yarn.nodemanager.hostname": "127.0.0.1",
            "yarn.nodemanager.bind-host": "127.0.0.1",
            "yarn.nodemanager.address": _loopback(p.nodemanager),
            "yarn.nodemanager.localizer.address": _loopback(p.nodemanager_localizer),
            "yarn.nodemanager.webapp.address": _loopback(p.nodemanager_http),
            "yarn.nodemanager.webapp.https.address": _loopback(0),
            "yarn.nodemanager.collector-service.address": _loopback(0),
            "yarn.nodemanager.amrmproxy.address": _loopback(0),
        }

    def _yarn_resources(self) -> dict[str, str]:
        """YARN's folders, the shuffle service, and containers sized for a small machine."""
        state = self.state_dir
        return {
            "yarn.nodemanager.local-dirs": str(self.nm_local(1)),
            # mrjob looks for task logs in $HADOOP_LOG_DIR/userlogs.
            "yarn.nodemanager.log-dirs": str(self.log_dir / "userlogs"),
            # The RM's defaults are /tmp/hadoop-yarn-${user}/node-attribute (and node-labels).
            "yarn.node-attribute.fs-store.root-dir": (state / "node-attribute").as_uri(),
            "yarn.node-labels.fs-store.root-dir": (state / "node-labels").as_uri(),
            "yarn.nodemanager.aux-services": "mapreduce_shuffle",
            "yarn.nodemanager.aux-services.mapreduce_shuffle.class": SHUFFLE_CLASS,
            "yarn.nodemanager.resource.memory-mb": str(self.nodemanager_memory_mb),
            "yarn.nodemanager.resource.cpu-vcores": str(self.nodemanager_vcores),
            "yarn.scheduler.minimum-allocation-mb": str(CONTAINER_MB // 2),
            "yarn.scheduler.maximum-allocation-mb": str(self.nodemanager_memory_mb),
            "yarn.scheduler.maximum-allocation-vcores": str(self.nodemanager_vcores),
            # A JVM reserves far more virtual memory than it uses; physical memory is checked.
            "yarn.nodemanager.vmem-check-enabled": "false",
            # A nearly full shared disk must not mark the only NodeManager unhealthy.
            "yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage": "99",
            "yarn.nodemanager.delete.debug-delay-sec": "0",
            **DETECTION,
        }

    def _mapred_site(self) -> dict[str, str]:
        """MapReduce on YARN: the classpath, JobHistory and shuffle on loopback, 512 MB tasks."""
        p, lib = self.ports, self.home / "lib"
        task_opts = "-XX:-UsePerfData -XX:+UseSerialGC -Djava.net.preferIPv4Stack=true"
        return {
            "mapreduce.framework.name": "yarn",
            "mapreduce.application.classpath": f"{self.conf_dir}:{lib}/*",
            "mapreduce.jobhistory.bind-host": "127.0.0.1",
            "mapreduce.jobhistory.address": _loopback(p.jobhistory),
            "mapreduce.jobhistory.admin.address": _loopback(p.jobhistory_admin),
            "mapreduce.jobhistory.webapp.address": _loopback(p.jobhistory_http),
            "mapreduce.jobhistory.webapp.https.address": _loopback(0),
            # Read by the shuffle handler in the NodeManager: once the handler loads JobConf,
            # mapred-default.xml (port 13562) overrides yarn-site, and only mapred-site wins.
            "mapreduce.shuffle.port": str(p.shuffle),
            "bdbench.shuffle.bind-host": "127.0.0.1",
            # One DataNode: the default 10 replicas of job files only log warnings.
            "mapreduce.client.submit.file.replication": "1",
            "yarn.app.mapreduce.am.resource.mb": str(CONTAINER_MB),
            "yarn.app.mapreduce.am.command-opts": f"-Xmx{CONTAINER_MB * 4 // 5}m {task_opts}",
            "mapreduce.map.memory.mb": str(CONTAINER_MB),
            "mapreduce.reduce.memory.mb": str(CONTAINER_MB),
            # No -Xmx: MapReduce derives the tasks' heaps from *.memory.mb (x 0.8).
            "mapreduce.map.java.opts": task_opts,
            "mapreduce.reduce.java.opts": task_opts,
        }

    def write_conf(self) -> Path:
        """Write the configuration folder (site files + static resources); return it."""
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for name, properties in self._site_files().items():
            (self.conf_dir / name).write_text(_site_xml(properties))
        for resource in sorted(CONF_RESOURCES.iterdir()):
            if resource.is_file():
                shutil.copyfile(resource, self.conf_dir / resource.name)
        if self.nodemanagers >= 2:
            scheduler = self.conf_dir / "capacity-scheduler.xml"
            extra = "".join(
                f"  <property><name>{k}</name><value>{v}</value></property>\n"
                for k, v in SPREAD.items()
            )
            text = scheduler.read_text()
            scheduler.write_text(text.replace("</configuration>", f"{extra}</configuration>"))
        return self.conf_dir

    def _jvm_opts(self, heap_mb: int) -> list[str]:
        return [
            f"-Xmx{heap_mb}m",
            "-XX:+UseSerialGC",
            "-XX:-UsePerfData",
            *JPMS_OPTS,
            "-Djava.net.preferIPv4Stack=true",
            f"-Djava.io.tmpdir={self.tmp_dir}",
        ]

    def write_shim(self, java: str) -> Path:
        """Write ``bin/hadoop``: ``version``, ``fs``/``dfs``, ``jar``, ``classpath``."""
        q = shlex.quote
        classpath = f"{self.conf_dir}:{self.home / 'lib'}/*"
        opts = " ".join(q(o) for o in self._jvm_opts(CLIENT_HEAP_MB))
        script = f"""#!/usr/bin/env bash
# The `hadoop` command of the bdbench cluster in {self.root}
# (written by harness/clusters/hadoop.py; enough of Hadoop's launcher for mrjob's hadoop runner):
#   hadoop version | hadoop fs ARGS... | hadoop jar JAR [MAIN] ARGS... | hadoop classpath
export JAVA_HOME={q(str(_java_home(java)))}
export HADOOP_CONF_DIR={q(str(self.conf_dir))}
CP={q(classpath)}
cmd=${{1:-}}
[ $# -gt 0 ] && shift
case "$cmd" in
  version) main=org.apache.hadoop.util.VersionInfo ;;
  fs|dfs) main=org.apache.hadoop.fs.FsShell ;;
  jar) main=org.apache.hadoop.util.RunJar ;;
  classpath) echo "$CP"; exit 0 ;;
  *) echo "usage: hadoop version | fs ARGS... | jar JAR [MAIN] ARGS... | classpath" >&2; exit 1 ;;
esac
mkdir -p {q(str(self.tmp_dir))}
# Short-lived clients: C1 only starts faster and costs less CPU.
# shellcheck disable=SC2086  # HADOOP_CLIENT_OPTS is a list of options, split on purpose
exec {q(java)} {opts} -XX:TieredStopAtLevel=1 \\
  -Dhadoop.root.logger="${{HADOOP_ROOT_LOGGER:-INFO,console}}" $HADOOP_CLIENT_OPTS \\
  -cp "$CP" "$main" "$@"
"""
        shim = self.hadoop_bin()
        shim.parent.mkdir(parents=True, exist_ok=True)
        shim.write_text(script)
        shim.chmod(0o755)
        return shim

    def _daemon_argv(self, java: str, name: str, *args: str, log: str | None = None) -> list[str]:
        log = log or name
        classpath = [str(self.conf_dir)]
        if name in ("namenode", "datanode"):
            # share/ holds webapps/{hdfs,datanode,static}: only HDFS daemons, whose web apps
            # they are (YARN's own webapps/static is inside hadoop-yarn-common).
            classpath.append(str(self.home / "share"))
        if name == "nodemanager":
            classpath.append(str(shuffle_jar(self.home)))
        classpath.append(f"{self.home / 'lib'}/*")
        return [
            java,
            f"-Dproc_{name}",
            *self._jvm_opts(DAEMON_HEAP_MB[name]),
            f"-Dhadoop.log.dir={self.log_dir}",
            f"-Dhadoop.log.file={log}.log",
            f"-Dyarn.log.dir={self.log_dir}",
            f"-Dyarn.log.file={log}.log",
            # Daemons log to the console, which daemons.start sends to logs/<name>.log.
            "-Dhadoop.root.logger=INFO,console",
            f"-Dhadoop.home.dir={self.home}",
            "-cp",
            ":".join(classpath),
            MAIN_CLASSES[name],
            *args,
        ]

    def _env(self, java: str) -> dict[str, str]:
        env = dict(os.environ)
        # Containers are started as $JAVA_HOME/bin/java from the NodeManager's environment.
        env["JAVA_HOME"] = str(_java_home(java))
        env["HADOOP_CONF_DIR"] = str(self.conf_dir)
        env["HADOOP_LOG_DIR"] = str(self.log_dir)
        return env

    # -- up -------------------------------------------------------------------------------

    def up(self, timeout: float = 180) -> dict[str, Any]:
        """Start the five daemons, each waited for; return the state (``from_state`` reads it).

        ClusterError (naming the daemon and its log) when one fails; the ones already started
        are stopped again.
        """
        # What cannot be mended by freeing a port (no Java, no Maven) is said first.
        reason = unavailable(self.home)
        if reason is not None:
            raise ClusterError(reason)
        daemons.check_ports(self.port_purposes())
        fetch(self.home)
        java = find_java()
        assert java is not None  # unavailable() said so
        for folder in (self.state_dir, self.log_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.write_conf()
        self.write_shim(java)
        env = self._env(java)
        began = time.monotonic()
        self.handles, self.startup_s = {}, {}
        try:
            self._format_if_new(java, env)
            for name in MAIN_CLASSES:
                count = self.nodemanagers if name == "nodemanager" else 1
                for i in range(1, count + 1):
                    remaining = max(1.0, timeout - (time.monotonic() - began))
                    key = self.nm_name(i) if name == "nodemanager" else name
                    self.startup_s[key] = self._start_daemon(java, env, name, i, remaining)
        except BaseException:
            self.down()  # the daemons already started, and their temp files
            raise
        self.startup_s["total"] = round(time.monotonic() - began, 2)
        return self.to_state()

    def _start_daemon(
        self, java: str, env: dict[str, str], name: str, i: int, timeout: float
    ) -> float:
        """Start daemon ``name`` (NodeManager ``i``) and wait until it is ready; seconds."""
        started = time.monotonic()
        key = self.nm_name(i) if name == "nodemanager" else name
        log = key.replace(" ", "-")
        handle = daemons.start(
            key,
            self._daemon_argv(java, name, *self._nm_overrides(i), log=log),
            self.log_dir / f"{log}.log",
            env=env,
            cwd=self.root,
        )
        self.handles[key] = handle
        try:
            daemons.wait_ready(handle, self._readiness(name, i, started), timeout)
        except ClusterError as exc:
            raise ClusterError(f"hadoop {exc}{_log_hint(Path(handle.log))}") from None
        return round(time.monotonic() - started, 2)

    def restart_nodemanager(self, i: int, timeout: float = 120) -> float:
        """Start NodeManager ``i`` again (after it was lost) with the same settings; wait until
        the ResourceManager lists it RUNNING again. Its old scratch is its own: the new one
        cleans it at start. Seconds it took."""
        java = find_java()
        if java is None:
            raise ClusterError(f"hadoop: {no_java_reason()}")
        try:
            return self._start_daemon(java, self._env(java), "nodemanager", i, timeout)
        except BaseException:
            started = self.handles.get(self.nm_name(i))
            if started is not None:
                daemons.stop(started, NODEMANAGER_STOP_GRACE_S)  # not left running unrecorded
            raise

    def _format_if_new(self, java: str, env: dict[str, str]) -> None:
        if (self.state_dir / "nn" / "current" / "VERSION").is_file():
            return
        # A DataNode folder left from an earlier namespace would be refused (clusterID).
        shutil.rmtree(self.state_dir / "dn", ignore_errors=True)
        log = self.log_dir / "namenode-format.log"
        argv = self._daemon_argv(java, "namenode", "-format", "-nonInteractive", "-force")
        with log.open("wb") as out:
            try:
                done = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.root,
                    timeout=FORMAT_TIMEOUT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise ClusterError(f"hadoop: formatting HDFS timed out: see {log}") from None
        if done.returncode != 0:
            raise ClusterError(f"hadoop: formatting HDFS failed: see {log}{_log_hint(log)}")

    def _readiness(self, name: str, i: int = 1, since: float = 0.0) -> Callable[[], bool]:
        shuffle = self.ports.nodemanager_ports(i)["shuffle"]
        # YARN's clock is the wall clock: a restarted node's health report must be newer.
        since_ms = (time.time() - (time.monotonic() - since)) * 1000 if since else 0.0
        checks: dict[str, Callable[[], bool]] = {
            "namenode": lambda: (
                bool(self._namenode_info()) and daemons.port_in_use(self.ports.namenode_rpc)
            ),
            # Writes need the NameNode out of safe mode, which needs the DataNode's report.
            "datanode": lambda: self._live_datanodes() >= 1 and not self._safemode(),
            "resourcemanager": lambda: self._rm_info().get("state") == "STARTED",
            "nodemanager": lambda: self._node_running(i, since_ms) and daemons.port_in_use(shuffle),
            "historyserver": lambda: "hadoopVersion" in self._history_info(),
        }
        return checks[name]

    # -- endpoints ------------------------------------------------------------------------

    def _jmx(self, daemon: str, query: str) -> dict[str, Any]:
        beans = daemons.http_json(f"{self.web[daemon]}/jmx?qry={query}").get("beans") or [{}]
        return dict(beans[0])

    def _namenode_info(self) -> dict[str, Any]:
        return self._jmx("namenode", "Hadoop:service=NameNode,name=NameNodeInfo")

    def _safemode(self) -> bool:
        return bool(self._namenode_info().get("Safemode", "unknown"))

    def _live_datanodes(self) -> int:
        state = self._jmx("namenode", "Hadoop:service=NameNode,name=FSNamesystemState")
        return int(state.get("NumLiveDataNodes", 0))

    def _rm_info(self) -> dict[str, Any]:
        info = daemons.http_json(f"{self.web['resourcemanager']}/ws/v1/cluster/info")
        return dict(info.get("clusterInfo", {}))

    def yarn_nodes(self) -> dict[int, dict[str, Any]]:
        """The ResourceManager's nodes (every state) by the port of their NodeId
        (``localhost:18041``): the port tells our NodeManagers apart."""
        nodes = daemons.http_json(f"{self.web['resourcemanager']}/ws/v1/cluster/nodes")
        found = ((nodes or {}).get("nodes") or {}).get("node") or []
        return {int(str(n.get("id")).rsplit(":", 1)[-1]): n for n in found}

    def yarn_node(self, i: int) -> dict[str, Any]:
        """What the ResourceManager says of NodeManager ``i`` ({} when it never registered)."""
        return self.yarn_nodes().get(self.ports.nodemanager_ports(i)["nodemanager"]) or {}

    def _node_running(self, i: int, since_ms: float) -> bool:
        node = self.yarn_node(i)
        return node.get("state") == "RUNNING" and float(node.get("lastHealthUpdate", 0)) >= since_ms

    def _active_nodemanagers(self) -> int:
        metrics = daemons.http_json(f"{self.web['resourcemanager']}/ws/v1/cluster/metrics")
        return int(metrics.get("clusterMetrics", {}).get("activeNodes", 0))

    def _history_info(self) -> dict[str, Any]:
        info = daemons.http_json(f"{self.web['historyserver']}/ws/v1/history/info")
        return dict(info.get("historyInfo", {}))

    # -- state, status, down --------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """JSON state: handles, ports, addresses, version, start-up seconds."""
        return {
            "version": HADOOP_VERSION,
            "home": str(self.home),
            "root": str(self.root),
            "conf_dir": str(self.conf_dir),
            "fs": self.fs_uri,
            "resourcemanager": self.resourcemanager,
            "hadoop_bin": str(self.hadoop_bin()),
            "streaming_jar": str(self.streaming_jar()),
            "web": self.web,
            "ports": asdict(self.ports),
            "nodemanager_memory_mb": self.nodemanager_memory_mb,
            "nodemanager_vcores": self.nodemanager_vcores,
            "nodemanagers": self.nodemanagers,
            "nodes": [
                {
                    "name": self.nm_name(i),
                    "index": i,
                    "address": self.nm_address(i),
                    "ports": self.ports.nodemanager_ports(i),
                    "local_dir": str(self.nm_local(i)),
                    "log_dir": str(self.nm_logs(i)),
                }
                for i in range(1, self.nodemanagers + 1)
            ],
            "detection": self.detection(),
            "datanodes": 1,
            "conf": self.key_conf(),
            "daemons": {name: h.to_json() for name, h in self.handles.items()},
            "startup_s": dict(self.startup_s),
        }

    def detection(self) -> dict[str, str]:
        """The settings that decide how fast a lost node is noticed and its work re-run."""
        return {
            **DETECTION,
            **(SPREAD if self.nodemanagers >= 2 else {}),
            # Hadoop's defaults, recorded: a task that stops reporting on a live node.
            "mapreduce.task.timeout": "600000 (Hadoop's default)",
            "mapreduce.am.max-attempts": "2 (Hadoop's default)",
            "mapreduce.map.speculative": "true (Hadoop's default)",
        }

    def key_conf(self) -> dict[str, Any]:
        """The settings that shape a benchmark's numbers (for a batch's environment file)."""
        merged = {k: v for props in self._site_files().values() for k, v in props.items()}
        keys = (
            "dfs.replication",
            "yarn.nodemanager.resource.memory-mb",
            "yarn.nodemanager.resource.cpu-vcores",
            "yarn.app.mapreduce.am.resource.mb",
            "mapreduce.map.memory.mb",
            "mapreduce.reduce.memory.mb",
            "yarn.nodemanager.aux-services.mapreduce_shuffle.class",
        )
        return {
            **{key: merged[key] for key in keys},
            "dfs.blocksize": "134217728 (Hadoop's default)",
            "daemon_heap_mb": dict(DAEMON_HEAP_MB),
        }

    @classmethod
    def from_state(cls, root: Path, state: dict[str, Any]) -> HadoopCluster:
        """The cluster described by a state written by ``up`` (in any process)."""
        cluster = cls(
            root,
            HadoopPorts(**state["ports"]),
            nodemanager_memory_mb=int(state["nodemanager_memory_mb"]),
            nodemanager_vcores=int(state["nodemanager_vcores"]),
            home=Path(state["home"]),
            nodemanagers=int(state.get("nodemanagers", 1)),
        )
        cluster.handles = {name: Handle(**h) for name, h in state.get("daemons", {}).items()}
        cluster.startup_s = dict(state.get("startup_s", {}))
        return cluster

    def status(self) -> dict[str, Any]:
        """What runs, from the daemons' JMX and REST endpoints (None where one does not
        answer)."""
        out: dict[str, Any] = {
            "conf_dir": str(self.conf_dir),
            "fs": self.fs_uri,
            "resourcemanager": self.resourcemanager,
            "version": HADOOP_VERSION,
            "daemons": {
                name: "running" if (h := self.handles.get(name)) and h.alive() else "stopped"
                for name in self._daemon_names()
            },
            "nodemanagers": None,
            "live_datanodes": None,
            "safemode": None,
            "web": self.web,
        }
        with contextlib.suppress(Exception):
            out["version"] = self._rm_info()["hadoopVersion"]
        with contextlib.suppress(Exception):
            out["nodemanagers"] = self._active_nodemanagers()
        with contextlib.suppress(Exception):
            out["nodes"] = {
                self.nm_name(i): self.yarn_node(i).get("state", "unknown")
                for i in range(1, self.nodemanagers + 1)
            }
        with contextlib.suppress(Exception):
            out["live_datanodes"] = self._live_datanodes()
        with contextlib.suppress(Exception):
            out["safemode"] = self._safemode()
        return out

    def _daemon_names(self) -> list[str]:
        names = []
        for name in MAIN_CLASSES:
            if name == "nodemanager":
                names += [self.nm_name(i) for i in range(1, self.nodemanagers + 1)]
            else:
                names.append(name)
        return names

    def down(self) -> None:
        """Stop every daemon and what they started (containers, task processes); remove tmp/
        (with the NodeManager's scratch). HDFS (state/) and logs stay. Idempotent."""
        self._stop_daemons()
        # A SIGKILLed stray can still show as running for a moment, and a dying container may
        # have started a child: wait for each round to be gone, then look again.
        daemons.kill_all(self._strays(), find=self._strays)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _stop_daemons(self) -> None:
        handles = list(self.handles.values())
        if handles:
            # In parallel: each waits for its own exit, and none depends on another at stop.
            with ThreadPoolExecutor(len(handles)) as pool:
                list(
                    pool.map(
                        lambda h: daemons.stop(
                            h,
                            NODEMANAGER_STOP_GRACE_S
                            if h.name.startswith("nodemanager")
                            else daemons.STOP_GRACE_S,
                        ),
                        handles,
                    )
                )
        self.handles = {}

    def _strays(self) -> list[psutil.Process]:
        """Processes of this cluster no handle accounts for: JVMs whose temp folder is ours
        (daemons, shim clients, containers) and anything running in a container's folder."""
        dirs = [self.nm_local(i) for i in range(1, self.nodemanagers + 1)]
        return daemons.processes_under(self.root, dirs)

    # -- HDFS -----------------------------------------------------------------------------

    def client(self) -> HadoopClient:
        """A client of this cluster's HDFS through the shim."""
        return HadoopClient(self.hadoop_bin(), fs_uri=self.fs_uri)

    def fs(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``hadoop fs ARGS...`` through the shim (output captured, never raises)."""
        return self.client().fs(*args, input=input)

    def stage(self, paths: list[Path], key: str) -> list[str]:
        """Copy local files to ``hdfs:///bdbench/data/<key>/`` once (see ``HadoopClient.stage``);
        return their URIs in the order given."""
        return self.client().stage(paths, key)


class HadoopClient:
    """``hadoop fs`` through a ``hadoop`` command (a cluster's shim, or a real Hadoop's own),
    and staging of input files in HDFS."""

    def __init__(
        self, hadoop_bin: Path, env: dict[str, str] | None = None, fs_uri: str = "hdfs://"
    ) -> None:
        self.hadoop_bin = Path(hadoop_bin)
        self.env = dict(env or {})
        #: Prefix of the URIs ``stage`` returns: ``hdfs://`` (the default file system's
        #: namenode) or a namenode's own ``hdfs://host:port``.
        # "hdfs://" stays as it is: stripping its slashes would make "hdfs:/path" URIs.
        self.fs_uri = fs_uri if fs_uri.endswith("://") else fs_uri.rstrip("/")

    def fs(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``hadoop fs ARGS...`` (output captured, never raises)."""
        return subprocess.run(
            [str(self.hadoop_bin), "fs", *args],
            input=input,
            capture_output=True,
            text=True,
            check=False,
            # INFO lines of the client would bury the one error line a failure shows.
            env={**os.environ, "HADOOP_ROOT_LOGGER": "WARN,console", **self.env},
        )

    def _fs_checked(self, *args: str, input: str | None = None) -> str:
        done = self.fs(*args, input=input)
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            detail = lines[-1].strip() if lines else f"exit {done.returncode}"
            raise ClusterError(f"hadoop fs {args[0]} failed: {detail}")
        return done.stdout

    def stage(self, paths: list[Path], key: str) -> list[str]:
        """Copy local files to ``hdfs:///bdbench/data/<key>/`` unless a complete copy of the
        same files is there; return their HDFS URIs in the order given.

        A marker written last lists the files' names and sizes: a copy cut short, or one of
        other files under the same key, is replaced.
        """
        if not _KEY_RE.fullmatch(key):
            raise ClusterError(f"hadoop: bad staging key {key!r} (letters, digits, . _ -)")
        files = [Path(p).resolve() for p in paths]
        for path in files:
            if not path.is_file():
                raise ClusterError(f"hadoop: cannot stage {path}: not a file")
        names = [p.name for p in files]
        unique = len(set(names)) == len(names)
        if not unique:
            # Same base names from different folders: keep them apart, in order.
            names = [f"{i:05d}-{name}" for i, name in enumerate(names)]
        target = f"{STAGE_DIR}/{key}"
        listing = "".join(
            f"{name}\t{path.stat().st_size}\n" for name, path in zip(names, files, strict=True)
        )
        marker = f"{target}/{STAGE_MARKER}"
        cached = self.fs("-cat", marker)
        if cached.returncode != 0 or cached.stdout != listing:
            self._fs_checked("-rm", "-r", "-f", "-skipTrash", target)
            self._fs_checked("-mkdir", "-p", target)
            # -put parses a source as a URI when it can ("x%20y.txt" would be "x y.txt"):
            # percent-encoded file:// URIs name every file exactly. Targets are taken as text.
            if unique:
                sources = [p.as_uri() for p in files]
                self._fs_checked("-put", *sources, f"{target}/")  # one client JVM
            else:
                for name, path in zip(names, files, strict=True):
                    self._fs_checked("-put", path.as_uri(), f"{target}/{name}")
            self._fs_checked("-put", "-", marker, input=listing)
        return [f"{self.fs_uri}{target}/{name}" for name in names]


def _log_hint(log: Path) -> str:
    """`` (<last error line>)`` of a daemon's log, or ``""``: the line a user needs first."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, log.stat().st_size - 64_000))
            tail = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    for line in reversed(tail):
        if _ERROR_LINE.search(line):
            return f" ({line.strip()[:300]})"
    # No log4j line at all: the JVM itself refused to start ("Too small maximum heap").
    rest = [line.strip() for line in tail if line.strip()]
    if rest and not any(" INFO " in line for line in rest):
        return f" ({rest[-1][:300]})"
    return ""
