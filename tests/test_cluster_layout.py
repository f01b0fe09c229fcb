"""The local cluster's layout with several worker nodes, without starting a JVM: every
NodeManager's ports, folders and settings apart, the detection settings written, old state
files still read."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.clusters.daemons import ClusterError
from harness.clusters.hadoop import (
    DETECTION,
    MAX_NODEMANAGERS,
    SPREAD,
    HadoopCluster,
    HadoopPorts,
)
from harness.clusters.spark_standalone import SparkStandalone
from harness.clusters.watch import _role


def _cluster(tmp_path: Path, n: int) -> HadoopCluster:
    return HadoopCluster(tmp_path / "hadoop", nodemanagers=n, home=tmp_path / "home")


@pytest.mark.parametrize("n", range(1, MAX_NODEMANAGERS + 1))
def test_no_two_purposes_share_a_port(tmp_path: Path, n: int) -> None:
    ports = _cluster(tmp_path, n).port_purposes()
    assert len(set(ports.values())) == len(ports)
    assert len(ports) == len(HadoopPorts().as_dict()) + 4 * (n - 1)


def test_one_nodemanager_is_todays_layout(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path, 1)
    assert cluster.port_purposes() == HadoopPorts().as_dict()
    assert cluster._nm_overrides(1) == []
    assert cluster.nm_local(1) == cluster.tmp_dir / "nm-local"
    assert cluster.nm_logs(1) == cluster.log_dir / "userlogs"


def test_a_second_nodemanager_gets_its_own_ports_and_folders(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path, 2)
    args = cluster._nm_overrides(2)
    assert args[::2] == ["-D"] * 6
    values = dict(a.split("=", 1) for a in args[1::2])
    assert values == {
        "yarn.nodemanager.address": "127.0.0.1:18141",
        "yarn.nodemanager.localizer.address": "127.0.0.1:18140",
        "yarn.nodemanager.webapp.address": "127.0.0.1:18142",
        "mapreduce.shuffle.port": "18662",
        "yarn.nodemanager.local-dirs": str(cluster.tmp_dir / "nm-local-2"),
        "yarn.nodemanager.log-dirs": str(cluster.log_dir / "nm-2" / "userlogs"),
    }
    assert HadoopCluster.nm_name(2) == "nodemanager 2"


def test_detection_settings_are_written_and_the_spread_only_with_two_nodes(
    tmp_path: Path,
) -> None:
    for n in (1, 2):
        cluster = _cluster(tmp_path / str(n), n)
        conf = cluster.write_conf()
        yarn_site = (conf / "yarn-site.xml").read_text()
        for key, value in DETECTION.items():
            assert f"<name>{key}</name><value>{value}</value>" in yarn_site
        scheduler = (conf / "capacity-scheduler.xml").read_text()
        (key,) = SPREAD
        assert (key in scheduler) == (n == 2)
        assert (key in cluster.detection()) == (n == 2)
    assert DETECTION["yarn.nm.liveness-monitor.expiry-interval-ms"] == "10000"


def test_bad_node_counts_are_refused(tmp_path: Path) -> None:
    for n in (0, MAX_NODEMANAGERS + 1):
        with pytest.raises(ClusterError, match="NodeManagers"):
            _cluster(tmp_path, n)


def test_an_old_state_file_reads_as_one_nodemanager(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path, 2)
    state = {
        "ports": vars(HadoopPorts()),
        "nodemanager_memory_mb": 4096,
        "nodemanager_vcores": 4,
        "home": str(tmp_path / "home"),
    }
    assert HadoopCluster.from_state(cluster.root, state).nodemanagers == 1
    state["nodemanagers"] = 2
    assert HadoopCluster.from_state(cluster.root, state).nodemanagers == 2


def test_numbered_daemons_map_to_their_role() -> None:
    assert _role("nodemanager 2") == "nodemanager"
    assert _role("spark worker 12") == "spark worker"
    assert _role("nodemanager") == "nodemanager"
    assert _role("spark master") == "spark master"


def test_spark_workers_keep_their_executors_apart(tmp_path: Path) -> None:
    spark = SparkStandalone(tmp_path / "spark", workers=2)
    assert spark.work_dir(1) != spark.work_dir(2)
    assert spark.work_dir(2).parent == tmp_path / "spark" / "work"
