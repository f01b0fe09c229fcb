"""Streaming windows: the Yahoo streaming benchmark (YSB) query, on a stream and in batch.

Semantics (every engine computes exactly this):

* Input: JSON-lines event files in *arrival order* and a campaigns table (CSV
  ``ad_id,campaign_id``). Generated files are named in arrival order; ``--input FOLDER
  --campaigns FILE`` takes the folder's files, hidden ones excepted, sorted by name. Each file
  is one micro-batch (Spark reads one file per trigger), so which events are late depends only
  on the files, never on timing.
* Lines end at ``\\r\\n``, ``\\r`` or ``\\n`` (Spark's line reader; ``events.split_lines``): a
  line that is not valid UTF-8 is malformed, a leading byte-order mark is dropped, and a line
  of JSON whitespace only is blank (no event, not malformed).
* A line is an event when it passes ``events.classify``: a strict-JSON object with all seven
  YSB fields non-null, ``event_type`` one of view/click/purchase, an ``ad_id`` found in the
  campaigns table and an integer ``event_time`` (epoch ms). Any other non-blank line is
  *malformed*: counted, and skipped by every engine.
* The query: keep ``event_type == "view"``, map ``ad_id -> campaign_id``, count per
  ``(campaign_id, window_start)``. Windows are ``[start, start + window)`` with starts on
  multiples of ``slide`` from epoch 0 (``slide`` = ``window`` for tumbling windows, the
  default); an event on a window's start belongs to it, one on its end to the next.
* Lateness: Spark's event-time watermark with delay ``lateness`` over one-file micro-batches.
  Batch ``i``'s watermark ``W_i`` is ``max(0, M - lateness)``, where ``M`` is the largest event
  time of the *views* (the rows that reach Spark's watermark operator) in batches before ``i``
  (``W_0 = 0``); it never decreases. An (event, window) pair of batch ``i`` is *late* when the
  window's end is at or before ``W_(i-1)``, the previous batch's watermark (``0`` for the first
  batch): Spark judges late rows by the previous batch's watermark and evicts by the current
  one. Late pairs are counted (``dropped``) and never counted in a window; one event of a
  sliding window can lose some of its windows and keep others. (``late_rule``; Spark 4.3,
  ``statefulOperator.allowMultiple`` at its default, no no-data batches.)
* Known limit (user data only; generated data has neither): Spark's JSON reader reads a
  non-string value of a text field as its JSON text (``"ad_id": 123`` as ``"123"``) and a
  top-level array of objects as several rows, where ``classify`` calls the line malformed.
  Spark's answer then differs and its check fails: visible, never silent.
* Answer: ``{"counts": {"<campaign>|<window_start>": n}, "malformed": m, "dropped": d,
  "events": e, "views": v}``; the check is exact equality.

Generated data (``events.make_events``): YSB's 100 campaigns x 10 ads, events uniform over
``events.duration_s(size)`` seconds of event time (20 s up to ``small``, 60 s above: a fed run
lasts as long as its stream), one file per second of arrival time; 5% of the events
arrive up to 3 s late, 0.2% 20-30 s late (beyond the default lateness; those past the stream's
end arrive with its last file), and 0.2% of the lines
are malformed (cut JSON, a missing field, an unknown ad, a text time).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import metrics
from harness.errors import UserError
from harness.registry import CheckResult, Workload, register_workload
from workloads._numeric import show
from workloads.stream_window import events

if TYPE_CHECKING:
    from harness.datasets import Dataset

DEFAULT_PARAMS: dict[str, Any] = {
    # Window size and slide in seconds (slide 0 = tumbling), allowed lateness in seconds.
    "window": 10,
    "slide": 0,
    "lateness": 5,
    # Offered input rate of the streaming feeder in events/s (0 = the data's own event rate).
    "rate": 0,
}


def check_params(params: Mapping[str, Any]) -> None:
    """One clear error for a bad parameter value."""
    for name in ("window", "slide", "lateness", "rate"):
        value = params.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise UserError(f"stream_window: {name} must be a number >= 0 (seconds or events/s)")
    if params["window"] <= 0:
        raise UserError("stream_window: window must be > 0 seconds")
    for name in ("window", "slide", "lateness"):
        millis = float(params[name]) * 1000
        if abs(millis - round(millis)) > 1e-6:  # 1.001 s is 1000.9999999999999 ms in floats
            raise UserError(f"stream_window: {name} must be a whole number of milliseconds")
    if params["slide"] > params["window"]:
        raise UserError("stream_window: slide must not exceed window (Spark's rule)")


@dataclass(frozen=True)
class Windows:
    """The window parameters in milliseconds."""

    size: int
    slide: int
    lateness: int

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> Windows:
        """From the workload parameters (seconds)."""
        size = round(float(params["window"]) * 1000)
        slide = round(float(params["slide"]) * 1000) or size
        return cls(size, slide, round(float(params["lateness"]) * 1000))


@dataclass
class Watermark:
    """Spark's event-time watermark over a sequence of one-file micro-batches."""

    lateness: int
    #: Largest event time seen so far (None before the first event).
    max_seen: int | None = None
    #: The watermark of each batch so far (0 until an event was seen).
    history: list[int] = field(default_factory=list)

    def begin(self) -> int:
        """Start a batch: the watermark its late events are judged by (see ``late_rule``)."""
        current = 0 if self.max_seen is None else max(0, self.max_seen - self.lateness)
        self.history.append(current)
        return late_rule(self.history)

    def see(self, event_time: int) -> None:
        """Account a view of the current batch (it moves the watermark of later ones)."""
        if self.max_seen is None or event_time > self.max_seen:
            self.max_seen = event_time


def late_rule(history: list[int]) -> int:
    """The watermark a batch's events are judged late by, given the watermark of every batch
    so far (the current one last): the previous batch's (0 for the first batch). An (event,
    window) pair is dropped when the window's end is at or before it."""
    return history[-2] if len(history) > 1 else 0


def late_marks(maxima: Iterable[int | None], lateness: int) -> list[int]:
    """The late watermark of every batch, from each batch's largest view time (None when it
    had no view): the batch engines' way to the same marks as a stream."""
    mark = Watermark(lateness)
    marks = []
    for batch_max in maxima:
        marks.append(mark.begin())
        if batch_max is not None:
            mark.see(batch_max)
    return marks


@dataclass
class Tally:
    """Counts of one run: per (campaign, window start), and the event totals."""

    counts: Counter[tuple[str, int]] = field(default_factory=Counter)
    malformed: int = 0
    dropped: int = 0
    events: int = 0
    views: int = 0

    def answer(self) -> dict[str, Any]:
        """The workload's answer."""
        return {
            "counts": {f"{c}|{s}": n for (c, s), n in sorted(self.counts.items())},
            "malformed": self.malformed,
            "dropped": self.dropped,
            "events": self.events,
            "views": self.views,
        }


def replay(
    batches: Iterable[Iterable[str]], campaign_of: Mapping[str, str], windows: Windows
) -> Iterator[tuple[int, Tally, set[tuple[str, int]]]]:
    """The documented semantics, one batch (file) at a time, plainly: yields the batch's
    number, the running tally and the (campaign, window start) keys the batch updated."""
    tally = Tally()
    mark = Watermark(windows.lateness)
    for number, lines in enumerate(batches):
        late = mark.begin()
        updated: set[tuple[str, int]] = set()
        for line in lines:
            if events.is_blank(line):
                continue
            event = events.classify(line, campaign_of)
            if event is None:
                tally.malformed += 1
                continue
            campaign, event_type, when = event
            tally.events += 1
            if event_type != "view":
                continue
            tally.views += 1
            mark.see(when)
            for start in events.window_starts(when, windows.size, windows.slide):
                if start + windows.size <= late:
                    tally.dropped += 1
                else:
                    tally.counts[(campaign, start)] += 1
                    updated.add((campaign, start))
        yield number, tally, updated


def campaigns_path(data: Dataset) -> Path:
    """The dataset's campaigns table."""
    name = data.meta.get("campaigns")
    if not name:
        raise UserError("stream_window: the input needs a campaigns table (--campaigns FILE)")
    path = Path(name)
    return path if path.is_absolute() else data.root / path


def read_lines(path: Path) -> list[str]:
    """A file's lines as every engine splits and decodes them (``events.split_lines``)."""
    return events.split_lines(path.read_bytes())


def reference(data: Dataset, params: Mapping[str, Any]) -> dict[str, Any]:
    """Replay the files in order with the documented rules (never timed; cached)."""
    check_params(params)
    campaign_of = events.load_campaigns(campaigns_path(data))
    batches = replay((read_lines(p) for p in data.inputs), campaign_of, Windows.of(params))
    tally = Tally()
    for _, running, _ in batches:
        tally = running  # the same object, complete after the last batch
    return tally.answer()


def check(answer: Any, expected: Mapping[str, Any]) -> CheckResult:
    """Exact equality of every window count and of the event totals."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("counts"), Mapping):
        return CheckResult(False, "answer is not {'counts': {...}, 'malformed': ...}")
    for key in ("malformed", "dropped", "events", "views"):
        if answer.get(key) != expected[key]:
            return CheckResult(
                False, f"{key} = {show(answer.get(key))}, reference {show(expected[key])}"
            )
    got, want = answer["counts"], expected["counts"]
    if got != want:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        wrong = sorted(k for k in set(got) & set(want) if got[k] != want[k])
        detail = f"{len(missing)} windows missing, {len(extra)} extra, {len(wrong)} differ"
        first = (missing or extra or wrong)[0]
        return CheckResult(
            False, f"{detail}; first {first}: {got.get(first)} vs reference {want.get(first)}"
        )
    return CheckResult(
        True,
        f"{len(want)} window counts equal; {expected['malformed']} malformed, "
        f"{expected['dropped']} late (event, window) pairs dropped",
    )


def digest(answer: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical answer."""
    import hashlib
    import json

    blob = json.dumps(
        {k: answer[k] for k in ("counts", "malformed", "dropped", "events", "views")},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def make_data(folder: Path, size: int, seed: int) -> dict[str, Any]:
    """Generated YSB events (see ``events.make_events``)."""
    return events.make_events(folder, size, seed)


def prepare(data: Dataset, params: Mapping[str, Any]) -> dict[str, Any]:
    """Lines per file (the feeder's schedule at an offered rate), counted before any timed
    run and cached beside the data."""
    return {"lines": [p.read_bytes().count(b"\n") for p in data.inputs]}


def _answer_metrics(answer: Any) -> dict[str, Any]:
    """Every run reports the malformed lines it skipped and the late pairs it dropped, by its
    own answer (a wrong answer shows its own figures)."""
    if not isinstance(answer, Mapping):
        return {}
    return {MALFORMED.name: answer.get("malformed"), DROPPED.name: answer.get("dropped")}


# This workload's own figures of each run (see ``harness.metrics``).
MALFORMED = metrics.declare("malformed", "", "int", "malformed event lines the run skipped")
DROPPED = metrics.declare(
    "dropped_late_pairs", "", "int", "(view, window) pairs dropped as later than the watermark"
)
metrics.declare(
    "processed_rows_per_s_median", "rows/s", "float", "Spark's own processed rate per batch", False
)
metrics.declare(
    "dropped_groups_spark", "", "int", "state rows Spark dropped by its watermark (all batches)"
)


STREAM_WINDOW = register_workload(
    Workload(
        name="stream_window",
        version="3",
        description="YSB query: views per campaign in event-time windows, late events dropped",
        scale_sizes={"tiny": 3_000, "small": 300_000, "medium": 3_000_000, "large": 30_000_000},
        unit="events",
        make_data=make_data,
        reference=reference,
        check=check,
        digest=digest,
        to_json=lambda answer: dict(answer),
        # Throughput: event lines (valid or not) processed per second.
        items=lambda expected: int(expected["events"]) + int(expected["malformed"]),
        params=DEFAULT_PARAMS,
        # Tiny's files arrive over 23 s at the data's own rate (150 events/s): twice as
        # fast, a fed run lasts about 12 s plus the engine's per-batch time.
        smoke_params={"rate": 300},
        check_params=check_params,
        input_folder=True,
        side_inputs=("campaigns",),
        answer_metrics=_answer_metrics,
        prepare=prepare,
        # Measured: 73,664,013 bytes (events and campaigns) for small's 300,000 events.
        bytes_per_item=246.0,
        # Spark cells run with our rules off and on, like every Spark cell.
        default_rules="both",
    )
)

from workloads.stream_window import impl_duckdb, impl_mrjob, impl_numpy, impl_polars, impl_spark  # noqa: E402, F401
