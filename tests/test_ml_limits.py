"""benchmarks.ml_limits: the limit table at tiny scale (behaviour only: no timing thresholds)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT


def test_prints_limits_measured_ratio_and_check() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.ml_limits", "--scale", "tiny", "--repeats", "1"],
        cwd=ROOT,
        env=dict(os.environ),  # the isolated data folder of the test session
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "logreg tiny: 20 iterations" in out and "kmeans tiny: 10 iterations" in out
    for line in (
        "X: 2,000 x 10 float64",
        "X @ w, ",
        "r @ X, ",
        "(DGEMM, ",
        "(elementwise, ",
        "min over k",
        "= BLAS-bound limit",
        "= BLAS + elementwise floor",
        "measured: engine per iteration",
        "ratio vs BLAS-bound limit: ",
        "ratio vs BLAS + elementwise: ",
        "= BLAS + elementwise floor (old style)",
        "ratio vs the old-style floor: ",
    ):
        assert line in out, line
    assert out.count("answer check: pass") == 2


def test_bad_repeats_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.ml_limits", "--repeats", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "--repeats must be at least 1" in proc.stderr
