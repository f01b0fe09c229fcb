"""``python -m harness.spark_rules``: build (or find) the rules jar and print its path."""

from __future__ import annotations

import sys

from harness.errors import EngineUnavailable
from harness.spark_rules import build


def main() -> int:
    """Build the jar; a missing javac or no sources is a note, not a failure of the set-up."""
    if not build.sources():
        print("spark rules: no Java sources yet; rules cells will be skipped")
        return 0
    try:
        print(f"spark rules jar: {build.build_jar()}")
    except EngineUnavailable as exc:
        print(f"note: {exc}; Spark rules cells will be recorded as skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
