"""Inputs whose names hold spaces, ``&``, ``%``, glob characters or commas reach every engine as
the same files (Spark reads Hadoop paths: never percent-encoded, glob characters escaped, commas
kept off ``textFile``'s split), on local disk and through HDFS staging."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from conftest import needs_java, run_cli
from harness import datasets, registry
from harness.clusters import hadoop
from harness.engines.spark_engine import comma_lists, hadoop_path, local_uri
from harness.registry import RunContext
from harness.tools import find_java
from workloads import wordcount

QUICK = ("-s", "tiny", "--warmups", "0", "--no-progress")

#: Names that broke a reader once: percent-encoding, globbing, comma splitting, braces that
#: would hide the commas between names.
NAMES = (
    "a b&c.txt",
    "x%20y.txt",
    "e[1]{2},f.txt",
    "g{h.txt",
    "q?*\\z.txt",
    "é #.txt",
    "l,m.txt",
)


def test_hadoop_paths_are_literal_text_with_glob_characters_escaped() -> None:
    folder = Path("/d i r")
    assert local_uri(folder / "a b&c%d.txt") == "file:///d i r/a b&c%d.txt"
    assert local_uri(folder / "x%20y.txt") == "file:///d i r/x%20y.txt"  # no decoding either
    assert local_uri(folder / "e[1]{2}*?.txt") == r"file:///d i r/e\[1\]\{2\}\*\?.txt"
    assert local_uri(folder / "back\\slash,comma.txt") == r"file:///d i r/back\\slash,comma.txt"
    # Staged copies: the path escaped, never the authority (an IPv6 host has brackets).
    assert hadoop_path("hdfs://[::1]:8020/d/a[1].txt") == r"hdfs://[::1]:8020/d/a\[1\].txt"
    assert hadoop_path("hdfs:///d/a b.txt") == "hdfs:///d/a b.txt"


def test_comma_lists_survive_hadoops_comma_split() -> None:
    a, b, c = "file:///d/l,m.txt", r"file:///d/e\[1\]\{2\},f.txt", "file:///d/plain.txt"
    # A comma of a name becomes a glob group the split never cuts; one string for all.
    assert comma_lists([a, b, c]) == [
        r"file:///d/l{\,}m.txt,file:///d/e\[1\]\{2\}{\,}f.txt,file:///d/plain.txt"
    ]
    # An unbalanced brace would join the names that follow it: a string each.
    odd = r"file:///d/g\{h.txt"
    assert comma_lists([odd, c]) == [odd, c]
    assert comma_lists([c, odd]) == [f"{c},{odd}"]  # none follows it


@pytest.fixture
def odd_files(tmp_path: Path) -> tuple[Path, ...]:
    """One text file per name of ``NAMES`` in a folder with a space, and files a glob, a
    decoding or a comma split of those names would read instead."""
    folder = tmp_path / "in put"
    folder.mkdir()
    files = []
    for i, name in enumerate(NAMES):
        path = folder / name
        path.write_text(f"word{i} shared\n")
        files.append(path)
    for decoy in ("e1.txt", "x y.txt", "l", "m.txt", "gh.txt"):
        (folder / decoy).write_text("decoy\n")
    return tuple(files)


def test_spark_reads_each_odd_name_as_that_file(
    spark_engine: Any, odd_files: tuple[Path, ...], tmp_path: Path
) -> None:
    from workloads.wordcount import impl_spark

    data = datasets.Dataset("wordcount", "input", 1.0, None, tmp_path, odd_files, {})
    expected = wordcount.reference(data, {})
    assert expected["shared"] == len(NAMES) and "decoy" not in expected
    for run in (impl_spark.run_rdd, impl_spark.run_df):
        ctx = RunContext(spark_engine, run.__name__.removeprefix("run_"), data, {}, tmp_path)
        assert run(ctx) == expected, run.__name__


@needs_java
def test_spark_numpy_agree_on_an_input_named_with_space_and_ampersand(tmp_path: Path) -> None:
    text = tmp_path / "a b&c.txt"
    text.write_text("to be or not to be\nthat is the question\n")
    results = tmp_path / "results"
    out = run_cli(
        "run", "-w", "wordcount", "-e", "spark/rdd,spark/df,numpy", "--input", str(text),
        "-r", "1", *QUICK, "--results", str(results),
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    (path,) = results.glob("*.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted((r["engine"], r["variant"], r["status"], r["check"]) for r in records) == [
        ("numpy", "default", "ok", "pass"),
        ("spark", "df", "ok", "pass"),
        ("spark", "rdd", "ok", "pass"),
    ], [r["error"] for r in records]


def _local_hadoop_fs(tmp_path: Path) -> Path:
    """A ``hadoop`` command whose ``fs`` is Hadoop's own shell on the local file system."""
    lib = hadoop.hadoop_home() / "lib"
    java = find_java()
    if java is None or not any(lib.glob("hadoop-common-*.jar")):
        pytest.skip("needs Java and the fetched Hadoop jars (make setup)")
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "core-site.xml").write_text("<configuration></configuration>\n")
    command = tmp_path / "hadoop"
    classpath = shlex.quote(f"{conf}:{lib}/*")
    shell = f"{shlex.quote(java)} -cp {classpath} org.apache.hadoop.fs.FsShell"
    command.write_text(f'#!/bin/sh\nshift  # "fs"\nexec {shell} "$@"\n')
    command.chmod(0o755)
    return command


def test_staging_copies_odd_names_exactly(
    odd_files: tuple[Path, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = hadoop.HadoopClient(_local_hadoop_fs(tmp_path), fs_uri="file://")
    store = tmp_path / "hdfs"
    monkeypatch.setattr(hadoop, "STAGE_DIR", str(store))
    # The key a user's --input gets (input-<sha>) passes the staging key check.
    data = datasets.user_input(registry.get_workload("wordcount"), odd_files[0], tmp_path / "d")
    key = f"{data.workload}-{data.root.name}"
    uris = client.stage(list(odd_files), key)
    assert uris == [f"file://{store}/{key}/{p.name}" for p in odd_files]
    for path in odd_files:
        assert (store / key / path.name).read_text() == path.read_text()
