"""k-means on DuckDB: the points loaded into a table once, then each Lloyd iteration one SQL
query: every point's squared distance to each centroid (query parameters), its nearest
centroid (ties to the lowest index) and, grouped by centroid, the counts, coordinate sums and
summed distances; the new centroids are computed from those few sums in Python."""

from __future__ import annotations

from typing import Any

from harness.registry import RunContext, implements
from workloads._duckdb import csv_header, files, ident, literal, session

#: Up to this many centroids the distances are written out as one column each (k x d
#: arithmetic expressions, the fastest form); beyond, one list of distances per point built by
#: a lambda over the centroids (the query stays small whatever k).
INLINE_K = 32


def load_sql(names: list[str], wanted: list[str]) -> str:
    """Read every input file into the temporary table ``points`` (``x0`` ...: the point
    columns as DOUBLE; the other columns, read as text, are dropped)."""
    columns = ", ".join(f"{literal(n)}: '{'DOUBLE' if n in wanted else 'VARCHAR'}'" for n in names)
    select = ", ".join(f"{ident(n)} AS x{i}" for i, n in enumerate(wanted))
    return (
        f"CREATE TEMP TABLE points AS SELECT {select} FROM read_csv(?, header = true, "
        f"auto_detect = false, delim = ',', columns = {{{columns}}})"
    )


def inline_sql(k: int, d: int) -> str:
    """One Lloyd pass with the centroid coordinates as parameters ``$1`` .. ``$(k*d)`` (row by
    row): a distance column per centroid, summed over the coordinates in order like the
    reference's; the nearest is the first centroid at the least distance."""
    xs = [f"x{i}" for i in range(d)]

    def distance(j: int) -> str:
        return " + ".join(f"(x{i} - ${j * d + i + 1}) * (x{i} - ${j * d + i + 1})"
                          for i in range(d))  # fmt: skip

    distances = ", ".join(f"{distance(j)} AS d{j}" for j in range(k))
    least = f"least({', '.join(f'd{j}' for j in range(k))})"
    nearest = " ".join(f"WHEN d{j} = dmin THEN {j}" for j in range(k - 1))
    label = f"CASE {nearest} ELSE {k - 1} END" if k > 1 else "0"
    return (
        f"SELECT j, count(*), sum(dmin), {', '.join(f'sum({x})' for x in xs)} FROM ("
        f"SELECT {', '.join(xs)}, dmin, {label} AS j FROM ("
        f"SELECT *, {least} AS dmin FROM (SELECT {', '.join(xs)}, {distances} FROM points))"
        ") GROUP BY j"
    )


def list_sql(d: int) -> str:
    """One Lloyd pass with the centroids as one parameter ``$1`` (a list of coordinate
    lists): each point's distances as a list (``list_transform``), the nearest is the first
    position of their minimum (``list_position``, so ties go to the lowest index)."""
    xs = [f"x{i}" for i in range(d)]
    distance = " + ".join(f"(x{i} - c[{i + 1}]) * (x{i} - c[{i + 1}])" for i in range(d))
    return (
        f"SELECT j, count(*), sum(dmin), {', '.join(f'sum({x})' for x in xs)} FROM ("
        f"SELECT {', '.join(xs)}, dmin, list_position(ds, dmin) - 1 AS j FROM ("
        f"SELECT {', '.join(xs)}, ds, list_min(ds) AS dmin FROM ("
        f"SELECT {', '.join(xs)}, list_transform($1, lambda c: {distance}) AS ds FROM points))"
        ") GROUP BY j"
    )


@implements("kmeans", "duckdb", reports_iterations=True)
def run(ctx: RunContext) -> dict[str, Any]:
    """``read_csv`` into a temporary table, then per iteration one query that assigns every
    point and aggregates per centroid (centroids as query parameters), and the update."""
    from workloads.kmeans import column_names, first_distinct, lloyd

    names = csv_header(ctx.data.inputs[0])
    wanted = column_names(ctx.params["columns"]) or names
    # The documented initialisation, read from the head of the input like the other engines.
    centroids = first_distinct(ctx, [names.index(c) for c in wanted])
    k, d = len(centroids), len(wanted)
    sql = inline_sql(k, d) if k <= INLINE_K else list_sql(d)
    with session(ctx) as db:
        db.con.execute(load_sql(names, wanted), [files(ctx)])

        def query(step: int, centroids: list[list[float]]) -> dict[int, list[float]]:
            params: list[Any] = [v for c in centroids for v in c] if k <= INLINE_K else [centroids]
            rows = db.con.execute(sql, params).fetchall()
            return {int(r[0]): [float(v) for v in r[1:]] for r in rows}

        return lloyd(ctx, centroids, query)
