"""The YSB query as two Hadoop Streaming jobs (run by ``impl_mrjob``).

Self-contained (imports only mrjob and the standard library) so it runs where bdbench is not
installed; ``_classify``, ``_window_starts`` and ``_lines`` are copies of ``events.classify``,
``events.window_starts`` and ``events.split_lines`` (a test keeps them equal). The campaigns
mapping (JSON, parsed by ``events.load_campaigns``) and every file's late watermark travel with
the job as files (Hadoop's distributed cache); each mapper knows its input file from the
``mapreduce.map.input.file`` job setting. Input lines arrive as bytes: Hadoop splits them at
``\\n`` only, the mapper splits them further at ``\\r`` like Spark's line reader.

1. ``--mode maxima``: the largest view time of every input file (mapper keeps one per
   file per task; combiner and reducer take the maximum).
2. ``--mode counts``: with every file's late watermark (``--marks`` file, from the driver), the
   mapper classifies each line, assigns views to their windows, drops the late (event,
   window) pairs and emits ``([campaign, start], 1)`` plus its totals once per task; combiner
   and reducer add them up.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Iterator
from typing import Any

from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob
from mrjob.protocol import BytesValueProtocol, JSONProtocol
from mrjob.step import MRStep

EVENT_TYPES = ("view", "click", "purchase")
FIELDS = ("user_id", "page_id", "ad_id", "ad_type", "event_type", "event_time", "ip_address")
#: Valid event times (epoch ms): from 1970 to about year 33658, so Spark's timestamp_millis
#: never overflows.
TIME_MIN, TIME_MAX = 0, 10**15 - 1
TOTALS = ("malformed", "dropped", "events", "views")
JSON_SPACE = " \t\r\n"
UNDECODABLE = "\x00"


def _lines(raw: bytes) -> list[str]:
    """The lines in one Hadoop line (split at ``\\r`` too), decoded like ``events.split_lines``."""
    lines = []
    for piece in re.split(rb"\r\n|\r|\n", raw):
        try:
            line = piece.decode("utf-8")
        except UnicodeDecodeError:
            line = UNDECODABLE
        lines.append(line[1:] if line.startswith("\ufeff") else line)
    return lines


def _reject(name: str) -> float:
    raise ValueError(name)


def _classify(line: str, campaign_of: dict[str, str]) -> tuple[str, str, int] | None:
    try:
        record = json.loads(line, parse_constant=_reject)
    except ValueError:
        return None
    if not isinstance(record, dict) or any(record.get(f) is None for f in FIELDS):
        return None
    event_type, ad_id, when = record["event_type"], record["ad_id"], record["event_time"]
    if event_type not in EVENT_TYPES or not isinstance(ad_id, str) or ad_id not in campaign_of:
        return None
    if type(when) is not int or not TIME_MIN <= when <= TIME_MAX:
        return None
    return campaign_of[ad_id], event_type, when


def _window_starts(when: int, size_ms: int, slide_ms: int) -> range:
    last = (when // slide_ms) * slide_ms
    back = (size_ms - (when - last) - 1) // slide_ms
    return range(last - back * slide_ms, last + 1, slide_ms)


def _input_file() -> str:
    """The base name of the file this map task reads."""
    return posixpath.basename(str(jobconf_from_env("mapreduce.map.input.file")))


class MRStreamWindow(MRJob):
    """``--mode maxima``: the largest valid event time per input file. ``--mode counts``:
    views per (campaign, window start), late pairs dropped, and the totals. (One class, so
    the script run by Hadoop Streaming is the same for both jobs.)"""

    INPUT_PROTOCOL = BytesValueProtocol
    INTERNAL_PROTOCOL = JSONProtocol
    OUTPUT_PROTOCOL = JSONProtocol

    def configure_args(self) -> None:
        """The mode, the campaigns mapping (a JSON file shipped with the job), window size and
        slide (ms) and every file's late watermark (a JSON file, counts mode; a file, since
        thousands of input files would overflow a command line)."""
        super().configure_args()
        self.add_passthru_arg("--mode", choices=("maxima", "counts"), required=True)
        self.add_file_arg("--campaigns", required=True)
        self.add_passthru_arg("--size", type=int, default=0)
        self.add_passthru_arg("--slide", type=int, default=0)
        self.add_file_arg("--marks")

    def steps(self) -> list[MRStep]:
        """One step of the mode's mapper, combiner and reducer."""
        if self.options.mode == "maxima":
            return [
                MRStep(
                    mapper_init=self.start,
                    mapper=self.map_maxima,
                    mapper_final=self.final_maxima,
                    combiner=self.largest,
                    reducer=self.largest,
                )
            ]
        return [
            MRStep(
                mapper_init=self.start,
                mapper=self.map_counts,
                mapper_final=self.final_counts,
                combiner=self.add,
                reducer=self.add,
            )
        ]

    def start(self) -> None:
        """Per task: the campaigns table, the marks and empty tallies."""
        with open(self.options.campaigns, encoding="utf-8") as handle:
            self.campaign_of: dict[str, str] = json.load(handle)
        self.marks: dict[str, int] = {}
        if self.options.marks:
            with open(self.options.marks, encoding="utf-8") as handle:
                self.marks = json.load(handle)
        self.maxima: dict[str, int] = {}
        self.totals = dict.fromkeys(TOTALS, 0)

    def map_maxima(self, _: Any, raw: bytes) -> Iterator[tuple[str, int]]:
        """Keep the file's largest view time (views set Spark's watermark)."""
        for line in _lines(raw):
            event = _classify(line, self.campaign_of) if line.strip(JSON_SPACE) else None
            if event is not None and event[1] == "view":
                name = _input_file()
                if name not in self.maxima or event[2] > self.maxima[name]:
                    self.maxima[name] = event[2]
        yield from ()

    def final_maxima(self) -> Iterator[tuple[str, int]]:
        """One maximum per file this task read."""
        yield from self.maxima.items()

    def largest(self, name: str, values: Iterable[int]) -> Iterator[tuple[str, int]]:
        """The maximum."""
        yield name, max(values)

    def map_counts(self, _: Any, raw: bytes) -> Iterator[tuple[Any, int]]:
        """One ``([campaign, start], 1)`` per kept (view, window) pair."""
        for line in _lines(raw):
            if line.strip(JSON_SPACE):
                yield from self._count(line)

    def _count(self, line: str) -> Iterator[tuple[Any, int]]:
        event = _classify(line, self.campaign_of)
        if event is None:
            self.totals["malformed"] += 1
            return
        campaign, event_type, when = event
        self.totals["events"] += 1
        if event_type != "view":
            return
        self.totals["views"] += 1
        late = self.marks[_input_file()]
        size = self.options.size
        for start in _window_starts(when, size, self.options.slide):
            if start + size <= late:
                self.totals["dropped"] += 1
            else:
                yield [campaign, start], 1

    def final_counts(self) -> Iterator[tuple[Any, int]]:
        """This task's totals, once."""
        yield from self.totals.items()

    def add(self, key: Any, values: Iterable[int]) -> Iterator[tuple[Any, int]]:
        """The sum."""
        yield key, sum(values)


if __name__ == "__main__":
    MRStreamWindow.run()
