"""Runs the aggregates' SQL texts in DuckDB over a partition's Parquet files (the benchmark's baseline).

Usage: bench_duckdb.py PARTITION_DIR PERIOD SQL_FILE...
The Bedrock text's tag placeholders are rendered with the exporter's default tag labels, as it runs them.
"""
import glob
import sys
import time

import duckdb

TAG_KEYS = ["iamPrincipal/team", "iamPrincipal/project", "iamPrincipal/cost-center"]


def render(sql, period):
    columns = "".join(f"tags['{k}'] AS tag_{i},\n  " for i, k in enumerate(TAG_KEYS))
    group = "".join(f",\n  tags['{k}']" for k in TAG_KEYS)
    return (sql.replace("{{table}}", "cur").replace("{{period}}", period)
            .replace("{{tag_columns}}\n  ", columns).replace("{{tag_group}}", group))


part, period, *sql_paths = sys.argv[1:]
files = sorted(glob.glob(f"{part}/*.parquet"))
t0 = time.perf_counter()
con = duckdb.connect()
con.execute(f"CREATE VIEW cur AS SELECT *, '{period}' AS billing_period FROM read_parquet({files!r}, union_by_name=true)")
groups = []
for path in sql_paths:
    groups.append(len(con.execute(render(open(path).read(), period)).fetchall()))
print(f"{time.perf_counter() - t0:.3f}s {'+'.join(map(str, groups))} groups", file=sys.stderr)
