"""The cluster watch's own logic, without a cluster: which daemons a run needs, what a lost one
is called, and how a user's cluster is found (the real cluster's faults are in
test_cluster.py)."""

from __future__ import annotations

import socket
from pathlib import Path

from harness.clusters import daemons, watch
from harness.clusters.daemons import Handle


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_role_is_lost_only_when_no_daemon_of_it_is_left(tmp_path: Path) -> None:
    first = daemons.start("spark worker 1", ["sleep", "60"], tmp_path / "w1.log")
    second = daemons.start("spark worker 2", ["sleep", "60"], tmp_path / "w2.log")
    master = daemons.start("spark master", ["sleep", "60"], tmp_path / "m.log")
    state = {"spark": {"handles": [h.to_json() for h in (master, first, second)]}}
    try:
        looks = watch.for_local(state, watch.STANDALONE)
        assert looks.roles() == {"spark master", "spark worker"}
        assert looks.lost() is None
        daemons.stop(first)
        assert looks.lost() is None  # one worker is left: the cluster may go on
        daemons.stop(second)
        assert looks.lost() == (
            "spark worker",
            f"the Spark workers (pids {first.pid}, {second.pid}) died during the run; "
            "the standalone master has no live worker",
        )
        assert looks.lost(during=False) == (
            "spark worker",
            f"the Spark workers (pids {first.pid}, {second.pid}) are not running; "
            "the standalone master has no live worker",
        )
    finally:
        for handle in (master, first, second):
            daemons.stop(handle)


def test_only_the_roles_a_run_needs_are_watched(tmp_path: Path) -> None:
    gone = Handle("historyserver", 2**22 + 7, 0.0, str(tmp_path / "h.log"), 1)
    state = {"hadoop": {"daemons": {"historyserver": gone.to_json()}}}
    assert watch.for_local(state, watch.YARN).lost() is None
    role, reason = watch.for_local(state, watch.MAPREDUCE).lost() or ("", "")
    assert role == "historyserver"
    assert reason.startswith(f"the JobHistoryServer (pid {gone.pid}) died during the run")


def test_a_users_cluster_is_watched_by_what_answers() -> None:
    port = _free_port()
    looks = watch.ClusterWatch(master=("127.0.0.1", port))
    assert looks.lost() == (
        "spark master",
        f"cannot reach the Spark master spark://127.0.0.1:{port} (connection refused)",
    )
    web = f"http://127.0.0.1:{port}"
    role, reason = watch.ClusterWatch(yarn_rest=web).lost() or ("", "")
    assert role == "resourcemanager"
    assert reason.startswith(f"the ResourceManager at {web} does not answer")
    assert watch.ClusterWatch(yarn_web=web).kill_applications(0) == []  # nothing answers


def test_the_resourcemanager_web_address_comes_from_yarn_site(tmp_path: Path) -> None:
    def site(**props: str) -> Path:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        body = "".join(
            f"<property><name>{k.replace('_', '.')}</name><value>{v}</value></property>"
            for k, v in props.items()
        )
        (folder / "yarn-site.xml").write_text(f"<configuration>{body}</configuration>")
        return folder

    explicit = site(yarn_resourcemanager_webapp_address="rm.example:18088")
    assert watch.yarn_web_address([str(explicit)]) == "http://rm.example:18088"
    by_host = site(yarn_resourcemanager_hostname="rm2.example")
    assert watch.yarn_web_address([str(by_host)]) == "http://rm2.example:8088"
    by_rpc = site(yarn_resourcemanager_address="rm3.example:8032")
    assert (
        watch.yarn_web_address([str(tmp_path / "none"), str(by_rpc)]) == "http://rm3.example:8088"
    )
    assert watch.yarn_web_address([str(tmp_path / "none")]) is None
