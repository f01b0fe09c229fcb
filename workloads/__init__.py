"""The built-in workloads; each package registers its spec and its implementations."""

from __future__ import annotations

#: Imported in this order by ``harness.registry.load_all`` (explicit, never by file pattern).
WORKLOAD_MODULES: tuple[str, ...] = (
    "workloads.wordcount",
    "workloads.udf_filter",
    "workloads.udf_map",
    "workloads.logreg",
    "workloads.kmeans",
    "workloads.stream_window",
)
