"""stream_window: window and lateness semantics by hand, malformed lines, engines agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import datasets, registry
from harness.engines.numpy_engine import NumpyEngine
from harness.errors import UserError
from harness.registry import RunContext
from harness.rules import RulesMode
from workloads import stream_window as sw
from workloads.stream_window import events

AD, CAMPAIGN = "ad-1", "camp-1"


def _event(when: Any, event_type: str = "view", ad: str = AD, **extra: Any) -> str:
    record = {"user_id": "u", "page_id": "p", "ad_id": ad, "ad_type": "banner",
              "event_type": event_type, "event_time": when, "ip_address": "1.2.3.4"}  # fmt: skip
    return json.dumps({**record, **extra})


def _dataset(folder: Path, files: list[list[str]]) -> datasets.Dataset:
    """One file per list, in arrival order, and a campaigns table of two ads."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "campaigns.csv").write_text(f"ad_id,campaign_id\n{AD},{CAMPAIGN}\nad-2,camp-2\n")
    paths = []
    for i, lines in enumerate(files):
        path = folder / f"part-{i:05d}.json"
        path.write_text("".join(line + "\n" for line in lines))
        paths.append(path)
    meta = {"campaigns": "campaigns.csv", "files": [p.name for p in paths]}
    return datasets.Dataset("stream_window", "input", 1.0, None, folder, tuple(paths), meta)


def _params(**kw: Any) -> dict[str, Any]:
    return {**sw.DEFAULT_PARAMS, **kw}


def _numpy(data: datasets.Dataset, params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from workloads.stream_window import impl_numpy

    return impl_numpy.run(RunContext(NumpyEngine(), "default", data, params, tmp))


def _mrjob(data: datasets.Dataset, params: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from harness.engines.mrjob_engine import MrjobEngine
    from workloads.stream_window import impl_mrjob

    engine = MrjobEngine()
    engine.start("inline", RulesMode.NONE, data, tmp)
    return impl_mrjob.run(RunContext(engine, "inline", data, params, tmp))


#: Checked against Spark 4.3 Structured Streaming (one file per trigger, delay 5 s, update
#: mode): f1's 95000 is kept (batch 1 is judged by batch 0's watermark, 0), f2's 99999 and
#: 91000 are dropped (window end 100000 <= batch 1's watermark 100000), 100000 opens the next
#: window, and f3's 119999 is dropped too (end 120000 <= batch 2's watermark 120000).
TUMBLING_FILES = [[105_000], [125_000, 95_000], [99_999, 91_000, 100_000, 110_000],
                  [119_999, 121_000]]  # fmt: skip
TUMBLING_COUNTS = {f"{CAMPAIGN}|90000": 1, f"{CAMPAIGN}|100000": 2, f"{CAMPAIGN}|110000": 1,
                   f"{CAMPAIGN}|120000": 2}  # fmt: skip
#: Sliding 10 s / 5 s: 97000 loses [90000, 100000) (end <= 100000) but keeps [95000, 105000).
SLIDING_FILES = [[105_000], [125_000], [97_000, 102_000]]
SLIDING_COUNTS = {f"{CAMPAIGN}|95000": 2, f"{CAMPAIGN}|100000": 2, f"{CAMPAIGN}|105000": 1,
                  f"{CAMPAIGN}|120000": 1, f"{CAMPAIGN}|125000": 1}  # fmt: skip


def test_window_edges() -> None:
    assert list(events.window_starts(10_000, 10_000, 10_000)) == [10_000]  # start: inside
    assert list(events.window_starts(9_999, 10_000, 10_000)) == [0]  # end: outside
    assert list(events.window_starts(10_000, 10_000, 5_000)) == [5_000, 10_000]
    assert list(events.window_starts(12_000, 10_000, 3_000)) == [3_000, 6_000, 9_000, 12_000]
    assert list(events.window_starts(-1, 10_000, 10_000)) == [-10_000]


@pytest.mark.parametrize(
    ("files", "window", "want", "dropped"),
    [(TUMBLING_FILES, {}, TUMBLING_COUNTS, 3), (SLIDING_FILES, {"slide": 5}, SLIDING_COUNTS, 1)],
)
def test_late_and_too_late_events(
    files: list[list[int]], window: dict, want: dict, dropped: int, tmp_path: Path
) -> None:
    data = _dataset(tmp_path / "data", [[_event(t) for t in f] for f in files])
    params = _params(**window)
    expected = sw.reference(data, params)
    assert expected["counts"] == want and expected["dropped"] == dropped
    for engine in (_numpy, _mrjob):
        answer = engine(data, params, tmp_path / engine.__name__)
        verdict = sw.check(answer, expected)
        assert verdict.passed, (engine.__name__, verdict.detail)


def test_only_views_move_the_watermark(tmp_path: Path) -> None:
    # Batch 2 is judged by batch 1's watermark: 10000 - 5000 from the views, so 11000 counts;
    # had batch 0's click at 200000 moved it (to 195000), 11000 would be late.
    files = [[_event(200_000, "click"), _event(10_000)], [_event(150_000)], [_event(11_000)]]
    data = _dataset(tmp_path / "data", files)
    expected = sw.reference(data, _params())
    assert expected["counts"] == {f"{CAMPAIGN}|10000": 2, f"{CAMPAIGN}|150000": 1}
    assert expected["dropped"] == 0 and expected["events"] == 4 and expected["views"] == 3
    for engine in (_numpy, _mrjob):
        assert sw.check(engine(data, _params(), tmp_path / engine.__name__), expected).passed


MALFORMED = [
    '{"user_id": "u", "page_id"',  # cut JSON
    _event(1_000).replace('"ip_address": "1.2.3.4", ', "").replace(', "ip_address": "1.2.3.4"', ""),
    _event(1_000, ad="no-such-ad"),
    _event("1000"),  # a string time
    _event(1.5),
    _event(True),
    _event(-5),
    _event(10**15),
    _event(1_000, "wink"),
    _event(None),
    "not json",
    "[1, 2]",
    '{"event_time": NaN}',
]


def test_malformed_lines_are_counted_and_skipped_by_every_engine(tmp_path: Path) -> None:
    assert '"ip_address"' not in MALFORMED[1]
    files = [[*MALFORMED[:7], _event(2_000)], ["", "   ", *MALFORMED[7:], _event(3_000, "click")]]
    data = _dataset(tmp_path / "data", files)
    expected = sw.reference(data, _params())
    assert expected["malformed"] == len(MALFORMED)  # blank lines are no events at all
    assert expected["events"] == 2 and expected["views"] == 1
    assert expected["counts"] == {f"{CAMPAIGN}|0": 1}
    for engine in (_numpy, _mrjob):
        verdict = sw.check(engine(data, _params(), tmp_path / engine.__name__), expected)
        assert verdict.passed, (engine.__name__, verdict.detail)


def test_mapreduce_copies_of_the_rules_are_equal() -> None:
    from workloads.stream_window import mr_stream_window as mr

    campaign_of = {AD: CAMPAIGN}
    for line in [*MALFORMED, _event(5), _event(7, "click"), _event(10**15 - 1)]:
        assert mr._classify(line, campaign_of) == events.classify(line, campaign_of), line
    for when in (-10_001, -1, 0, 1, 9_999, 10_000, 123_456):
        for size, slide in ((10_000, 10_000), (10_000, 5_000), (10_000, 3_000), (7, 2)):
            assert mr._window_starts(when, size, slide) == events.window_starts(when, size, slide)
    assert (mr.FIELDS, mr.EVENT_TYPES) == (events.FIELDS, events.EVENT_TYPES)
    assert (mr.TIME_MIN, mr.TIME_MAX) == (events.TIME_MIN, events.TIME_MAX)


@pytest.fixture(scope="module")
def tiny(isolated_env: Path) -> datasets.Dataset:
    """The generated tiny dataset."""
    return datasets.generated(registry.get_workload("stream_window"), "tiny")


def test_generated_data_has_late_too_late_and_malformed_events(tiny: datasets.Dataset) -> None:
    meta = tiny.meta
    assert meta["events"] == 3_000 and len(tiny.inputs) > meta["duration_s"]
    assert [p.name for p in tiny.inputs] == sorted(p.name for p in tiny.inputs)
    expected = sw.reference(tiny, _params())
    assert expected["malformed"] > 0 and expected["dropped"] > 0
    assert expected["events"] + expected["malformed"] == 3_000
    assert sum(expected["counts"].values()) + expected["dropped"] == expected["views"]
    # Tumbling 10 s windows over the stream's 20 s, 100 campaigns.
    assert meta["duration_s"] == 20
    starts = {int(k.split("|")[1]) for k in expected["counts"]}
    assert len(starts) == 2 and len({k.split("|")[0] for k in expected["counts"]}) == 100
    # The stream ends with its events: nothing arrives after its last second plus the late
    # events' 3 s (too-late ones past the end come with the last file).
    assert meta["arrival_ms"][-1] < (meta["duration_s"] + 3) * 1000


@pytest.mark.parametrize("window", [{}, {"slide": 5}, {"window": 10, "slide": 3, "lateness": 1}])
def test_engines_equal_the_reference_on_tiny(
    window: dict, tiny: datasets.Dataset, tmp_path: Path
) -> None:
    params = _params(**window)
    workload = registry.get_workload("stream_window")
    expected = datasets.reference_answer(workload, tiny, params)
    for engine in (_numpy, _mrjob):
        answer = engine(tiny, params, tmp_path / engine.__name__)
        verdict = workload.check(answer, expected)
        assert verdict.passed, (engine.__name__, verdict.detail)
        assert workload.digest(answer) == workload.digest(expected)


def test_check_can_fail() -> None:
    expected = {"counts": {"a|0": 2, "b|0": 1}, "malformed": 1, "dropped": 0, "events": 4,
                "views": 3}  # fmt: skip
    assert sw.check(dict(expected), expected).passed
    verdict = sw.check({**expected, "counts": {"a|0": 2, "b|0": 2}}, expected)
    assert not verdict.passed and "1 differ" in verdict.detail
    assert not sw.check({**expected, "counts": {"a|0": 2}}, expected).passed
    assert not sw.check({**expected, "malformed": 0}, expected).passed
    assert not sw.check({"counts": []}, expected).passed


BAD_PARAMS = [({"window": 0}, "window"), ({"slide": 20}, "slide"), ({"lateness": -1}, "lateness"),
              ({"window": 0.0005}, "milliseconds"), ({"rate": "x"}, "rate")]  # fmt: skip


@pytest.mark.parametrize(("bad", "word"), BAD_PARAMS)
def test_bad_parameters(bad: dict, word: str) -> None:
    with pytest.raises(UserError, match=word):
        sw.check_params(_params(**bad))


def test_split_lines_like_sparks_line_reader() -> None:
    # Breaks at \r\n, \r and \n only (not at U+2028); a bad UTF-8 line becomes UNDECODABLE,
    # a leading byte-order mark goes; a replacement character written as UTF-8 stays.
    data = "a\r\nb\rc\nd\u2028e\n\ufefff\n\ufffd\n".encode() + b"g\xff\nh"
    lines = ["a", "b", "c", "d\u2028e", "f", "\ufffd", events.UNDECODABLE, "h"]
    assert events.split_lines(data) == lines
    assert events.split_lines(data.replace(b"g\xff", b"g")) == [*lines[:6], "g", "h"]
    assert events.classify(events.UNDECODABLE, {}) is None
    assert events.is_blank(" \t\r") and not events.is_blank("\xa0")


#: One raw file of line-level edge cases (bytes, so nothing normalises them): 6 events, 2
#: malformed lines, 1 blank line.
EDGE_LINES = b"".join([
    _event(1_000).encode() + b"\r\n",  # CRLF
    _event(1_001).encode() + b"\r" + _event(1_002).encode() + b"\n",  # a lone CR splits
    json.dumps(json.loads(_event(1_003)) | {"user_id": "a\u2028b"}, ensure_ascii=False).encode()
    + b"\n",  # a raw U+2028 inside a string: no line break
    _event(1_004, "view", page="x").encode().replace(b'"page": "x"', b'"page": "\xff"') + b"\n",
    b"\xef\xbb\xbf" + _event(1_005).encode() + b"\n",  # a byte-order mark
    b"\t \n",  # JSON whitespace only: blank
    "\u00a0".encode() + b"\n",  # a no-break space is not JSON whitespace: malformed
    json.dumps(json.loads(_event(1_006)) | {"user_id": "\ufffd"}, ensure_ascii=False).encode(),
])  # fmt: skip


def test_line_edge_cases_are_the_same_on_every_engine(spark_engine: Any, tmp_path: Path) -> None:
    from workloads.stream_window import impl_spark

    data = _dataset(tmp_path / "data", [[]])
    data.inputs[0].write_bytes(EDGE_LINES)
    expected = sw.reference(data, _params())
    assert (expected["events"], expected["malformed"]) == (6, 2)
    answers = {
        "numpy": _numpy(data, _params(), tmp_path / "numpy"),
        "mrjob": _mrjob(data, _params(), tmp_path / "mrjob"),
        "spark": impl_spark.run_batch(
            RunContext(spark_engine, "df", data, _params(), tmp_path / "spark")
        ),
    }
    for name, answer in answers.items():
        verdict = sw.check(answer, expected)
        assert verdict.passed, (name, verdict.detail)


def test_every_engine_joins_through_the_one_campaigns_parser(
    spark_engine: Any, tmp_path: Path
) -> None:
    from workloads.stream_window import impl_spark

    data = _dataset(tmp_path / "data", [[_event(1_000), _event(2_000, ad="ad-2")]])
    # Quotes, spaces around cells, a byte-order mark and a repeated identical row.
    (data.root / "campaigns.csv").write_text(
        '\ufeffad_id,campaign_id\n"ad-1", camp-1 \n ad-2 ,"camp-2"\nad-2,camp-2\n',
        encoding="utf-8",
    )
    assert events.load_campaigns(data.root / "campaigns.csv") == {AD: CAMPAIGN, "ad-2": "camp-2"}
    expected = {"counts": {f"{CAMPAIGN}|0": 1, "camp-2|0": 1}, "malformed": 0, "dropped": 0,
                "events": 2, "views": 2}  # fmt: skip
    assert sw.reference(data, _params()) == expected
    for name, answer in (
        ("numpy", _numpy(data, _params(), tmp_path / "numpy")),
        ("mrjob", _mrjob(data, _params(), tmp_path / "mrjob")),
        ("spark", impl_spark.run_batch(RunContext(spark_engine, "df", data, _params(), tmp_path))),
    ):
        assert answer == expected, name


def test_bad_campaigns_table(tmp_path: Path) -> None:
    bad = tmp_path / "c.csv"
    bad.write_text("ad,campaign\nx,y\n")
    with pytest.raises(UserError, match="header ad_id,campaign_id"):
        events.load_campaigns(bad)
    bad.write_text("ad_id,campaign_id\n")
    with pytest.raises(UserError, match="maps no ad"):
        events.load_campaigns(bad)
    with pytest.raises(UserError, match="cannot read campaigns"):
        events.load_campaigns(tmp_path / "missing.csv")
    bad.write_text("ad_id,campaign_id\nx,y\nx,z\n")
    with pytest.raises(UserError, match="line 3: ad 'x' is already in campaign 'y'"):
        events.load_campaigns(bad)
    bad.write_text('ad_id,campaign_id\n"x,y\n')
    with pytest.raises(UserError, match="not valid CSV"):
        events.load_campaigns(bad)
    bad.write_text("ad_id,campaign_id\nx,y,z\n")
    with pytest.raises(UserError, match="line 2 is not ad_id,campaign_id"):
        events.load_campaigns(bad)


def test_spark_stream_runs_by_itself_and_leaves_nothing(spark_engine: Any, tmp_path: Path) -> None:
    from workloads.stream_window import impl_spark

    spark = spark_engine.spark
    before = spark.conf.get("spark.sql.streaming.noDataMicroBatches.enabled")
    # Every malformed shape, through Spark's own JSON reader (blank lines in the same file).
    files = [[*[_event(t) for t in f], *(["", " ", *MALFORMED] if i == 1 else [])]
             for i, f in enumerate(TUMBLING_FILES)]  # fmt: skip
    data = _dataset(tmp_path / "data", files)
    expected = sw.reference(data, _params())
    assert expected["counts"] == TUMBLING_COUNTS and expected["malformed"] == len(MALFORMED)
    ctx = RunContext(spark_engine, "stream", data, _params(rate=0), tmp_path / "run")
    verdict = sw.check(impl_spark.run_stream(ctx), expected)
    assert verdict.passed, verdict.detail
    # A latency per window update, from each commit back to its file's arrival; nothing left
    # running or on disk.
    metrics = ctx.metrics
    assert metrics["window_updates"] >= len(TUMBLING_COUNTS)
    assert all(lat > 0 for lat in metrics["batch_latency_s"])
    assert metrics["busy_s"] == pytest.approx(sum(metrics["batch_s"]))
    latency = metrics["latency_s"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert latency["max"] == pytest.approx(max(metrics["batch_latency_s"]))
    assert spark.streams.active == []
    assert not (tmp_path / "run" / "feed").exists()
    assert not (tmp_path / "run" / "checkpoint").exists()
    assert spark.conf.get("spark.sql.streaming.noDataMicroBatches.enabled") == before


def test_spark_stream_sliding_windows(spark_engine: Any, tmp_path: Path) -> None:
    from workloads.stream_window import impl_spark

    data = _dataset(tmp_path / "data", [[_event(t) for t in f] for f in SLIDING_FILES])
    params = _params(slide=5, rate=0)
    ctx = RunContext(spark_engine, "stream", data, params, tmp_path / "run")
    answer = impl_spark.run_stream(ctx)
    assert answer["counts"] == SLIDING_COUNTS and answer["dropped"] == 1


@pytest.mark.parametrize("window", [{}, {"window": 10, "slide": 3, "lateness": 1}])
def test_spark_batch_twin_equals_the_reference_on_tiny(
    window: dict, tiny: datasets.Dataset, spark_engine: Any, tmp_path: Path
) -> None:
    from workloads.stream_window import impl_spark

    params = _params(**window)
    expected = sw.reference(tiny, params)
    answer = impl_spark.run_batch(RunContext(spark_engine, "df", tiny, params, tmp_path))
    verdict = sw.check(answer, expected)
    assert verdict.passed, verdict.detail


def test_numpy_replay_processes_files_as_they_arrive(tmp_path: Path) -> None:
    from workloads.stream_window import impl_numpy

    files = [[*[_event(t) for t in f], *(MALFORMED[:4] if i == 2 else [])]
             for i, f in enumerate(TUMBLING_FILES)]  # fmt: skip
    data = _dataset(tmp_path / "data", files)
    expected = sw.reference(data, _params())
    # 20 events/s: the four files are due at 0, 0.05, 0.15 and 0.35 s.
    ctx = RunContext(NumpyEngine(), "replay", data, _params(rate=20),
                     tmp_path / "run")  # fmt: skip
    verdict = sw.check(impl_numpy.run_replay(ctx), expected)
    assert verdict.passed, verdict.detail
    metrics = ctx.metrics
    # Files were read as they arrived: the last one no earlier than it was due, and every
    # batch committed after its file's arrival.
    arrivals = metrics["arrival_s"]
    assert len(arrivals) == 4 and arrivals == sorted(arrivals) and arrivals[-1] >= 0.34
    assert all(lat > 0 for lat in metrics["batch_latency_s"]) and metrics["feed_lag_max_s"] >= 0
    assert metrics["window_updates"] >= 4 and not (tmp_path / "run" / "feed").exists()


def test_numpy_replay_equals_the_reference_on_tiny(tiny: datasets.Dataset, tmp_path: Path) -> None:
    from workloads.stream_window import impl_numpy

    params = _params(slide=5, rate=1e6)  # rate 0 would replay the data's own 60 s
    ctx = RunContext(NumpyEngine(), "replay", tiny, params, tmp_path)
    assert sw.check(impl_numpy.run_replay(ctx), sw.reference(tiny, params)).passed


def test_latency_percentiles_nearest_rank() -> None:
    from workloads.stream_window.feeder import percentiles

    assert percentiles([]) == {"p50": None, "p95": None, "p99": None, "max": None}
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert percentiles([3.0, 1.0, 2.0]) == {"p50": 2.0, "p95": 3.0, "p99": 3.0, "max": 3.0}


def test_feeder_offsets_follow_the_rate(tmp_path: Path) -> None:
    from workloads.stream_window.feeder import Feeder

    sources = []
    for i in range(3):
        sources.append(tmp_path / f"s{i}.json")
        sources[-1].write_text("x\n" * (i + 1))
    feeder = Feeder.at_rate(sources, tmp_path / "out", [1, 2, 3], rate=10.0)
    assert feeder.offsets == pytest.approx([0.0, 0.1, 0.3])
    feeder.start()
    feeder.join(timeout=10)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["part-000000.json", "part-000001.json", "part-000002.json"]
    mtimes = [(tmp_path / "out" / n).stat().st_mtime for n in names]
    assert mtimes == sorted(mtimes) and len(set(mtimes)) == 3 and len(feeder.arrivals) == 3
    assert feeder.arrivals[2] - feeder.arrivals[0] >= 0.29


def test_streaming_variants_run_only_their_own_implementations() -> None:
    # numpy/replay and spark/stream are not batch variants: an all-variants implementation
    # (word count's numpy, a plugin's spark) is no implementation of them.
    assert registry.find_impl("wordcount", "numpy", "replay") is None
    assert registry.find_impl("wordcount", "numpy", "default") is not None
    assert registry.find_impl("stream_window", "numpy", "replay") is not None
    assert registry.find_impl("stream_window", "spark", "stream") is not None
    assert registry.find_impl("udf_map", "spark", "stream") is None


def test_cli_run_on_a_folder_of_event_files(tmp_path: Path) -> None:
    from conftest import run_cli

    data = _dataset(tmp_path / "events", [[_event(t) for t in f] for f in TUMBLING_FILES])
    campaigns = tmp_path / "campaigns.csv"
    (data.root / "campaigns.csv").rename(campaigns)
    (data.root / ".hidden.tmp").write_text("ignored\n")  # e.g. a file still being written
    out = run_cli(
        "run", "-w", "stream_window", "-e", "numpy/default,numpy/replay,mrjob/inline",
        "--input", str(data.root), "--campaigns", str(campaigns), "-r", "1", "--warmups", "0",
        "--param", "rate=100", "--no-progress", "--results", str(tmp_path / "res"),
        "--data-dir", str(tmp_path / "d"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for f in (tmp_path / "res").glob("*.jsonl") for line in f.open()]
    cells = [(r["engine"], r["variant"], r["check"]) for r in records]
    assert cells == [("numpy", "default", "pass"), ("numpy", "replay", "pass"),
                     ("mrjob", "inline", "pass")]  # fmt: skip
    assert len(records[0]["input"]["files"]) == 4
    # Each run reports its own answer's malformed lines and dropped late pairs.
    assert all(r["metrics"]["dropped_late_pairs"] == 3 for r in records)
    assert all(r["metrics"]["malformed"] == 0 for r in records)
    # A fed run lasts as long as its feed: its throughput is over its busy time.
    replay = records[1]["metrics"]
    assert replay["items_per_s"] == pytest.approx(replay["items"] / replay["busy_s"])
    assert records[1]["wall_s"] > replay["busy_s"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-w", "stream_window", "--input", "{folder}"], "needs --campaigns FILE"),
        (["-w", "stream_window", "--campaigns", "{campaigns}"], "--campaigns goes with --input"),
        (
            ["-w", "wordcount", "--input", "{campaigns}", "--campaigns", "{campaigns}"],
            "--campaigns is no input of workload 'wordcount'",
        ),
        (
            ["-w", "stream_window", "--input", "{empty}", "--campaigns", "{campaigns}"],
            "input folder has no file",
        ),
        (
            ["-w", "stream_window", "--input", "{folder}", "--campaigns", "{folder}/nope.csv"],
            "--campaigns file not found",
        ),
    ],
)
def test_cli_user_input_errors(args: list[str], message: str, tmp_path: Path) -> None:
    from conftest import run_cli

    folder, empty = tmp_path / "folder", tmp_path / "empty"
    folder.mkdir()
    empty.mkdir()
    (folder / "part-0.json").write_text(_event(1_000) + "\n")
    campaigns = tmp_path / "c.csv"
    campaigns.write_text(f"ad_id,campaign_id\n{AD},{CAMPAIGN}\n")
    names = {"folder": folder, "empty": empty, "campaigns": campaigns}
    out = run_cli("run", "-e", "numpy", "--results", str(tmp_path / "res"),
                  *[a.format(**names) for a in args])  # fmt: skip
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "res").exists()


def _schedule_ctx(meta: dict[str, Any], rate: float) -> Any:
    from types import SimpleNamespace

    data = SimpleNamespace(meta=meta)
    return SimpleNamespace(data=data, params={"rate": rate})


def test_schedule_keeps_generated_arrival_times_scaled_to_the_rate() -> None:
    from workloads.stream_window.feeder import schedule

    # 600 events over 60 s (10/s); files at arrival seconds 0, 1, 2, 30 (a quiet gap, then a
    # tiny late file): at the data's own rate each file is due at its own second, whatever its
    # size, so the late tail keeps its spacing instead of arriving in a burst.
    meta = {"events": 600, "duration_s": 60, "arrival_ms": [0, 1000, 2000, 30000]}
    lines = [10, 10, 10, 1]
    assert schedule(_schedule_ctx(meta, 0), lines) == pytest.approx([0.0, 1.0, 2.0, 30.0])
    assert schedule(_schedule_ctx(meta, 20), lines) == pytest.approx([0.0, 0.5, 1.0, 15.0])


def test_schedule_paces_user_data_by_event_count() -> None:
    from workloads.stream_window.feeder import schedule

    # No arrival times (--input): paced by events at the rate; rate 0 = everything at once.
    assert schedule(_schedule_ctx({}, 10), [5, 10, 20]) == pytest.approx([0.0, 0.5, 1.5])
    assert schedule(_schedule_ctx({}, 0), [5, 10, 20]) == [0.0, 0.0, 0.0]
    # Arrival times that do not match the files (another folder): by count too.
    meta = {"events": 600, "duration_s": 60, "arrival_ms": [0, 1000]}
    assert schedule(_schedule_ctx(meta, 10), [5, 10, 20]) == pytest.approx([0.0, 0.5, 1.5])


def test_generated_data_records_each_files_arrival(tmp_path: Path) -> None:
    meta = events.make_events(tmp_path, 3000, seed=1)
    arrival = meta["arrival_ms"]
    assert len(arrival) == len(meta["files"]) and arrival == sorted(set(arrival))
    for name, ms in zip(meta["files"], arrival, strict=True):
        assert name == f"events/part-{ms // events.FILE_SPAN_MS:05d}.json"


def test_a_bad_table_found_late_leaves_no_batch_behind(tmp_path: Path) -> None:
    from conftest import run_cli

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "part-0.json").write_text(_event(1_000) + "\n")
    campaigns = tmp_path / "c.csv"
    campaigns.write_text(f"ad_id,campaign_id\n{AD},{CAMPAIGN}\n{AD},camp-2\n")
    args = ["run", "-w", "stream_window", "-e", "numpy", "--input", str(folder), "--campaigns",
            str(campaigns), "--data-dir", str(tmp_path / "d"), "--no-progress"]  # fmt: skip
    out = run_cli(*args, "--results", str(tmp_path / "new"))
    assert out.returncode == 2 and "is already in campaign" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "new").exists()
    # A results folder with earlier batches keeps them, and gains nothing.
    old = tmp_path / "old"
    old.mkdir()
    (old / "earlier.jsonl").write_text("{}\n")
    out = run_cli(*args, "--results", str(old))
    assert out.returncode == 2 and [p.name for p in old.iterdir()] == ["earlier.jsonl"]


def _canonical(**changes: Any) -> dict[str, Any]:
    event = {
        "user_id": "u-1",
        "page_id": "p-1",
        "ad_id": "ad-1",
        "ad_type": "banner",
        "event_type": "view",
        "event_time": 1_767_225_600_123,
        "ip_address": "1.2.3.4",
    }
    return {**event, **changes}


def _line(event: dict[str, Any], **dumps: Any) -> bytes:
    return json.dumps(event, separators=(",", ":"), **dumps).encode()


def test_vectorised_parse_gives_the_exact_rules_verdict_on_every_line() -> None:
    from workloads.stream_window.impl_numpy import parse, parse_file

    names = {"ad-1": "c1", "ad-2": "c2", "é": "c2"}
    index = {"c1": 0, "c2": 1}
    lines = [
        _line(_canonical()),
        _line(_canonical(ad_id="ad-2", event_type="click", event_time=0)),
        _line(_canonical(event_time=999_999_999_999_999)),  # TIME_MAX
        _line(_canonical(event_time=10**15)),  # one past
        _line(_canonical(ad_id="nope")),  # unknown ad
        _line(_canonical(event_type="View")),
        _line(_canonical(event_time="1767225600000")),  # a string
        _line(_canonical(event_time=1.0)),
        _line(_canonical(event_time=True)),
        _line(_canonical(ip_address=None)),
        _line(_canonical(ad_id="é"), ensure_ascii=False),  # valid, not ASCII
        _line(_canonical(ad_id="é")),  # valid, escaped
        _line(_canonical(user_id='a"b')),  # an escape in a string
        json.dumps(_canonical()).encode(),  # spaces after separators
        _line(dict(reversed(list(_canonical().items())))),  # other key order
        b'{"user_id":"u","user_id":"v"' + _line(_canonical())[15:],  # duplicate key
        b"-0".join(_line(_canonical(event_time=7)).rsplit(b"7", 1)),  # -0
        b"1e3".join(_line(_canonical(event_time=7)).rsplit(b"7", 1)),
        _line(_canonical()) + b"x",  # trailing garbage
        _line(_canonical())[:-1],  # cut
        b"\xef\xbb\xbf" + _line(_canonical()),  # BOM
        _line(_canonical()) + b"\r",  # CRLF ending
        _line(_canonical())[:40] + b"\r" + _line(_canonical()),  # bare CR inside a line
        b"\xff" + _line(_canonical()),  # invalid UTF-8
        b"",
        b" \t ",
        _line(_canonical(extra=1)),
    ]
    data = b"\n".join(lines) + b"\n"
    got = parse_file(data, index, names)
    want = parse(events.split_lines(data), index, names)

    def rows(p: Any) -> list[tuple[int, bool, int]]:
        return sorted(zip(p.times.tolist(), p.views.tolist(), p.campaign.tolist(), strict=True))

    assert rows(got) == rows(want)
    assert got.malformed == want.malformed
    assert len(want.times) >= 8 and want.malformed >= 10  # the cases cover both verdicts


def test_generated_lines_take_the_fast_path(tiny: datasets.Dataset) -> None:
    from workloads.stream_window.events import CANONICAL_EVENT

    text = tiny.inputs[0].read_bytes()
    lines = [line for line in text.split(b"\n") if line]
    matched = len(CANONICAL_EVENT.findall(text))
    assert matched >= 0.99 * len(lines)  # all but the deliberately malformed ones
