"""``bdbench cluster up | down | status``: the local cluster from the command line."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from harness.argtypes import int_at_least, int_in_range

#: Kept in step with ``hadoop.MAX_NODEMANAGERS`` (not imported: the CLI loads without it).
MAX_NODEMANAGERS = 8


def memory_mb(text: str) -> int:
    """A size like ``4g`` or ``3072m`` in MB (at least 1024: an ApplicationMaster and a task)."""
    match = re.fullmatch(r"\s*(\d+)\s*([mMgG])\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a size like 4g or 3072m, got {text!r}")
    mb = int(match.group(1)) * (1024 if match.group(2).lower() == "g" else 1)
    if mb < 1024:
        raise argparse.ArgumentTypeError(
            f"{text!r} is below 1024m (an ApplicationMaster and a task)"
        )
    return mb


#: What ``cluster up`` can start (``--only``).
PARTS = ("hadoop", "spark")


def add_parser(sub: Any) -> None:
    """Add the ``cluster`` sub-command to the CLI's sub-parsers."""
    p_cluster = sub.add_parser(
        "cluster",
        help="start, stop or describe the local cluster (Hadoop HDFS+YARN+MapReduce, Spark "
        "standalone) on 127.0.0.1",
        description="A real pseudo-distributed cluster on this machine, every port on "
        "127.0.0.1, its state under .bdbench/cluster/ ($BDBENCH_CLUSTER_DIR).",
    )
    # The CLI's own parser class: one-line errors and exit 2 for the actions too.
    actions = p_cluster.add_subparsers(
        dest="action", metavar="ACTION", parser_class=type(p_cluster)
    )
    actions.required = True
    p_up = actions.add_parser("up", help="bring the cluster up (untimed; seconds per daemon)")
    p_up.add_argument(
        "--only", choices=PARTS, default=None, help="start only this part (default: both)"
    )
    p_up.add_argument(
        "--workers", type=int_at_least(1), default=1, help="Spark standalone workers (default 1)"
    )
    p_up.add_argument(
        "--worker-cores", type=int_at_least(1), default=2, help="cores per worker (default 2)"
    )
    p_up.add_argument("--worker-memory", default="2g", help="memory per worker (default 2g)")
    p_up.add_argument(
        "--nodemanagers",
        type=int_in_range(1, MAX_NODEMANAGERS),
        default=1,
        help=f"YARN NodeManagers, each a node with its own ports and folders (1 to "
        f"{MAX_NODEMANAGERS}, default 1)",
    )
    p_up.add_argument(
        "--nodemanager-memory",
        type=memory_mb,
        default=4096,
        metavar="SIZE",
        help="memory each NodeManager offers containers (default 4g)",
    )
    p_up.add_argument(
        "--nodemanager-vcores",
        type=int_at_least(1),
        default=4,
        help="vcores each NodeManager offers containers (default 4)",
    )
    p_up.add_argument("--json", action="store_true", help="print the state as JSON")
    actions.add_parser("down", help="stop every daemon; leave no process, port or temp folder")
    p_status = actions.add_parser("status", help="what runs, where, with versions")
    p_status.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_cluster(args: argparse.Namespace) -> int:
    """Run ``cluster up|down|status``."""
    from harness.clusters import local

    if args.action == "up":
        options = local.UpOptions(
            hadoop=args.only in (None, "hadoop"),
            spark=args.only in (None, "spark"),
            workers=args.workers,
            worker_cores=args.worker_cores,
            worker_memory=args.worker_memory,
            nodemanagers=args.nodemanagers,
            nodemanager_memory_mb=args.nodemanager_memory,
            nodemanager_vcores=args.nodemanager_vcores,
        )
        state = local.up(options)
        if args.json:
            print(json.dumps(local.status(), indent=1))
        else:
            _print_up(state)
        return 0
    if args.action == "down":
        print("cluster: down" if local.down() else "cluster: nothing was up")
        return 0
    found = local.status()
    if args.json:
        print(json.dumps(found, indent=1))
    else:
        _print_status(found)
    return 0


def _print_up(state: dict[str, Any]) -> None:
    print(f"cluster: up in {state['startup_s']:.1f} s ({state['root']})")
    hadoop = state.get("hadoop")
    if hadoop:
        print(
            f"hadoop {hadoop.get('version')}: fs {hadoop.get('fs')}, "
            f"resourcemanager {hadoop.get('resourcemanager')}, conf {hadoop.get('conf_dir')}"
        )
        n = hadoop.get("nodemanagers", 1)
        print(
            f"  {n} NodeManager{'s' if n != 1 else ''} ({hadoop.get('nodemanager_vcores')} vcores, "
            f"{hadoop.get('nodemanager_memory_mb')} MB each)"
        )
    spark = state.get("spark")
    if spark:
        print(
            f"spark {spark.get('version')}: master {spark.get('master')} "
            f"({spark.get('workers')} workers)"
        )


def _print_status(found: dict[str, Any]) -> None:
    if not found:
        print("cluster: down")
        return
    for part, facts in found.items():
        daemons = facts.get("daemons", {})
        running = sum(1 for s in daemons.values() if s == "running")
        print(f"{part} {facts.get('version')}: {running}/{len(daemons)} daemons running")
        for key, value in facts.items():
            if key != "daemons":
                print(f"  {key}: {value}")
        for name, state in daemons.items():
            print(f"  {name}: {state}")
