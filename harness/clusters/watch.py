"""Watching the cluster a run depends on, so that a lost daemon fails the run in seconds.

A run on a cluster waits for the cluster: when the only NodeManager dies, YARN notices only
after its liveness expiry (10 minutes by default) and then waits for ever for a node to run the
job's containers; a dead Spark master leaves the driver retrying. The runner instead checks the
daemons the run needs about once a second (``ClusterWatch.check``): the processes of the local
cluster bdbench started (by pid and start ticks, from its state file), or, for a user's YARN, the
ResourceManager's REST state. On a loss it names the daemon, kills the run and the YARN
applications submitted during it (``kill_applications``), and later cells that need the same
daemons are skipped with the same reason. A cluster that recovers by itself (a lost node among
several) is not a loss here: a role is lost when no daemon of it is left.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import re
import socket
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.clusters import daemons
from harness.clusters.daemons import Handle

#: Seconds between two looks at the cluster while a run is in flight.
INTERVAL_S = 1.0
#: Deadline of one REST call or TCP connect of a look.
PROBE_TIMEOUT_S = 2.0

#: Role (as the local cluster's state names its daemons) -> how people call it.
ROLE_NAMES = {
    "namenode": "NameNode",
    "datanode": "DataNode",
    "resourcemanager": "ResourceManager",
    "nodemanager": "NodeManager",
    "historyserver": "JobHistoryServer",
    "spark master": "Spark master",
    "spark worker": "Spark worker",
}
#: Role -> what the cluster lacks once no daemon of that role is left.
WHAT_IS_LOST = {
    "namenode": "HDFS has no NameNode",
    "datanode": "HDFS has no live DataNode",
    "resourcemanager": "YARN has no ResourceManager",
    "nodemanager": "YARN has no live NodeManager",
    "historyserver": "MapReduce has no JobHistoryServer",
    "spark master": "the standalone cluster has no master",
    "spark worker": "the standalone master has no live worker",
}
#: What each kind of cluster run needs.
HDFS = ("namenode", "datanode")
YARN = (*HDFS, "resourcemanager", "nodemanager")
#: MapReduce job clients ask the JobHistoryServer for a finished job's status and counters.
MAPREDUCE = (*YARN, "historyserver")
STANDALONE = ("spark master", "spark worker")


def _role(name: str) -> str:
    """``spark worker 2`` -> ``spark worker``, ``nodemanager 2`` -> ``nodemanager``."""
    return re.sub(r" \d+$", "", name)


@dataclass
class ClusterWatch:
    """The daemons one cell's runs need: processes of the local cluster by role, and REST or
    TCP checks of a user's cluster; ``yarn_web`` is the ResourceManager whose applications a
    failed run leaves behind."""

    #: Role -> the local cluster's daemons of that role.
    processes: dict[str, list[Handle]] = field(default_factory=dict)
    #: A user's YARN ResourceManager web address (``http://host:port``) to ask for live nodes.
    yarn_rest: str | None = None
    #: A user's Spark standalone master (``host``, ``port``) to connect to.
    master: tuple[str, int] | None = None
    #: Where to kill the YARN applications submitted during a failed run (None: none).
    yarn_web: str | None = None

    def roles(self) -> set[str]:
        """The roles watched (for skipping later cells that need a lost one)."""
        found = set(self.processes)
        if self.yarn_rest:
            found |= {"resourcemanager", "nodemanager"}
        if self.master:
            found.add("spark master")
        return found

    def lost(self, during: bool = True) -> tuple[str, str] | None:
        """(role, reason) of the first role with no daemon left, or None when all is well.
        ``during``: the run was in flight ("died during the run"), else it is found before."""
        for role, handles in self.processes.items():
            if handles and not any(h.alive() for h in handles):
                name = ROLE_NAMES.get(role, role)
                pids = ", ".join(str(h.pid) for h in handles)
                one = len(handles) == 1
                who = f"the {name} (pid {pids})" if one else f"the {name}s (pids {pids})"
                if during:
                    verb = "died during the run"
                else:
                    verb = "is not running" if one else "are not running"
                return role, f"{who} {verb}; {WHAT_IS_LOST[role]}"
        if self.yarn_rest:
            found = _yarn_rest_loss(self.yarn_rest)
            if found is not None:
                return found
        if self.master:
            host, port = self.master
            reason = connect_error(host, port)
            if reason is not None:
                return (
                    "spark master",
                    f"cannot reach the Spark master spark://{host}:{port} ({reason})",
                )
        return None

    def kill_applications(self, since_ms: int) -> list[str]:
        """Kill the YARN applications that started at or after ``since_ms`` and have not
        finished (on a user's cluster, only this user's); their ids."""
        if not self.yarn_web:
            return []
        return kill_yarn_applications(self.yarn_web, since_ms)


def for_local(state: dict[str, Any], roles: Iterable[str], yarn: bool = False) -> ClusterWatch:
    """A watch of the local cluster's daemons of ``roles`` (from its state file)."""
    handles: list[dict[str, Any]] = []
    hadoop = state.get("hadoop") or {}
    handles += list((hadoop.get("daemons") or {}).values())
    handles += list((state.get("spark") or {}).get("handles") or [])
    wanted = set(roles)
    processes: dict[str, list[Handle]] = {}
    for data in handles:
        handle = Handle(**data)
        role = _role(handle.name)
        if role in wanted:
            processes.setdefault(role, []).append(handle)
    web = (hadoop.get("web") or {}).get("resourcemanager") if yarn else None
    return ClusterWatch(processes=processes, yarn_web=web)


def connect_error(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why a TCP connection to ``host:port`` fails (``connection refused``, ``timed out``...),
    or None when it opens."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except ConnectionRefusedError:
        return "connection refused"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()


def _yarn_rest_loss(web: str) -> tuple[str, str] | None:
    try:
        metrics = daemons.http_json(f"{web}/ws/v1/cluster/metrics", timeout=PROBE_TIMEOUT_S)
    except Exception as exc:
        return "resourcemanager", f"the ResourceManager at {web} does not answer ({exc})"
    active = int((metrics.get("clusterMetrics") or {}).get("activeNodes", 0))
    if active == 0:
        return "nodemanager", f"YARN at {web} has no live NodeManager"
    return None


def kill_yarn_applications(web: str, since_ms: int) -> list[str]:
    """Kill the unfinished applications a ResourceManager started at or after ``since_ms``
    (this user's); their ids. Best effort: a ResourceManager that does not answer kills
    nothing."""
    user = getpass.getuser()
    states = "NEW,NEW_SAVING,SUBMITTED,ACCEPTED,RUNNING"
    url = f"{web}/ws/v1/cluster/apps?states={states}&startedTimeBegin={since_ms}"
    try:
        apps = ((daemons.http_json(url, timeout=PROBE_TIMEOUT_S) or {}).get("apps") or {}).get(
            "app"
        ) or []
    except Exception:
        return []
    killed = []
    for app in apps:
        if app.get("user") not in (None, user):
            continue
        request = urllib.request.Request(
            f"{web}/ws/v1/cluster/apps/{app['id']}/state?user.name={user}",
            data=json.dumps({"state": "KILLED"}).encode(),
            headers={"Content-Type": "application/json"},
            method="PUT",
        )
        with contextlib.suppress(Exception):
            with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S):
                killed.append(str(app["id"]))
    return killed


def yarn_site(conf_dirs: Iterable[str]) -> dict[str, str] | None:
    """The properties of the first readable ``yarn-site.xml`` in ``conf_dirs`` (None: none)."""
    for folder in conf_dirs:
        try:
            root = ET.parse(Path(folder) / "yarn-site.xml").getroot()
        except (OSError, ET.ParseError):
            continue
        return {
            name: value or ""
            for p in root.iter("property")
            if (name := p.findtext("name")) is not None
            and (value := p.findtext("value")) is not None
        }
    return None


def yarn_web_address(conf_dirs: Iterable[str]) -> str | None:
    """``http://host:port`` of the ResourceManager's web app named by the first
    ``yarn-site.xml`` found in ``conf_dirs`` (Hadoop's default port 8088 after its host)."""
    props = yarn_site(conf_dirs)
    if props is None:
        return None
    address = props.get("yarn.resourcemanager.webapp.address")
    if not address:
        host = props.get("yarn.resourcemanager.hostname")
        if not host:
            host = (props.get("yarn.resourcemanager.address") or "").rsplit(":", 1)[0] or None
        address = f"{host}:8088" if host else None
    return f"http://{address}" if address else None
