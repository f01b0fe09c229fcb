"""YSB-style ad events: the seeded generator and the rules for a valid event line.

Standard library only (plus NumPy in the generator), so the MapReduce job can carry a copy of
``classify``'s rules without bdbench installed; a test keeps the copies equal.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: YSB's shape: 100 campaigns of 10 ads each.
CAMPAIGNS = 100
ADS_PER_CAMPAIGN = 10
AD_TYPES = ("banner", "modal", "sponsored-search", "mail", "mobile")
EVENT_TYPES = ("view", "click", "purchase")
#: Every field an event line must have (non-null).
FIELDS = ("user_id", "page_id", "ad_id", "ad_type", "event_type", "event_time", "ip_address")
#: Generated data: event time starts here (2026-01-01T00:00:00Z, epoch ms) and spans
#: ``duration_s(size)`` seconds at ``size / duration_s(size)`` events per second.
T0_MS = 1_767_225_600_000
DURATION_S = 60
#: Up to ``SHORT_SIZE`` events (tiny, small) the stream spans ``SHORT_DURATION_S``: a fed run
#: lasts as long as its stream, and these are the scales of a first look and of the whole
#: suite in minutes. 20 s is the shortest span in which the default windows (10 s, lateness
#: 5 s) both close and drop late events.
SHORT_SIZE = 300_000
SHORT_DURATION_S = 20
#: One file per this many milliseconds of arrival time (the file-drop source's unit).
FILE_SPAN_MS = 1_000
#: Arrival: most events arrive with their own second; LATE_FRACTION up to LATE_MAX_MS late;
#: TOO_LATE_FRACTION between TOO_LATE_MS[0] and TOO_LATE_MS[1] late (beyond any default
#: watermark); MALFORMED_FRACTION of the lines are broken in one of four ways.
LATE_FRACTION = 0.05
LATE_MAX_MS = 3_000
TOO_LATE_FRACTION = 0.002
TOO_LATE_MS = (20_000, 30_000)
#: ... but no event arrives after the stream's last on-time second plus LATE_MAX_MS: a
#: too-late event that would is delivered with the stream's last file (still past its
#: watermark when its window closed), so the stream ends with its events, not a sparse tail.
MALFORMED_FRACTION = 0.002
#: Pools the random ids are drawn from (YSB draws fresh UUIDs; a pool keeps generation fast).
ID_POOL = 50_000
#: Valid event times (epoch ms): from 1970 to about year 33658, so Spark's timestamp_millis
#: never overflows.
TIME_MIN, TIME_MAX = 0, 10**15 - 1
#: JSON's whitespace (RFC 8259): a line of only these is blank, not an event (Jackson, as
#: Spark uses it, and ``json.loads`` agree; ``str.strip`` would also take Unicode spaces).
JSON_SPACE = " \t\r\n"
#: Where a file's lines end: like Hadoop's line reader under Spark's JSON source, at ``\r\n``,
#: ``\r`` or ``\n`` (not at U+2028 and the other breaks ``str.splitlines`` knows).
LINE_BREAK = re.compile(r"\r\n|\r|\n")
#: What a line that is not valid UTF-8 becomes: a NUL is never JSON, so it is malformed on
#: every engine (Spark's parser rejects invalid UTF-8; a replacement character would not be).
UNDECODABLE = "\x00"


def _hex_ids(rng: Any, count: int) -> list[str]:
    """``count`` UUID-shaped random hex strings."""
    raw = rng.integers(0, 2**63, size=(count, 2), dtype="int64")
    out = []
    for a, b in raw.tolist():
        h = f"{a:016x}{b:016x}"
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def duration_s(size: int) -> int:
    """Seconds of event time a generated stream of ``size`` events spans."""
    return SHORT_DURATION_S if size <= SHORT_SIZE else DURATION_S


def make_events(folder: Path, size: int, seed: int) -> dict[str, Any]:
    """``size`` event lines over ``duration_s(size)`` seconds of event time, written as one
    JSON-lines file per ``FILE_SPAN_MS`` of arrival time under ``events/`` (in arrival order),
    and the campaigns table ``campaigns.csv`` (``ad_id,campaign_id``)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    campaigns = _hex_ids(rng, CAMPAIGNS)
    ads = _hex_ids(rng, CAMPAIGNS * ADS_PER_CAMPAIGN)
    with (folder / "campaigns.csv").open("w", encoding="utf-8") as out:
        out.write("ad_id,campaign_id\n")
        for i, ad in enumerate(ads):
            out.write(f"{ad},{campaigns[i // ADS_PER_CAMPAIGN]}\n")
    users, pages = _hex_ids(rng, ID_POOL), _hex_ids(rng, ID_POOL)

    # Event times: uniform over the duration, sorted (a source emits them in order).
    span_s = duration_s(size)
    event_ms = np.sort(T0_MS + rng.integers(0, span_s * 1000, size=size))
    delay = np.zeros(size, dtype=np.int64)
    kind = rng.random(size)
    late = kind < LATE_FRACTION
    delay[late] = rng.integers(1, LATE_MAX_MS + 1, size=int(late.sum()))
    too_late = (kind >= LATE_FRACTION) & (kind < LATE_FRACTION + TOO_LATE_FRACTION)
    delay[too_late] = rng.integers(*TOO_LATE_MS, size=int(too_late.sum()))
    arrival = np.minimum(event_ms + delay, T0_MS + span_s * 1000 + LATE_MAX_MS - 1)
    order = np.argsort(arrival, kind="stable")
    file_of = (arrival[order] - T0_MS) // FILE_SPAN_MS
    ad_of = rng.integers(0, len(ads), size=size)[order]
    type_of = rng.integers(0, len(EVENT_TYPES), size=size)[order]
    adtype_of = rng.integers(0, len(AD_TYPES), size=size)[order]
    user_of = rng.integers(0, ID_POOL, size=size)[order]
    page_of = rng.integers(0, ID_POOL, size=size)[order]
    ip_of = rng.integers(0, 2**32, size=size, dtype=np.int64)[order]
    broken = rng.random(size) < MALFORMED_FRACTION
    times = event_ms[order]

    events = folder / "events"
    events.mkdir()
    files: list[str] = []
    arrival_ms: list[int] = []
    handle = None
    current = -1
    for i in range(size):
        f = int(file_of[i])
        if f != current:
            if handle is not None:
                handle.close()
            current = f
            name = f"events/part-{f:05d}.json"
            files.append(name)
            arrival_ms.append(f * FILE_SPAN_MS)
            handle = (folder / name).open("w", encoding="utf-8")
        ip = int(ip_of[i])
        record: dict[str, Any] = {
            "user_id": users[user_of[i]],
            "page_id": pages[page_of[i]],
            "ad_id": ads[ad_of[i]],
            "ad_type": AD_TYPES[adtype_of[i]],
            "event_type": EVENT_TYPES[type_of[i]],
            "event_time": int(times[i]),
            "ip_address": f"{ip >> 24}.{(ip >> 16) & 255}.{(ip >> 8) & 255}.{ip & 255}",
        }
        line = json.dumps(record, separators=(",", ":"))
        if broken[i]:
            line = _break(line, record, i % 4)
        assert handle is not None
        handle.write(line + "\n")
    if handle is not None:
        handle.close()
    return {
        "files": files,
        "campaigns": "campaigns.csv",
        "events": size,
        "duration_s": span_s,
        "file_span_ms": FILE_SPAN_MS,
        # Each file's arrival time after the first second's (the feeder's real-time schedule).
        "arrival_ms": arrival_ms,
    }


# The fast path of a parser: a line exactly as the generator writes it (compact JSON, these
# keys in this order, strings of printable ASCII without escapes, an event time of at most
# 15 digits) is valid when its ad is in the table, with the values the groups hold: the same
# verdict and values ``classify`` gives it. Every other line takes ``classify``.
_PLAIN = rb'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'
_TIME_DIGITS = len(str(TIME_MAX))
assert (TIME_MIN, TIME_MAX) == (0, 10**_TIME_DIGITS - 1), "the fast path's time range"
CANONICAL_EVENT = re.compile(
    rb'^\{"user_id":' + _PLAIN + rb',"page_id":' + _PLAIN
    + rb',"ad_id":"([\x20\x21\x23-\x5b\x5d-\x7e]*)","ad_type":' + _PLAIN
    + rb',"event_type":"(' + b"|".join(t.encode() for t in EVENT_TYPES) + rb')"'
    + rb',"event_time":(0|[1-9][0-9]{0,' + str(_TIME_DIGITS - 1).encode() + rb'})'
    + rb',"ip_address":' + _PLAIN + rb"\}$",
    re.MULTILINE,
)  # fmt: skip


def _break(line: str, record: dict[str, Any], how: int) -> str:
    """One of four malformed shapes: cut JSON, a missing field, an unknown ad, a text time."""
    if how == 0:
        return line[: len(line) // 2]
    if how == 1:
        return json.dumps({k: v for k, v in record.items() if k != "event_time"})
    if how == 2:
        return json.dumps({**record, "ad_id": "00000000-0000-0000-0000-000000000000"})
    return json.dumps({**record, "event_time": "yesterday"})


def split_lines(data: bytes) -> list[str]:
    """A file's lines, split at ``LINE_BREAK``; each decoded as strict UTF-8 or, failing that,
    ``UNDECODABLE``. One leading byte-order mark per line is dropped, as Jackson does."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Rare: decode line by line so one bad line does not spoil the file.
        lines = []
        for raw in re.split(rb"\r\n|\r|\n", data):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(UNDECODABLE)
    else:
        lines = LINE_BREAK.split(text)
    return [line[1:] if line.startswith("\ufeff") else line for line in lines]


def is_blank(line: str) -> bool:
    """Only JSON whitespace: not an event, and not malformed either."""
    return not line.strip(JSON_SPACE)


def classify(line: str, campaign_of: Mapping[str, str]) -> tuple[str, str, int] | None:
    """``(campaign_id, event_type, event_time)`` of a valid event line, or None when the line
    is malformed; blank lines are not events at all (the caller skips them first).

    Valid: a JSON object (strict JSON) holding every field of ``FIELDS`` non-null, an
    ``event_type`` among ``EVENT_TYPES``, an ``ad_id`` string in the campaigns table, and an
    ``event_time`` that is a JSON integer from ``TIME_MIN`` to ``TIME_MAX`` (not a string, a
    fraction or a boolean).
    """
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


def _reject(name: str) -> float:
    # NaN / Infinity are not JSON.
    raise ValueError(name)


def load_campaigns(path: Path) -> dict[str, str]:
    """``ad_id -> campaign_id`` from a CSV file (RFC 4180 quoting) with the header
    ``ad_id,campaign_id``; cells are trimmed of surrounding spaces. Every engine joins
    through this one mapping, so they cannot read the table differently. An ad listed twice
    with different campaigns is an error (which one wins would be arbitrary)."""
    from harness.errors import UserError

    mapping: dict[str, str] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = csv.reader(handle, strict=True)
            header = [cell.strip() for cell in next(rows, [])]
            if header != ["ad_id", "campaign_id"]:
                raise UserError(
                    f"stream_window: {path.name} must start with the header ad_id,campaign_id"
                )
            for row in rows:
                if not any(cell.strip() for cell in row):
                    continue
                cells = [cell.strip() for cell in row]
                if len(cells) != 2 or not all(cells):
                    raise UserError(
                        f"stream_window: {path.name} line {rows.line_num} is not ad_id,campaign_id"
                    )
                ad, campaign = cells
                if mapping.setdefault(ad, campaign) != campaign:
                    raise UserError(
                        f"stream_window: {path.name} line {rows.line_num}: ad {ad!r} is already "
                        f"in campaign {mapping[ad]!r}"
                    )
    except OSError as exc:
        raise UserError(f"stream_window: cannot read campaigns {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"stream_window: {path.name} is not UTF-8 text") from exc
    except csv.Error as exc:
        raise UserError(f"stream_window: {path.name} is not valid CSV: {exc}") from exc
    if not mapping:
        raise UserError(f"stream_window: {path.name} maps no ad to a campaign")
    return mapping


def window_starts(when: int, size_ms: int, slide_ms: int) -> range:
    """Start of every window ``[start, start + size)`` holding ``when``: starts are the
    multiples of ``slide_ms`` (from epoch 0) in ``(when - size_ms, when]``."""
    last = (when // slide_ms) * slide_ms  # floor, also for negative times
    # Earlier starts ``last - j * slide`` hold ``when`` while ``j * slide < size - (when - last)``.
    back = (size_ms - (when - last) - 1) // slide_ms
    return range(last - back * slide_ms, last + 1, slide_ms)
