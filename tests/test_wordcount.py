"""Word count: every implementation equals the reference on the edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import datasets, registry
from harness.engines.mrjob_engine import MrjobEngine, MrjobOptions
from harness.registry import RunContext
from harness.rules import RulesMode
from workloads import wordcount
from workloads.wordcount import mr_wordcount

EDGE_CASES: dict[str, bytes] = {
    "empty": b"",
    "only_whitespace": b"  \t\n\r\n\x0b\x0c  \n",
    "non_ascii": "café naïve 日本語 Ωmega café ÜBER über\n".encode(),
    "crlf": b"one two\r\ntwo three\r\nthree three\r\n",
    "cr_only": b"a\rb\ra",
    "no_trailing_newline": b"last words here words",
    "long_line": b" ".join(b"w%d" % (i % 997) for i in range(60_000)),
    "long_word": b"x" * 150_000 + b" y " + b"x" * 150_000,
    "invalid_utf8": b"ok \xff\xfe bad\xc3 caf\xc3\xa9 \xe2\x82 tail\xe2\x82\xac\n\xc3",
    "nul_and_prefixes": b"ab ab\x00 abc a\x00b ab\n",
    "unicode_spaces_are_not_separators": "a\u00a0b a\u2003b\u3000 a\u00a0b\n".encode(),
    "case_sensitive": b"Word word WORD word\n",
    "vtab_formfeed": b"p\x0bq\x0cp\tq p",
}

HAND_CHECKED = {
    "crlf": {"one": 1, "two": 2, "three": 3},
    "nul_and_prefixes": {"ab": 2, "ab\x00": 1, "abc": 1, "a\x00b": 1},
    "unicode_spaces_are_not_separators": {"a\u00a0b": 2, "a\u2003b\u3000": 1},
    "invalid_utf8": {
        "ok": 1,
        "\ufffd\ufffd": 1,
        "bad\ufffd": 1,
        "café": 1,
        "\ufffd": 2,
        "tail€": 1,
    },
    "only_whitespace": {},
}


@pytest.fixture(scope="module", params=sorted(EDGE_CASES))
def edge_case(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[datasets.Dataset, dict[str, int]]:
    """A user-input dataset holding one edge case, with its reference answer."""
    path = tmp_path_factory.mktemp("edge") / f"{request.param}.txt"
    path.write_bytes(EDGE_CASES[request.param])
    workload = registry.get_workload("wordcount")
    data = datasets.user_input(workload, path)
    return data, datasets.reference_answer(workload, data, {})


def _ctx(engine: object, variant: str, data: datasets.Dataset, scratch: Path) -> RunContext:
    return RunContext(engine, variant, data, {}, scratch)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(HAND_CHECKED))
def test_reference_matches_hand_checked_answers(name: str) -> None:
    counts = wordcount.count_reference(EDGE_CASES[name])
    assert {w.decode(): c for w, c in counts.items()} == HAND_CHECKED[name]


def test_check_can_fail_and_names_the_difference() -> None:
    verdict = wordcount.WORDCOUNT.check({"a": 1, "b": 3, "z": 1}, {"a": 1, "b": 2, "c": 1})
    assert not verdict.passed
    assert "1 missing ('c')" in verdict.detail
    assert "1 unexpected ('z')" in verdict.detail
    assert "1 wrong count ('b')" in verdict.detail
    assert not wordcount.WORDCOUNT.check([("a", 1)], {"a": 1}).passed
    assert wordcount.WORDCOUNT.check({"a": 1}, {"a": 1}).passed


def test_digest_is_order_independent_and_content_sensitive() -> None:
    digest = wordcount.WORDCOUNT.digest
    assert digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1})
    assert digest({"a": 1, "b": 2}) != digest({"a": 1, "b": 3})


def test_mrjob_script_uses_the_workload_word_pattern() -> None:
    assert mr_wordcount.WORD_RE.pattern == wordcount.WORD_RE.pattern


def test_numpy_equals_reference(
    edge_case: tuple[datasets.Dataset, dict[str, int]], tmp_path: Path
) -> None:
    data, expected = edge_case
    from workloads.wordcount import impl_numpy

    assert impl_numpy.run(_ctx(None, "default", data, tmp_path)) == expected


def test_mrjob_inline_equals_reference(
    edge_case: tuple[datasets.Dataset, dict[str, int]], tmp_path: Path
) -> None:
    data, expected = edge_case
    from workloads.wordcount import impl_mrjob

    engine = MrjobEngine()
    engine.start("inline", RulesMode.NONE, data, tmp_path)
    assert impl_mrjob.run(_ctx(engine, "inline", data, tmp_path)) == expected


@pytest.mark.parametrize("variant", ["rdd", "df"])
def test_spark_equals_reference(
    edge_case: tuple[datasets.Dataset, dict[str, int]],
    variant: str,
    spark_engine: object,
    tmp_path: Path,
) -> None:
    data, expected = edge_case
    from workloads.wordcount import impl_spark

    run = impl_spark.run_rdd if variant == "rdd" else impl_spark.run_df
    answer = run(_ctx(spark_engine, variant, data, tmp_path))
    assert answer == expected
    # The Arrow path of df must give plain str and int, as a Row would (not bytes, not numpy).
    assert all(type(w) is str and type(n) is int for w, n in answer.items())


def test_spark_df_warm_up_runs_no_workload_query(
    spark_engine: object, tiny_wordcount: datasets.Dataset, tmp_path: Path
) -> None:
    """The df cell's warm-up is the shared DataFrame-engine one (no input read), and its note
    says what the cell's time consists of; registering it again with another note fails."""
    from harness.registry import implements
    from workloads._spark import warm_sql
    from workloads.wordcount import impl_spark

    impl = registry.find_impl("wordcount", "spark", "df")
    assert impl is not None and impl.prewarm is warm_sql and impl.note
    assert "Spark's own" in impl.note
    rdd = registry.find_impl("wordcount", "spark", "rdd")
    assert rdd is not None and rdd.prewarm is None and rdd.note is None
    warm_sql(_ctx(spark_engine, "df", tiny_wordcount, tmp_path))
    again = implements("wordcount", "spark", "df", prewarm=warm_sql, note=impl.note)
    assert again(impl_spark.run_df) is impl_spark.run_df
    with pytest.raises(ValueError, match="implemented twice"):
        implements("wordcount", "spark", "df", prewarm=warm_sql, note="other")(impl_spark.run_df)


def test_mrjob_local_runner_really_runs_tasks(
    tiny_wordcount: datasets.Dataset, tmp_path: Path
) -> None:
    """The real local runner (separate task processes) agrees and cleans its temp folder."""
    from workloads.wordcount import impl_mrjob

    engine = MrjobEngine(MrjobOptions(num_cores=2))
    engine.start("local", RulesMode.NONE, tiny_wordcount, tmp_path)
    answer = impl_mrjob.run(_ctx(engine, "local", tiny_wordcount, tmp_path))
    workload = registry.get_workload("wordcount")
    assert answer == datasets.reference_answer(workload, tiny_wordcount, {})
    assert "--num-cores" in engine.job_args([], tmp_path)
    assert list((tmp_path / "mrjob-tmp").iterdir()) == []  # mrjob removed its task data


def test_generated_data_is_seeded_and_cached(isolated_env: Path) -> None:
    workload = registry.get_workload("wordcount")
    first = datasets.generated(workload, "tiny", factor=0.5, seed=7)
    again = datasets.generated(workload, "tiny", factor=0.5, seed=7)
    other = datasets.generated(workload, "tiny", factor=0.5, seed=8)
    assert first.root == again.root
    assert first.inputs[0].read_bytes() == again.inputs[0].read_bytes()
    assert first.inputs[0].read_bytes() != other.inputs[0].read_bytes()
    expected = datasets.reference_answer(workload, first, {})
    assert sum(expected.values()) == 10_000 == first.meta["words"]
