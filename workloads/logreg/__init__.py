"""Binary logistic regression by full-batch gradient descent, the same algorithm everywhere.

Semantics (every implementation computes exactly this, in float64):

* Input: a CSV file with a header row; the label column (parameter ``label``, default
  ``label``) holds 0 or 1, every other column is a numeric feature. ``n`` rows, ``d`` features.
* Design matrix ``Z = [1, X]`` (an intercept column of ones first), weights ``w`` of length
  ``d + 1`` starting at zero.
* For ``t = 1 .. iterations`` (default 20): ``z = Z w``, ``p = sigmoid(z)``; the iteration's
  training loss is the mean log-loss ``mean(log(1 + exp(z)) - y z)`` at the weights *before*
  the update; then ``w <- w - learning_rate * Z^T (p - y) / n`` (default rate 0.5).
* Answer: the final weights and the ``iterations`` losses. Engines sum in different orders,
  so the check allows a relative difference of ``RTOL`` (1e-6) per value (absolute ``ATOL``
  1e-9 near zero).
* Spark ML's ``LogisticRegression`` (the ``spark`` ``df`` cell) runs L-BFGS to convergence, a
  different algorithm: its answer is checked by quality instead, against the reference model's
  training figures: mean log-loss at most ``LOSS_MARGIN`` (0.01) above the reference's final
  loss, and training accuracy at most ``ACCURACY_MARGIN`` (0.01) below the reference's.

Generated data: ``d = FEATURES`` (10) Gaussian features; the label is a fair coin, and the
features of class 1 (0) are centred at ``+SEPARATION`` (``-SEPARATION``) along a seeded unit
direction: linearly separable-ish, so the loss keeps falling over the iterations.

Bad input (missing label column, non-numeric values, NaN, labels other than 0/1, a single
class, no rows) is one clear error before any run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UserError
from harness.registry import CheckResult, RunContext, Workload, register_workload
from workloads._numeric import (
    ITERATIVE,
    FloatRows,
    add_float_csv,
    estimated_rows,
    finite_values,
    first_difference,
    tolerant_digest,
)

if TYPE_CHECKING:
    import numpy as np

    from harness.datasets import Dataset

FEATURES = 10
SEPARATION = 0.75
RTOL = 1e-6
ATOL = 1e-9
LOSS_MARGIN = 0.01
ACCURACY_MARGIN = 0.01
DEFAULT_PARAMS: dict[str, Any] = {"iterations": 20, "learning_rate": 0.5, "label": "label"}


def check_params(params: Mapping[str, Any]) -> None:
    """One clear error for a bad parameter value."""
    its = params.get("iterations")
    if not isinstance(its, int) or isinstance(its, bool) or not 1 <= its <= 100_000:
        raise UserError("logreg: iterations must be an integer from 1 to 100000")
    rate = params.get("learning_rate")
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0:
        raise UserError("logreg: learning_rate must be a positive number")
    if not isinstance(params.get("label"), str) or not params["label"]:
        raise UserError("logreg: label must be a column name")


def make_data(folder: Path, size: int, seed: int) -> dict[str, Any]:
    """``size`` labelled points with ``FEATURES`` features, as ``points.csv`` with a header."""
    import numpy as np

    rng = np.random.default_rng(seed)
    direction = rng.normal(size=FEATURES)
    direction /= np.linalg.norm(direction)
    path = folder / "points.csv"
    header = ",".join(["label", *(f"x{i}" for i in range(FEATURES))])
    with path.open("w", encoding="utf-8") as out:
        out.write(header + "\n")
        for start in range(0, size, 200_000):
            n = min(200_000, size - start)
            y = rng.integers(0, 2, n)
            x = rng.normal(size=(n, FEATURES)) + np.outer(2 * y - 1, SEPARATION * direction)
            table = np.column_stack([y, x])
            np.savetxt(out, table, delimiter=",", fmt=["%d"] + ["%.17g"] * FEATURES)
    return {"files": [path.name], "points": size, "features": FEATURES}


def load(paths: list[Path], label: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels (float64 0/1) and features (n x d float64) of a CSV input, validated.

    A file whose header passes the checks is read piece by piece straight into the label and
    feature arrays (``add_float_csv``): memory holds the values about once. A file that is
    not plainly finite numbers takes the whole-frame path, which finds and words what is
    wrong with it, in the same order as ever.
    """
    import numpy as np
    import pandas as pd

    rows: FloatRows | None = None
    columns: list[str] | None = None
    for path in paths:
        names = _header(path)
        plain = names is not None and label in names and len(names) >= 2
        if plain and names is not None and (columns is None or names == columns):
            if rows is None:
                rows = _rows(names, label, paths)
            if add_float_csv(rows, path, names):
                columns = names
                continue
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            first = str(exc).splitlines()[0]
            raise UserError(f"logreg: cannot parse {path.name}: {first}") from exc
        if label not in frame.columns:
            shown = ", ".join(map(str, frame.columns))
            raise UserError(f"logreg: no label column {label!r} (columns: {shown})")
        if columns is not None and list(frame.columns) != columns:
            raise UserError(f"logreg: {path.name} has other columns than the first file")
        columns = list(frame.columns)
        if len(columns) < 2:
            raise UserError("logreg: the input has no feature column")
        values = finite_values(frame, f"logreg: {path.name}")
        del frame
        if rows is None:
            rows = _rows(columns, label, paths)
        rows.add(values)
    if rows is None or rows.rows == 0:
        raise UserError("logreg: the input has no rows")
    labels, x = rows.result()
    y = labels.reshape(-1)
    if not np.isin(y, (0.0, 1.0)).all():
        raise UserError(f"logreg: labels in column {label!r} must be 0 or 1")
    if np.unique(y).size < 2:
        raise UserError("logreg: the labels hold a single class; nothing to separate")
    return y, x


def _header(path: Path) -> list[str] | None:
    """The column names of a CSV file's header row, or None when it cannot be read."""
    import pandas as pd

    try:
        return list(pd.read_csv(path, nrows=0).columns)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError):
        return None


def _rows(columns: list[str], label: str, paths: list[Path]) -> FloatRows:
    """Room for the label column and the feature columns of every row of ``paths``."""
    at = columns.index(label)
    features = [i for i in range(len(columns)) if i != at]
    return FloatRows([[at], features], estimated_rows(paths))


def train(y: np.ndarray, x: np.ndarray, iterations: int, rate: float) -> dict[str, Any]:
    """The documented algorithm with the design matrix, vectorised (the reference; the numpy
    engine's implementation is written apart)."""
    import numpy as np

    z_matrix = np.column_stack([np.ones(len(y)), x])
    w = np.zeros(z_matrix.shape[1])
    losses = []
    n = len(y)
    for _ in range(iterations):
        z = z_matrix @ w
        losses.append(float(np.mean(np.logaddexp(0.0, z) - y * z)))
        p = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid without overflow
        w = w - rate * (z_matrix.T @ (p - y)) / n
    return {"weights": w.tolist(), "loss": losses}


def reference(data: Dataset, params: Mapping[str, Any]) -> dict[str, Any]:
    """Load and validate the input, then train (never timed; cached)."""
    check_params(params)
    y, x = load(list(data.inputs), params["label"])
    answer = train(y, x, params["iterations"], float(params["learning_rate"]))
    answer["points"] = len(y)
    answer["accuracy"] = accuracy(y, x, answer["weights"])
    return answer


def accuracy(y: np.ndarray, x: np.ndarray, weights: list[float]) -> float:
    """Training accuracy of the weights: predict 1 where the linear score is positive."""
    import numpy as np

    score = x @ np.asarray(weights[1:]) + weights[0]
    return float(np.mean((score > 0) == (y == 1)))


def check(answer: Any, expected: Mapping[str, Any]) -> CheckResult:
    """Weights and losses within ``RTOL`` of the reference, value by value."""
    if not isinstance(answer, Mapping) or "weights" not in answer or "loss" not in answer:
        return CheckResult(False, "answer is not {'weights': [...], 'loss': [...]}")
    if answer.get("model") == "mllib":
        return check_quality(answer, expected)
    for key in ("weights", "loss"):
        difference = first_difference(key, answer[key], expected[key], RTOL, ATOL)
        if difference is not None:
            return CheckResult(False, difference)
    return CheckResult(
        True,
        f"{len(expected['loss'])} weights and losses within rtol {RTOL:g}; "
        f"final loss {expected['loss'][-1]:.6g}",
    )


def check_quality(answer: Mapping[str, Any], expected: Mapping[str, Any]) -> CheckResult:
    """Spark ML's model against the reference model's training loss and accuracy."""
    loss, acc = float(answer["final_loss"]), float(answer["accuracy"])
    ref_loss, ref_acc = float(expected["loss"][-1]), float(expected["accuracy"])
    detail = (
        f"quality check (different algorithm): log-loss {loss:.6g} vs reference {ref_loss:.6g} "
        f"(margin {LOSS_MARGIN:g}), accuracy {acc:.4f} vs {ref_acc:.4f} "
        f"(margin {ACCURACY_MARGIN:g})"
    )
    passed = loss <= ref_loss + LOSS_MARGIN and acc >= ref_acc - ACCURACY_MARGIN
    return CheckResult(passed, detail, by_quality=True)


def digest(answer: Mapping[str, Any]) -> str:
    """SHA-256 of the weights and losses rounded to 9 significant digits (tolerant to
    summation order, like the check)."""
    return tolerant_digest(answer, ("weights", "loss"))


def _to_json(answer: Mapping[str, Any]) -> dict[str, Any]:
    return {k: [float(x) for x in v] if isinstance(v, list) else v for k, v in answer.items()}


LOGREG = register_workload(
    Workload(
        name="logreg",
        version="2",
        description="binary logistic regression by full-batch gradient descent (weights, losses)",
        make_data=make_data,
        reference=reference,
        check=check,
        digest=digest,
        to_json=_to_json,
        # Throughput: points x iterations per second.
        items=lambda expected: int(expected["points"]) * len(expected["loss"]),
        params=DEFAULT_PARAMS,
        check_params=check_params,
        # Measured: 40,689,826 bytes for small's 200,000 points (203.45 at x16 too).
        bytes_per_item=203.5,
        **ITERATIVE,
    )
)


def label_index(ctx: RunContext) -> int:
    """Position of the label column in the CSV header (validated by the reference)."""
    with ctx.data.inputs[0].open(encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    return header.index(ctx.params["label"])


def feature_count(ctx: RunContext) -> int:
    """Columns of the CSV header minus the label."""
    with ctx.data.inputs[0].open(encoding="utf-8") as handle:
        return len(handle.readline().strip().split(",")) - 1


from workloads.logreg import impl_duckdb, impl_mrjob, impl_numpy, impl_polars, impl_spark  # noqa: E402, F401
