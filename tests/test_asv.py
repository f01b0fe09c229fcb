"""The asv suite: generated from the registry, light to import, `asv check` clean, runs and checks.

asv runs in a sandbox: HOME (asv writes ``~/.asv-machine.json``), results, html and env folders
all live in tmp dirs, through a temporary copy of ``asv.conf.json``. Only the NumPy cells run
here (Spark and mrjob cells take minutes under asv; see the README's asv section).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.rules import RulesMode

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
ASV = Path(sys.executable).with_name("asv")
MACHINE = "bdbench-test"

pytestmark = pytest.mark.skipif(
    not ASV.is_file(), reason=f"asv is not installed next to {sys.executable} (pip install asv)"
)


def _git_head() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def _run(args: list[str], env: dict[str, str], timeout: float = 300, code: int = 0) -> str:
    """Run ``asv ARGS`` from the repository root; return stdout+stderr (asserting exit ``code``)."""
    proc = subprocess.run(
        [str(ASV), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out
    return out


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for asv: sandboxed HOME with a machine entry, tiny numpy profile, plugins."""
    home = tmp_path_factory.mktemp("asv-home")
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        BDBENCH_ASV_SCALES="tiny",
        BDBENCH_ASV_ENGINES="numpy",
        # asv drops PYTHONPATH from the benchmark environment; the test plugins (conftest's
        # BDBENCH_PLUGINS) are found through ASV_PYTHONPATH instead.
        ASV_PYTHONPATH=os.pathsep.join([str(TESTS), env.get("ASV_PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
    )
    env.pop("BDBENCH_ASV_RULES", None)
    _run(["machine", "--yes", "--machine", MACHINE], env)
    assert (home / ".asv-machine.json").is_file()
    return env


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A copy of the repository's asv.conf.json whose results/html/env live in ``tmp_path``."""
    from asv import util

    conf = util.load_json(str(ROOT / "asv.conf.json"), 1, js_comments=True)
    assert conf["branches"] == ["main"] and conf["repo"] == "."
    assert conf["environment_type"] == "virtualenv"
    assert all(conf[k].startswith(".asv/") for k in ("env_dir", "results_dir", "html_dir"))
    conf.update(
        version=1,
        repo=str(ROOT),
        benchmark_dir=str(ROOT / "benchmarks"),
        results_dir=str(tmp_path / "results"),
        html_dir=str(tmp_path / "html"),
        env_dir=str(tmp_path / "env"),
    )
    path = tmp_path / "asv.conf.json"
    path.write_text(json.dumps(conf, indent=1))
    return path


def _results(config: Path) -> dict[str, dict[tuple[str, ...], Any]]:
    """Saved results: benchmark name -> {(cell, scale): value} (NaN/None when not measured)."""
    folder = Path(json.loads(config.read_text())["results_dir"]) / MACHINE
    files = [p for p in folder.glob("*.json") if p.name != "machine.json"]
    assert len(files) == 1, files
    data = json.loads(files[0].read_text())
    col = {name: i for i, name in enumerate(data["result_columns"])}
    found: dict[str, dict[tuple[str, ...], Any]] = {}
    for name, row in data["results"].items():
        values, params = row[col["result"]], row[col["params"]]
        combos = [(c.strip("'"), s.strip("'")) for c in params[0] for s in params[1]]
        if values is None:  # asv stores a bare None when every combination failed
            values = [None] * len(combos)
        found[name] = dict(zip(combos, values, strict=True))
    return found


def _import_suite(env: dict[str, str]) -> dict[str, Any]:
    """Import the suite in a fresh interpreter; report its classes and the modules it loaded."""
    code = (
        "import json, sys\n"
        "import benchmarks.bench_workloads as b\n"
        "classes = {n: c.params for n, c in vars(b).items()"
        " if isinstance(c, type) and issubclass(c, b._WorkloadBenchmark)"
        " and c is not b._WorkloadBenchmark}\n"
        "print(json.dumps({'classes': classes, 'modules': sorted(sys.modules)}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_suite_is_generated_from_the_registry_without_importing_engines() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BDBENCH_ASV_")}
    seen = _import_suite(env)
    heavy = [m for m in seen["modules"] if m.split(".")[0] in ("pyspark", "py4j", "mrjob")]
    assert heavy == []
    # One class per registered workload, the test plugins included (nothing written by hand).
    assert {"Wordcount", "TLiar", "THog", "TBaddata"} <= set(seen["classes"])
    cells, scales = seen["classes"]["Wordcount"]
    assert scales == ["tiny"]
    for label in ("numpy/default", "mrjob/local", "spark/rdd", "spark/df", "spark/df+rules"):
        assert label in cells


def test_profiles_by_environment_variable() -> None:
    env = dict(os.environ)
    env.update(
        BDBENCH_ASV_SCALES="tiny, small",
        BDBENCH_ASV_ENGINES="numpy,spark/df,mrjob/local",
        BDBENCH_ASV_RULES="off",
    )
    cells, scales = _import_suite(env)["classes"]["Wordcount"]
    assert (cells, scales) == (["numpy/default", "mrjob/local", "spark/df"], ["tiny", "small"])
    env.update(BDBENCH_ASV_ENGINES="spark/df+rules", BDBENCH_ASV_RULES="both")
    assert _import_suite(env)["classes"]["Wordcount"][0] == ["spark/df+rules"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BDBENCH_ASV_ENGINES", "sparc/df", "names no cell"),
        ("BDBENCH_ASV_SCALES", "huge", "unknown scale"),
        ("BDBENCH_ASV_RULES", "maybe", "must be off, on, both, paper or all"),
    ],
)
def test_bad_profile_fails_loudly(name: str, value: str, message: str) -> None:
    env = dict(os.environ, **{name: value})
    proc = subprocess.run(
        [sys.executable, "-c", "import benchmarks.bench_workloads"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and message in proc.stderr


def test_cell_labels_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import bench_workloads as b
    from harness import registry

    for workload in registry.workloads_by_name().values():
        for cell in b.all_cells(workload):
            assert b.parse_cell(cell.label, workload) == cell
            assert cell.label.endswith("+rules") == (cell.rules is RulesMode.ON)
            assert cell.label.endswith("+paper") == (cell.rules is RulesMode.PAPER)
    assert b.class_name("udf_filter") == "UdfFilter"


def test_asv_check_passes(sandbox: dict[str, str], config: Path) -> None:
    out = _run(["check", "--python=same", "--config", str(config)], sandbox)
    assert "No problems found" in out


def test_quick_run_of_numpy_cell_saves_results(sandbox: dict[str, str], config: Path) -> None:
    head = _git_head()
    if head is None:
        pytest.skip("asv --set-commit-hash needs the git repository (git rev-parse HEAD failed)")
    args = ["run", "--python=same", "--quick", "--show-stderr", "--machine", MACHINE]
    args += ["--set-commit-hash", head, "--bench", r"^bench_workloads\.Wordcount\."]
    out = _run([*args, "--config", str(config)], sandbox)
    assert "bench_workloads.Wordcount.time_wall" in out
    assert "failed" not in out, out
    results = _results(config)
    cell = ("numpy/default", "tiny")
    wall = results["bench_workloads.Wordcount.time_wall"][cell]
    assert 0 < wall < 10
    assert results["bench_workloads.Wordcount.track_peak_rss"][cell] > 10 * 2**20
    assert results["bench_workloads.Wordcount.track_cpu"][cell] > 0
    per_million = results["bench_workloads.Wordcount.track_s_per_million_items"][cell]
    assert 0 < per_million < 1e3  # a separate run: only its order of magnitude matches


def test_tree_metrics_and_wrong_answers(sandbox: dict[str, str], config: Path) -> None:
    head = _git_head()
    if head is None:
        pytest.skip("asv --set-commit-hash needs the git repository (git rev-parse HEAD failed)")
    base = ["run", "--python=same", "--machine", MACHINE, "--set-commit-hash", head]
    base += ["--config", str(config)]
    # asv run exits 2 when a benchmark failed: here the liar's.
    quick = [*base, "--quick", "--bench", r"^bench_workloads\.(THog|TBurner|TLiar)\."]
    out = _run(quick, sandbox, code=2)
    # Not quick: time_wall checks answers in teardown, which asv runs between samples.
    out += _run([*base, "--bench", r"^bench_workloads\.TLiar\.time_wall"], sandbox, code=2)
    assert "WrongAnswer: t_liar numpy/default tiny: wrong answer: 41" in out
    results = _results(config)
    cell = ("numpy/default", "tiny")
    for name, by_cell in results.items():
        if ".TLiar." in name:
            value = by_cell[cell]
            assert value is None or math.isnan(value), f"{name} has a number: {value}"
    # The child processes count: a 200 MB child for t_hog, one CPU second in a child for t_burner.
    assert results["bench_workloads.THog.track_peak_rss"][cell] > 200 * 2**20
    assert results["bench_workloads.TBurner.track_cpu"][cell] > 0.8
    assert results["bench_workloads.THog.time_wall"][cell] > 1.0
