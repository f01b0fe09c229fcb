"""``bdbench compare``: pairing cells, the threshold-and-significance rule, flags, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from harness.errors import UserError
from harness.results import ResultsWriter, RunRecord
from harness.rules import RulesMode
from reports.compare import (
    CHECK_FAIL,
    FAILED_IN_NEW,
    IMPROVEMENT,
    MEMORY_REGRESSION,
    NO_CHANGE,
    NOT_ENOUGH,
    NOT_SIGNIFICANT,
    ONLY_IN_BASE,
    ONLY_IN_NEW,
    REGRESSION,
    compare_results,
    min_p_value,
    run_compare,
)
from reports.data import Results, load_results

BASE_WALLS = [1.00, 1.01, 0.99, 1.02, 0.98]
MiB = 2**20


def rec(
    wall: float | None = 1.0,
    *,
    workload: str = "wordcount",
    engine: str = "numpy",
    variant: str = "default",
    rules: RulesMode = RulesMode.NONE,
    scale: str = "tiny",
    params: dict[str, Any] | None = None,
    rss: int | None = 100 * MiB,
    status: str = "ok",
    check: str = "pass",
    warmup: bool = False,
    error: str | None = None,
    repeat: int = 0,
) -> RunRecord:
    return RunRecord(
        batch_id="b",
        workload=workload,
        engine=engine,
        variant=variant,
        rules=rules,
        scale=scale,
        params=params or {},
        repeat=repeat,
        is_warmup=warmup,
        status=status,  # type: ignore[arg-type]
        check=check,  # type: ignore[arg-type]
        wall_s=wall,
        peak_rss_bytes=rss,
        error=error,
    )


def runs(walls: list[float], **kwargs: Any) -> list[RunRecord]:
    return [rec(w, repeat=i, **kwargs) for i, w in enumerate(walls)]


def write(folder: Path, name: str, records: list[RunRecord]) -> Path:
    writer = ResultsWriter(folder, name)
    writer.ensure_writable()
    for record in records:
        writer.append(record)
    return writer.path


def compare(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    base: list[RunRecord],
    new: list[RunRecord],
    **kwargs: Any,
) -> tuple[int, str]:
    """run_compare on two written files; returns (exit code, stdout)."""
    base_path = write(tmp_path, "base", base)
    new_path = write(tmp_path, "new", new)
    code = run_compare(base_path, new_path, **kwargs)
    return code, capsys.readouterr().out


def results(records: list[RunRecord]) -> Results:
    return Results(records=records)


def only_cell(base: list[RunRecord], new: list[RunRecord], **kwargs: Any) -> Any:
    (cell,) = compare_results(results(base), results(new), **kwargs)
    return cell


# --- the timing rule: slower than the threshold AND significant -------------------------------


def test_clear_slowdown_with_separated_repeats_is_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = compare(tmp_path, capsys, runs(BASE_WALLS), runs([w * 1.5 for w in BASE_WALLS]))
    assert code == 1
    assert "regression" in out and "REGRESSION" in out
    assert "wordcount numpy/default tiny" in out


def test_same_numbers_are_no_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = compare(tmp_path, capsys, runs(BASE_WALLS), runs(BASE_WALLS))
    assert code == 0
    assert NO_CHANGE in out and "OK: no regression" in out
    cell = only_cell(runs(BASE_WALLS), runs(BASE_WALLS))
    assert cell.time.ratio == pytest.approx(1.0) and cell.time.verdict == NO_CHANGE


def test_slower_than_threshold_but_not_significant_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Medians 1.2 -> 1.45 (ratio 1.21 > 1.10) but the noisy repeats overlap.
    base, new = [1.0, 1.1, 1.2, 1.3, 1.4], [0.95, 1.35, 1.45, 1.5, 1.6]
    cell = only_cell(runs(base), runs(new))
    assert cell.time.ratio > 1.10 and cell.time.p_value > 0.05
    assert cell.time.verdict == NOT_SIGNIFICANT and not cell.regression
    code, out = compare(tmp_path, capsys, runs(base), runs(new))
    assert code == 0 and NOT_SIGNIFICANT in out


def test_significant_but_below_threshold_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 5% slower and every new repeat is slower than every base repeat: real, but small.
    base, new = [1.00, 1.01, 1.02, 1.03, 1.04], [1.05, 1.06, 1.07, 1.08, 1.09]
    cell = only_cell(runs(base), runs(new))
    assert cell.time.p_value < 0.01 and cell.time.ratio < 1.10
    assert cell.time.verdict == NO_CHANGE
    code, _ = compare(tmp_path, capsys, runs(base), runs(new))
    assert code == 0
    # ... and the same data fails with a stricter threshold.
    assert only_cell(runs(base), runs(new), threshold=1.02).regression


def test_improvement_is_reported_but_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = compare(tmp_path, capsys, runs(BASE_WALLS), runs([w / 1.5 for w in BASE_WALLS]))
    assert code == 0
    assert IMPROVEMENT in out and "1 improved" in out
    cell = only_cell(runs(BASE_WALLS), runs([w / 1.5 for w in BASE_WALLS]))
    assert cell.improvement and not cell.regression and cell.time.ratio < 1


def test_warmups_and_failed_runs_are_not_timed() -> None:
    base = [*runs(BASE_WALLS), rec(0.1, warmup=True)]
    new = [*runs(BASE_WALLS), rec(50.0, warmup=True)]
    cell = only_cell(base, new)
    assert cell.time.verdict == NO_CHANGE and cell.base.runs == 5
    crashed_late = rec(50.0, status="failed", check="na", error="crashed after the work")
    cell = only_cell(runs(BASE_WALLS), [*runs(BASE_WALLS[:4]), crashed_late])
    assert cell.new.wall_s == BASE_WALLS[:4] and cell.time.ratio < 1.10


# --- too few repeats ---------------------------------------------------------------------------


def test_one_vs_one_is_not_enough_repeats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = compare(tmp_path, capsys, runs([1.0]), runs([3.0]))
    assert code == 0
    assert NOT_ENOUGH in out


def test_not_enough_repeats_still_flags_check_pass_to_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = [rec(1.0, status="failed", check="fail", error="answer check failed: 41 != 42")]
    code, out = compare(tmp_path, capsys, runs([1.0]), new)
    assert code == 1
    assert CHECK_FAIL in out


def test_smallest_testable_repeat_counts() -> None:
    assert min_p_value(5, 5) == pytest.approx(1 / 252)
    assert min_p_value(3, 3) == pytest.approx(0.05)
    assert min_p_value(2, 2) > 0.05
    # 3 vs 3 fully separated reaches exactly p = 0.05: enough at alpha 0.05.
    assert only_cell(runs([1.0, 1.01, 1.02]), runs([2.0, 2.01, 2.02])).time.verdict == REGRESSION
    assert only_cell(runs([1.0, 1.01]), runs([2.0, 2.01])).time.verdict == NOT_ENOUGH


# --- flags that fail the run whatever the timings say -----------------------------------------


def test_check_pass_to_fail_is_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = runs(BASE_WALLS)
    new[2] = rec(1.0, status="failed", check="fail", error="answer check failed: 3 words differ")
    code, out = compare(tmp_path, capsys, runs(BASE_WALLS), new)
    assert code == 1
    assert CHECK_FAIL in out
    cell = only_cell(runs(BASE_WALLS), new)
    assert cell.flags == [CHECK_FAIL]


def test_ok_in_base_failed_or_timed_out_in_new_is_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = rec(None, status="timeout", check="na", error="timed out after 60 s", rss=None)
    new = [*runs(BASE_WALLS[:4]), broken]
    code, out = compare(tmp_path, capsys, runs(BASE_WALLS), new)
    assert code == 1
    assert FAILED_IN_NEW in out and "timeout" in out
    crashed = [
        rec(None, status="failed", check="na", error="ValueError: boom", repeat=i) for i in range(5)
    ]
    cell = only_cell(runs(BASE_WALLS), crashed)
    assert cell.flags == [FAILED_IN_NEW] and "boom" in (cell.detail or "")


def test_failing_in_both_or_fixed_is_not_a_regression() -> None:
    crashed = [rec(None, status="failed", check="na", error="boom", repeat=i) for i in range(5)]
    assert not only_cell(crashed, crashed).regression
    fixed = only_cell(crashed, runs(BASE_WALLS))
    assert not fixed.regression and "fixed in new" in fixed.verdict


def test_skipped_in_new_is_reported_not_failed() -> None:
    skipped = [rec(None, status="skipped", check="na", error="no Java", rss=None)]
    cell = only_cell(runs(BASE_WALLS), skipped)
    assert not cell.regression and "skipped in new" in cell.verdict


def test_memory_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = [rec(w, rss=(100 + i) * MiB, repeat=i) for i, w in enumerate(BASE_WALLS)]
    new = [rec(w, rss=(150 + i) * MiB, repeat=i) for i, w in enumerate(BASE_WALLS)]
    code, out = compare(tmp_path, capsys, base, new)
    assert code == 1
    assert MEMORY_REGRESSION in out
    cell = only_cell(base, new)
    assert cell.flags == [MEMORY_REGRESSION] and cell.time.verdict == NO_CHANGE
    # 10% more memory is below the default memory threshold (1.20).
    small = [rec(w, rss=(110 + i) * MiB, repeat=i) for i, w in enumerate(BASE_WALLS)]
    assert not only_cell(base, small).regression


def test_tied_memory_values_use_an_exact_test() -> None:
    # Peak RSS often repeats exactly: every tie must not make a 50% rise look more certain
    # than 5 vs 5 repeats can prove (exact minimum p = 1/252).
    base = runs(BASE_WALLS, rss=100 * MiB)
    new = runs(BASE_WALLS, rss=150 * MiB)
    cell = only_cell(base, new)
    assert cell.memory.p_value == pytest.approx(1 / 252)
    assert MEMORY_REGRESSION in cell.flags
    assert only_cell(base, base).memory.p_value == 1.0


# --- pairing -----------------------------------------------------------------------------------


def test_cells_on_one_side_are_listed_not_regressions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = runs(BASE_WALLS) + runs(BASE_WALLS, engine="spark", variant="df", rules=RulesMode.OFF)
    new = runs(BASE_WALLS) + runs(BASE_WALLS, engine="mrjob", variant="inline")
    code, out = compare(tmp_path, capsys, base, new)
    assert code == 0
    assert ONLY_IN_BASE in out and ONLY_IN_NEW in out
    assert "wordcount spark/df tiny" in out
    assert "wordcount mrjob/inline tiny" in out
    assert "1 only in base, 1 only in new" in out


def test_cells_pair_by_scale_factor_and_params() -> None:
    base = runs(BASE_WALLS, params={"k": 1}) + runs(BASE_WALLS, params={"k": 2})
    new = runs([w * 2 for w in BASE_WALLS], params={"k": 2}) + runs(BASE_WALLS, scale="small")
    cells = {c.label: c for c in compare_results(results(base), results(new))}
    # Parameters appear in labels only where they tell two cells apart.
    assert cells["wordcount numpy/default tiny k=1"].verdict == ONLY_IN_BASE
    assert cells["wordcount numpy/default tiny k=2"].verdict == REGRESSION
    assert cells["wordcount numpy/default small"].verdict == ONLY_IN_NEW


def test_no_cells_in_common_is_a_user_error(tmp_path: Path) -> None:
    base = write(tmp_path, "base", runs(BASE_WALLS))
    new = write(tmp_path, "new", runs(BASE_WALLS, workload="logreg"))
    with pytest.raises(UserError) as err:
        run_compare(base, new)
    message = str(err.value)
    assert "no cells in common" in message
    assert "wordcount numpy/default tiny" in message and "logreg numpy/default tiny" in message


# --- input errors ------------------------------------------------------------------------------


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    base = write(tmp_path, "base", runs(BASE_WALLS))
    with pytest.raises(UserError, match="not found"):
        run_compare(base, tmp_path / "nope.jsonl")


def test_malformed_line_is_a_user_error(tmp_path: Path) -> None:
    base = write(tmp_path, "base", runs(BASE_WALLS))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rec().to_json()) + "\n{not json\n")
    with pytest.raises(UserError, match=r"bad\.jsonl:2"):
        run_compare(base, bad)


def test_other_schema_version_is_a_user_error(tmp_path: Path) -> None:
    base = write(tmp_path, "base", runs(BASE_WALLS))
    future = tmp_path / "future.jsonl"
    future.write_text(json.dumps({**rec().to_json(), "schema_version": 2}) + "\n")
    with pytest.raises(UserError, match="schema_version"):
        run_compare(base, future)
    old = runs(BASE_WALLS)
    for record in old:
        record.schema_version = 0
    with pytest.raises(UserError, match="schema versions differ"):
        compare_results(results(runs(BASE_WALLS)), results(old))


def test_threshold_below_one_is_a_user_error() -> None:
    with pytest.raises(UserError, match="at least 1"):
        compare_results(results(runs(BASE_WALLS)), results(runs(BASE_WALLS)), threshold=0.9)


def test_folders_of_results_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "base", "b1", runs(BASE_WALLS[:3]))
    write(tmp_path / "base", "b2", runs(BASE_WALLS[3:]))
    write(tmp_path / "new", "n1", runs([w * 1.5 for w in BASE_WALLS]))
    assert len(load_results([tmp_path / "base"]).records) == 5
    assert run_compare(tmp_path / "base", tmp_path / "new") == 1


# --- output ------------------------------------------------------------------------------------


def test_markdown_output_is_a_table_with_escaped_pipes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = rec(None, status="failed", check="na", error="OSError: a|b broke", rss=None)
    new = [*runs(BASE_WALLS[:4]), broken]
    code, out = compare(tmp_path, capsys, runs(BASE_WALLS), new, markdown=True)
    assert code == 1
    lines = out.strip().splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert table[0].startswith("| cell |") and "verdict" in table[0]
    assert set(table[1].replace("|", "").replace(":", "")) == {"-"}
    assert len(table) == 3
    assert "a\\|b broke" in table[2]
    # every row has the same number of (unescaped) columns as the header
    columns = table[0].count("|")
    assert all(row.replace("\\|", "").count("|") == columns for row in table)
    assert lines[-1].startswith("**REGRESSION")
    assert "─" not in out  # no rich box drawing


def test_rich_output_keeps_brackets_literally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = rec(None, status="failed", check="na", error="KeyError: [red]x[/red]", rss=None)
    new = [*runs(BASE_WALLS[:4]), broken]
    code, out = compare(tmp_path, capsys, runs(BASE_WALLS), new)
    assert code == 1 and "[red]x[/red]" in out


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_exit_codes(tmp_path: Path) -> None:
    base = write(tmp_path, "base", runs(BASE_WALLS))
    same = write(tmp_path, "same", runs(BASE_WALLS))
    slow = write(tmp_path, "slow", runs([w * 1.5 for w in BASE_WALLS]))
    ok = run_cli("compare", str(base), str(same))
    assert ok.returncode == 0, ok.stderr
    assert "no regression" in ok.stdout
    bad = run_cli("compare", str(base), str(slow), "--markdown")
    assert bad.returncode == 1, bad.stderr
    assert "| wordcount numpy/default tiny |" in bad.stdout
    strict = run_cli("compare", str(base), str(slow), "--threshold", "2")
    assert strict.returncode == 0, strict.stderr


@pytest.mark.parametrize("problem", ["missing", "no common cells"])
def test_cli_errors_are_one_line(tmp_path: Path, problem: str) -> None:
    base = write(tmp_path, "base", runs(BASE_WALLS))
    if problem == "missing":
        other = tmp_path / "missing.jsonl"
    else:
        other = write(tmp_path, "other", runs(BASE_WALLS, workload="logreg"))
    out = run_cli("compare", str(base), str(other))
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bdbench: error:")
    assert "Traceback" not in out.stderr


def test_compare_module_imports_no_scipy_or_pandas() -> None:
    code = (
        "import sys, reports.compare\n"
        "print([m for m in ('scipy', 'pandas', 'numpy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
