"""Test-only workloads (loaded through BDBENCH_PLUGINS) that misbehave on purpose."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.metrics import declare
from harness.registry import CheckResult, RunContext, Workload, implements, register_workload

# A plugin declares its own figures, as a workload package does (the worker refuses others).
declare("pid", "", "int", "the measured process's pid (t_cold)")
declare("nth_call", "", "int", "calls this process made so far (t_cold)")

PIDFILE_ENV = "BDBENCH_TEST_PIDFILE"

ALLOCATE = "b = bytearray({n}); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep({t})"
BURN = "import time\nend = time.process_time() + {t}\nwhile time.process_time() < end: pass"


def _make(folder: Path, size: int, seed: int) -> dict[str, Any]:
    (folder / "in.txt").write_text(f"{size} {seed}\n")
    return {"files": ["in.txt"], "bytes": (folder / "in.txt").stat().st_size}


def _broken_generator(folder: Path, size: int, seed: int) -> dict[str, Any]:
    raise RuntimeError("generator exploded")


def _spec(name: str, make_data: Any = _make) -> Workload:
    return register_workload(
        Workload(
            name=name,
            version="1",
            description=f"test workload {name}",
            scale_sizes={"tiny": 1, "small": 2, "medium": 3, "large": 4},
            unit="items",
            make_data=make_data,
            reference=lambda data, params: 42,
            check=lambda answer, expected: CheckResult(answer == expected, f"{answer}"),
            digest=lambda answer: hashlib.sha256(repr(answer).encode()).hexdigest(),
            items=lambda expected: 1,
        )
    )


for _name in (
    "t_sleepy", "t_crashy", "t_hog", "t_liar", "t_burner", "t_killed", "t_jvm_killed", "t_cold",
    "t_dies_later", "t_undeclared",
):  # fmt: skip
    _spec(_name)
_spec("t_baddata", make_data=_broken_generator)


@implements("t_baddata", "numpy")
def never_runs(ctx: RunContext) -> int:
    """Its data cannot be made, so this never runs."""
    raise AssertionError("unreachable")


@implements("t_sleepy", "numpy")
def sleepy(ctx: RunContext) -> int:
    """Start a grandchild that would outlive us, then sleep past any test timeout."""
    child = subprocess.Popen(["sleep", "600"])
    Path(os.environ[PIDFILE_ENV]).write_text(f"{child.pid}\n{os.getpid()}\n")
    time.sleep(600)
    return 42


@implements("t_crashy", "numpy")
def crashy(ctx: RunContext) -> int:
    """Fail inside the timed region."""
    raise ValueError("boom: deliberate failure")


@implements("t_hog", "numpy")
def hog(ctx: RunContext) -> int:
    """A child process that holds about 200 MB for a while."""
    code = ALLOCATE.format(n=200 * 2**20, t=1.5)
    subprocess.run([sys.executable, "-c", code], check=True)
    return 42


@implements("t_burner", "numpy")
def burner(ctx: RunContext) -> int:
    """A short-lived child that burns about one CPU second."""
    subprocess.run([sys.executable, "-c", BURN.format(t=1.0)], check=True)
    return 42


@implements("t_liar", "numpy")
def liar(ctx: RunContext) -> int:
    """Fast and wrong."""
    return 41


@implements("t_undeclared", "numpy")
def undeclared(ctx: RunContext) -> int:
    """Right, but records a figure nobody declared."""
    ctx.metrics["bogus_figure"] = 1
    return 42


@implements("t_killed", "numpy")
def killed(ctx: RunContext) -> int:
    """Die by a signal inside the timed region, as the OOM killer or a user's kill -9 would."""
    print("some engine chatter on the way out", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    return 42


@implements("t_jvm_killed", "spark", "rdd")
def jvm_killed(ctx: RunContext) -> int:
    """Kill the Spark driver JVM inside the timed region (a user's kill -9, the OOM killer)."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    assert gateway is not None
    os.kill(gateway.proc.pid, signal.SIGKILL)
    gateway.proc.wait()
    return int(SparkContext._active_spark_context.parallelize([1]).count())  # type: ignore[union-attr]


#: Calls made by this process so far (module state: one per worker process).
_CALLS = {"t_cold": 0, "t_dies_later": 0}


@implements("t_cold", "numpy")
def cold(ctx: RunContext) -> int:
    """Slow on the first call of a process (0.3 s), fast after (0.01 s); reports its pid."""
    _CALLS["t_cold"] += 1
    time.sleep(0.3 if _CALLS["t_cold"] == 1 else 0.01)
    ctx.metrics["pid"] = os.getpid()
    ctx.metrics["nth_call"] = _CALLS["t_cold"]
    return 42


@implements("t_dies_later", "numpy")
def dies_later(ctx: RunContext) -> int:
    """Fine twice, then killed by a signal in its third call."""
    _CALLS["t_dies_later"] += 1
    if _CALLS["t_dies_later"] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return 42
